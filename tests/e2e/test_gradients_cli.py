"""``rnn-forecast gradients`` end to end: flow, training and lag-experiment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from models.registry import Registry
from tests.e2e.test_cli import run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_flow_on_values(
    tmp_path: Path, text: str, env: dict[str, str] | None = None
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Write ``text`` to a values file and run ``gradients flow`` on it."""
    values = tmp_path / "values.json"
    values.write_text(text)
    result = run_cli(
        tmp_path / "registry", "gradients", "flow", "--values", str(values), env=env
    )
    return values, result


def test_flow_prints_table_and_writes_png(tmp_path: Path) -> None:
    png = tmp_path / "flow.png"
    result = run_cli(
        tmp_path / "registry",
        "gradients", "flow", "--cell", "rnn", "--cell", "lstm",
        "--hidden-size", "8", "--seq-len", "30", "--png", str(png),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("rnn: H = 8, T = 30, spectral radius of W_h ")
    assert not lines[0].endswith(" ")
    assert "at distance never" not in result.stdout
    assert ", never above 1e3" in lines[1] or "first above 1e3 at distance" in lines[1]
    assert any(line.startswith("lstm: H = 8, T = 30") for line in lines)
    assert "ratio ||dL/dh_t|| / ||dL/dh_(T-1)|| at distance T-1-t" in lines
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_flow_rejects_bad_spec(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "registry",
        "gradients", "flow", "--cell", "gru", "--activation", "identity",
    )  # fmt: skip

    assert result.returncode == 2
    assert "--activation 'identity' applies only to --cell 'rnn'" in result.stderr


def test_flow_rejects_end_after_data(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "registry",
        "gradients", "flow", "--input", "bundled", "--end", "2021-01-04",
        "--hidden-size", "4", "--seq-len", "10",
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr == (
        "error: --end 2021-01-04 is after 2020-12-11, the last date of the "
        "bundled data; use an end on or before 2020-12-11, or leave --end out "
        "to end the window at the last value\n"
    )
    assert result.stdout == ""


def test_flow_names_bad_value(tmp_path: Path) -> None:
    values, result = run_flow_on_values(tmp_path, "[1, NaN, 3]")

    assert result.returncode == 2
    assert result.stderr == (
        f"error: --values {values}: item 1: Input should be a finite number, but "
        "the value sent is NaN, which is not a number that JSON allows; send a "
        "finite number\n"
    )


def test_flow_names_bad_row_value(tmp_path: Path) -> None:
    values, result = run_flow_on_values(tmp_path, '[[1, 2], [3, "x"]]')

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: --values {values}: item 1, number 1: Input should be a number, "
        "not a string"
    )


def test_training_gradients_of_stored_version(
    trained_registry: Registry, tmp_path: Path
) -> None:
    png = tmp_path / "training.png"
    result = run_cli(
        trained_registry.root, "gradients", "training", "nflx:1", "--png", str(png)
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "nflx:1 (lstm), clip threshold 1.0"
    assert lines[1].split() == ["epoch", "mean", "norm", "max", "norm", "clipped"]
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_lag_experiment_writes_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(
        tmp_path / "registry",
        "gradients", "lag-experiment", "--cells", "rnn,gru", "--lags", "1,2",
        "--steps", "10", "--hidden-size", "4", "--test-size", "16",
        "--png", str(out / "lag.png"), "--markdown", str(out / "lag.md"),
        "--json", str(out / "lag.json"),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "| cell | k = 1 | k = 2 |" in result.stdout
    assert "rnn learned lags:" in result.stdout
    assert (out / "lag.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "lag.md").read_text().startswith("# Lag experiment")
    stored = json.loads((out / "lag.json").read_text())
    assert [run["cell"] for run in stored["runs"]] == ["rnn", "rnn", "gru", "gru"]


def test_flow_names_values_file_of_empty_rows(tmp_path: Path) -> None:
    values, result = run_flow_on_values(tmp_path, "[[], []]")

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: --values {values}: input.values contains rows of no numbers;"
    )
    assert "RNNCell" not in result.stderr


def test_flow_features_follow_setting(tmp_path: Path) -> None:
    _, result = run_flow_on_values(
        tmp_path,
        json.dumps([[0.5] * 4] * 3),
        env={"RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES": "3"},
    )

    assert result.returncode == 2
    assert "4 features, above the limit of 3" in result.stderr
    assert "raise RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES" in result.stderr


def test_flow_png_needs_png_suffix(tmp_path: Path) -> None:
    plot = tmp_path / "flow.jpg"
    result = run_cli(
        tmp_path / "registry", "gradients", "flow", "--seq-len", "5", "--png", str(plot)
    )

    assert result.returncode == 2
    assert f"--png {plot} does not end in .png" in result.stderr
    assert "such as flow.png" in result.stderr
    assert not plot.exists()


def test_lag_experiment_names_bad_lag(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "registry", "gradients", "lag-experiment", "--lags", "5,abc"
    )

    assert result.returncode == 2
    assert "argument --lags: 'abc' is not a positive whole number" in result.stderr
    assert "invalid literal" not in result.stderr


def test_lag_experiment_batch_follows_setting(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "registry",
        "gradients", "lag-experiment", "--lags", "1", "--hidden-size", "4",
        "--batch-size", "8",
        env={"RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS": "191"},
    )  # fmt: skip

    assert result.returncode == 2
    assert "8 x 6 x 4 = 192 is above the limit of 191;" in result.stderr
    assert "raise RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS" in result.stderr
