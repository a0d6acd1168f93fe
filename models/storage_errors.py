"""The error of a study database that SQLAlchemy fails to open or use.

``models.sql_urls.check_storage`` accepts a URL by its form alone. Opening
the database can still fail, such as for a SQLite file in a folder that
does not exist, a file that is not a SQLite database or a database server
that does not accept the connection. ``rnn-forecast tune`` turns that
failure into one ``InvalidInputError`` that names the option or setting
that gave the URL. A tuning job's error gives only the driver's message,
because the reasons here name folders of the server.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from models.errors import InvalidInputError
from models.sql_urls import redact_storage, sqlite_file


def storage_open_error(name: str, url: str, exc: SQLAlchemyError) -> InvalidInputError:
    """Return the error for the study database at ``url`` that failed with
    ``exc``. ``name`` is the option or setting that gave ``url``."""
    return InvalidInputError(
        f"{name}={redact_storage(url)}: cannot use the study database, "
        f"because {open_failure_reason(url, exc)}",
        field="storage",
    )


def open_failure_reason(url: str, exc: SQLAlchemyError) -> str:
    """Return why the database at ``url`` failed with ``exc``, and what to
    change.

    A SQLite file whose folder is missing or which is a folder gets that
    fact, because SQLite reports both as "unable to open database file".
    Other failures get the first line of the driver's message.
    """
    first_line = driver_message(exc)
    path = _sqlite_path(url)
    if path is None:
        return (
            f"{first_line}; start the database server, or use a database that "
            "this host can reach"
        )

    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder; name a file in it, such as {path / 'optuna.db'}"
    if not folder.exists():
        return (
            f"the folder {folder} does not exist; create it, or name a file in "
            "an existing folder"
        )
    if not folder.is_dir():
        return f"{folder} is a file, not a folder; name a file in an existing folder"
    return f"{first_line}; name a SQLite file that optuna created, or a new file"


def driver_message(exc: SQLAlchemyError) -> str:
    """Return the first line of the database driver's message in ``exc``,
    without SQLAlchemy's SQL statement and link."""
    return str(getattr(exc, "orig", None) or exc).strip().partition("\n")[0]


def _sqlite_path(url: str) -> Path | None:
    """Return the file that the SQLite URL ``url`` names, or None for a URL
    of another database or one that names no file."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return None
        return sqlite_file(parsed)
    except (ArgumentError, ValueError):
        return None
