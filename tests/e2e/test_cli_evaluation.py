"""The backtest, tune and experiments commands end to end."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from models.cli import main
from tests.conftest import free_port
from tests.e2e.test_cli import run_cli
from tests.models.test_trial_heartbeats import heartbeats

TINY = [
    "--data", "synthetic:noisy_sine", "--length", "400", "--epochs", "1",
    "--hidden-size", "4", "--num-layers", "1", "--lookback", "10",
    "--horizon", "3", "--target", "price", "--batch-size", "128",
]  # fmt: skip


def test_train_report_lists_baselines_for_signed_series(tmp_path: Path) -> None:
    # a noisy sine around 0 has no MAPE, which the table prints as a dash
    result = run_cli(
        tmp_path / "registry", "train", *TINY, "--name", "signed", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^model +\d+\.\d{4} +\d+\.\d{4} +- +- ", result.stdout, re.M)
    assert re.search(r"^seasonal_naive +\d", result.stdout, re.MULTILINE)
    assert "skill vs naive: RMSE " in result.stdout
    assert re.search(r"^interval 0\.9: coverage \d\.\d{3}", result.stdout, re.M)


def test_backtest_command_prints_and_writes_scores(tmp_path: Path) -> None:
    output = tmp_path / "backtest.json"
    result = run_cli(
        tmp_path / "registry",
        "backtest",
        *TINY,
        "--refit-every", "30",
        "--level", "0.9",
        "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "aggregate over all origins:" in result.stdout
    assert re.search(r"^seasonal_naive +\d", result.stdout, re.MULTILINE)
    assert re.search(r"^interval 0\.9: coverage \d\.\d{3}", result.stdout, re.M)

    stored = json.loads(output.read_text())
    assert len(stored["folds"]) == 2
    assert set(stored["aggregate"]["intervals"]) == {"0.9"}


def test_backtest_command_reads_fit_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNN_FORECAST_MAX_BACKTEST_FITS", "1")
    result = run_cli(tmp_path, "backtest", *TINY, "--refit-every", "30")
    assert result.returncode == 2
    assert "needs 2 fits for 58 origins, above the limit of 1" in result.stderr


def test_backtest_command_rejects_unserved_level(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "backtest", *TINY, "--level", "0.905", "--level", "0.9")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --level: level 0.905 is not available: intervals are "
        "calibrated at levels 0.01 to 0.99 in steps of 0.01; request one of "
        "those levels\n"
    )
    assert "fold" not in result.stdout


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ["--step", "0"],
            "error: --step 0: Input should be greater than or equal to 1; send "
            "--step between 1 and 10000\n",
        ),
        (
            ["--window", "sliding", "--window-size", "5"],
            "error: --window-size 5: Input should be greater than or equal to "
            "50; send --window-size between 50 and 200000\n",
        ),
        (
            ["--epochs", "0"],
            "error: --epochs 0: Input should be greater than or equal to 1; send "
            "--epochs between 1 and 500\n",
        ),
        (
            ["--window", "sliding"],
            "error: --window-size: --window-size is missing, but --window "
            "'sliding' needs it (training rows); set --window-size to a whole "
            "number from 50 to 200000, or set --window to 'expanding'\n",
        ),
    ],
)
def test_backtest_errors_name_options(
    tmp_path: Path, options: list[str], expected: str
) -> None:
    result = run_cli(tmp_path, "backtest", *TINY, *options)
    assert result.returncode == 2
    assert result.stderr == expected


def test_tune_errors_name_options(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "registry", "tune", *TINY, "--heartbeat-seconds", "3601"
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: --heartbeat-seconds 3601: Input should be less than or equal to "
        "3600; send --heartbeat-seconds between 0 and 3600\n"
    )


def test_tune_without_name_names_options(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    result = run_cli(tmp_path / "registry", "tune", *TINY, "--storage", storage)

    assert result.returncode == 2
    assert result.stderr == (
        "error: --name is missing: the default name nflx is only for the "
        "bundled NFLX data, so a model trained on --data synthetic needs a name "
        "of its own; add --name NAME\n"
    )


@pytest.mark.parametrize(
    ("options", "env", "name"),
    [
        (["--storage", "sqlite://"], {}, "--storage"),
        (
            [],
            {"RNN_FORECAST_TUNING_STORAGE": "sqlite://"},
            "RNN_FORECAST_TUNING_STORAGE",
        ),
    ],
)
def test_tune_storage_error_names_source(
    tmp_path: Path, options: list[str], env: dict[str, str], name: str
) -> None:
    result = run_cli(tmp_path / "registry", "tune", *TINY, *options, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: {name}=sqlite:// is an in-memory or temporary SQLite database"
    )


def unopenable_storages(tmp_path: Path) -> list[tuple[str, str]]:
    """Return study database URLs that SQLAlchemy fails to open, each with
    the reason that the error should give."""
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not a database\n")
    missing = tmp_path / "missing" / "study.db"
    return [
        (
            f"sqlite:///{missing}",
            f"the folder {missing.parent} does not exist; create it, or name a "
            "file in an existing folder",
        ),
        (
            f"sqlite:///{tmp_path}",
            f"{tmp_path} is a folder; name a file in it, such as "
            f"{tmp_path / 'optuna.db'}",
        ),
        (
            f"sqlite:///{not_a_database}",
            "file is not a database; name a SQLite file that optuna created, "
            "or a new file",
        ),
        (
            f"postgresql+psycopg://root@127.0.0.1:{free_port()}/study",
            "connection failed",
        ),
    ]


def assert_storage_error(
    result: subprocess.CompletedProcess[str], storage: str, reason: str
) -> None:
    """Check that ``tune`` exited 2 with one error line on ``storage`` that
    starts with ``reason``."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        f"error: --storage={storage}: cannot use the study database, because {reason}"
    ), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_tune_unopenable_storage_names_option(tmp_path: Path) -> None:
    for storage, reason in unopenable_storages(tmp_path):
        before = sorted(tmp_path.rglob("*"))
        result = run_cli(
            tmp_path / "registry", "tune", *TINY, "--no-register", "--storage", storage
        )

        assert_storage_error(result, storage, reason)
        assert sorted(tmp_path.rglob("*")) == before


