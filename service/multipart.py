"""The ``multipart/form-data`` form of a series upload.

Starlette's form parser reports a malformed form with messages of its own,
such as "Missing boundary in multipart.", and ``Request.form`` turns them into
400 responses. ``parse_form`` runs the parser itself and raises
``InvalidInputError`` (422) on the field ``file`` instead. Its message names
what is wrong with the form and how to send the CSV.

The parser decodes a part's ``filename`` in the charset of the Content-Type
(UTF-8 unless it names one), and as Latin-1 where that fails or the
charset is unknown, with no error. ``decoded_filename`` decodes the sent
bytes again, strictly, and rejects a name that is not valid in that
charset, so a name is never shown in an encoding that the client did not
use. The parser ignores the ``filename*`` parameter of RFC 5987, which RFC
7578, section 4.2, forbids in forms. Percent escapes such as ``%C3%A9``
are kept as sent.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterator

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from models.errors import InvalidInputError
from service.header_values import header_text, quoted_header

FILE_FIELD = "file"
DEFAULT_CHARSET = "utf-8"
FILENAME_FIX = (
    "send the filename as UTF-8, or give the name in the form: "
    f"curl -F '{FILE_FIELD}=@series.csv;filename=NAME.csv'"
)
MAX_FORM_FIELDS = 10
# a parameter of a Content-Disposition value: its name, then a quoted string
# with backslash escapes or a plain value
DISPOSITION_PARAMETER = re.compile(rb';\s*([^\s=;]+)\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;]*)')
FIX = (
    f"send the CSV as the only file of the form, in the field {FILE_FIELD!r} "
    f"(curl -F {FILE_FIELD}=@series.csv), or as the body with Content-Type: "
    "text/csv"
)
# the start of each message of Starlette's parser (starlette/formparsers.py
# of starlette 1.10), and what it means for the client
PARSER_MESSAGES = (
    ("Too many files", "the form has more than one file"),
    ("Too many fields", f"the form has more than {MAX_FORM_FIELDS} fields"),
    (
        "Missing boundary",
        "the Content-Type multipart/form-data has no boundary parameter",
    ),
    (
        'The Content-Disposition header field "name"',
        "a part of the form has no name in its Content-Disposition header",
    ),
    ("Part exceeded maximum size", "a form field that is not a file is above 1 MB"),
    ("Invalid multipart data", "the body is not valid multipart/form-data"),
)


async def parse_form(headers: Headers, body: bytes) -> FormData:
    """Parse ``body``, a whole multipart/form-data body sent with ``headers``,
    with room for one file and ``MAX_FORM_FIELDS`` other fields."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(headers, chunks(), max_files=1, max_fields=MAX_FORM_FIELDS)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        message = f"{form_problem(exc)}; {FIX}"
        raise InvalidInputError(message, field=FILE_FIELD) from exc
    except UnicodeError as exc:
        # the parser decodes part names and filenames in the charset of the
        # Content-Type, and lets a codec's error other than
        # UnicodeDecodeError through, as punycode raises for a "."
        raise InvalidInputError(
            "a part header of the form cannot be decoded in "
            f"{_charset_label(form_charset(headers))} ({exc}); leave the "
            f"charset out and {FILENAME_FIX}",
            field=FILE_FIELD,
        ) from exc
    check_closed(headers, body)
    return form


def check_closed(headers: Headers, body: bytes) -> None:
    """Raise ``InvalidInputError`` when ``body`` lacks the closing boundary
    line ``--BOUNDARY--`` of its Content-Type, which a body cut short does.

    The parser returns the parts that it finished without complaint, so a
    cut body would otherwise read as a form without the file field.
    """
    _, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary or b"--" + boundary + b"--" in body:
        return
    raise InvalidInputError(
        "the body is not a complete multipart/form-data form, because it "
        f"ends without the closing boundary line --{header_text(boundary)}--; "
        f"{FIX}",
        field=FILE_FIELD,
    )


