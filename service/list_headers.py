"""Request headers whose value is a comma-separated list, such as
``If-Match`` and ``Content-Encoding``.

HTTP lets a client send such a header on several lines, and the lines mean
the same as one line with their values joined by commas in order. Reading
only the first line would miss the values of the others.
"""

from __future__ import annotations

from starlette.datastructures import Headers


def header_list(headers: Headers, name: str) -> str | None:
    """Return the lines of the list header ``name`` joined by commas, as
    HTTP combines repeated list headers, or None when it is absent."""
    lines = headers.getlist(name)
    return ", ".join(lines) if lines else None


def list_members(value: str) -> list[str]:
    """Split a list header's ``value`` into its members, without the blanks
    around them. Empty members, as in ``gzip, , br``, are dropped, because
    the HTTP list syntax lets recipients ignore them."""
    return [member.strip() for member in value.split(",") if member.strip()]
