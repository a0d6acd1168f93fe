"""Optuna studies end to end on SQLite and PostgreSQL with tiny models."""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine

from models import training
from models.data.sources import load_series
from models.data.windows import split_bounds
from models.errors import CheckpointError, DataError, InvalidInputError
from models.registry import Registry
from models.spec import SyntheticData, TrainingSpec
from models.sql_urls import redact_storage, shown_storage
from models.tuning import (
    SETTINGS_ATTR,
    Objective,
    SearchSpace,
    TuningSpec,
    check_existing_study,
    default_storage,
    delete_study,
    run_tuning,
    study_settings,
)

POSTGRES_URL = os.environ.get(
    "RNN_FORECAST_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/test"
)


def tiny_tuning(**overrides: object) -> TuningSpec:
    """Three trials of tiny models; sampler seed 4 starts with a two-layer
    and a one-layer trial, so both dropout branches run."""
    base = TrainingSpec(
        name="tuned",
        epochs=2,
        horizon=3,
        target="price",
        patience=None,
        data=SyntheticData(generator="noisy_sine", length=300),
    )
    space = SearchSpace(
        hidden_size=(4, 8),
        num_layers=(1, 2),
        lookback=(8, 16),
        batch_size=[64, 128],
    )
    fields: dict[str, object] = {
        "base": base,
        "space": space,
        "trials": 3,
        "sampler_seed": 4,
        "startup_trials": 2,
        "pruning_warmup_epochs": 1,
    }
    fields.update(overrides)
    return TuningSpec.model_validate(fields)


@pytest.fixture(scope="module")
def sqlite_study(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], Registry, list[dict[str, Any]], str]:
    """One registered study on SQLite: (summary, registry, reports, storage)."""
    folder = tmp_path_factory.mktemp("study")
    registry = Registry(folder / "registry")
    storage = f"sqlite:///{folder / 'study.db'}"
    reports: list[dict[str, Any]] = []
    summary = run_tuning(
        tiny_tuning(storage=storage), reports.append, registry=registry
    )
    return summary, registry, reports, storage


