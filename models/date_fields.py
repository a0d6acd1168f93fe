"""Date fields read from JSON: calendar dates written as YYYY-MM-DD only.

Pydantic's lax mode reads a JSON number, or a string of digits, as seconds
since 1970-01-01 UTC. ``"date": 1607644800`` would then be 2020-12-11, and
the compact ``"20201012"`` would fail with a message about a time of day.
``IsoDate`` accepts a ``datetime.date`` (from Python callers) or a string
in the form YYYY-MM-DD, the JSON schema's ``format: date``, and rejects
everything else with one message that shows how to write the date.

The check is a pydantic-core schema, so it runs without a Python call per
value, which matters for the thousands of rows a forecast history may have.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_MESSAGE = (
    "Input should be a calendar date written as YYYY-MM-DD, such as "
    "'2020-12-11'; a number or a date in another form is not read as a date"
)


class _IsoDateSchema:
    """Pydantic schema hooks of ``IsoDate``."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from_text = core_schema.chain_schema(
            [
                core_schema.str_schema(pattern=ISO_DATE_PATTERN, strict=True),
                core_schema.date_schema(),
            ]
        )
        from_python = core_schema.union_schema(
            [core_schema.date_schema(strict=True), from_text]
        )
        return core_schema.custom_error_schema(
            core_schema.json_or_python_schema(
                json_schema=from_text, python_schema=from_python
            ),
            custom_error_type="date_format",
            custom_error_message=DATE_MESSAGE,
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date"}


IsoDate = Annotated[dt.date, _IsoDateSchema]
