"""Forecasts without a request history from versions whose stored history ends
outside the NYSE calendar, over real HTTP against a uvicorn subprocess.

Every data source rejects such series, but a version written before
``yfinance:`` series were checked against the calendar can have one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from models.data.csv_source import parse_csv_bytes
from models.data.series import Series
from models.registry import Registry
from models.spec import YFinanceData
from tests.conftest import LiveServer, tiny_spec

ROWS = 300
# the last date of each version's training series
LAST_DATES = {"early": "1950-12-29", "late": "2230-12-31"}


def weekday_series(ticker: str, last: str, rows: int) -> Series:
    """A series of ``ticker`` on ``rows`` weekdays that end on ``last``,
    loaded without the NYSE session check."""
    dates = np.busday_offset(np.datetime64(last), np.arange(1 - rows, 1))
    values = 10.0 + np.sin(np.arange(rows) / 5.0)
    lines = ["date,value", *(f"{d},{v}" for d, v in zip(dates, values, strict=True))]
    return parse_csv_bytes(
        "\n".join(lines).encode(),
        label=f"bars of {ticker}",
        source={"source": "yfinance", "ticker": ticker},
        sessions_only=False,
    )


@pytest.fixture(scope="module")
def outside_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose versions ``early`` and ``late`` are trained on Yahoo
    Finance series that end before the calendar's start and after its end."""
    from models.pipeline import train_and_register

    folder = tmp_path_factory.mktemp("outside-calendar")
    registry = Registry(folder / "registry")
    for name, last in LAST_DATES.items():
        series = weekday_series(name, last, ROWS)
        spec = tiny_spec(name=name, target="price", data=YFinanceData(ticker=name))
        train_and_register(spec, registry, series=series)

    server = LiveServer(registry.root)
    yield server
    server.stop()


def test_stored_history_past_end_is_422(outside_server: LiveServer) -> None:
    response = outside_server.client.post(
        "/v1/models/late/forecast", json={"horizon": 2}
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "history"
    assert body["detail"] == (
        "the request has no history, and the stored history of late:1 ends on "
        "2230-12-31, past the calendar's end: the XNYS calendar ends on "
        "2200-12-31, where the holidays known to exchange-calendars end, so it "
        "has no 2 sessions after 2230-12-31; send a history in the request that "
        "ends earlier, or request a smaller horizon"
    )


def test_stored_history_before_start_is_422(outside_server: LiveServer) -> None:
    response = outside_server.client.post(
        "/v1/models/early/forecast", json={"horizon": 2}
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "history"
    assert body["detail"] == (
        "the request has no history, and the stored history of early:1 ends on "
        "1950-12-29, before the calendar's start: the XNYS calendar starts on "
        "1990-01-02, so it does not list the sessions that follow 1950-12-29; "
        "send a history in the request that ends on or after 1990-01-02"
    )


def test_request_history_replaces_stored_history(outside_server: LiveServer) -> None:
    dates = np.busday_offset(np.datetime64("2024-06-28"), np.arange(-20, 1))
    rows = [{"date": str(day), "close": 10.0} for day in dates]
    response = outside_server.client.post(
        "/v1/models/late/forecast", json={"horizon": 2, "history": rows}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["history_source"] == "request"
    assert [point["date"] for point in body["forecast"]] == [
        "2024-07-01",
        "2024-07-02",
    ]
