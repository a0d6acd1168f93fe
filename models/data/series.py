"""The validated series that every data source returns."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")


@dataclass(frozen=True)
class Series:
    """A validated daily series.

    ``frame`` has a tz-naive ``DatetimeIndex`` named ``date`` (midnight,
    sorted, unique) and float64 columns; ``close`` is always present, and
    ``open``, ``high``, ``low``, ``adj_close`` and ``volume`` where the source
    has them. ``source`` is a JSON-serialisable description of where the rows
    came from, ``sha256`` fingerprints the raw input, and ``cleaning`` lists
    every change made to the raw rows, in order, as plain sentences.
    ``kind`` is ``"price"`` for market prices (which must be positive) and
    ``"value"`` for generic values (any finite number).
    """

    frame: pd.DataFrame
    source: dict[str, Any]
    sha256: str
    cleaning: tuple[str, ...] = field(default=())
    kind: str = "price"

    @property
    def start(self) -> dt.date:
        return self.frame.index[0].date()

    @property
    def end(self) -> dt.date:
        return self.frame.index[-1].date()

    def describe(self) -> dict[str, Any]:
        """Return the JSON description stored in checkpoint metadata."""
        return {
            **self.source,
            "sha256": self.sha256,
            "rows": len(self.frame),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kind": self.kind,
            "cleaning": list(self.cleaning),
        }


def sha256_bytes(raw: bytes) -> str:
    """Return the hex sha256 of ``raw``."""
    return hashlib.sha256(raw).hexdigest()
