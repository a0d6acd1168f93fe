"""Celery workers whose ``inspect conf`` reply has no valid visibility
timeout, because the option is missing or is not a number, in the API's log
and ``GET /v1/health``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.registry import Registry
from service.jobs.store import JobStore, sqlite_url
from tests.conftest import LiveServer
from tests.service.celery_option_app import MISSING, OPTION_VARIABLE, TEXT
from tests.service.test_celery import (
    VISIBILITY_VARIABLE,
    CeleryWorker,
    listed_health,
    mismatch_lines,
    replied_runner,
    running_stack,
)

Stack = tuple[LiveServer, CeleryWorker, Path, Path]

REASONS = {
    MISSING: "the visibility_timeout broker transport option is missing, so "
    "the worker uses kombu's default of 3600 s on Redis",
    TEXT: "the visibility_timeout broker transport option is '60', which is "
    "not a number of seconds",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    yield job_store
    job_store.close()


@pytest.fixture(scope="module", params=[MISSING, TEXT])
def option_stack(
    request: pytest.FixtureRequest,
    trained_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, str]]:
    """The API and one worker whose reply has the option that
    ``request.param`` selects, with that parameter."""
    tmp = tmp_path_factory.mktemp("celery-option")
    with running_stack(
        trained_registry,
        tmp,
        worker_env={OPTION_VARIABLE: request.param},
        app_module="tests.service.celery_option_app",
    ) as stack:
        yield stack, request.param


def test_unknown_timeout_in_health(option_stack: tuple[Stack, str]) -> None:
    (server, worker, _, _), option = option_stack

    health = listed_health(server, worker, "unknown_visibility_timeouts")
    runner = health["runner"]

    assert isinstance(runner, dict)
    assert runner["unknown_visibility_timeouts"] == {worker.name: REASONS[option]}
    assert runner["mismatched_visibility_timeouts"] == {}
    assert list(runner["worker_replied_at"]) == [worker.name]
    assert runner["worker_replied_at"][worker.name].endswith("+00:00")
    assert runner["status"] == "ok"
    assert health["status"] == "ok"
    [line] = mismatch_lines(server.output())
    assert f"the Celery worker {worker.name} has no valid" in line
    assert REASONS[option] in line


def test_unknown_timeout_warned_once(
    option_stack: tuple[Stack, str],
    store: JobStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (_, worker, _, _), option = option_stack
    caplog.set_level(logging.WARNING, logger="service.jobs.worker_listing")

    runner, replies = replied_runner(store, worker)
    again = runner.check_workers()

    assert replies == again == {worker.name: REASONS[option]}
    assert runner.state().unknown_visibility_timeouts == {worker.name: REASONS[option]}
    [line] = mismatch_lines(caplog.text)
    assert f"{VISIBILITY_VARIABLE}=300" in line
