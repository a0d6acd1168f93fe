"""The ``multipart/form-data`` form of a series upload.

Starlette's form parser reports a malformed form with messages of its own,
such as "Missing boundary in multipart.", and ``Request.form`` turns them into
400 responses. ``parse_form`` runs the parser itself and raises
``InvalidInputError`` (422) on the field ``file`` instead. Its message names
what is wrong with the form and how to send the CSV.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from models.errors import InvalidInputError
from service.header_values import header_text

FILE_FIELD = "file"
MAX_FORM_FIELDS = 10
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
