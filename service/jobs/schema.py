"""The job store's schema version, brought to this code's revision on open.

The revisions are Alembic scripts in ``service/jobs/migrations/versions``,
and the store's current revision is the one row of ``VERSION_TABLE``.
Opening a store whose revision is ``HEAD`` costs two small queries and does
not import Alembic. Otherwise one process at a time upgrades it: a
PostgreSQL advisory lock or, for SQLite, an ``flock`` on a file beside the
database serializes the processes that open a store at once. A store
created before the migrations existed has the tables but no version table;
the first revision adopts its tables as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, column, inspect, select, table, text

from models.errors import RnnForecastError
from models.sql_urls import sqlite_file

logger = logging.getLogger(__name__)

# the revision this code reads and writes, and every revision it supports
HEAD = "0001"
KNOWN = ("0001",)
# not Alembic's default name, which Optuna's tables in a shared database use
VERSION_TABLE = "rnn_forecast_jobs_schema"
MIGRATIONS = Path(__file__).with_name("migrations")
# a fixed key below 2**63, the lock's name in pg_locks
ADVISORY_LOCK_KEY = 0x726E6E5F6A6F6273


class SchemaError(RnnForecastError):
    """The store's schema is at a revision this code cannot use."""


def ensure_schema(engine: Engine) -> None:
    """Bring the store behind ``engine`` to ``HEAD``; raise ``SchemaError``
    when it is at a revision this code does not know."""
    if _revision(engine) == HEAD:
        return

    with engine.connect() as connection, _migration_lock(engine, connection):
        before = _revision_on(connection)
        _check_known(engine, before)
        if before == HEAD:
            return
        _upgrade(connection)
        connection.commit()
    logger.info(
        "job store %s upgraded from schema revision %s to %s",
        _redacted(engine),
        before or "none",
        HEAD,
    )


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return _revision_on(connection)


def _revision_on(connection: Connection) -> str | None:
    """Return the store's revision, or None when it has no version table."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = table(VERSION_TABLE, column("version_num"))
    rows = connection.execute(select(versions.c.version_num)).scalars().all()
    if not rows:
        return None
    return ",".join(sorted(str(row) for row in rows))


def _check_known(engine: Engine, revision: str | None) -> None:
    if revision is None or revision in KNOWN:
        return
    raise SchemaError(
        f"the job store {_redacted(engine)} has schema revision {revision!r}, "
        f"which this version of rnn-forecast does not know (it reads {HEAD!r}); "
        "upgrade rnn-forecast, or set RNN_FORECAST_JOB_STORE to another store"
    )


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, HEAD)


@contextlib.contextmanager
def _migration_lock(engine: Engine, connection: Connection) -> Iterator[None]:
    """Hold a lock that one process at a time may hold while it migrates
    the store behind ``engine``."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        key = {"key": ADVISORY_LOCK_KEY}
        connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
        connection.commit()
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
            connection.commit()
        return

    path = sqlite_file(url) if url.get_backend_name() == "sqlite" else None
    if path is None:
        yield
        return

    lock_path = path.with_name(path.name + ".schema-lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _redacted(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
