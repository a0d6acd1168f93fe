"""The command line on numbers it cannot use: series that training cannot
scale, diverged training, stored versions with non-finite numbers, and the
options whose 0 turns a feature off."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
import torch

from models import training
from models.calendar import first_sessions
from models.cli import build_parser, main
from models.cli_evaluation import base_spec
from models.nn.forecaster import Forecaster
from models.registry import Registry
from tests.e2e.test_cli import SMALL, run_cli


def assert_one_error(stderr: str, start: str) -> None:
    """The command printed exactly one ``error:`` line and no traceback."""
    assert stderr.startswith(start), stderr
    assert stderr.count("\n") == 1, stderr


def test_train_rejects_values_beyond_the_range(tmp_path: Path) -> None:
    dates = first_sessions(dt.date(2020, 1, 2), 20)
    rows = [f"{d:%Y-%m-%d},{1.7e308 if i % 2 else 1e308}" for i, d in enumerate(dates)]
    path = tmp_path / "huge.csv"
    path.write_text("date,value\n" + "\n".join(rows) + "\n")

    result = run_cli(
        tmp_path / "registry", "train", "--data", f"csv:{path}", "--name", "h", *SMALL
    )

    assert result.returncode == 2
    assert_one_error(result.stderr, f"error: {path}: value is 1e+308 on 2020-01-02")
    assert "between -1e+150 and 1e+150" in result.stderr
    assert not (tmp_path / "registry").exists()


def test_train_stops_at_a_non_finite_loss(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # every validation loss is NaN, as weights that overflowed would make it
    monkeypatch.setattr(training, "validation_loss", lambda *_: math.nan)
    registry = tmp_path / "registry"

    code = main(["--registry", str(registry), "train", *SMALL])

    assert code == 2
    assert_one_error(
        capsys.readouterr().err,
        "error: training diverged in epoch 1 of 2 with the validation loss nan",
    )
    assert Registry(registry).names() == []


def diverged_metadata(registry: Registry) -> dict[str, object]:
    """Metadata as a diverged run wrote it: null scaler shift and scores,
    and null losses and gradient norms."""
    meta = json.loads(json.dumps(registry.metadata("nflx", 1)))
    meta["scaler"]["shift"] = None
    meta["metrics"]["test"]["model"]["rmse"] = None
    for record in meta["history"]:
        record.update(train_loss=None, val_loss=None, grad_norm=None)
    return meta


def write_diverged(trained_registry: Registry, root: Path) -> Registry:
    registry = Registry(root)
    state = Forecaster.from_config(trained_registry.metadata("nflx", 1)["model"])
    weights = {
        name: torch.full_like(value, math.nan)
        for name, value in state.state_dict().items()
    }
    registry.write("broken", weights, diverged_metadata(trained_registry))
    return registry


def test_show_and_gradients_of_a_diverged_version(
    trained_registry: Registry, tmp_path: Path
) -> None:
    registry = write_diverged(trained_registry, tmp_path / "registry")

    listing = run_cli(registry.root, "models", "show", "broken")
    gradients = run_cli(registry.root, "gradients", "training", "broken:1")
    raw = run_cli(registry.root, "gradients", "training", "broken", "--json")
    flow = run_cli(
        registry.root, "gradients", "flow", "--model", "broken", "--seq-len", "5"
    )

    assert listing.returncode == 2
    assert_one_error(
        listing.stderr,
        "error: broken:1 cannot forecast: its training diverged and left "
        "scaler.shift not finite; use another version, or train a new one\n",
    )
    assert listing.stdout == ""
    assert gradients.returncode == 2
    assert_one_error(
        gradients.stderr,
        "error: broken:1 has no finite gradient norms for epochs 1, 2, because "
        "its training diverged; --json prints the stored history, with null for "
        "those numbers\n",
    )
    assert raw.returncode == 0
    assert json.loads(raw.stdout)["epochs"][0]["grad_norm"] is None
    assert flow.returncode == 2
    assert_one_error(
        flow.stderr,
        "error: broken:1 cannot be analysed by the gradient-flow diagnostic: its "
        "training diverged and left scaler.shift not finite; analyse another "
        "version, or leave the model out to analyse a fresh network\n",
    )


def test_show_prints_a_dash_for_a_null_score(
    trained_registry: Registry, tmp_path: Path
) -> None:
    meta = json.loads(json.dumps(trained_registry.metadata("nflx", 1)))
    meta["metrics"]["test"]["naive"]["mase"] = None
    registry = Registry(tmp_path / "registry")
    state = trained_registry.load("nflx", 1).model.state_dict()
    registry.write("flat", state, meta)

    listing = run_cli(registry.root, "models", "show", "flat")

    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[-1].endswith("(naive -)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--clip-norm", "-1"],
            "error: --clip-norm -1 is below 0; use a positive value, or 0 to "
            "turn gradient clipping off\n",
        ),
        (
            ["train", "--patience", "-2"],
            "error: --patience -2 is below 0; use a positive value, or 0 to "
            "turn early stopping off\n",
        ),
        (
            ["backtest", "--refit-every", "-1"],
            "error: --refit-every -1 is below 0; use a positive value, or 0 to "
            "fit once at the first origin\n",
        ),
        (
            ["tune", "--patience", "-1"],
            "error: --patience -1 is below 0; use a positive value, or 0 to "
            "turn early stopping off\n",
        ),
    ],
)
def test_negative_off_option_names_zero(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(tmp_path / "registry", *args)

    assert result.returncode == 2
    assert_one_error(result.stderr, message)


def test_spec_flag_zero_patience_is_off(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    for command in ("backtest", "tune"):
        args = build_parser().parse_args([command, "--patience", "0"])
        assert base_spec(args, registry).patience is None
        args = build_parser().parse_args([command, "--patience", "3"])
        assert base_spec(args, registry).patience == 3
