"""The end of a chunked request body, found from its chunk sizes as the body
arrives, so that the request head after it can be counted before the
parser reads it.

Only the framing is followed: chunk-size lines, chunk data, and the trailer
section up to its empty line. The HTTP parser validates the body, so a body
whose framing this cannot follow has no end here and is fed whole.
"""

from __future__ import annotations

# the bytes kept of a line split across reads: enough for a chunk size in
# hex (at most 16 digits for 64 bits) and its line end
MAX_KEPT_LINE = 32


class ChunkedBodyEnd:
    """The position of a chunked body's last byte, tracked across reads."""

    def __init__(self) -> None:
        self._state = "size"
        self._data_left = 0
        self._line = b""

    def find_end(self, data: bytes) -> int | None:
        """Read the next bytes ``data`` of the body, and return how many of
        them belong to it when it ends in ``data``, else None."""
        position = 0
        while position < len(data) and self._state != "unknown":
            if self._state == "data":
                consumed = min(self._data_left, len(data) - position)
                position += consumed
                self._data_left -= consumed
                if self._data_left == 0:
                    self._state = "data end"
                continue
            line_end = data.find(b"\n", position)
            if line_end == -1:
                self._line = (self._line + data[position:])[:MAX_KEPT_LINE]
                return None
            line = (self._line + data[position:line_end])[:MAX_KEPT_LINE]
            self._line = b""
            position = line_end + 1
            if self._read_line(line.rstrip(b"\r")):
                self._state = "unknown"
                return position
        return None

    def _read_line(self, line: bytes) -> bool:
        """Follow one line of framing, and return whether it ends the body."""
        if self._state == "size":
            size = chunk_size(line)
            if size is None:
                self._state = "unknown"
            elif size == 0:
                self._state = "trailers"
            else:
                self._data_left = size
                self._state = "data"
            return False
        if self._state == "data end":
            self._state = "size"
            return False
        # a trailer field, or the empty line that ends the body
        return line == b""


def chunk_size(line: bytes) -> int | None:
    """Return the size of a chunk-size line (hex digits, then optional chunk
    extensions after ';'), or None when it is not one."""
    digits = line.split(b";", 1)[0].strip()
    try:
        return int(digits, 16)
    except ValueError:
        return None