def test_tune_unreadable_study_names_option(tmp_path: Path) -> None:
    # --startup-trials above --trials reads the study's trials before any
    # trial runs. A file that does not exist yet contains no study, so only the
    # storages whose file or server exists fail there.
    budget = ["--trials", "1", "--startup-trials", "3", "--study-name", "read"]
    for storage, reason in unopenable_storages(tmp_path)[2:]:
        result = run_cli(
            tmp_path / "registry",
            "tune",
            *TINY,
            *budget,
            "--no-register",
            "--storage",
            storage,
        )

        assert_storage_error(result, storage, reason)


@pytest.mark.slow
def test_tune_command_registers_best_trial(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"hidden_size": [4, 8], "lookback": [8, 12]}))
    result = run_cli(
        registry,
        "tune",
        *TINY,
        "--name", "tuned",
        "--trials", "2",
        "--startup-trials", "1",
        "--storage", storage,
        "--space", str(space),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"study tuned-tuning in {storage}: 2 trials" in result.stdout
    assert f"wrote tuned version 1 to {registry.resolve()}" in result.stdout

    shown = run_cli(registry, "models", "show", "tuned:1", "--json")
    meta = json.loads(shown.stdout)
    assert meta["tuning"]["counts"]["total"] == 2
    assert 4 <= meta["spec"]["hidden_size"] <= 8


def test_tune_heartbeat_flag_turns_heartbeats_off(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = run_cli(
        tmp_path / "registry",
        "tune",
        *TINY,
        "--trials", "1",
        "--storage", storage,
        "--study-name", "quiet",
        "--heartbeat-seconds", "0",
        "--no-register",
        env={"RNN_FORECAST_TUNING_HEARTBEAT_SECONDS": "5"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert f"study quiet in {storage}: 1 trials, 1 complete" in result.stdout
    assert heartbeats(storage, "quiet", 0) == []


def test_tune_notes_default_startup_above_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = run_cli(
        tmp_path / "registry",
        "tune",
        *TINY,
        "--trials", "2",
        "--storage", storage,
        "--study-name", "short",
        "--no-register",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (
        "note: --startup-trials 5 is above --trials 2 plus the 0 completed and "
        "pruned trials of study short, so this run samples every trial at "
        "random and prunes none, unless other processes add trials to the study "
        "while it runs. TPE samples the last trial only if they add 4 or more "
        "completed or pruned trials before it starts, and the median pruner, "
        "which counts only completed trials, can prune only if they add 4 or "
        "more completed trials. Set --startup-trials 2 or less for a random "
        "search, or raise --trials to 6 or more so that TPE samples the last "
        "trials\n"
    ) in result.stderr
    assert f"study short in {storage}: 2 trials" in result.stdout


def test_tune_rejects_invalid_heartbeat_variable(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path / "registry",
        "tune",
        *TINY,
        "--storage", f"sqlite:///{tmp_path / 'study.db'}",
        "--no-register",
        env={"RNN_FORECAST_TUNING_HEARTBEAT_SECONDS": "soon"},
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr == (
        "error: RNN_FORECAST_TUNING_HEARTBEAT_SECONDS='soon' is invalid; set it "
        "to a whole number of seconds from 1 to 3600, or 0 to turn the heartbeats "
        "of tuning trials off\n"
    )


@pytest.mark.slow
def test_experiments_quick_writes_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "experiments"
    result = run_cli(
        tmp_path / "registry", "experiments", "synthetic", "--quick", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    report = (out / "synthetic.md").read_text()
    command = f"rnn-forecast experiments synthetic --quick --out {out}"
    assert f"Generated by `{command}`" in report
    for series in ("Sine", "Noisy sine", "AR(1)", "Mackey-Glass"):
        for cell in ("rnn", "lstm", "gru"):
            assert f"| {series} | {cell} |" in report, (series, cell)
    pngs = sorted(path.name for path in (out / "synthetic").glob("*.png"))
    assert len(pngs) == 12
    for name in pngs:
        assert f"(synthetic/{name})" in report
        assert (out / "synthetic" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_experiments_quick_needs_out(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reports = tmp_path / "docs" / "experiments"
    reports.mkdir(parents=True)
    (reports / "synthetic.md").write_text("committed report\n")
    monkeypatch.chdir(tmp_path)

    status = main(
        [
            "--registry",
            str(tmp_path / "registry"),
            "experiments",
            "synthetic",
            "--quick",
        ]
    )

    assert status == 2
    assert capsys.readouterr().err == (
        "error: --quick needs --out: its tiny models would replace the reports "
        "in docs/experiments; give another folder, such as --out var/experiments\n"
    )
    assert (reports / "synthetic.md").read_text() == "committed report\n"
    assert sorted(path.name for path in reports.iterdir()) == ["synthetic.md"]


def test_train_report_names_uncalibrated_levels(tmp_path: Path) -> None:
    # 15 validation values give 6 windows of 10 steps, which calibrate up to 0.85
    result = run_cli(
        tmp_path / "registry",
        "train", "--data", "synthetic:ar1", "--length", "100", "--target", "price",
        "--lookback", "5", "--horizon", "10", "--epochs", "1", "--hidden-size", "4",
        "--num-layers", "1", "--name", "short",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("interval 0.8: coverage ") for line in lines)
    for level in ("0.9", "0.95"):
        assert (
            f"interval {level}: not calibrated, because the validation windows "
            "support levels up to 0.85; raise val_fraction or use a longer series"
        ) in lines
