"""The committed openapi.json is the app's document, and the document declares
responses, examples and problem+json errors for every operation."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from models.errors import InvalidInputError, NotFoundError
from models.names import NAME_PATTERN
from models.registry import check_alias, check_name, check_settable_alias
from models.version_refs import ALIAS_PATTERN, VERSION_REF_PATTERN
from service.jobs.kinds import kind_names
from service.jobs.manager import check_job_id
from service.jobs.store import JOB_ID_PATTERN
from service.openapi import HTTP_METHODS, current_openapi_text
from service.schemas import check_version_path
from service.series_store import SERIES_ID_PATTERN, series_path
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "openapi.json"
REGENERATE = "make openapi  (or: .venv/bin/python scripts/export_openapi.py)"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(current_openapi_text())


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", item[method])
        for path, item in document["paths"].items()
        for method in HTTP_METHODS
        if method in item
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_committed_document_is_current() -> None:
    current = current_openapi_text()
    committed = COMMITTED.read_text() if COMMITTED.is_file() else ""
    if committed != current:
        diff = difflib.unified_diff(
            committed.splitlines(),
            current.splitlines(),
            "openapi.json (committed)",
            "openapi.json (app)",
            lineterm="",
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(
            f"openapi.json differs from the app's OpenAPI document.\n"
            f"If the API change is intended, regenerate and commit it:\n"
            f"    {REGENERATE}\n\n{shown}"
        )


def test_every_error_response_is_problem(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        for code, response in operation["responses"].items():
            if not code.isdigit() or int(code) < 400:
                continue
            media = response.get("content", {})
            assert list(media) == [PROBLEM], f"{label} {code}: {list(media)}"
            expected = "ValidationProblem" if code == "422" else "Problem"
            ref = media[PROBLEM]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{expected}", f"{label} {code}"
            assert media[PROBLEM]["example"]["status"] == int(code), f"{label}"


def test_every_operation_declares_errors(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        codes = set(operation["responses"])
        assert "500" in codes, label
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in codes, label
        if operation.get("requestBody"):
            assert "413" in codes, label
        if "{" in label:
            assert "404" in codes, label


def test_every_success_response_has_example(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        successes = {
            code: response
            for code, response in operation["responses"].items()
            if code.startswith("2")
        }
        assert successes, f"{label} declares no 2xx response"
        for code, response in successes.items():
            for media_type, media in response.get("content", {}).items():
                schema = resolve(document, media.get("schema", {}))
                has_example = (
                    "example" in media
                    or "examples" in media
                    or "examples" in schema
                    or "example" in schema
                )
                assert has_example, f"{label} {code} {media_type} has no example"


def test_every_response_declares_request_id(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        for code, response in operation["responses"].items():
            assert "X-Request-ID" in response.get("headers", {}), f"{label} {code}"


def test_fastapi_validation_schema_replaced(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ValidationProblem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "errors",
    ]


def test_examples_match_their_schemas(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        for code, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                schema = media.get("schema", {})
                target = resolve(document, schema)
                examples = list(target.get("examples", []))
                if "example" in media:
                    examples.append(media["example"])
                if not examples or media.get("schema", {}).get("type") == "string":
                    continue
                validator = jsonschema_rs.validator_for(
                    {**schema, "components": document["components"]}
                )
                for example in examples:
                    errors = [e.message for e in validator.iter_errors(example)]
                    assert not errors, f"{label} {code} example: {errors}"


# statuses that routes return, and statuses that they never return
RETURNED = [
    ("DELETE /v1/jobs/{job_id}", "200"),
    ("DELETE /v1/jobs/{job_id}", "202"),
    ("DELETE /v1/training-jobs/{job_id}", "200"),
    ("DELETE /v1/training-jobs/{job_id}", "202"),
    ("GET /v1/models", "304"),
    ("GET /v1/models/{name}/versions/{version}", "304"),
    ("GET /v1/jobs", "304"),
    ("GET /v1/training-jobs", "304"),
    ("POST /v1/diagnostics/gradient-flow", "503"),
    ("POST /v1/diagnostics/gradient-flow.png", "503"),
    ("POST /v1/series", "422"),
    ("GET /v1/models/{name}/aliases/{alias}", "304"),
    ("PUT /v1/models/{name}/aliases/{alias}", "412"),
    ("DELETE /v1/jobs/{job_id}", "412"),
    ("DELETE /v1/training-jobs/{job_id}", "412"),
    # a body sent too slowly, or cut off by a shutdown
    ("POST /v1/models/{name}/forecast", "408"),
    ("POST /v1/training-jobs", "408"),
    ("PUT /v1/models/{name}/aliases/{alias}", "408"),
    ("POST /v1/models/{name}/forecast", "503"),
    ("POST /v1/series", "503"),
    ("PUT /v1/models/{name}/aliases/{alias}", "503"),
    # X-API-Key sent more than once
    ("POST /v1/series", "400"),
    ("DELETE /v1/series/{series_id}", "400"),
    ("DELETE /v1/models/{name}/aliases/{alias}", "400"),
]
NEVER_RETURNED = [
    ("DELETE /v1/jobs/{job_id}", "304"),
    ("DELETE /v1/training-jobs/{job_id}", "304"),
    ("GET /v1/series", "400"),
    ("GET /v1/models", "408"),
    ("DELETE /v1/series/{series_id}", "503"),
    ("POST /v1/models/{name}/forecast", "401"),
]


@pytest.mark.parametrize(("label", "code"), RETURNED)
def test_returned_status_declared(
    document: dict[str, Any], label: str, code: str
) -> None:
    assert code in dict(operations(document))[label]["responses"]


@pytest.mark.parametrize(("label", "code"), NEVER_RETURNED)
def test_unreturned_status_not_declared(
    document: dict[str, Any], label: str, code: str
) -> None:
    assert code not in dict(operations(document))[label]["responses"]


# response headers that the routes always send
SENT_HEADERS = [
    ("POST /v1/series", "201", "Location"),
    ("POST /v1/training-jobs", "202", "Location"),
    ("POST /v1/jobs", "202", "Location"),
    ("DELETE /v1/jobs/{job_id}", "202", "Location"),
    ("POST /v1/training-jobs", "202", "ETag"),
    ("DELETE /v1/training-jobs/{job_id}", "200", "ETag"),
    ("DELETE /v1/training-jobs/{job_id}", "202", "ETag"),
    ("GET /v1/models", "200", "ETag"),
    ("GET /v1/models", "304", "ETag"),
    ("GET /v1/models/{name}/versions/{version}", "200", "ETag"),
    ("GET /v1/jobs", "200", "ETag"),
    ("GET /v1/jobs/{job_id}", "304", "ETag"),
    ("GET /v1/models/{name}/aliases/{alias}", "200", "ETag"),
    ("PUT /v1/models/{name}/aliases/{alias}", "200", "ETag"),
    ("GET /v1/models/{name}/versions/{version}/gradients.png", "200", "ETag"),
    ("GET /v1/models/{name}/versions/{version}/gradients.png", "304", "ETag"),
    ("GET /v1/series/{series_id}", "200", "ETag"),
    ("GET /v1/series/{series_id}", "304", "ETag"),
]


@pytest.mark.parametrize(("label", "code", "header"), SENT_HEADERS)
def test_sent_header_declared(
    document: dict[str, Any], label: str, code: str, header: str
) -> None:
    response = dict(operations(document))[label]["responses"][code]
    declared = response.get("headers", {}).get(header)
    assert declared is not None, f"{label} {code} does not declare {header}"
    assert declared.get("required") is True, f"{label} {code} {header}"


def test_precondition_syntax_error_declared(document: dict[str, Any]) -> None:
    """Check that every operation that reads If-Match declares the 400 of an
    unquoted entity tag."""
    labels = []
    for label, operation in operations(document):
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        if "if-match" not in names:
            continue
        labels.append(label)
        description = operation["responses"]["400"]["description"]
        assert "If-Match or If-None-Match not * or a list" in description, label

    assert len(labels) == 5


PATH_PATTERNS = {
    "name": NAME_PATTERN,
    "alias": ALIAS_PATTERN,
    "version": VERSION_REF_PATTERN,
    "job_id": JOB_ID_PATTERN,
    "series_id": SERIES_ID_PATTERN,
}


def test_path_parameters_declare_patterns(document: dict[str, Any]) -> None:
    checked = 0
    for label, operation in operations(document):
        for parameter in operation.get("parameters", []):
            expected = PATH_PATTERNS.get(parameter["name"])
            if parameter["in"] != "path" or expected is None:
                continue
            checked += 1
            assert parameter["schema"].get("pattern") == expected, label

    assert checked == 19


def alias_schemas(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the schema of the alias path parameter by method."""
    path_item = document["paths"]["/v1/models/{name}/aliases/{alias}"]
    return {
        method: next(
            p["schema"] for p in path_item[method]["parameters"] if p["name"] == "alias"
        )
        for method in ("get", "put", "delete")
    }


