"""The check that a list field names each of its items once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


def check_unique_items(items: Sequence[Hashable], label: str, noun: str) -> None:
    """Raise ``ValueError`` when ``items`` contains an item more than once.

    The message names the repeated items after ``label``, such as
    ``lags [5] appear more than once; list each lag once`` for the label
    ``lags`` and the noun ``lag``.
    """
    counts = Counter(items)
    repeated = sorted(item for item, count in counts.items() if count > 1)
    if repeated:
        raise ValueError(
            f"{label} {repeated} appear more than once; list each {noun} once"
        )
