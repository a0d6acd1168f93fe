"""A JSON ``null`` body gets 422 on every route that takes a JSON body, and
no body at all still means the defaults where the body is optional."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.registry import Registry
from models.spec import TrainingSpec
from tests.conftest import LiveServer, free_port

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def no_broker_server(trained_registry: Registry) -> Iterator[LiveServer]:
    """A server whose Celery broker is a closed port, so a job that passes
    validation is stored as failed with a 503 and none runs."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    env = {"RNN_FORECAST_RUNNER": "celery", "RNN_FORECAST_BROKER_URL": closed}
    server = LiveServer(trained_registry.root, env=env)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("method", "path", "fix"),
    [
        (
            "POST",
            "/v1/training-jobs",
            "send a JSON object, or no body at all to use the defaults",
        ),
        ("POST", "/v1/jobs", 'send a JSON object such as {"kind": "train"}'),
        (
            "PUT",
            "/v1/models/nflx/aliases/prod",
            'send a JSON object such as {"version": 3}',
        ),
        ("POST", "/v1/models/nflx/forecast", "send a JSON object such as {}"),
        ("POST", "/v1/diagnostics/gradient-flow", "send a JSON object such as {}"),
    ],
)
def test_null_body_rejected(
    no_broker_server: LiveServer, method: str, path: str, fix: str
) -> None:
    response = no_broker_server.client.request(
        method, path, content=b"null", headers=JSON
    )

    assert response.status_code == 422, response.text
    message = f"the body is JSON null; {fix}"
    assert response.json()["errors"] == [
        {"field": "body", "message": message, "type": "null_body"}
    ]
    assert response.json()["detail"] == f"body: {message}"


@pytest.mark.parametrize("headers", [{}, JSON])
def test_training_job_without_body_is_default(
    no_broker_server: LiveServer, headers: dict[str, str]
) -> None:
    response = no_broker_server.client.post("/v1/training-jobs", headers=headers)

    # the default spec passed validation and reached the unreachable broker
    assert response.status_code == 503, response.text
    jobs = no_broker_server.client.get("/v1/training-jobs").json()["jobs"]
    assert jobs[0]["params"] == TrainingSpec().model_dump(mode="json")