@pytest.mark.parametrize(
    ("method", "deleting"), [("get", None), ("put", False), ("delete", True)]
)
def test_alias_schema_matches_server_checks(
    document: dict[str, Any], method: str, deleting: bool | None
) -> None:
    validator = jsonschema_rs.validator_for(alias_schemas(document)[method])

    def check(value: str) -> object:
        if deleting is None:
            return check_alias(value)
        return check_settable_alias(value, deleting=deleting)

    for value in PATH_VALUES:
        assert validator.is_valid(value) == accepts(check, value), (method, value)
    assert validator.is_valid("latest") == (method == "get")


def found(lookup: Callable[[str], object], value: str) -> bool:
    try:
        lookup(value)
    except NotFoundError:
        return False
    return True


ID_VALUES = [
    "0" * 32, "a" * 32, "0123456789abcdef" * 2, "A" * 32, "g" * 32, "a" * 31,
    "a" * 33, "", "..", "a" * 32 + "\n", "0123456789ABCDEF" * 2, "²" * 32,
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "lookup"),
    [
        ("job_id", lambda value: check_job_id(value, "/v1/jobs")),
        ("series_id", lambda value: series_path(Settings(), value)),
    ],
)
def test_id_patterns_match_server_checks(
    name: str, lookup: Callable[[str], object]
) -> None:
    pattern = re.compile(PATH_PATTERNS[name])
    for value in ID_VALUES:
        assert bool(pattern.fullmatch(value)) == found(lookup, value), (name, value)


