"""The heartbeat interval of tuning jobs comes from the server's settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from models.errors import InvalidInputError
from models.registry import Registry
from service.jobs.tuning_kind import check_tuning, run_tuning_job
from service.settings import Settings
from tests.models.test_trial_heartbeats import heartbeats
from tests.models.test_tuning import tiny_tuning


@pytest.mark.parametrize(("interval", "recorded"), [(7, 1), (0, 0)])
def test_job_uses_server_heartbeat(
    tmp_path: Path, interval: int, recorded: int
) -> None:
    # a job context that ignores progress and never cancels
    context = SimpleNamespace(
        job_id="abc",
        registry=Registry(tmp_path / "registry"),
        settings=Settings(data_dir=tmp_path, tuning_heartbeat_seconds=interval),
        report=lambda progress, history=None: None,
        should_stop=lambda: False,
    )
    params = tiny_tuning(trials=1, register_version=False)

    summary = run_tuning_job(params, context)

    # the summary shows the study file relative to the data folder
    assert summary["storage"] == "sqlite:///optuna.db"
    storage = f"sqlite:///{(tmp_path / 'optuna.db').resolve()}"
    assert len(heartbeats(storage, "job-abc", 0)) == recorded


def test_job_heartbeat_is_rejected(tmp_path: Path) -> None:
    params = tiny_tuning(heartbeat_seconds=5)

    with pytest.raises(InvalidInputError) as caught:
        check_tuning(params, Settings(data_dir=tmp_path))

    assert caught.value.field == "heartbeat_seconds"
    assert str(caught.value) == (
        "heartbeat_seconds is chosen by the server "
        "(RNN_FORECAST_TUNING_HEARTBEAT_SECONDS) and cannot be set in a job; "
        "remove params.heartbeat_seconds"
    )


@pytest.mark.parametrize("value", ["-1", "3601", "1.5"])
def test_invalid_heartbeat_setting_rejected(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RNN_FORECAST_TUNING_HEARTBEAT_SECONDS", value)

    with pytest.raises(ValidationError) as caught:
        Settings()

    assert [error["loc"] for error in caught.value.errors()] == [
        ("tuning_heartbeat_seconds",)
    ]


def test_heartbeat_setting_read_from_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RNN_FORECAST_TUNING_HEARTBEAT_SECONDS", raising=False)
    assert Settings().tuning_heartbeat_seconds == 30
    monkeypatch.setenv("RNN_FORECAST_TUNING_HEARTBEAT_SECONDS", "0")
    assert Settings().tuning_heartbeat_seconds == 0
