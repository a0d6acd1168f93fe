"""The command line on numbers it cannot use: series that training cannot
scale, and diverged training."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from models import training
from models.calendar import first_sessions
from models.cli import main
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