def test_job_kind_filter_declares_enum(document: dict[str, Any]) -> None:
    [kind] = [
        p
        for p in dict(operations(document))["GET /v1/jobs"]["parameters"]
        if p["name"] == "kind"
    ]
    [array] = [s for s in kind["schema"]["anyOf"] if s.get("type") == "array"]

    assert array["items"]["enum"] == kind_names()
    assert "train" in array["items"]["enum"]


# values around each rule: lengths, first characters, leading zeros, the
# version range, digits of other scripts and a trailing newline
PATH_VALUES = [
    "nflx", "a", "0abc", "-a", "_a", "A", "a" * 64, "a" * 65, "a.b", "a/b",
    "latest", "prod-2", "7", "007", "0", "000", "999999999", "0999999999",
    "1000000000", "-1", "1e3", "²", "١", "", "a b", "a\n", "version_",
]  # fmt: skip


def accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except InvalidInputError:
        return False
    return True


@pytest.mark.parametrize(
    ("name", "check"),
    [("name", check_name), ("alias", check_alias), ("version", check_version_path)],
)
def test_path_patterns_match_server_checks(
    name: str, check: Callable[[str], object]
) -> None:
    pattern = re.compile(PATH_PATTERNS[name])
    for value in PATH_VALUES:
        assert bool(pattern.fullmatch(value)) == accepts(check, value), (name, value)
