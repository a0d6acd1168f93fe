"""SQLAlchemy database URLs of the job store and the tuning studies.

This module imports neither pandas nor Optuna, so the server can check its
settings before the app starts without slowing its start.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.util import asbool

from models.errors import InvalidInputError
from models.sql_parameters import check_parameters


def redact_storage(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    A URL without a password comes back as written, because SQLAlchemy
    renders a colon in the database name as ``%3A``, such as
    ``sqlite:///%3Amemory%3A`` for ``sqlite:///:memory:``.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparsable storage URL>"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def shown_storage(url: str, data_dir: Path) -> str:
    """Return ``url`` as ``redact_storage`` does, and for a SQLite file as a
    plain SQLite URL of the file that SQLite opens (``sqlite_file``), with
    its path relative to ``data_dir``, or its file name alone when the file
    lies outside ``data_dir``, so the URL does not show the host's folders.

    The shown URL keeps the connect arguments of SQLAlchemy's pysqlite
    dialect other than ``uri``. It leaves out the parameters that only a
    SQLite URI reads, such as ``mode``, because it is not a URI."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return redact_storage(url)
    if parsed.get_backend_name() != "sqlite":
        return redact_storage(url)
    try:
        path = sqlite_file(parsed)
    except ValueError:
        return redact_storage(url)
    if path is None:
        return redact_storage(url)

    try:
        shown = path.resolve().relative_to(data_dir.resolve())
    except ValueError:
        shown = Path(path.name)
    arguments = {
        key: value
        for key, value in parsed.query.items()
        if key in PYSQLITE_ARGUMENTS and key != "uri"
    }
    plain = parsed.set(database=str(shown), query=arguments)
    return plain.render_as_string(hide_password=True)


def check_storage(
    url: str, *, name: str = "storage", example: str = "sqlite:///var/optuna.db"
) -> None:
    """Raise ``InvalidInputError`` unless ``url`` parses as a SQLAlchemy URL
    of a database that SQLAlchemy supports, its driver module imports, a
    SQLite URL names a file that SQLite opens (``sqlite_file``), not an
    in-memory or temporary database, and the driver accepts the query
    parameters that ``check_parameters`` checks.

    ``name`` is the option or setting that gave ``url``, and ``example`` a
    SQLite URL that suits it; the message names both.
    """
    redacted = redact_storage(url)
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, ImportError) as exc:
        raise InvalidInputError(
            f"{name}={redacted} is not a database URL ({exc}); use e.g. "
            f"{example} or postgresql+psycopg://user@127.0.0.1:5432/db",
            field="storage",
        ) from exc

    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_storage(parsed, name=name, redacted=redacted, example=example)

    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = getattr(exc, "name", None) or str(exc)
        raise InvalidInputError(
            f"{name}={redacted} needs the database driver module {module!r}, "
            "which is not installed; install that driver into this "
            f"environment, or use e.g. {example} or "
            "postgresql+psycopg://user@127.0.0.1:5432/db, whose driver the "
            "postgres extra installs",
            field="storage",
        ) from exc
    check_parameters(parsed, name=name, redacted=redacted)


def _check_sqlite_storage(url: URL, *, name: str, redacted: str, example: str) -> None:
    """Raise ``InvalidInputError`` unless the SQLite URL ``url`` names a file
    that SQLite opens (``sqlite_file``). ``redacted`` is ``url`` as shown."""
    try:
        path = sqlite_file(url)
    except ValueError as exc:
        raise InvalidInputError(
            f"{name}={redacted} is not a SQLite URL that SQLite can open, "
            f"because {exc}",
            field="storage",
        ) from None
    if path is None:
        raise InvalidInputError(
            f"{name}={redacted} is an in-memory or temporary SQLite database, "
            "which every connection and every process opens empty, so the "
            "tables that one creates are missing for the others; use a file "
            f"such as {example}",
            field="storage",
        )


# the query parameters that SQLAlchemy's pysqlite dialect passes to
# sqlite3.connect; with uri=true, it appends the others to the file name
PYSQLITE_ARGUMENTS = (
    "uri",
    "timeout",
    "isolation_level",
    "detect_types",
    "check_same_thread",
    "cached_statements",
)
# SQLite file names of a database that no file on disk keeps: in memory or
# a temporary file that SQLite deletes when the connection closes
UNSTORED_NAMES = ("", ":memory:")


def sqlite_file(url: URL) -> Path | None:
    """Return the absolute path of the file that SQLite opens for the SQLite
    URL ``url``, or None for an in-memory or temporary database. Raises
    ``ValueError`` when the ``uri`` parameter is not a boolean or SQLite
    rejects the URI's authority.

    This follows SQLAlchemy 2.1 (``dialects/sqlite/pysqlite.py``). Without
    ``uri=true`` in the query, the database name is a path, even one that
    starts with ``file:``. With it, the name gets the query's parameters for
    SQLite appended, and SQLite reads a name that starts with ``file:`` as
    a URI (https://sqlite.org/uri.html) and any other name as a path.
    """
    database = url.database or ""
    if not _uri_flag(url):
        return _plain_file(database)
    parameters = sorted(
        f"{key}={value}"
        for key, value in url.query.items()
        if key not in PYSQLITE_ARGUMENTS
    )
    name = database + ("?" + "&".join(parameters) if parameters else "")
    if not name.startswith("file:"):
        return _plain_file(name)
    return _uri_file(name.removeprefix("file:"))


def _uri_flag(url: URL) -> bool:
    """Return the ``uri`` parameter of ``url`` as SQLAlchemy reads it, False
    when it is absent."""
    value = url.query.get("uri", False)
    try:
        return asbool(value)
    except ValueError:
        raise ValueError(
            f"uri={value!r} is not a boolean. Write uri=true or uri=false"
        ) from None


def _plain_file(name: str) -> Path | None:
    """Return the absolute path of the SQLite file name ``name``, relative
    to the working folder, or None for an unstored database."""
    if name in UNSTORED_NAMES:
        return None
    return Path(os.path.abspath(name))


def _uri_file(uri: str) -> Path | None:
    """Return the absolute path that the SQLite URI ``file:<uri>`` names, or
    None for an in-memory or temporary database. Raises ``ValueError`` for
    an authority other than none, an empty one or ``localhost``, which
    SQLite rejects."""
    without_fragment = uri.partition("#")[0]
    path, _, query = without_fragment.partition("?")
    if path.startswith("//"):
        authority, slash, rest = path[2:].partition("/")
        if authority not in ("", "localhost"):
            raise ValueError(
                f"the URI file:{uri} names the host {authority!r}, but SQLite "
                "opens only local files. Write file:/path/to/file.db or "
                "file://localhost/path/to/file.db"
            )
        path = slash + rest
    options = {}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        options[unquote(key)] = unquote(value)
    if options.get("mode") == "memory" or options.get("vfs") == "memdb":
        return None
    return _plain_file(unquote(path))
