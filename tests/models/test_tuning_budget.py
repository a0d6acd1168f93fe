"""Tuning settings that could never act are rejected on the field at fault:
a pruning warm-up that no trial outlasts, and more start-up trials than the
run and its study have."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from pydantic import ValidationError

from models.cli import main
from models.data.sources import load_series
from models.errors import InvalidInputError
from models.registry import Registry
from models.tuning import Objective, TuningSpec, run_tuning
from models.tuning_budget import (
    DEFAULT_STARTUP_TRIALS,
    check_startup_trials,
    finished_trials,
)
from tests.models.test_tuning import tiny_tuning

STARTUP_REASON = (
    "The TPE sampler samples at random until the study has startup_trials "
    "completed or pruned trials, and the median pruner prunes nothing until it "
    "has startup_trials completed trials."
)


@pytest.mark.parametrize("warmup", [3, 4])
def test_warmup_without_prunable_epoch_rejected(warmup: int) -> None:
    with pytest.raises(ValidationError) as caught:
        TuningSpec.model_validate(
            {"base": {"epochs": 3}, "pruning_warmup_epochs": warmup}
        )

    [error] = caught.value.errors()
    assert error["loc"] == ("pruning_warmup_epochs",)
    assert error["msg"] == (
        f"Value error, pruning_warmup_epochs={warmup} leaves no epoch at which "
        f"a trial can be pruned, because the median pruner acts from epoch "
        f"{warmup + 1} on and each trial trains at most base.epochs=3; set "
        f"pruning_warmup_epochs=2 or less, or raise base.epochs to {warmup + 1} "
        "or more"
    )


@pytest.mark.parametrize(
    ("epochs", "warmup"),
    [
        (3, 2),
        (1, 0),
        # the default passes, so that a tuning job of one-epoch trials that
        # leaves the warm-up out is accepted
        (1, 2),
        (2, 2),
    ],
)
def test_warmup_below_epochs_or_default_accepted(epochs: int, warmup: int) -> None:
    params = TuningSpec.model_validate(
        {"base": {"epochs": epochs}, "pruning_warmup_epochs": warmup}
    )

    assert params.pruning_warmup_epochs == warmup


@pytest.mark.parametrize(("warmup", "pruned"), [(1, True), (2, False)])
def test_warmup_of_last_epoch_still_prunes(
    warmup: int, pruned: bool, tmp_path: Path
) -> None:
    # a trial of 2 epochs reports steps 0 and 1, so a warm-up of 1 epoch
    # leaves the last epoch to prune at and a warm-up of 2 leaves none
    params = tiny_tuning(pruning_warmup_epochs=1)
    objective = Objective(params, load_series(params.base.data), None, None)
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.ThresholdPruner(upper=1e-12, n_warmup_steps=warmup),
    )

    study.optimize(objective, n_trials=1)

    [trial] = study.trials
    assert (trial.state == optuna.trial.TrialState.PRUNED) is pruned
    assert list(trial.intermediate_values) == [0, 1]


def test_warmup_check_names_tune_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--registry", str(tmp_path), "tune", "--epochs", "3"]
    status = main([*argv, "--pruning-warmup", "3", "--no-register"])

    assert status == 2
    assert capsys.readouterr().err == (
        "error: --pruning-warmup: --pruning-warmup 3 leaves no epoch at which a "
        "trial can be pruned, because the median pruner acts from epoch 4 on and "
        "each trial trains at most --epochs 3; set --pruning-warmup 2 or less, "
        "or raise --epochs to 4 or more\n"
    )


def test_warmup_check_names_spec_file_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"epochs": 1}))
    argv = ["--registry", str(tmp_path), "tune", "--spec", str(spec)]
    status = main([*argv, "--pruning-warmup", "1", "--no-register"])

    assert status == 2
    assert capsys.readouterr().err == (
        "error: --pruning-warmup: --pruning-warmup 1 leaves no epoch at which a "
        "trial can be pruned, because the median pruner acts from epoch 2 on and "
        "each trial trains at most epochs=1; set --pruning-warmup 0, or raise "
        "epochs to 2 or more\n"
    )


def test_startup_above_trials_of_new_study_rejected() -> None:
    params = tiny_tuning(trials=3, startup_trials=4)

    with pytest.raises(InvalidInputError) as caught:
        check_startup_trials(params, None, "sqlite:///unused.db")

    assert caught.value.field == "startup_trials"
    assert caught.value.message == (
        "startup_trials=4 is above trials=3, so every trial of this run would be "
        f"sampled at random and none could be pruned. {STARTUP_REASON} Set "
        "startup_trials=3 or less (that value runs a random search), or raise "
        "trials to 5 or more so that TPE samples the last trials"
    )


@pytest.mark.parametrize(
    ("trials", "startup"),
    [
        (3, 2),
        # every trial is sampled at random, which is a random search
        (3, 3),
        (1, 1),
        # the default passes, so that a short study that leaves it out is
        # accepted
        (3, 5),
    ],
)
def test_startup_within_trials_or_default_accepted(trials: int, startup: int) -> None:
    params = tiny_tuning(trials=trials, startup_trials=startup)

    check_startup_trials(params, None, "sqlite:///unused.db")


def test_missing_study_has_no_finished_trials(tmp_path: Path) -> None:
    assert finished_trials("absent", f"sqlite:///{tmp_path / 'study.db'}") == 0
    # the count opened no database, so it created none
    assert list(tmp_path.iterdir()) == []


def test_other_studies_count_no_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="other", storage=storage)

    assert finished_trials("absent", storage) == 0


def test_rejected_startup_leaves_no_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "var"
    monkeypatch.setenv("RNN_FORECAST_DATA_DIR", str(data_dir))
    monkeypatch.delenv("RNN_FORECAST_TUNING_STORAGE", raising=False)
    argv = ["--registry", str(tmp_path / "registry"), "tune", "--trials", "1"]

    status = main([*argv, "--startup-trials", "3", "--study-name", "shared"])

    assert status == 2
    assert capsys.readouterr().err.startswith(
        "error: --startup-trials 3 is above --trials 1, "
    )
    # neither the data folder nor its optuna.db was created
    assert list(tmp_path.iterdir()) == []


def test_rejected_startup_in_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'missing' / 'study.db'}"
    argv = ["--registry", str(tmp_path / "registry"), "tune", "--storage", storage]

    status = main([*argv, "--trials", "1", "--startup-trials", "3"])

    assert status == 2
    assert capsys.readouterr().err.startswith(
        "error: --startup-trials 3 is above --trials 1, "
    )
    assert list(tmp_path.iterdir()) == []


def test_rejected_startup_uri_leaves_no_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = "sqlite:///file:study.db?uri=true"
    argv = ["--registry", "registry", "tune", "--storage", storage]

    status = main([*argv, "--trials", "1", "--startup-trials", "3"])

    assert status == 2
    assert capsys.readouterr().err.startswith(
        "error: --startup-trials 3 is above --trials 1, "
    )
    assert list(tmp_path.iterdir()) == []


# SQLite storage URLs of a missing database, with {folder} for the test's
# folder, which is also the working folder. SQLAlchemy reads a file: name
# as a URI only with uri=true, and SQLite reads a name without file: as a
# path even then, its query included.
MISSING_SQLITE_STORAGES = [
    "sqlite:///study.db",
    "sqlite:///{folder}/missing/study.db",
    "sqlite:///file:study.db",
    "sqlite:///file:study.db?mode=rwc",
    "sqlite:///file:study.db?uri=true",
    "sqlite:///file:{folder}/study.db?uri=true",
    "sqlite:///file:{folder}/missing/study.db?uri=true",
    "sqlite:///file://localhost{folder}/study.db?uri=true",
    "sqlite:///file:study.db?mode=rwc&uri=true",
    "sqlite:///file:study.db?mode=rw&uri=true",
    "sqlite:///file:study.db?mode=ro&uri=true",
    "sqlite:///file:st%2575dy.db?uri=true",
    "sqlite:///study.db?uri=true",
    "sqlite:///study.db?mode=rwc&uri=true",
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite:///:memory:?uri=true",
    "sqlite:///file::memory:?uri=true",
    "sqlite:///file::memory:?cache=shared&uri=true",
    "sqlite:///file:study.db?mode=memory&uri=true",
    "sqlite:///file:study.db?vfs=memdb&uri=true",
    "sqlite:///file:?uri=true",
]


@pytest.mark.parametrize("storage", MISSING_SQLITE_STORAGES)
def test_startup_check_creates_no_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    monkeypatch.chdir(tmp_path)
    url = storage.format(folder=tmp_path)
    params = tiny_tuning(trials=1, startup_trials=3)

    with pytest.raises(InvalidInputError) as caught:
        check_startup_trials(params, "absent", url)

    assert caught.value.field == "startup_trials"
    assert caught.value.message.startswith("startup_trials=3 is above trials=1, ")
    assert list(tmp_path.iterdir()) == []


# SQLite storage URLs of the file study.db in {folder}, the working folder
EXISTING_SQLITE_STORAGES = [
    "sqlite:///study.db",
    "sqlite:///{folder}/study.db",
    "sqlite:///file:study.db?uri=true",
    "sqlite:///file:{folder}/study.db?uri=true",
    "sqlite:///file://localhost{folder}/study.db?uri=true",
    "sqlite:///file:study.db?mode=ro&uri=true",
    "sqlite:///file:study.db?mode=rwc&uri=true",
    "sqlite:///file:st%2575dy.db?uri=true",
    "sqlite:///study.db?uri=true",
]


@pytest.mark.parametrize("storage", EXISTING_SQLITE_STORAGES)
def test_startup_check_reads_sqlite_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """Check that each form of URL of an existing SQLite file finds the
    study's finished trials and leaves the folder as it was."""
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(
        study_name="shared", storage=f"sqlite:///{tmp_path / 'study.db'}"
    )
    for value in (1.0, 2.0):
        study.add_trial(optuna.trial.create_trial(value=value))
    url = storage.format(folder=tmp_path)

    # the 2 finished trials and 1 of the run reach 3 start-up trials
    check_startup_trials(tiny_tuning(trials=1, startup_trials=3), "shared", url)
    with pytest.raises(InvalidInputError) as caught:
        check_startup_trials(tiny_tuning(trials=1, startup_trials=4), "shared", url)

    assert "plus the 2 finished trials of study shared" in caught.value.message
    assert [path.name for path in tmp_path.iterdir()] == ["study.db"]


