"""The end of a chunked request body, found from its chunk sizes as the body
arrives, so that the request head after it can be counted before the
parser reads it. The same walk limits the framing lines of the body.

Only the framing is followed: chunk-size lines, chunk data, and the trailer
section up to its empty line. The HTTP parser validates the body, so a body
whose framing this cannot follow has no end here and is fed whole.

A chunk-size line must end with CRLF (RFC 9112, section 7.1), and one that
ends with a bare LF raises ``BareLineFeed``. llhttp rejects such a line,
while h11 waits for a CRLF that may never come.

Each chunk-size line (with its chunk extensions), and the trailer section
(its fields and the empty line that ends it), may have at most as many
bytes as a request head (``RNN_FORECAST_MAX_HEAD_BYTES``). Without that
limit, a client could make the parser hold a chunk-size line or trailer
fields of any size.
"""

from __future__ import annotations

# the bytes kept of a line split across reads: enough for a chunk size in
# hex (at most 16 digits for 64 bits) and its line end
MAX_KEPT_LINE = 32
# the digits of a chunk size
HEX_DIGITS = b"0123456789abcdefABCDEF"


class FramingTooLarge(Exception):
    """A chunk-size line, or the trailer section when ``trailers`` is true,
    of more than the limit; ``received`` is its bytes so far."""

    def __init__(self, received: int, trailers: bool) -> None:
        super().__init__(f"{received} bytes of chunked framing over the limit")
        self.received = received
        self.trailers = trailers


class BareLineFeed(Exception):
    """A chunk-size line that ends with LF without CR before it."""

    def __init__(self) -> None:
        super().__init__("chunk-size line ends with LF without CR; end it with CRLF")


class ChunkedBodyEnd:
    """The position of a chunked body's last byte, tracked across reads,
    with chunk-size lines and the trailer section limited to
    ``max_line_bytes`` each."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._state = "size"
        self._data_left = 0
        self._line = b""
        # whether bytes of the current line were dropped from ``_line``
        self._cut = False
        # the bytes of the current line, or of the trailer section in it
        self._line_bytes = 0
        # the last byte of the current line in an earlier read
        self._last_byte = b""

    def find_end(self, data: bytes) -> int | None:
        """Read the next bytes ``data`` of the body, and return how many of
        them belong to it when it ends in ``data``, else None. Raise
        ``FramingTooLarge`` when a line in ``data`` is over the limit, and
        ``BareLineFeed`` when a chunk-size line in it ends with a bare LF."""
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
            stop = len(data) if line_end == -1 else line_end + 1
            self._count_line(stop - position)
            if line_end == -1:
                self._line = self._kept(self._line + data[position:])
                self._last_byte = data[-1:]
                return None
            line = self._kept(self._line + data[position:line_end])
            if line_end > position:
                self._last_byte = data[line_end - 1 : line_end]
            self._check_line_end()
            self._line = b""
            self._last_byte = b""
            position = stop
            if self._read_line(line.rstrip(b"\r")):
                self._state = "unknown"
                return position
        return None

    def _kept(self, line: bytes) -> bytes:
        """Return the part of the current line that is kept: its first
        ``MAX_KEPT_LINE`` bytes, after the leading zeros of a chunk size
        (``without_leading_zeros``). Note in ``_cut`` whether bytes were
        dropped."""
        if self._state == "size":
            line = without_leading_zeros(line)
        self._cut = self._cut or len(line) > MAX_KEPT_LINE
        return line[:MAX_KEPT_LINE]

    def _count_line(self, size: int) -> None:
        """Count ``size`` more bytes of the current line or trailer section,
        and raise ``FramingTooLarge`` when they are over the limit."""
        self._line_bytes += size
        limited = self._state in ("size", "trailers")
        if limited and self._line_bytes > self.max_line_bytes:
            raise FramingTooLarge(self._line_bytes, self._state == "trailers")

    def _check_line_end(self) -> None:
        """Raise ``BareLineFeed`` when the chunk-size line that ends now has
        no CR before its LF, and stop following the body."""
        if self._state == "size" and self._last_byte != b"\r":
            self._state = "unknown"
            raise BareLineFeed()

    def _read_line(self, line: bytes) -> bool:
        """Follow one line of framing, and return whether it ends the body."""
        if self._state == "trailers":
            # a trailer field, or the empty line that ends the body
            return line == b""
        if self._state == "size":
            # a line cut before its ';' or end has no size here
            cut = self._cut and b";" not in line
            size = None if cut else chunk_size(line)
            if size is None:
                self._state = "unknown"
            elif size == 0:
                self._state = "trailers"
            else:
                self._data_left = size
                self._state = "data"
        else:  # the line end after chunk data
            self._state = "size"
        self._line_bytes = 0
        self._cut = False
        return False


def chunk_size(line: bytes) -> int | None:
    """Return the size of a chunk-size line (hex digits, then optional chunk
    extensions after ';'), or None when it is not one.

    Only hex digits make a size. ``int`` also reads a sign, a ``0x`` prefix
    and underscores, and a negative size would send ``find_end`` back over
    the bytes it has read, in an endless loop."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or digits.strip(HEX_DIGITS):
        return None
    return int(digits, 16)


def without_leading_zeros(line: bytes) -> bytes:
    """Return the start of a chunk-size line without the leading zeros of
    its size, keeping one zero where no hex digit follows them.

    llhttp reads a size with any number of leading zeros, such as forty
    zeros and then ``e``, so the size must not be cut off with them."""
    stripped = line.lstrip(b"0")
    if len(stripped) == len(line):
        return line
    first = stripped[:1]
    if first and first in HEX_DIGITS:
        return stripped
    return b"0" + stripped
