"""Driver parameters in the query of a storage URL: ``check_storage``
rejects the values that the driver would reject when the first connection
opens, and accepts the others. The PostgreSQL checks parse only; the tests
that connect need the server of ``RNN_FORECAST_TEST_POSTGRES``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from models.errors import InvalidInputError
from models.sql_urls import check_storage

SETTING = "RNN_FORECAST_JOB_STORE"
POSTGRES_URL = os.environ.get(
    "RNN_FORECAST_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
SERVER = "postgresql+psycopg://user@127.0.0.1:5432/db"

TIMEOUT_FIX = (
    "set timeout to a number of seconds of at least 0, such as timeout=30, or "
    "leave it out"
)
# each SQLite query, the reason and the fix of its message
SQLITE_INVALID = [
    ("timeout=abc", "could not convert string to float: 'abc'", TIMEOUT_FIX),
    ("timeout=nan", "a timeout must be finite and not negative", TIMEOUT_FIX),
    ("timeout=inf", "a timeout must be finite and not negative", TIMEOUT_FIX),
    ("timeout=-1", "a timeout must be finite and not negative", TIMEOUT_FIX),
    (
        "detect_types=1.5",
        "invalid literal for int() with base 10: '1.5'",
        "set detect_types to a whole number of sqlite3 PARSE_ flags, such as "
        "detect_types=0, or leave it out",
    ),
    (
        "detect_types=99999999999",
        "Python int too large to convert to C int",
        "set detect_types to a whole number of sqlite3 PARSE_ flags, such as "
        "detect_types=0, or leave it out",
    ),
    (
        "check_same_thread=maybe",
        "String is not true/false: 'maybe'",
        "set check_same_thread to true or false, or leave it out",
    ),
    (
        "cached_statements=many",
        "invalid literal for int() with base 10: 'many'",
        "set cached_statements to a whole number of at least 0, such as "
        "cached_statements=128, or leave it out",
    ),
]
SQLITE_VALID = [
    "timeout=30",
    "timeout=0",
    "timeout=2.5",
    "detect_types=3",
    "check_same_thread=false",
    "cached_statements=0",
    "timeout=5&check_same_thread=true",
]


def rejection(url: str) -> str:
    """Return the message of ``check_storage``'s error for ``url``, after
    checking that it names the storage field."""
    with pytest.raises(InvalidInputError) as caught:
        check_storage(url, name=SETTING)

    assert caught.value.field == "storage"
    return caught.value.message


def expected_message(url: str, query: str, reason: str, fix: str) -> str:
    key, _, value = query.partition("=")
    return (
        f"{SETTING}={url} has the invalid parameter {key}={value!r} ({reason}); {fix}"
    )


@pytest.mark.parametrize(("query", "reason", "fix"), SQLITE_INVALID)
@pytest.mark.parametrize(
    "form",
    ["sqlite:///{folder}/jobs.db?{query}", "sqlite:///file:jobs.db?{query}&uri=true"],
)
def test_sqlite_parameter_rejected(
    tmp_path: Path, form: str, query: str, reason: str, fix: str
) -> None:
    url = form.format(folder=tmp_path, query=query)

    assert rejection(url) == expected_message(url, query, reason, fix)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "query",
    ["timeout=abc", "detect_types=99999999999", "check_same_thread=maybe"],
)
def test_unchecked_sqlite_parameter_fails_on_connect(
    tmp_path: Path, query: str
) -> None:
    """Without the check, these values fail when the engine is created or
    its first connection opens."""
    url = f"sqlite:///{tmp_path}/jobs.db?{query}"

    with pytest.raises((ValueError, OverflowError)):
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))


@pytest.mark.parametrize("query", SQLITE_VALID)
def test_sqlite_parameter_accepted(tmp_path: Path, query: str) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db?{query}"

    check_storage(url, name=SETTING)
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_repeated_parameter_rejected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db?timeout=1&timeout=2"

    assert rejection(url) == (
        f"{SETTING}={url} has the invalid parameter timeout=('1', '2') (the "
        "parameter is given more than once); give timeout once"
    )


SSLMODES = "disable, allow, prefer, require, verify-ca or verify-full"
# each PostgreSQL query, the reason and the fix of its message
POSTGRES_INVALID = [
    (
        "connect_timeout=abc",
        "bad value for connect_timeout: 'abc'",
        "set connect_timeout to a whole number of seconds, such as "
        "connect_timeout=10, or leave it out",
    ),
    (
        "timeout=5",
        "libpq has no connection parameter of that name",
        "remove timeout or correct its spelling",
    ),
    (
        "sslmode=on",
        "libpq does not know that value",
        f"set sslmode to {SSLMODES}, or leave it out",
    ),
    (
        "sslmode=REQUIRE",
        "libpq does not know that value",
        f"set sslmode to {SSLMODES}, or leave it out",
    ),
    (
        "keepalives=yes",
        "libpq reads only a whole number there",
        "set keepalives to a whole number, such as keepalives=1, or leave it out",
    ),
    (
        "keepalives_idle=1.5",
        "libpq reads only a whole number there",
        "set keepalives_idle to a whole number, such as keepalives_idle=1, or "
        "leave it out",
    ),
    (
        "target_session_attrs=writable",
        "libpq does not know that value",
        "set target_session_attrs to any, read-write, read-only, primary, "
        "standby or prefer-standby, or leave it out",
    ),
    (
        "gssencmode=off",
        "libpq does not know that value",
        "set gssencmode to disable, prefer or require, or leave it out",
    ),
]
POSTGRES_VALID = [
    "connect_timeout=10",
    "sslmode=disable",
    "sslmode=prefer",
    "keepalives=1&keepalives_idle=30",
    "target_session_attrs=any",
    "gssencmode=disable",
    "application_name=rnn-forecast",
    "options=-csearch_path%3Dpublic",
]


@pytest.mark.parametrize(("query", "reason", "fix"), POSTGRES_INVALID)
def test_postgres_parameter_rejected(query: str, reason: str, fix: str) -> None:
    url = f"{SERVER}?{query}"

    assert rejection(url) == expected_message(url, query, reason, fix)


@pytest.mark.parametrize("query", POSTGRES_VALID)
def test_postgres_parameter_accepted(query: str) -> None:
    check_storage(f"{SERVER}?{query}", name=SETTING)


def server_or_skip() -> None:
    """Skip the test when no PostgreSQL listens at ``POSTGRES_URL``, except
    in CI."""
    engine = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({exc.orig}); CI runs these")


def with_query(query: str) -> str:
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}{query}"


@pytest.mark.parametrize("query", [query for query, _, _ in POSTGRES_INVALID])
def test_rejected_postgres_parameter_fails_on_connect(query: str) -> None:
    """The values that the check rejects also fail on a real connection."""
    server_or_skip()
    engine = create_engine(with_query(query), poolclass=NullPool)

    with pytest.raises((OperationalError, ProgrammingError)):
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))


@pytest.mark.parametrize("query", POSTGRES_VALID)
def test_accepted_postgres_parameter_connects(query: str) -> None:
    server_or_skip()
    url = with_query(query)

    check_storage(url, name=SETTING)
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