def test_sqlite_study_registers_best_trial(
    sqlite_study: tuple[dict[str, Any], Registry, list[dict[str, Any]], str],
) -> None:
    summary, registry, reports, _ = sqlite_study
    assert summary["counts"]["total"] == 3
    assert summary["version"] == 1
    assert [r["trials_done"] for r in reports] == [1, 2, 3]
    complete = [t for t in summary["trials"] if t["state"] == "complete"]
    assert summary["best"]["value"] == min(t["value"] for t in complete)

    meta = registry.metadata("tuned", 1)
    assert meta["tuning"]["best"] == summary["best"]
    assert meta["tuning"]["sampler"] == {"name": "TPESampler", "seed": 4}
    best = summary["best"]["params"]
    for field in ("cell", "hidden_size", "num_layers", "lookback", "batch_size"):
        assert meta["spec"][field] == best[field], field
    assert meta["spec"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert meta["spec"]["dropout"] == best.get("dropout", 0.0)
    assert meta["metrics"]["test"]["skill_rmse"] is not None


def test_invalid_highest_version_stops_study(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    (registry.root / "tuned").mkdir(parents=True)
    (registry.root / "tuned" / "highest_version").write_text("x")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    reports: list[dict[str, Any]] = []

    with pytest.raises(CheckpointError, match="tuned/highest_version"):
        run_tuning(tiny_tuning(storage=storage), reports.append, registry=registry)

    assert reports == []
    assert not (tmp_path / "study.db").exists()


def test_dropout_is_sampled_only_with_layers(
    sqlite_study: tuple[dict[str, Any], Registry, list[dict[str, Any]], str],
) -> None:
    trials = sqlite_study[0]["trials"]
    assert {t["params"]["num_layers"] for t in trials} == {1, 2}
    for trial in trials:
        has_dropout = "dropout" in trial["params"]
        assert has_dropout == (trial["params"]["num_layers"] >= 2), trial


def test_same_seed_gives_same_trials(
    sqlite_study: tuple[dict[str, Any], Registry, list[dict[str, Any]], str],
) -> None:
    first, _, _, storage = sqlite_study
    second = run_tuning(
        tiny_tuning(storage=storage, study_name="second", register_version=False)
    )
    assert [t["params"] for t in first["trials"]] == [
        t["params"] for t in second["trials"]
    ]
    assert [t["value"] for t in first["trials"]] == [
        t["value"] for t in second["trials"]
    ]
    assert "version" not in second


def test_pruned_trial_stops_training(tmp_path: Path) -> None:
    tuning = tiny_tuning()
    series = load_series(tuning.base.data)
    objective = Objective(tuning, series, None, None)
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.ThresholdPruner(upper=1e-12),
    )
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    assert objective.best is None


def postgres_available() -> bool:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means no server to test
        return False
    finally:
        engine.dispose()


@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1")
def test_postgresql_study_end_to_end(tmp_path: Path) -> None:
    name = f"test-{uuid.uuid4().hex[:12]}"
    registry = Registry(tmp_path / "registry")
    try:
        summary = run_tuning(
            tiny_tuning(storage=POSTGRES_URL, study_name=name, trials=2),
            registry=registry,
        )
        loaded = optuna.load_study(study_name=name, storage=POSTGRES_URL)
        assert len(loaded.trials) == 2
    finally:
        delete_study(name, POSTGRES_URL)

    assert summary["study_name"] == name
    assert summary["storage"] == POSTGRES_URL
    assert registry.metadata("tuned", 1)["tuning"]["study_name"] == name
    with pytest.raises(KeyError):
        optuna.load_study(study_name=name, storage=POSTGRES_URL)


def test_unnamed_study_on_other_data_rejected(tmp_path: Path) -> None:
    base = TrainingSpec.model_validate(
        {"target": "price", "data": {"source": "synthetic", "length": 300}}
    )
    registry = Registry(tmp_path / "registry")

    with pytest.raises(InvalidInputError, match="name is missing") as caught:
        run_tuning(tiny_tuning(base=base), registry=registry)

    assert caught.value.field == "name"
    tiny_tuning(base=base, name="sine").check_name()
    tiny_tuning(base=base, register_version=False).check_name()


def test_named_study_resumes_with_more_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    params = tiny_tuning(
        storage=storage, study_name="resumed", trials=1, register_version=False
    )

    first = run_tuning(params)
    second = run_tuning(params)

    assert first["counts"]["total"] == 1
    assert second["counts"]["total"] == 2
    assert second["study_name"] == "resumed"


def test_resumed_study_samples_new_points(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def resume_three_times(study_name: str) -> list[dict[str, Any]]:
        params = tiny_tuning(
            storage=storage, study_name=study_name, trials=1, register_version=False
        )
        for _ in range(3):
            summary = run_tuning(params)
        return [trial["params"] for trial in summary["trials"]]

    first = resume_three_times("resumed-a")
    assert len(first) == 3
    assert first[1] != first[0]
    assert first[2] != first[0]
    assert first[2] != first[1]
    assert resume_three_times("resumed-b") == first


def test_study_with_other_settings_rejected(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    params = tiny_tuning(
        storage=storage, study_name="kept", trials=1, register_version=False
    )
    run_tuning(params)
    space = params.space.model_copy(update={"cells": ["gru"]})
    data = SyntheticData(generator="noisy_sine", length=400)
    base = params.base.model_copy(update={"data": data, "epochs": 3})
    other = params.model_copy(update={"space": space, "base": base})

    with pytest.raises(InvalidInputError) as caught:
        run_tuning(other)

    message = caught.value.message
    assert caught.value.field == "study_name"
    assert message.startswith("study kept exists with other settings than this ")
    assert 'space.cells ["gru"] instead of ["rnn", "lstm", "gru"]' in message
    assert "base.epochs 3 instead of 2" in message
    assert '"length": 400' in message
    assert "leave study_name out of a tuning job" in message
    assert len(optuna.load_study(study_name="kept", storage=storage).trials) == 1


def test_existing_study_check_reads_storage(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    params = tiny_tuning(
        storage=storage, study_name="checked", trials=1, register_version=False
    )
    check_existing_study(params, storage)
    run_tuning(params)
    check_existing_study(params, storage)
    other = params.model_copy(update={"trials": 5, "sampler_seed": 9})
    check_existing_study(other, storage)

    space = params.space.model_copy(update={"lookback": (8, 20)})
    with pytest.raises(InvalidInputError, match=r"space\.lookback \[8, 20\]"):
        check_existing_study(params.model_copy(update={"space": space}), storage)


def test_study_without_settings_records_them(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="older", storage=storage)
    params = tiny_tuning(
        storage=storage, study_name="older", trials=1, register_version=False
    )

    run_tuning(params)

    study = optuna.load_study(study_name="older", storage=storage)
    assert study.user_attrs[SETTINGS_ATTR] == study_settings(params)


def test_default_study_name_uses_base_name() -> None:
    assert tiny_tuning().resolved_study_name() == "tuned-tuning"
    assert tiny_tuning(study_name="own").resolved_study_name() == "own"


def test_storage_password_is_redacted() -> None:
    url = "postgresql+psycopg://user:secret@127.0.0.1:5432/db"
    assert redact_storage(url) == "postgresql+psycopg://user:***@127.0.0.1:5432/db"


@pytest.mark.parametrize(
    "url", ["sqlite:///:memory:", "sqlite:///file:studies?mode=memory&uri=true"]
)
def test_storage_without_password_unchanged(url: str) -> None:
    assert redact_storage(url) == url


@pytest.mark.parametrize(
    ("relative", "shown"),
    [("optuna.db", "sqlite:///optuna.db"), ("studies/a.db", "sqlite:///studies/a.db")],
)
def test_sqlite_storage_shown_relative_to_data_dir(
    tmp_path: Path, relative: str, shown: str
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / relative}"
    assert shown_storage(url, tmp_path / "data") == shown


def test_sqlite_storage_outside_data_dir_shows_file_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'study.db'}"
    assert shown_storage(url, tmp_path / "data") == "sqlite:///study.db"


def test_shown_storage_keeps_server_url_without_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://user:secret@127.0.0.1:5432/db"
    shown = shown_storage(url, tmp_path)
    assert shown == "postgresql+psycopg://user:***@127.0.0.1:5432/db"


def test_bad_storage_url_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="is not a database URL"):
        run_tuning(tiny_tuning(storage="not a url", register_version=False))


@pytest.mark.parametrize(
    "storage",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///file:s?mode=memory&uri=true"],
)
def test_in_memory_storage_is_rejected(storage: str) -> None:
    message = "is an in-memory or temporary SQLite database"
    with pytest.raises(InvalidInputError, match=message):
        run_tuning(tiny_tuning(storage=storage, register_version=False))


def test_storage_without_driver_is_rejected() -> None:
    with pytest.raises(InvalidInputError) as caught:
        run_tuning(tiny_tuning(storage="mysql://x", register_version=False))

    message = str(caught.value)
    assert message.startswith("storage=mysql://x needs the database driver module")
    assert "'MySQLdb', which is not installed; install that driver" in message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hidden_size": (64, 8)}, "hidden_size range (64, 8) has low above high"),
        ({"learning_rate": (0.0, 0.1)}, "must start above 0"),
        ({"clip_norm": (-1.0, 1.0)}, "must start above 0"),
        (
            {"dropout": (0.1, 1.0)},
            "dropout range (0.1, 1.0) must lie in [0, 1); give bounds of at "
            "least 0 and below 1",
        ),
        (
            {"lookback": (1, 10)},
            "lookback range (1, 10) must lie within [2, 512], the training "
            "spec's range; give bounds inside it",
        ),
        (
            {"batch_size": [1_000_000_000]},
            "must lie within [1, 4096], the training spec's range; give sizes "
            "inside it",
        ),
        (
            {"hidden_size": []},
            "hidden_size must be a range [low, high] of two numbers, not a list "
            "of 0; send two numbers such as [8, 128]",
        ),
        ({"dropout": [0.1]}, "not a list of 1; send two numbers such as [0.0, 0.5]"),
        ({"lookback": [10, 20, 30]}, "lookback must be a range [low, high]"),
        (
            {"cells": ["gru", "lstm", "gru"]},
            "cells choices ['gru'] appear more than once; list each choice once",
        ),
        ({"batch_size": [64] * 100_000}, "batch_size choices [64] appear more than"),
        ({"learning_rate": [0.1, 2.0]}, "must end at or below 1, the training spec"),
        ({"clip_norm": [1.0, 1e7]}, "must end at or below 1e+06, the training spec"),
    ],
)
def test_search_space_rejects_bad_ranges(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        SearchSpace.model_validate(fields)

    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [tuple(fields)]
    assert message in errors[0]["msg"]


def test_dropout_range_without_layers_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        SearchSpace.model_validate({"num_layers": [1, 1], "dropout": [0.2, 0.6]})

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == ("dropout",)
    assert errors[0]["msg"] == (
        "Value error, dropout range (0.2, 0.6) has no effect with num_layers "
        "range (1, 1), because only trials of 2 or more layers sample dropout; "
        "raise the upper end of num_layers to 2 or more, or leave dropout out"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"num_layers": [1, 1]},
        {"num_layers": [1, 1], "dropout": [0.0, 0.5]},
        {"num_layers": [1, 1], "dropout": [0.0, 0.0]},
        {"num_layers": [1, 2], "dropout": [0.2, 0.6]},
    ],
)
def test_dropout_range_with_layers_accepted(fields: dict[str, list[float]]) -> None:
    space = SearchSpace.model_validate(fields)

    assert list(space.num_layers) == fields["num_layers"]
    assert list(space.dropout) == fields.get("dropout", [0.0, 0.5])


