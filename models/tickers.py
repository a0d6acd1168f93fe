"""The rule for Yahoo Finance tickers, and its error message in words.

A ticker also names the cache file of its download, so the rule allows no
slash. Request models keep the rule as a JSON Schema
``pattern``. A ticker that breaks it gets an error that names the field,
states the rule in words and gives valid examples, not the regular
expression.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WrapValidator

from models.field_types import explain_pattern
from models.quoted_ids import quoted

TICKER_PATTERN = r"^[A-Za-z0-9.^=-]{1,15}$"
TICKER_RULE = "1 to 15 letters, digits or the characters . ^ = -"


def invalid_ticker_message(ticker: object) -> str:
    """Return the message for ``ticker`` when it breaks the rule: the field,
    the rule in words and examples of valid tickers."""
    return (
        f"ticker {quoted(ticker)} is invalid. A ticker is a Yahoo Finance "
        f"symbol of {TICKER_RULE}, without spaces; send one such as 'NFLX' "
        "(a stock), 'BRK-B' (a share class) or '^GSPC' (an index)"
    )


# A Yahoo Finance ticker; the JSON Schema shows TICKER_PATTERN.
Ticker = Annotated[
    str,
    Field(pattern=TICKER_PATTERN, examples=["NFLX"]),
    WrapValidator(explain_pattern(invalid_ticker_message)),
]