def test_resumed_study_trials_count_for_startup(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = tiny_tuning(
        trials=2, startup_trials=2, storage=storage, study_name="resumed"
    )
    run_tuning(first, registry=Registry(tmp_path / "registry"))
    assert finished_trials("resumed", storage) == 2

    # the 2 trials of the study and 1 more reach 3 start-up trials, so TPE
    # samples no trial of that run, which is still a random search
    check_startup_trials(tiny_tuning(trials=1, startup_trials=3), "resumed", storage)

    with pytest.raises(InvalidInputError) as caught:
        check_startup_trials(
            tiny_tuning(trials=1, startup_trials=4), "resumed", storage
        )
    assert caught.value.message == (
        "startup_trials=4 is above trials=1 plus the 2 finished trials of study "
        "resumed, so every trial of this run would be sampled at random and none "
        f"could be pruned. {STARTUP_REASON} Set startup_trials=3 or less (that "
        "value runs a random search), or raise trials to 3 or more so that TPE "
        "samples the last trials"
    )


def test_startup_check_names_tune_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["--registry", str(tmp_path), "tune", "--storage", storage]
    status = main([*argv, "--trials", "2", "--startup-trials", "3", "--no-register"])

    assert status == 2
    assert capsys.readouterr().err == (
        "error: --startup-trials 3 is above --trials 2, so every trial of this "
        "run would be sampled at random and none could be pruned. The TPE "
        "sampler samples at random until the study has --startup-trials "
        "completed or pruned trials, and the median pruner prunes nothing until "
        "it has --startup-trials completed trials. Set --startup-trials 2 or "
        "less (that value runs a random search), or raise --trials to 4 or more "
        "so that TPE samples the last trials\n"
    )
    assert not (tmp_path / "study.db").exists()


def test_default_startup_above_trials_noted(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    params = tiny_tuning(
        trials=1,
        startup_trials=DEFAULT_STARTUP_TRIALS,
        storage=storage,
        study_name="short",
        register_version=False,
    )
    check_startup_trials(params, "short", storage)

    summary = run_tuning(params)

    assert summary["notes"] == [
        "startup_trials=5 is above trials=1 plus the 0 completed and pruned "
        "trials of study short, so this run samples every trial at random and "
        "prunes none, unless other processes add trials to the study while it "
        "runs. TPE samples the last trial only if they add 5 or more completed "
        "or pruned trials before it starts, and the median pruner, which counts "
        "only completed trials, can prune only if they add 5 or more completed "
        "trials. Set startup_trials=1 or less for a random search, or raise "
        "trials to 6 or more so that TPE samples the last trials"
    ]


def test_startup_note_pruner_counts_completed(tmp_path: Path) -> None:
    """Check that the note on a study with pruned trials names more added
    completed trials for pruning than for TPE, because the median pruner
    counts only completed trials towards its start-up."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="pruned")
    study.add_trial(optuna.trial.create_trial(value=1.0))
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))
    params = tiny_tuning(
        trials=1,
        startup_trials=5,
        storage=storage,
        study_name="pruned",
        register_version=False,
    )

    summary = run_tuning(params)

    [note] = summary["notes"]
    assert note.startswith(
        "startup_trials=5 is above trials=1 plus the 3 completed and pruned "
        "trials of study pruned, so "
    )
    assert "TPE samples the last trial only if they add 2 or more " in note
    assert "can prune only if they add 4 or more completed trials" in note
    assert note.endswith(
        "Set startup_trials=4 or less for a random search, or raise trials to 3 "
        "or more so that TPE samples the last trials"
    )


def test_startup_note_counts_finished_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    fields = {"storage": storage, "study_name": "shared", "register_version": False}
    first = run_tuning(tiny_tuning(trials=2, startup_trials=2, **fields))
    assert first["notes"] == []

    # 2 finished trials and 1 of this run are 2 short of 5
    second = run_tuning(tiny_tuning(trials=1, startup_trials=5, **fields))
    # 3 finished trials and 2 of this run reach 5, a random search
    third = run_tuning(tiny_tuning(trials=2, startup_trials=5, **fields))

    [note] = second["notes"]
    assert note.startswith(
        "startup_trials=5 is above trials=1 plus the 2 completed and pruned "
        "trials of study shared, so "
    )
    assert "only if they add 3 or more completed or pruned trials" in note
    assert "can prune only if they add 3 or more completed trials" in note
    assert note.endswith(
        "Set startup_trials=3 or less for a random search, or raise trials to 4 "
        "or more so that TPE samples the last trials"
    )
    assert third["notes"] == []
