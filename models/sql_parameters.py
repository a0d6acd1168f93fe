"""Checks of the driver parameters in the query of a database URL.

SQLAlchemy passes the query parameters of a URL to the database driver when
the first connection opens. A value such as ``timeout=abc`` would fail
there, in the job store or a tuning study, far from the setting that gave
it. ``check_parameters`` applies the drivers' own rules while the setting
is checked:

- SQLite (pysqlite): SQLAlchemy's conversion of each connect argument
  (``sqlite_file`` reads ``uri``), then ``sqlite3.connect`` of an in-memory
  database with the converted value, which writes no file. ``timeout`` must
  also be a finite number of seconds of at least 0, because
  ``sqlite3.connect`` accepts NaN and a negative timeout, which turns
  SQLite's wait for a locked database off.
- PostgreSQL through psycopg: libpq's parser (``psycopg.conninfo``) for
  the parameter names other than the keywords of ``psycopg.connect``,
  psycopg's rule for ``connect_timeout``, and libpq's rules for the integer
  and enumerated parameters in ``LIBPQ_INTEGERS`` and ``LIBPQ_CHOICES``.

NOTE: the values of other PostgreSQL parameters, such as ``options`` or
``client_encoding``, and of the keywords of ``psycopg.connect`` are checked
only when a connection opens. The parameters of other drivers, such as
psycopg2, are not checked here.
"""

from __future__ import annotations

import inspect
import math
import re
import sqlite3
from typing import Any

from sqlalchemy.engine import URL

from models.errors import InvalidInputError

# the fix for each connect argument of SQLAlchemy's pysqlite dialect, whose
# value it converts with float, int or asbool; uri is checked by sqlite_file
PYSQLITE_FIXES = {
    "timeout": "a number of seconds of at least 0, such as timeout=30",
    "detect_types": "a whole number of sqlite3 PARSE_ flags, such as detect_types=0",
    "check_same_thread": "true or false",
    "cached_statements": "a whole number of at least 0, such as cached_statements=128",
}

# libpq parameters that take an integer, which libpq reads with optional
# white space and sign (libpq 18, fe-connect.c parse_int_param)
LIBPQ_INTEGERS = (
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
)
LIBPQ_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
# libpq parameters that take one of a few words, compared case-sensitively
# (libpq 18, "Parameter Key Words" of the PostgreSQL documentation)
LIBPQ_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "sslcertmode": ("disable", "allow", "require"),
    "sslnegotiation": ("postgres", "direct"),
    "load_balance_hosts": ("disable", "random"),
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
}


def check_parameters(url: URL, *, name: str, redacted: str) -> None:
    """Raise ``InvalidInputError`` for a query parameter of ``url`` that its
    driver would reject when a connection opens. ``name`` is the setting
    that gave ``url`` and ``redacted`` is ``url`` as the message shows it."""
    for key, value in url.query.items():
        if not isinstance(value, str):
            reason = "the parameter is given more than once"
            raise _invalid(name, redacted, key, value, reason, f"give {key} once")
    if url.get_backend_name() == "sqlite":
        _check_pysqlite(url, name=name, redacted=redacted)
    elif url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        _check_libpq(url, name=name, redacted=redacted)


def _check_pysqlite(url: URL, *, name: str, redacted: str) -> None:
    """Convert each connect argument of the SQLite URL ``url`` as
    SQLAlchemy does, and open an in-memory database with it."""
    dialect = url.get_dialect()()
    for key, values in PYSQLITE_FIXES.items():
        value = url.query.get(key)
        if value is None:
            continue
        fix = _set(key, values)
        try:
            _, arguments = dialect.create_connect_args(url.set(query={key: value}))
            converted = arguments[key]
            sqlite3.connect(":memory:", **{key: converted}).close()
        except (ValueError, TypeError, OverflowError, sqlite3.Error) as exc:
            raise _invalid(name, redacted, key, value, str(exc), fix) from None
        if key == "timeout" and not (math.isfinite(converted) and converted >= 0):
            reason = "a timeout must be finite and not negative"
            raise _invalid(name, redacted, key, value, reason, fix)


def _check_libpq(url: URL, *, name: str, redacted: str) -> None:
    """Check each query parameter of the psycopg URL ``url`` against the
    parameter names of libpq and the values of ``LIBPQ_INTEGERS``,
    ``LIBPQ_CHOICES`` and ``connect_timeout``."""
    import psycopg
    from psycopg.conninfo import make_conninfo, timeout_from_conninfo

    # psycopg.connect takes these keywords itself and passes the others to
    # libpq
    signature = inspect.signature(psycopg.Connection.connect)
    for key, value in url.query.items():
        if key in signature.parameters:
            continue
        try:
            make_conninfo("", **{key: value})
        except psycopg.ProgrammingError:
            reason = "libpq has no connection parameter of that name"
            fix = f"remove {key} or correct its spelling"
            raise _invalid(name, redacted, key, value, reason, fix) from None
        if key == "connect_timeout":
            try:
                timeout_from_conninfo({key: value})
            except psycopg.ProgrammingError as exc:
                fix = _set(key, "a whole number of seconds, such as connect_timeout=10")
                raise _invalid(name, redacted, key, value, str(exc), fix) from None
        if key in LIBPQ_INTEGERS and not LIBPQ_INTEGER.fullmatch(str(value)):
            reason = "libpq reads only a whole number there"
            fix = _set(key, f"a whole number, such as {key}=1")
            raise _invalid(name, redacted, key, value, reason, fix)
        choices = LIBPQ_CHOICES.get(key)
        if choices is not None and value not in choices:
            reason = "libpq does not know that value"
            fix = _set(key, " or ".join(", ".join(choices).rsplit(", ", 1)))
            raise _invalid(name, redacted, key, value, reason, fix)


def _set(key: str, values: str) -> str:
    """Return the fix that sets the parameter ``key`` to one of ``values``."""
    return f"set {key} to {values}, or leave it out"


def _invalid(
    name: str, redacted: str, key: str, value: Any, reason: str, fix: str
) -> InvalidInputError:
    """Return the error of the query parameter ``key`` of the URL that the
    setting ``name`` gave: its value, the reason and the fix."""
    return InvalidInputError(
        f"{name}={redacted} has the invalid parameter {key}={value!r} "
        f"({reason}); {fix}",
        field="storage",
    )
