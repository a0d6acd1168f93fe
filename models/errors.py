"""Domain errors raised by the model package.

The service maps each class to one HTTP status in ``service/errors.py``; the
command line prints the message. Every message names the offending value and
the fix.
"""

from __future__ import annotations

from typing import Self


class RnnForecastError(Exception):
    """Base class of every domain error; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def with_field(self, field: str | None) -> Self:
        """Return a copy of this error that names ``field``. The copy keeps
        the class and every attribute, including those that a subclass's
        ``__init__`` requires, such as the rows of a series too short."""
        cls = type(self)
        copy = cls.__new__(cls, *self.args)
        copy.__dict__.update(self.__dict__)
        copy.field = field
        return copy


class InvalidInputError(RnnForecastError, ValueError):
    """A request, spec or series that cannot be used as given (HTTP 422)."""


class DataError(InvalidInputError):
    """A data source whose content is invalid or too short (HTTP 422)."""


class LimitExceededError(InvalidInputError):
    """A value above a configured limit; the message names the limit."""


class NotFoundError(RnnForecastError, LookupError):
    """An unknown model, version, alias, job or series (HTTP 404)."""


class ConflictError(RnnForecastError):
    """A request that conflicts with current state, e.g. cancelling a
    finished job (HTTP 409)."""


class CheckpointError(RnnForecastError, RuntimeError):
    """A stored version that is corrupt or does not fit its metadata."""


class TrainingDivergedError(RnnForecastError, RuntimeError):
    """Training whose loss or gradient norm went non-finite, so it stopped
    without writing a version."""


class SourceUnavailableError(RnnForecastError, RuntimeError):
    """A remote data source that cannot be reached (HTTP 503)."""