def test_default_storage_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RNN_FORECAST_TUNING_STORAGE", raising=False)
    expected = f"sqlite:///{(tmp_path / 'optuna.db').resolve()}"
    assert default_storage(tmp_path) == expected
    monkeypatch.setenv("RNN_FORECAST_TUNING_STORAGE", POSTGRES_URL)
    assert default_storage(tmp_path) == POSTGRES_URL
    monkeypatch.setenv("RNN_FORECAST_TUNING_STORAGE", " ")
    assert default_storage(tmp_path) == expected


def test_diverged_trials_fail_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every validation loss is NaN, so every trial's training diverges
    monkeypatch.setattr(training, "validation_loss", lambda *_: math.nan)
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    summary = run_tuning(tiny_tuning(storage=storage, register_version=False))

    assert summary["counts"]["total"] == 3
    assert summary["counts"]["failed"] == 3


@pytest.mark.parametrize("value", ["no", 0, "false"])
def test_register_version_takes_json_booleans_only(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        TuningSpec.model_validate({"register_version": value})

    error = caught.value.errors()[0]
    assert error["loc"] == ("register_version",)
    assert error["type"] == "bool_type"


def test_log_return_on_negative_series_creates_no_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    base = tiny_tuning().base.model_copy(update={"target": "log_return"})
    params = tiny_tuning(base=base, storage=storage, register_version=False)
    with pytest.raises(InvalidInputError, match="needs positive values") as caught:
        run_tuning(params)
    assert caught.value.field == "base.target"
    assert optuna.get_all_study_names(storage) == []


def test_lookback_range_too_long_creates_no_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    space = tiny_tuning().space.model_copy(update={"lookback": (8, 290)})
    params = tiny_tuning(space=space, storage=storage, register_version=False)
    with pytest.raises(DataError, match="upper end of space.lookback") as caught:
        run_tuning(params)
    assert caught.value.field == "space.lookback"
    assert optuna.get_all_study_names(storage) == []


def test_space_ranges_accept_spec_limits() -> None:
    space = SearchSpace(learning_rate=(0.5, 1.0), clip_norm=(1.0, 1e6))
    spec = TrainingSpec(learning_rate=space.learning_rate[1], clip_norm=1e6)
    assert spec.learning_rate == 1.0


def test_study_ignores_the_test_part(tmp_path: Path) -> None:
    params = tiny_tuning(trials=2, register_version=False)
    series = load_series(params.base.data)
    n = len(series.frame)
    bounds = split_bounds(n, params.base.val_fraction, params.base.test_fraction)
    changed_frame = series.frame.copy()
    changed_frame.iloc[bounds.test_start :, 0] += 5.0
    changed = dataclasses.replace(series, frame=changed_frame)

    first = run_tuning(
        params.model_copy(update={"storage": f"sqlite:///{tmp_path / 'a.db'}"}),
        series=series,
    )
    second = run_tuning(
        params.model_copy(update={"storage": f"sqlite:///{tmp_path / 'b.db'}"}),
        series=changed,
    )

    assert [t["value"] for t in first["trials"]] == [
        t["value"] for t in second["trials"]
    ]
    assert first["best"] == second["best"]
