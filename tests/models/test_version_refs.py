"""Version references written with many leading zeros."""

from __future__ import annotations

import pytest

from models.errors import InvalidInputError
from models.version_refs import MAX_VERSION, check_version_ref, version_number

# more digits than Python's int() converts by default (4300), zeros included
LONG_ZEROS = 5000


def test_long_zero_padding_means_number() -> None:
    ref = "0" * LONG_ZEROS + "7"

    assert check_version_ref(ref) == ref
    assert version_number(ref) == 7


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("0" * LONG_ZEROS, "versions start at 1"),
        ("0" * LONG_ZEROS + str(MAX_VERSION + 1), "above the largest version"),
    ],
)
def test_long_padded_ref_out_of_range(ref: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        check_version_ref(ref)
