"""Property-based contract test: schemathesis against a live server.

Every operation of the app's OpenAPI document gets a bounded number of
generated requests (valid and invalid), sent with the API key over loopback;
the operations that need the key get them without it too. Each response must
be no 5xx, have a declared status code, content type and required headers,
and match the declared schema. Every error must be RFC 9457 problem details
whose ``detail`` names the field at fault when the status is 422.

The two operations that start training runs (``POST /v1/training-jobs`` and
``POST /v1/jobs``) are sent without the key only, which gets 401: with it,
generated specs would queue hundreds of trainings of up to 512 hidden units
and 500 epochs. Their contract is covered by the training-job tests, which
post real specs.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.internal import lambda_sources
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from models.quoted_ids import quoted
from models.registry import Registry
from service.errors import PROBLEM_MEDIA_TYPE
from service.openapi import current_openapi_text, needs_key
from tests.conftest import LiveServer

API_KEY = "fuzz-key-3e9d1c"
MAX_EXAMPLES = 20
PROBLEM_MEMBERS = ("type", "title", "status", "detail")
# the parts of a field path such as 'query.limit' or 'history[0].close'
FIELD_PATH_PARTS = re.compile(r"[^.\[\]]+")
# fields of a whole input, the body or an uploaded file, whose 422 detail
# describes the content, such as "the uploaded CSV ...", not the field name
WHOLE_INPUT_FIELDS = ("body", "file")
TRAINING_POSTS = ("/v1/training-jobs", "/v1/jobs")
KNOWN_PATH_VALUES = {"name": ["nflx", "sine"], "version": ["1", "latest"]}


def field_name(path: str) -> str:
    """Return the last name in a field path: 'close' for 'history[0].close'."""
    names = [part for part in FIELD_PATH_PARTS.findall(path) if not part.isdigit()]
    return names[-1] if names else path


def names_field(detail: str, field: str) -> bool:
    """Return whether ``detail`` names the last name of ``field``, as it is
    or quoted as messages quote a client's identifier, which escapes control
    characters such as those of a generated query parameter name."""
    name = field_name(field)
    return name in detail or quoted(name) in detail


@schemathesis.check
def problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Check that an error is problem+json with the response's status and a
    detail, and that the detail of a 422 names a field it lists."""
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])[0].split(";")[0]
    assert media_type == PROBLEM_MEDIA_TYPE, f"error sent as {media_type!r}"
    body = response.json()
    missing = [name for name in PROBLEM_MEMBERS if name not in body]
    assert not missing, f"problem without {missing}: {body}"
    assert body["status"] == response.status_code, body
    assert body["detail"].strip(), body
    if response.status_code == 422:
        fields = [error["field"] for error in body.get("errors") or []]
        assert fields, f"422 without errors: {body}"
        named = [
            field
            for field in fields
            if field in WHOLE_INPUT_FIELDS or names_field(body["detail"], field)
        ]
        assert named, f"422 detail names none of {fields}: {body['detail']!r}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    problem_details,
]


@pytest.fixture(scope="module")
def fuzz_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server on a copy of the registry, since fuzzed alias updates write."""
    root = tmp_path_factory.mktemp("fuzz")
    registry = root / "registry"
    shutil.copytree(trained_registry.root, registry)
    env = {
        "RNN_FORECAST_API_KEY": API_KEY,
        "RNN_FORECAST_DATA_DIR": str(root / "data"),
        "RNN_FORECAST_MAX_QUEUED_JOBS": "1",
        "RNN_FORECAST_LOG_LEVEL": "warning",
    }
    server = LiveServer(registry, env=env)
    yield server
    server.stop()


def build_schema(headers: dict[str, str]) -> Any:
    """The app's OpenAPI document as a schemathesis schema whose requests
    carry ``headers``, loaded in-process at import time so that pytest can
    list one test per operation."""
    loaded = schemathesis.openapi.from_dict(json.loads(current_openapi_text()))
    loaded.config.update(headers=headers, request_timeout=30)
    loaded.config.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, database="none"
    )
    loaded.hook(flatmap_path_parameters)
    return loaded


def flatmap_path_parameters(
    context: Any, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[Any]:
    """Replace a generated model name or version by a stored one at times,
    so that forecasts and metadata reads also reach their success paths."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    strategy = st.just(dict(path_parameters))
    for key, stored in KNOWN_PATH_VALUES.items():
        if key in path_parameters:
            choices = st.sampled_from([*stored, path_parameters[key]])
            strategy = st.tuples(strategy, choices).map(
                lambda pair, key=key: {**pair[0], key: pair[1]}
            )
    return strategy


_describe_lambda = lambda_sources.lambda_description


def describe_lambda_safely(function: Any) -> str:
    """Describe a lambda for a strategy's repr, or fall back to 'lambda'.

    NOTE: on CPython 3.11.7, ``ast.parse`` deep in the stack (about 330
    frames here, inside hypothesis and schemathesis) can raise "SystemError:
    AST constructor recursion depth mismatch" while hypothesis parses a
    schemathesis source file to print a lambda. The repr is only text, so
    the fallback keeps that interpreter bug from failing the contract test.
    """
    try:
        return str(_describe_lambda(function))
    except SystemError:
        return "lambda"


lambda_sources.lambda_description = describe_lambda_safely
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
schema = build_schema({"X-API-Key": API_KEY})
for path in TRAINING_POSTS:
    schema = schema.exclude(method="POST", path=path)
# Without the key, the training posts get 401 and start nothing.
keyless_schema = build_schema({}).include(
    lambda context: needs_key(context.operation.definition.raw)
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_conforms_to_schema(case: Any, fuzz_server: LiveServer) -> None:
    case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS)


@keyless_schema.parametrize()
@FUZZ_SETTINGS
def test_keyless_requests_conform(case: Any, fuzz_server: LiveServer) -> None:
    case.call_and_validate(base_url=fuzz_server.url, checks=CHECKS)


def test_excluded_operations_exist() -> None:
    paths = json.loads(current_openapi_text())["paths"]
    for path in TRAINING_POSTS:
        assert "post" in paths[path], f"POST {path} is no longer in the API"
