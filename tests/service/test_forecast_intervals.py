"""Prediction intervals over real HTTP: bounds, levels and the listing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import LiveServer


def post_forecast(server: LiveServer, body: dict[str, Any]) -> Any:
    return server.client.post("/v1/models/nflx/forecast", json=body)


def test_level_gives_bounds_around_value(live_server: LiveServer) -> None:
    response = post_forecast(live_server, {"horizon": 5, "level": 0.9})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["level"] == 0.9
    assert len(body["forecast"]) == 5
    for point in body["forecast"]:
        assert point["lower"] <= point["value"] <= point["upper"]
        assert point["lower"] < point["upper"]


def test_higher_level_gives_wider_bounds(live_server: LiveServer) -> None:
    narrow = post_forecast(live_server, {"level": 0.5}).json()["forecast"]
    wide = post_forecast(live_server, {"level": 0.95}).json()["forecast"]
    for small, large in zip(narrow, wide, strict=True):
        assert small["value"] == large["value"]
        assert large["lower"] < small["lower"]
        assert large["upper"] > small["upper"]


def test_no_level_gives_no_bounds(live_server: LiveServer) -> None:
    body = post_forecast(live_server, {"horizon": 2}).json()
    assert body["level"] is None
    assert body["forecast"][0]["lower"] is None
    assert body["forecast"][0]["upper"] is None


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.2, "high"])
def test_level_outside_zero_one_is_422(live_server: LiveServer, level: object) -> None:
    response = post_forecast(live_server, {"level": level})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "level"


def test_uncalibrated_level_is_422(live_server: LiveServer) -> None:
    response = post_forecast(live_server, {"level": 0.975})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "level"
    assert body["detail"].startswith("level=0.975 is not available for nflx:1")
    assert "request one of those levels" in body["detail"]


def test_level_above_calibration_support_is_422(live_server: LiveServer) -> None:
    # sine has 56 validation windows: 0.99 needs rank ceil(57 * 0.99) = 57
    response = live_server.client.post("/v1/models/sine/forecast", json={"level": 0.99})
    assert response.status_code == 422
    assert "calibrated on 56 validation windows" in response.json()["detail"]
    served = live_server.client.post("/v1/models/sine/forecast", json={"level": 0.98})
    assert served.status_code == 200


def test_concurrent_levels_get_their_own_bounds(live_server: LiveServer) -> None:
    levels = [0.5, 0.8, None, 0.95] * 4
    alone = {
        level: post_forecast(live_server, {"level": level}).json()["forecast"]
        for level in set(levels)
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(
            pool.map(lambda lv: post_forecast(live_server, {"level": lv}), levels)
        )
    # a batched forward pass rounds differently from a lone one, so values
    # agree to 1e-6 (as in test_batching), and dates and nulls exactly
    for level, response in zip(levels, bodies, strict=True):
        assert response.status_code == 200
        points = response.json()["forecast"]
        assert [p["date"] for p in points] == [p["date"] for p in alone[level]]
        for key in ("value", "lower", "upper"):
            got = [p[key] for p in points]
            want = [p[key] for p in alone[level]]
            if level is None and key != "value":
                assert got == want == [None] * len(want)
            else:
                assert got == pytest.approx(want, rel=1e-6)


def test_listing_shows_skill_and_baselines(live_server: LiveServer) -> None:
    models = {
        m["name"]: m for m in live_server.client.get("/v1/models").json()["models"]
    }
    latest = models["sine"]["latest"]
    test = latest["metrics"]["test"]
    assert latest["skill"]["rmse"] == pytest.approx(test["skill_rmse"])
    assert latest["skill"]["mae"] == pytest.approx(test["skill_mae"])
    assert set(latest["baselines"]) == {
        "model",
        "naive",
        "drift",
        "mean",
        "seasonal_naive",
    }
    naive_rmse = latest["baselines"]["naive"]["rmse"]
    model_rmse = latest["baselines"]["model"]["rmse"]
    assert latest["skill"]["rmse"] == pytest.approx(1 - model_rmse / naive_rmse)
    assert set(models["nflx"]["latest"]["baselines"]) == {
        "model",
        "naive",
        "drift",
        "mean",
    }
