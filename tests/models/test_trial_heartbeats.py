"""Heartbeats of tuning trials in real Optuna studies on SQLite and PostgreSQL.

A trial that a process on another host left running is written with the
worker label of a host that does not exist, so that only its heartbeat can
fail it. Its heartbeat is recorded by the database's clock and then moved
into the past, which is what a heartbeat that stopped looks like.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    select,
    update,
)

from models.errors import InvalidInputError
from models.stale_trials import WORKER_ATTR
from models.trial_heartbeats import (
    DEFAULT_HEARTBEAT_SECONDS,
    HEARTBEAT_VARIABLE,
    default_heartbeat_seconds,
)
from models.tuning import delete_study, run_tuning
from tests.models.test_tuning import POSTGRES_URL, postgres_available, tiny_tuning

# Optuna's table of trial heartbeats (optuna/storages/_rdb/models.py, 5.1)
HEARTBEATS = Table(
    "trial_heartbeats",
    MetaData(),
    Column("trial_id", Integer),
    Column("heartbeat", DateTime),
)
OTHER_HOST_WORKER = "another-host.example:4321"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a study database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if not postgres_available():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture
def study_name(storage: str) -> Iterator[str]:
    """A new study name, whose study is deleted from ``storage`` afterwards."""
    name = f"heartbeat-{uuid.uuid4().hex[:12]}"
    yield name
    try:
        delete_study(name, storage)
    except KeyError:
        pass


def trial_id(storage: str, study_name: str, number: int) -> int:
    """Return the storage's id of trial ``number`` of the study."""
    rdb = optuna.storages.RDBStorage(storage)
    study_id = rdb.get_study_id_from_name(study_name)
    return rdb.get_trial_id_from_study_id_trial_number(study_id, number)


def heartbeats(storage: str, study_name: str, number: int) -> list[dt.datetime]:
    """Return the heartbeats recorded for trial ``number`` of the study."""
    engine = create_engine(storage)
    query = select(HEARTBEATS.c.heartbeat).where(
        HEARTBEATS.c.trial_id == trial_id(storage, study_name, number)
    )
    try:
        with engine.connect() as connection:
            return list(connection.execute(query).scalars())
    finally:
        engine.dispose()


def leave_running_trial(storage: str, study_name: str, age_seconds: float) -> int:
    """Start a trial of another host that last recorded a heartbeat
    ``age_seconds`` ago, by the database's clock, and return its number."""
    trial = optuna.load_study(study_name=study_name, storage=storage).ask()
    trial.set_user_attr(WORKER_ATTR, OTHER_HOST_WORKER)
    optuna.storages.RDBStorage(storage).record_heartbeat(trial._trial_id)

    engine = create_engine(storage)
    row = HEARTBEATS.c.trial_id == trial._trial_id
    try:
        with engine.begin() as connection:
            recorded = connection.execute(
                select(HEARTBEATS.c.heartbeat).where(row)
            ).scalar_one()
            moved = recorded - dt.timedelta(seconds=age_seconds)
            connection.execute(update(HEARTBEATS).where(row).values(heartbeat=moved))
    finally:
        engine.dispose()
    return trial.number


def states(storage: str, study_name: str) -> dict[int, str]:
    """Return the state of each trial of the study by number."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    return {trial.number: trial.state.name for trial in study.get_trials()}


def test_trials_record_heartbeats(storage: str, study_name: str) -> None:
    params = tiny_tuning(
        storage=storage, study_name=study_name, trials=1, register_version=False
    )

    run_tuning(params)

    assert states(storage, study_name) == {0: "COMPLETE"}
    assert len(heartbeats(storage, study_name, 0)) == 1


def test_stopped_heartbeat_fails_trial(
    storage: str, study_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    params = tiny_tuning(
        storage=storage, study_name=study_name, trials=1, register_version=False
    )
    run_tuning(params)
    left = leave_running_trial(storage, study_name, age_seconds=30)

    # a grace period of 40 s keeps a heartbeat 30 s old, one of 20 s does not
    run_tuning(params.model_copy(update={"heartbeat_seconds": 20}))
    after_long_grace = states(storage, study_name)
    run_tuning(params.model_copy(update={"heartbeat_seconds": 10}))
    after_short_grace = states(storage, study_name)

    assert after_long_grace == {0: "COMPLETE", left: "RUNNING", left + 1: "COMPLETE"}
    assert after_short_grace == {
        0: "COMPLETE",
        left: "FAIL",
        left + 1: "COMPLETE",
        left + 2: "COMPLETE",
    }
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name == "models.trial_heartbeats"
    ]
    assert warnings == [
        f"study {study_name}: marked trial {left} failed, because its process "
        f"({OTHER_HOST_WORKER}) recorded no heartbeat for the grace period"
    ]


def test_heartbeats_off_with_zero(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    params = tiny_tuning(
        storage=storage,
        study_name="quiet",
        trials=1,
        register_version=False,
        heartbeat_seconds=0,
    )
    run_tuning(params)
    left = leave_running_trial(storage, "quiet", age_seconds=3600)

    run_tuning(params)

    assert heartbeats(storage, "quiet", left + 1) == []
    assert states(storage, "quiet") == {
        0: "COMPLETE",
        left: "RUNNING",
        left + 1: "COMPLETE",
    }


def test_default_heartbeat_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HEARTBEAT_VARIABLE, raising=False)
    assert default_heartbeat_seconds() == DEFAULT_HEARTBEAT_SECONDS
    monkeypatch.setenv(HEARTBEAT_VARIABLE, " 12 ")
    assert default_heartbeat_seconds() == 12
    monkeypatch.setenv(HEARTBEAT_VARIABLE, "0")
    assert default_heartbeat_seconds() == 0
    monkeypatch.setenv(HEARTBEAT_VARIABLE, " ")
    assert default_heartbeat_seconds() == DEFAULT_HEARTBEAT_SECONDS


@pytest.mark.parametrize("value", ["-1", "1.5", "ten", "3601", "\u00b2"])
def test_invalid_heartbeat_variable_rejected(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(HEARTBEAT_VARIABLE, value)

    with pytest.raises(InvalidInputError) as caught:
        default_heartbeat_seconds()

    assert str(caught.value) == (
        f"{HEARTBEAT_VARIABLE}={value!r} is invalid; set it to a whole number of "
        "seconds from 1 to 3600, or 0 to turn the heartbeats of tuning trials off"
    )
