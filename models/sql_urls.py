"""SQLAlchemy database URLs of the job store and the tuning studies.

This module imports neither pandas nor Optuna, so the server can check its
settings before the app starts without slowing its start.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from models.errors import InvalidInputError


def redact_storage(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable storage URL>"


def check_storage(url: str) -> None:
    """Raise InvalidInputError unless ``url`` parses as a SQLAlchemy URL of
    a database that SQLAlchemy supports."""
    try:
        make_url(url).get_dialect()
    except (ArgumentError, ImportError) as exc:
        raise InvalidInputError(
            f"storage {redact_storage(url)} is not a database URL ({exc}); use "
            "e.g. sqlite:///var/optuna.db or "
            "postgresql+psycopg://user@127.0.0.1:5432/db",
            field="storage",
        ) from exc
