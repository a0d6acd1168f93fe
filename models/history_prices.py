"""Checks of the optional open, high and low of forecast history rows.

A forecast reads only the dates and closes of its history, but a row may
also carry its open, high and low. The prices that a row gives must agree
as those of one trading day do: low at most high, and open and close
neither below the low nor above the high.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from models.data.value_range import shortest_repr
from models.errors import InvalidInputError

PRICES_FIX = (
    "send a low at or below the high and an open and close between them, or "
    "leave open, high and low out, because the forecast reads only the close"
)


class RowPrices(NamedTuple):
    """The prices of one history row; None for a price that it leaves out."""

    close: float
    open: float | None
    high: float | None
    low: float | None

    @classmethod
    def of_fields(cls, row: Mapping[str, Any]) -> RowPrices:
        """Return the prices of a row validated as a dict, whose absent
        fields are absent keys."""
        return cls(row["close"], row.get("open"), row.get("high"), row.get("low"))


def check_row_prices(rows: Iterable[tuple[int, RowPrices]]) -> None:
    """Raise ``InvalidInputError`` for the first row, given as (index in
    the history, prices), whose prices disagree. The error names the field
    ``history[i].low`` when the low is above the high, else the open or
    close outside them, such as ``history[3].close``."""
    for index, prices in rows:
        error = row_prices_error(index, prices)
        if error is not None:
            raise error


def row_prices_error(index: int, prices: RowPrices) -> InvalidInputError | None:
    """Return the error of the prices of row ``index``, or None when they
    agree or the row gives no high and no low."""
    low, high = prices.low, prices.high
    if low is not None and high is not None and low > high:
        return _error(index, "low", low, "above", "high", high)
    for name in ("open", "close"):
        price = getattr(prices, name)
        if price is None:
            continue
        if high is not None and price > high:
            return _error(index, name, price, "above", "high", high)
        if low is not None and price < low:
            return _error(index, name, price, "below", "low", low)
    return None


def _error(
    index: int, name: str, price: float, side: str, bound_name: str, bound: float
) -> InvalidInputError:
    field = f"history[{index}].{name}"
    return InvalidInputError(
        f"{field} {shortest_repr(price)} is {side} history[{index}].{bound_name} "
        f"{shortest_repr(bound)}; {PRICES_FIX}",
        field=field,
    )
