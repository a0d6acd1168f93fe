"""The data sources that HTTP job submissions accept.

A training spec over HTTP may use every data source except those that read
a local file by its path (``csv``), because a client must not make the
server read its own files. Such a client uploads the series with
``POST /v1/series`` instead. Errors that list the accepted sources list
these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.errors import InvalidInputError
from models.source_errors import source_message
from models.spec import DATA_SOURCES, LOCAL_FILE_SOURCES

HTTP_SOURCES: tuple[str, ...] = tuple(
    source for source in DATA_SOURCES if source not in LOCAL_FILE_SOURCES
)


def check_http_source(source: str, *, field: str, root_path: str) -> None:
    """Raise ``InvalidInputError`` on ``field`` when ``source`` is not one
    of ``HTTP_SOURCES``. The path of the upload that the message names
    starts with ``root_path``, the service's root path
    (``RNN_FORECAST_ROOT_PATH``)."""
    if source in HTTP_SOURCES:
        return
    raise InvalidInputError(
        f"data.source {source!r} reads a file on the server and is not accepted "
        f"over HTTP; upload the series with POST {root_path}/v1/series and send "
        '{"source": "upload", "series_id": "<id>"}',
        field=field,
    )


def http_source_message(error: Mapping[str, Any]) -> str | None:
    """Return the message of a pydantic error for a missing or unknown data
    source, listing ``HTTP_SOURCES``; None for any other error."""
    return source_message(error, HTTP_SOURCES)
