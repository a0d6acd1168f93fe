"""The job store's schema revisions on SQLite and PostgreSQL: new stores,
stores from before the migrations, unknown revisions and concurrent opens."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select, text

from service.jobs.schema import HEAD, MIGRATIONS, VERSION_TABLE, SchemaError
from service.jobs.store import JobStore, jobs_table, metadata, sqlite_url
from tests.service.jobs_support import postgres_schema

OPENERS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty store."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "jobs.db")
        return
    with postgres_schema() as schema_url:
        yield schema_url


def revisions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            return [str(row[0]) for row in rows]
    finally:
        engine.dispose()


def test_new_store_is_at_head(url: str) -> None:
    JobStore(url).close()

    assert revisions(url) == [HEAD]


def test_migrations_match_table_definitions(url: str) -> None:
    """Check that the revisions build exactly the tables the code defines."""
    JobStore(url).close()

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_store_without_version_table_is_adopted(url: str) -> None:
    """Check that a store created before the migrations keeps its jobs."""
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(jobs_table).values(old_job_row()))

    store = JobStore(url)
    adopted_job = store.get("old-job-1")
    store.close()

    assert adopted_job.kind == "train"
    assert adopted_job.params == {"epochs": 3}
    assert revisions(url) == [HEAD]
    with engine.connect() as conn:
        ids = conn.execute(select(jobs_table.c.id)).scalars().all()
    engine.dispose()
    assert ids == ["old-job-1"]


def test_unknown_revision_is_rejected(url: str) -> None:
    JobStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()

    with pytest.raises(SchemaError) as caught:
        JobStore(url)

    message = str(caught.value)
    assert "'9999'" in message
    assert "RNN_FORECAST_JOB_STORE" in message
    assert "upgrade rnn-forecast" in message


def test_concurrent_opens_migrate_once(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(OPENERS) as pool:
        results = pool.map(open_and_count, [url] * OPENERS)

    assert results == [0] * OPENERS
    assert revisions(url) == [HEAD]
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"rnn_forecast_jobs", "rnn_forecast_job_queue_lock", VERSION_TABLE} <= tables


def test_alembic_command_line_round_trip(tmp_path: Path) -> None:
    """Check that the revisions run from Alembic's own commands with the
    store's URL, down to an empty database and back."""
    url = sqlite_url(tmp_path / "jobs.db")
    JobStore(url).close()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)

    command.downgrade(config, "base")
    engine = create_engine(url)
    after_downgrade = set(inspect(engine).get_table_names())
    engine.dispose()
    command.upgrade(config, "head")

    assert after_downgrade <= {VERSION_TABLE}
    assert revisions(url) == [HEAD]
    store = JobStore(url)
    assert store.create("train", {}).status == "queued"
    store.close()


def open_and_count(url: str) -> int:
    """Open the store in a new process and return how many jobs it has."""
    store = JobStore(url)
    try:
        return len(store.list_jobs())
    finally:
        store.close()


def old_job_row() -> dict[str, object]:
    return {
        "id": "old-job-1",
        "kind": "train",
        "status": "succeeded",
        "params": {"epochs": 3},
        "progress": None,
        "history": [],
        "result": {"name": "nflx", "version": 1},
        "error": None,
        "cancel_requested": False,
        "cancel_requested_at": None,
        "created_at": 1_700_000_000.0,
        "started_at": 1_700_000_001.0,
        "finished_at": 1_700_000_002.0,
        "heartbeat_at": None,
        "worker": "host:1",
        "revision": 3,
    }