def form_problem(exc: MultiPartException) -> str:
    """Describe what is wrong with a form that Starlette's parser rejected,
    adding the reason of python-multipart where it gave one."""
    found = (
        problem for start, problem in PARSER_MESSAGES if exc.message.startswith(start)
    )
    problem = next(found, f"the multipart/form-data body is invalid ({exc.message})")
    if exc.__cause__ is not None:
        problem += f" ({exc.__cause__})"
    return problem


def decoded_filename(headers: Headers, upload: UploadFile) -> str | None:
    """Return the ``filename`` parameter of the part of ``upload``, in a
    form sent with ``headers``, decoded as the form parser decodes it.

    Raises ``InvalidInputError`` (422) on the field ``file`` when the bytes
    are not valid in the charset of the Content-Type (UTF-8 unless it names
    one), or when that charset is unknown, where the parser would read the
    name as Latin-1.
    """
    dispositions = [
        value for name, value in upload.headers.raw if name == b"content-disposition"
    ]
    # the parser reads the last Content-Disposition header of a part
    disposition = dispositions[-1] if dispositions else b""
    _check_single_filename(disposition)
    _, options = parse_options_header(disposition)
    raw = options.get(b"filename")
    if raw is None:
        return upload.filename
    charset = form_charset(headers)
    try:
        return raw.decode(charset)
    except UnicodeError as exc:
        raise InvalidInputError(
            f"the filename {quoted_header(raw)} of the form field {FILE_FIELD!r} "
            f"is not valid {_charset_label(charset)} ({_decode_problem(raw, exc)}); "
            f"{FILENAME_FIX}",
            field=FILE_FIELD,
        ) from exc


def _check_single_filename(disposition: bytes) -> None:
    """Raise ``InvalidInputError`` (422) on the field ``file`` when the
    Content-Disposition value ``disposition`` gives ``filename`` more than
    once, because the parser would keep only the last one."""
    names = [
        match.group(1).lower() for match in DISPOSITION_PARAMETER.finditer(disposition)
    ]
    count = names.count(b"filename")
    if count > 1:
        raise InvalidInputError(
            f"the Content-Disposition header of the form field {FILE_FIELD!r} "
            f"gives the filename parameter {count} times, and only the last "
            "would be stored; send it once, as in: curl -F "
            f"'{FILE_FIELD}=@series.csv;filename=NAME.csv'",
            field=FILE_FIELD,
        )


def form_charset(headers: Headers) -> str:
    """Return the codec name of the ``charset`` parameter of the
    Content-Type in ``headers``, or ``DEFAULT_CHARSET`` without one.

    Raises ``InvalidInputError`` for a charset that Python does not know as
    a text encoding, such as ``x-unknown`` or ``base64``.
    """
    _, options = parse_options_header(headers.get("content-type", ""))
    declared = options.get(b"charset")
    if declared is None:
        return DEFAULT_CHARSET
    try:
        name = codecs.lookup(declared.decode("latin-1")).name
        _check_text_encoding(name)
    except LookupError as exc:
        raise InvalidInputError(
            f"the charset {quoted_header(declared)} of the Content-Type "
            "multipart/form-data is no known text encoding, so the filename of "
            f"the form field {FILE_FIELD!r} cannot be decoded; leave the "
            f"charset out and {FILENAME_FIX}",
            field=FILE_FIELD,
        ) from exc
    return name


def _check_text_encoding(name: str) -> None:
    """Raise ``LookupError`` when the codec ``name`` is no text encoding,
    such as base64, which ``bytes.decode`` rejects before it reads a byte
    of a non-empty input."""
    try:
        b"a".decode(name)
    except UnicodeError:
        pass  # a text encoding in which a lone "a" is invalid, such as UTF-16


def _decode_problem(raw: bytes, exc: UnicodeError) -> str:
    """Describe why ``raw`` failed to decode: the first invalid byte and
    its offset, or the codec's message where it gives no position."""
    if isinstance(exc, UnicodeDecodeError):
        return f"byte 0x{raw[exc.start]:02X} at offset {exc.start}: {exc.reason}"
    return str(exc)


def _charset_label(charset: str) -> str:
    """Return how messages name the codec ``charset``."""
    if charset == DEFAULT_CHARSET:
        return "UTF-8"
    return f"{charset}, the charset that the Content-Type names"
