"""Opaque page cursors of the lists that page newest first: jobs and
uploaded series.

A page's ``next_cursor`` is the URL-safe base64 (without padding) of
``<sort key>:<id>`` of the page's last item, where the id is 32 lowercase
hex digits. The next page starts after that position (keyset pagination),
so items added meanwhile do not shift it.
"""

from __future__ import annotations

import base64
import binascii
import re

from models.errors import InvalidInputError

ITEM_ID = re.compile(r"[a-f0-9]{32}")
CURSOR_FIELD = "query.cursor"


def encode_cursor(sort_key: str, item_id: str) -> str:
    """Build the cursor of the position after the item ``item_id``, whose
    sort key is ``sort_key``."""
    raw = f"{sort_key}:{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Return the sort key and the item id of ``cursor``; raise
    ``InvalidInputError`` on ``query.cursor`` when it is not in the form that
    ``encode_cursor`` builds."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        sort_key, _, item_id = raw.decode().rpartition(":")
    except (ValueError, binascii.Error) as exc:
        raise invalid_cursor() from exc
    if not sort_key or not ITEM_ID.fullmatch(item_id):
        raise invalid_cursor()
    return sort_key, item_id


def invalid_cursor() -> InvalidInputError:
    """Return the error of a cursor that no page of the list returned."""
    return InvalidInputError(
        "cursor is invalid; pass the next_cursor of the previous page "
        "unchanged, or omit it for the first page",
        field=CURSOR_FIELD,
    )
