"""The NFLX daily history shipped inside the package, for offline use."""

from __future__ import annotations

from importlib import resources

from models.data.csv_source import parse_csv_bytes
from models.data.series import Series

BUNDLED_FILE = "NFLX.csv"


def load_bundled(column: str = "close") -> Series:
    """Load the packaged Yahoo Finance export of NFLX (2002-05-23..2020-12-11).

    ``column`` picks the price column that becomes ``close``, as in
    ``parse_csv_bytes``.
    """
    raw = resources.files("models.data").joinpath("bundled", BUNDLED_FILE).read_bytes()
    source = {"source": "bundled", "file": BUNDLED_FILE, "column": column}
    return parse_csv_bytes(
        raw, column=column, label=f"bundled {BUNDLED_FILE}", source=source
    )
