"""Query parameters that take several values: the message for a value
outside the enum lists the allowed values and the fix of repeating the
parameter, on every list route."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

STATUSES = "'queued', 'running', 'succeeded', 'failed' or 'cancelled'"


def only_error(response_json: dict[str, object]) -> dict[str, str]:
    errors = response_json["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, dict)
    return error


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/training-jobs"])
def test_comma_separated_statuses_rejected(live_server: LiveServer, path: str) -> None:
    response = live_server.client.get(f"{path}?status=failed,cancelled")

    assert response.status_code == 422, response.text
    error = only_error(response.json())
    assert error["field"] == "query.status[0]"
    assert error["message"] == (
        f"Input should be {STATUSES}; send one of them, and repeat status "
        "for several, as in status=failed&status=cancelled"
    )


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/training-jobs"])
def test_unknown_status_lists_values(live_server: LiveServer, path: str) -> None:
    response = live_server.client.get(path, params={"status": ["queued", "done"]})

    assert response.status_code == 422, response.text
    error = only_error(response.json())
    assert error["field"] == "query.status[1]"
    assert error["message"] == (
        f"Input should be {STATUSES}; send one of them, and repeat status "
        "for several, as in status=queued&status=running"
    )


def test_comma_separated_kinds_rejected(live_server: LiveServer) -> None:
    response = live_server.client.get("/v1/jobs?kind=tuning,train")

    assert response.status_code == 422, response.text
    error = only_error(response.json())
    assert error["field"] == "query.kind"
    assert error["message"] == (
        "job kind 'tuning,train' is unknown; known kinds are ['backtest', "
        "'lag_experiment', 'train', 'tuning']; filter by one of them, and repeat "
        "kind for several, as in kind=tuning&kind=train, or leave kind out to "
        "list jobs of every kind"
    )


def test_repeated_statuses_listed(live_server: LiveServer) -> None:
    response = live_server.client.get(
        "/v1/jobs", params={"status": ["queued", "running"]}
    )

    assert response.status_code == 200, response.text
