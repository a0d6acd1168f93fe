"""Command-line option values checked before any work: output paths, comma
lists, limits read from the environment, and a stdout that the reader
closed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.cli import SIGPIPE_STATUS
from models.registry import Registry
from tests.conftest import ROOT
from tests.e2e.test_cli import run_cli

# a folder in which even root cannot create a file
UNWRITABLE = "/proc"

# each command with an option that writes a file, and the file name to write
OUTPUT_COMMANDS = [
    (["gradients", "flow", "--seq-len", "20"], "--png", "flow.png"),
    (["gradients", "training", "nflx:1"], "--png", "training.png"),
    (["gradients", "lag-experiment", "--steps", "1"], "--png", "lags.png"),
    (["gradients", "lag-experiment", "--steps", "1"], "--markdown", "lags.md"),
    (["gradients", "lag-experiment", "--steps", "1"], "--json", "lags.json"),
    (["backtest", "--model", "nflx:1"], "--output", "backtest.json"),
    (["tune", "--model", "nflx:1", "--trials", "1"], "--output", "tune.json"),
]


@pytest.mark.parametrize(("command", "option", "name"), OUTPUT_COMMANDS)
def test_unwritable_output_named_before_work(
    trained_registry: Registry, command: list[str], option: str, name: str
) -> None:
    path = f"{UNWRITABLE}/{name}"
    result = run_cli(trained_registry.root, *command, option, path)

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: {option} {path}: cannot write to the folder {UNWRITABLE} ("
    )
    assert result.stderr.endswith("); choose a writable location\n")
    assert "No such file or directory" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("command", "option", "name"), OUTPUT_COMMANDS)
def test_missing_output_folder_not_created(
    trained_registry: Registry,
    tmp_path: Path,
    command: list[str],
    option: str,
    name: str,
) -> None:
    path = tmp_path / "new" / "a" / name
    result = run_cli(trained_registry.root, *command, option, str(path))

    assert result.returncode == 2
    assert result.stderr == (
        f"error: {option} {path}: the folder {path.parent} does not exist; create "
        "it first or choose an existing folder\n"
    )
    assert not (tmp_path / "new").exists()
    assert result.stdout == ""


def test_output_under_file_rejected(trained_registry: Registry, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    path = blocker / "flow.png"
    result = run_cli(trained_registry.root, "gradients", "flow", "--png", str(path))

    assert result.returncode == 2
    assert result.stderr == (
        f"error: --png {path}: {blocker} is a file, not a folder; choose a path "
        "in a folder\n"
    )


def test_failed_version_leaves_no_folder(
    trained_registry: Registry, tmp_path: Path
) -> None:
    (tmp_path / "new").mkdir()
    path = tmp_path / "new" / "flow.png"
    result = run_cli(
        trained_registry.root, "gradients", "flow", "--model", "nflx:99", "--png",
        str(path),
    )  # fmt: skip

    assert result.returncode != 0
    assert "nflx" in result.stderr
    assert list((tmp_path / "new").iterdir()) == []


@pytest.mark.parametrize(("command", "option", "name"), OUTPUT_COMMANDS)
def test_empty_output_name_rejected(
    trained_registry: Registry, command: list[str], option: str, name: str
) -> None:
    result = run_cli(trained_registry.root, *command, option, "")

    assert result.returncode == 2
    assert (
        f"error: argument {option}: the path is empty; give the file or folder "
        "to write\n"
    ) in result.stderr
    assert result.stdout == ""


# each command with an option that reads a file
INPUT_COMMANDS = [
    (["train"], "--spec"),
    (["backtest"], "--spec"),
    (["tune", "--no-register"], "--spec"),
    (["tune", "--no-register"], "--space"),
    (["forecast", "nflx"], "--history"),
    (["gradients", "flow"], "--values"),
]


@pytest.mark.parametrize(("command", "option"), INPUT_COMMANDS)
@pytest.mark.parametrize("name", ["", " "])
def test_empty_input_name_rejected(
    tmp_path: Path, command: list[str], option: str, name: str
) -> None:
    # Path("") is the current folder, which the error would name as "."
    result = run_cli(tmp_path / "registry", *command, option, name)

    assert result.returncode == 2
    assert (
        f"error: argument {option}: the path is empty; give the file to read\n"
    ) in result.stderr
    assert result.stdout == ""


def test_empty_out_folder_rejected(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "registry", "experiments", "synthetic", "--out", "")

    assert result.returncode == 2
    assert "error: argument --out: the path is empty" in result.stderr
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--lags", "5,,10", "'5,,10' has an empty item at position 2"),
        ("--lags", "5,10,", "'5,10,' has an empty item at position 3"),
        (
            "--lags",
            "",
            "the list is empty; give comma-separated items such as 5,10,20",
        ),
        ("--lags", " ", "the list is empty"),
        ("--lags", "5,x", "'x' is not a positive whole number"),
        (
            "--cells",
            "foo",
            "'foo' is not a valid cell; use comma-separated cells from rnn, lstm, gru",
        ),
        ("--cells", "rnn,,gru", "'rnn,,gru' has an empty item at position 2"),
        ("--cells", "", "the list is empty"),
    ],
)
def test_lag_experiment_lists_checked(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    result = run_cli(tmp_path, "gradients", "lag-experiment", option, value)

    assert result.returncode == 2
    assert f"error: argument {option}: {message}" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS", "0", ["gradients", "flow"]),
        ("RNN_FORECAST_MAX_SEQ_LEN", "-5", ["gradients", "flow"]),
        (
            "RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS",
            "0",
            ["gradients", "lag-experiment", "--steps", "1"],
        ),
        ("RNN_FORECAST_MAX_BACKTEST_FITS", "0", ["backtest", "--model", "nflx:1"]),
    ],
)
def test_limit_below_one_rejected(
    trained_registry: Registry, variable: str, value: str, command: list[str]
) -> None:
    result = run_cli(trained_registry.root, *command, env={variable: value})

    assert result.returncode == 2
    assert result.stderr == (
        f"error: {variable}={int(value)} is invalid; use a limit of at least 1\n"
    )
    assert result.stdout == ""


def test_forecast_header_counts_one_step(trained_registry: Registry) -> None:
    result = run_cli(trained_registry.root, "forecast", "nflx:1", "--horizon", "1")

    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header.startswith("nflx:1, 1 step after ")


def test_forecast_header_counts_steps(trained_registry: Registry) -> None:
    result = run_cli(trained_registry.root, "forecast", "nflx:1", "--horizon", "2")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nflx:1, 2 steps after ")


@pytest.mark.parametrize(
    "command",
    [["gradients", "flow", "--seq-len", "20"], ["models", "show", "nflx"]],
)
def test_closed_stdout_exits_quietly(
    trained_registry: Registry, command: list[str]
) -> None:
    reader, writer = os.pipe()
    # with the read end closed, the first write to stdout fails with EPIPE
    os.close(reader)
    env = {**os.environ, "RNN_FORECAST_REGISTRY": str(trained_registry.root)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "models.cli", *command],
            cwd=ROOT,
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(writer)

    assert result.returncode == SIGPIPE_STATUS
    assert "Broken pipe" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "error:" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["train", "--epochs", "1"], ["tune", "--trials", "1"]],
)
def test_unwritable_registry_named_before_training(
    tmp_path: Path, command: list[str]
) -> None:
    registry = f"{UNWRITABLE}/registry"
    result = run_cli(tmp_path / "registry", "--registry", registry, *command)

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: registry {registry} (set by --registry or RNN_FORECAST_REGISTRY): "
        f"cannot write to the folder {UNWRITABLE} ("
    )
    assert result.stdout == ""


def test_registry_under_file_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    registry = blocker / "registry"
    result = run_cli(registry, "train", "--epochs", "1")

    assert result.returncode == 2
    assert result.stderr == (
        f"error: registry {registry} (set by --registry or RNN_FORECAST_REGISTRY): "
        f"{blocker} is a file, not a folder; choose another location\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [["models", "list"], ["models", "show", "nflx"], ["forecast", "nflx"]],
    ids=["list", "show", "forecast"],
)
def test_registry_that_is_file_rejected(tmp_path: Path, command: list[str]) -> None:
    registry = tmp_path / "file"
    registry.write_text("not a folder\n")

    result = run_cli(registry, *command)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: registry {registry} (set by --registry or RNN_FORECAST_REGISTRY): "
        f"{registry} is a file, not a folder; choose another location\n"
    )
    assert result.stdout == ""


def test_registry_name_too_long_rejected(tmp_path: Path) -> None:
    # 300 bytes, over the 255 that Linux file systems allow in one name
    registry = tmp_path / ("r" * 300)

    result = run_cli(registry, "models", "list")

    assert result.returncode == 2
    assert result.stderr == (
        f"error: registry {registry} (set by --registry or RNN_FORECAST_REGISTRY): "
        "File name too long; choose another location\n"
    )
    assert result.stdout == ""
