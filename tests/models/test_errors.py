"""Domain errors moved to another field keep their class and attributes."""

from __future__ import annotations

from models.data.windows import SeriesTooShortError


def test_with_field_keeps_subclass() -> None:
    error = SeriesTooShortError(
        "series of 6 rows is too short", field="data", rows=6, short_parts=["test"]
    )

    moved = error.with_field("params.data")

    assert type(moved) is SeriesTooShortError
    assert moved.field == "params.data"
    assert (moved.message, str(moved)) == (error.message, error.message)
    assert (moved.rows, moved.short_parts) == (6, ["test"])
    assert error.field == "data"
