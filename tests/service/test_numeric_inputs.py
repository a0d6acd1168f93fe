"""HTTP responses to numbers that training cannot scale, to stored versions
with non-finite numbers, and to dates that are not written as YYYY-MM-DD,
from the app in process."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from models.calendar import first_sessions
from models.registry import Registry
from service.app import create_app
from service.settings import Settings
from tests.e2e.test_cli_numbers import diverged_metadata
from tests.service.jobs_support import tiny_job

PROBLEM = "application/problem+json"
CSV = {"content-type": "text/csv"}
Call = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def registry(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Registry:
    """A copy of the shared registry plus ``broken``, a version that a
    diverged run wrote: NaN weights and a null scaler shift."""
    root = tmp_path_factory.mktemp("numeric") / "registry"
    shutil.copytree(trained_registry.root, root)
    copy = Registry(root)
    state = copy.load("nflx", 1).model.state_dict()
    weights = {name: torch.full_like(value, math.nan) for name, value in state.items()}
    copy.write("broken", weights, diverged_metadata(trained_registry))
    return copy


def send(registry: Registry, data_dir: Path, calls: list[Call]) -> list[httpx.Response]:
    """Send ``calls`` of (method, path, httpx keyword arguments) in order to
    one app in process, with its lifespan running."""
    app = create_app(Settings(registry=registry.root, data_dir=data_dir))

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return [await c.request(m, path, **kw) for m, path, kw in calls]

    return asyncio.run(scenario())


def field_error(response: httpx.Response) -> tuple[str, str]:
    """The field and message of a 422 problem with one field error."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    (error,) = response.json()["errors"]
    return error["field"], error["message"]


def history(registry: Registry, close: float) -> list[dict[str, Any]]:
    """The stored tail of nflx:1 as history rows, with ``close`` last."""
    loaded = registry.load("nflx", 1)
    rows = [
        {"date": d, "close": float(c)}
        for d, c in zip(loaded.tail_dates, loaded.tail_close, strict=True)
    ]
    rows[-1]["close"] = close
    return rows


@pytest.fixture(scope="module")
def answers(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The responses to this module's requests, sent to one app."""
    csv_rows = "\n".join(
        f"2020-01-{d:02d},{1.7e308 if d % 2 else 1e308}" for d in (2, 3)
    )
    calls: dict[str, Call] = {
        "huge upload": (
            "POST",
            "/v1/series",
            {"content": f"date,value\n{csv_rows}\n", "headers": CSV},
        ),
        "huge close": (
            "POST",
            "/v1/models/nflx/forecast",
            {"json": {"history": history(registry, 1.7e308)}},
        ),
        "close just beyond": (
            "POST",
            "/v1/models/nflx/forecast",
            {"json": {"history": history(registry, 1.0000001e150)}},
        ),
        "broken": ("POST", "/v1/models/broken/forecast", {"json": {"horizon": 1}}),
        "broken flow": (
            "POST",
            "/v1/diagnostics/gradient-flow",
            {"json": {"model": {"name": "broken"}, "seq_len": 5}},
        ),
        "broken flow plot": (
            "POST",
            "/v1/diagnostics/gradient-flow",
            {
                "json": {"model": {"name": "broken", "version": 1}, "seq_len": 5},
                "headers": {"accept": "image/png"},
            },
        ),
        "refit 0": (
            "POST",
            "/v1/jobs",
            {"json": {"kind": "backtest", "params": {"refit_every": 0}}},
        ),
        "compact date": (
            "POST",
            "/v1/models/nflx/forecast",
            {"json": {"history": [{"date": "20201012", "close": 1.0}]}},
        ),
        "epoch date": (
            "POST",
            "/v1/models/nflx/forecast",
            {"json": {"history": [{"date": 1607644800, "close": 1.0}]}},
        ),
    }
    data_dir = tmp_path_factory.mktemp("numeric-data")
    responses = send(registry, data_dir, list(calls.values()))
    yield dict(zip(calls, responses, strict=True))


def test_upload_beyond_the_range_is_422(answers: dict[str, Any]) -> None:
    field, message = field_error(answers["huge upload"])
    assert field == "body"
    assert message.startswith(
        "the uploaded CSV: value is 1e+308 in data row 1 (row 1 is the first row "
        "after the header), dated 2020-01-02, too large to scale"
    )
    assert "between -1e+150 and 1e+150" in message


def test_unscalable_series_job_is_422(registry: Registry, tmp_path: Path) -> None:
    # constant for the training part, then a jump that the scaler cannot map
    dates = first_sessions(dt.date(2020, 1, 2), 200)
    rows = [f"{d:%Y-%m-%d},{5 if i < 140 else 1e9}" for i, d in enumerate(dates)]
    body = "date,value\n" + "\n".join(rows) + "\n"
    upload = ("POST", "/v1/series", {"content": body, "headers": CSV})
    (uploaded,) = send(registry, tmp_path, [upload])
    assert uploaded.status_code == 201, uploaded.text
    data = {"source": "upload", "series_id": uploaded.json()["id"]}
    job = tiny_job(name="jump", target="price", data=data)

    (answer,) = send(registry, tmp_path, [("POST", "/v1/training-jobs", {"json": job})])

    field, message = field_error(answer)
    assert field == "data"
    assert message.startswith("the series' validation part has the value 1000000000.0")


def test_history_beyond_the_range_is_422(answers: dict[str, Any]) -> None:
    field, message = field_error(answers["huge close"])
    assert field.startswith("history[")
    assert field.endswith("].close")
    assert message == (
        f"{field} is 1.7e+308, too large to scale; send closes between -1e+150 "
        "and 1e+150"
    )


def test_history_just_beyond_the_range_is_exact(answers: dict[str, Any]) -> None:
    field, message = field_error(answers["close just beyond"])
    assert message == (
        f"{field} is 1.0000001e+150, too large to scale; send closes between "
        "-1e+150 and 1e+150"
    )


DIVERGED = (
    "broken:1 cannot forecast: its training diverged and left scaler.shift not "
    "finite; use another version, or train a new one"
)
DIVERGED_FLOW = (
    "broken:1 cannot be analysed by the gradient-flow diagnostic: its training "
    "diverged and left scaler.shift not finite; analyse another version, or "
    "leave the model out to analyse a fresh network"
)
DATE_FORMAT = (
    "Input should be a calendar date written as YYYY-MM-DD, such as "
    "'2020-12-11'; a number or a date in another form is not read as a date"
)


@pytest.mark.parametrize(
    ("key", "expected_field", "expected_message"),
    [
        ("broken", "version", DIVERGED),
        ("broken flow", "model.version", DIVERGED_FLOW),
        ("broken flow plot", "model.version", DIVERGED_FLOW),
        ("compact date", "history[0].date", DATE_FORMAT),
        ("epoch date", "history[0].date", DATE_FORMAT),
        (
            "refit 0",
            "params.refit_every",
            "Input should be greater than or equal to 1; send null to fit once "
            "at the first origin",
        ),
    ],
)
def test_field_and_fix_are_named(
    answers: dict[str, Any], key: str, expected_field: str, expected_message: str
) -> None:
    field, message = field_error(answers[key])
    assert field == expected_field
    assert message == expected_message
