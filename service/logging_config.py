"""Log formatting for the server: one JSON object per line, or plain text.

Every record carries the id of the request being served (``request_id``), set
by the request middleware through a context variable, so lines logged deep in
a route can be joined to the access log line of their request.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# attributes of every LogRecord; anything else on a record came from `extra=`,
# except uvicorn's `color_message`, a copy of the message with terminal colours
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "request_id", "taskName", "color_message"}

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def in_request_context(function: Callable[..., T], *args: Any) -> Callable[..., T]:
    """Bind ``function(*args)`` to a copy of the caller's context variables;
    arguments given to the returned callable follow ``args``.

    ``loop.run_in_executor`` does not carry context variables to the pool
    thread, so without this the lines that a pool thread logs for a request
    would have no ``request_id``.
    """
    return functools.partial(contextvars.copy_context().run, function, *args)


class RequestIdFilter(logging.Filter):
    """Set ``record.request_id`` from the request being served, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id,
    the record's ``extra`` fields and, when present, the exception text."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "request_id", None),
            fields,
        )


def json_line(
    created: float,
    level: str,
    logger: str,
    message: str,
    request_id: str | None,
    fields: dict[str, Any],
) -> str:
    """Write one log line as JSON: the time ``created`` (Unix seconds) in
    UTC to the millisecond, the level, logger name, message and request
    id, then ``fields``."""
    entry: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(created, dt.UTC).isoformat(
            timespec="milliseconds"
        ),
        "level": level,
        "logger": logger,
        "message": message,
        "request_id": request_id,
    }
    entry.update(fields)
    return json.dumps(entry, default=str)


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """Build the ``logging.config.dictConfig`` dict of the server process.

    Uvicorn takes it as ``log_config``, and its loggers propagate to the root
    handler. Its access log is off because the request middleware writes one
    access line per request, with the request id.
    """
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            },
            # without a handler, logging's last resort would print in plain text
            "discard": {"class": "logging.NullHandler"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": ["discard"], "propagate": False},
            # the job store's own line reports a schema upgrade
            "alembic": {"level": "WARNING"},
        },
    }
