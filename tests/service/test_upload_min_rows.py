"""An upload with fewer rows than the smallest training spec needs is
rejected, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.data.windows import min_series_rows
from models.spec import MIN_HORIZON, MIN_LOOKBACK
from tests.conftest import LiveServer
from tests.service.test_series import yahoo_tail

CSV = {"content-type": "text/csv"}
LEAST = min_series_rows(MIN_LOOKBACK, MIN_HORIZON, "price")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, Path]]:
    data_dir = tmp_path_factory.mktemp("uploads")
    live = LiveServer(
        tmp_path_factory.mktemp("registry"),
        env={"RNN_FORECAST_DATA_DIR": str(data_dir)},
    )
    yield live, data_dir
    live.stop()


def stored_files(data_dir: Path) -> set[str]:
    folder = data_dir / "series"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_short_upload_rejected(server: tuple[LiveServer, Path]) -> None:
    live, data_dir = server
    before = stored_files(data_dir)

    response = live.client.post(
        "/v1/series", content=yahoo_tail(LEAST - 1), headers=CSV
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "body"
    assert problem["detail"] == (
        "the uploaded CSV has 4 rows after cleaning, fewer than the 5 rows that "
        "the smallest training spec needs (lookback=2, horizon=1, target price, "
        "and one complete window each for training, validation and test); "
        "upload at least 5 rows. A spec needs at least lookback + 3 x horizon "
        "rows, one more for target log_return, and the default spec "
        "(lookback=60, horizon=10) needs 101 rows"
    )
    assert stored_files(data_dir) == before


def test_rows_counted_after_cleaning(server: tuple[LiveServer, Path]) -> None:
    live = server[0]
    rows = yahoo_tail(LEAST - 1) + yahoo_tail(LEAST - 1).split(b"\n", 1)[1]

    response = live.client.post(
        "/v1/series", files={"file": ("twice.csv", rows, "text/csv")}
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "file"
    assert problem["detail"].startswith("the uploaded CSV has 4 rows after cleaning")


def test_upload_of_least_rows_accepted(server: tuple[LiveServer, Path]) -> None:
    response = server[0].client.post(
        "/v1/series", content=yahoo_tail(LEAST), headers=CSV
    )

    assert response.status_code == 201, response.text
    assert response.json()["rows"] == LEAST
