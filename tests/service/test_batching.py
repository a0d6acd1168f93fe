"""Micro-batching: batched forecasts equal unbatched ones, and concurrent
requests with different versions, horizons and histories never mix."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from models.forecasting import Forecast, ForecastInput, build_input, run_batch
from models.nn import infer_kernel
from models.registry import LoadedModel, Registry
from service.batching import MicroBatcher, run_isolated
from service.logging_config import REQUEST_ID, RequestIdFilter
from tests.conftest import LiveServer

# float32 forward passes of different batch sizes round differently, so
# forecasts agree to 1e-6, relative or (for prices near zero) absolute
RTOL = 1e-6
ATOL = 1e-6
LEVELS = (None, 0.5, 0.8, 0.95)


@dataclass(frozen=True)
class Case:
    """One forecast request: model, version, horizon, history rows and the
    prediction interval level (None for no interval)."""

    name: str
    version: int
    horizon: int
    dates: list[str]
    closes: list[float]
    level: float | None

    def body(self) -> dict[str, object]:
        rows = [
            {"date": d, "close": c}
            for d, c in zip(self.dates, self.closes, strict=True)
        ]
        body: dict[str, object] = {
            "version": self.version,
            "horizon": self.horizon,
            "history": rows,
        }
        if self.level is not None:
            body["level"] = self.level
        return body


@pytest.fixture(scope="module")
def registry(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Registry:
    """A copy of ``trained_registry`` (``nflx`` 1 and ``sine`` 1) plus ``nflx``
    version 2: version 1's weights with noise added, so the two differ."""
    root = tmp_path_factory.mktemp("batching") / "registry"
    shutil.copytree(trained_registry.root, root)
    registry = Registry(root)

    generator = torch.Generator().manual_seed(0)
    state = {
        key: value + 0.05 * torch.randn(value.shape, generator=generator)
        for key, value in registry.load("nflx", 1).model.state_dict().items()
    }
    registry.write("nflx", state, registry.metadata("nflx", 1))
    return registry


def varied_cases(registry: Registry, count: int, seed: int) -> list[Case]:
    """Requests spread over every version, with random horizons, history
    lengths, last dates, closes and interval levels."""
    rng = np.random.default_rng(seed)
    versions = [("nflx", 1), ("nflx", 2), ("sine", 1)]
    cases = []
    for i in range(count):
        name, version = versions[i % len(versions)]
        loaded = registry.load(name, version)
        rows = len(loaded.tail_close) + int(rng.integers(0, 40))
        last = dt.date(2015, 1, 5) + dt.timedelta(days=int(rng.integers(0, 1500)))
        dates = [
            (last - dt.timedelta(days=rows - 1 - j)).isoformat() for j in range(rows)
        ]
        steps = rng.normal(0.0, 0.03, rows)
        closes = float(loaded.tail_close[-1]) * np.exp(np.cumsum(steps))
        horizon = int(rng.integers(1, loaded.horizon + 1))
        level = LEVELS[int(rng.integers(0, len(LEVELS)))]
        values = [float(c) for c in closes]
        cases.append(Case(name, version, horizon, dates, values, level))
    return cases


def prepared(
    registry: Registry, cases: list[Case]
) -> list[tuple[LoadedModel, ForecastInput]]:
    loaded = {key: registry.load(*key) for key in {(c.name, c.version) for c in cases}}
    return [
        (
            loaded[(c.name, c.version)],
            build_input(
                loaded[(c.name, c.version)], c.horizon, c.dates, c.closes, c.level
            ),
        )
        for c in cases
    ]


def assert_same(actual: Forecast, expected: Forecast) -> None:
    assert actual.dates == expected.dates
    np.testing.assert_allclose(actual.values, expected.values, rtol=RTOL, atol=ATOL)
    assert (actual.lower is None) == (expected.lower is None)
    assert (actual.upper is None) == (expected.upper is None)
    if expected.lower is not None and expected.upper is not None:
        np.testing.assert_allclose(actual.lower, expected.lower, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(actual.upper, expected.upper, rtol=RTOL, atol=ATOL)


def test_batched_run_equals_single_runs(registry: Registry) -> None:
    pairs = prepared(registry, varied_cases(registry, 40, seed=0))
    loaded = pairs[0][0]
    same_version = [item for model, item in pairs if model is loaded]

    batched = run_batch(loaded, same_version)

    assert len(batched) == len(same_version)
    for item, result in zip(same_version, batched, strict=True):
        assert len(result.values) == item.horizon
        assert_same(result, run_batch(loaded, [item])[0])


def test_batched_run_on_kernel_has_same_bits(registry: Registry) -> None:
    """On the inference kernel, each window is computed alone, so a batch
    of varied histories, horizons and levels gives every request the bits
    that it gets alone."""
    assert infer_kernel.load(), "see the warning logged by models.nn.infer_kernel"
    pairs = prepared(registry, varied_cases(registry, 40, seed=2))
    loaded = pairs[0][0]
    same_version = [item for model, item in pairs if model is loaded]

    batched = run_batch(loaded, same_version)

    for item, result in zip(same_version, batched, strict=True):
        alone = run_batch(loaded, [item])[0]
        assert result.dates == alone.dates
        assert result.values == alone.values
        assert result.lower == alone.lower
        assert result.upper == alone.upper


def test_batcher_returns_each_caller_its_own_answer(registry: Registry) -> None:
    pairs = prepared(registry, varied_cases(registry, 60, seed=1))
    expected = [run_batch(model, [item])[0] for model, item in pairs]

    async def submit_all(batcher: MicroBatcher) -> list[Forecast]:
        return await asyncio.gather(
            *(batcher.forecast(model, item) for model, item in pairs)
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        batcher = MicroBatcher(pool, window_seconds=0.05, max_batch_size=16)
        results = asyncio.run(submit_all(batcher))

    for result, want in zip(results, expected, strict=True):
        assert_same(result, want)
    assert batcher.stats.items == len(pairs)
    assert batcher.stats.largest > 1
    assert batcher.stats.largest <= 16
    assert batcher.stats.batches < len(pairs)


def test_checkpoints_of_one_number_not_mixed(registry: Registry) -> None:
    cases = [c for c in varied_cases(registry, 60, seed=4) if c.version == 1]
    first = registry.load("nflx", 1)
    # version 2's weights as they would be served after its folder replaced
    # version 1's: the same name and number, another checkpoint
    second = dataclasses.replace(registry.load("nflx", 2), version=1)
    assert first.checkpoint != second.checkpoint
    pairs = []
    for case in (c for c in cases if c.name == "nflx"):
        for model in (first, second):
            item = build_input(model, case.horizon, case.dates, case.closes, case.level)
            pairs.append((model, item))
    expected = [run_batch(model, [item])[0] for model, item in pairs]

    async def submit_all(batcher: MicroBatcher) -> list[Forecast]:
        return await asyncio.gather(
            *(batcher.forecast(model, item) for model, item in pairs)
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        batcher = MicroBatcher(pool, window_seconds=0.05, max_batch_size=64)
        results = asyncio.run(submit_all(batcher))

    for result, want in zip(results, expected, strict=True):
        assert_same(result, want)
    assert batcher.stats.largest > 1


def test_batcher_off_runs_each_request_alone(registry: Registry) -> None:
    pairs = prepared(registry, varied_cases(registry, 9, seed=2))

    async def submit_all(batcher: MicroBatcher) -> list[Forecast]:
        return await asyncio.gather(
            *(batcher.forecast(model, item) for model, item in pairs)
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        batcher = MicroBatcher(pool, window_seconds=0.0, max_batch_size=64)
        results = asyncio.run(submit_all(batcher))

    assert not batcher.enabled
    assert batcher.stats.largest == 1
    assert batcher.stats.batches == len(pairs)
    for (model, item), result in zip(pairs, results, strict=True):
        assert_same(result, run_batch(model, [item])[0])


def test_lone_request_runs_before_the_queue(registry: Registry) -> None:
    loaded = registry.load("nflx", 1)
    items = [build_input(loaded, horizon) for horizon in (1, 2, 3, 4, 5)]

    async def submit_all(batcher: MicroBatcher) -> list[Forecast]:
        return await asyncio.gather(*(batcher.forecast(loaded, x) for x in items))

    with ThreadPoolExecutor(max_workers=1) as pool:
        batcher = MicroBatcher(pool, window_seconds=1.0, max_batch_size=8)
        results = asyncio.run(submit_all(batcher))

    # The first request finds the version idle and runs alone. The other four
    # queue behind it and go as one batch when it finishes, well within the
    # one-second window.
    assert batcher.stats.batches == 2
    assert batcher.stats.largest == 4
    for item, result in zip(items, results, strict=True):
        assert len(result.values) == item.horizon
        assert_same(result, run_batch(loaded, [item])[0])


def test_lone_request_gets_its_own_error(registry: Registry) -> None:
    loaded = registry.load("nflx", 1)
    item = build_input(loaded, 3)
    bad = ForecastInput(closes=item.closes, last_date=dt.date(2400, 1, 3), horizon=3)

    async def submit(batcher: MicroBatcher) -> Forecast:
        return await batcher.forecast(loaded, bad)

    with ThreadPoolExecutor(max_workers=1) as pool:
        batcher = MicroBatcher(pool, window_seconds=0.05, max_batch_size=8)
        with pytest.raises(ValueError, match="calendar ends on"):
            asyncio.run(submit(batcher))

    assert batcher.stats.batches == 1


def test_failing_item_does_not_fail_its_batch(registry: Registry) -> None:
    pairs = prepared(registry, varied_cases(registry, 6, seed=3))
    loaded = registry.load("nflx", 1)
    good = [
        item for model, item in pairs if model.version == 1 and model.name == "nflx"
    ]
    # the NYSE calendar has no sessions after this date, so run_batch raises
    bad = ForecastInput(
        closes=good[0].closes, last_date=dt.date(2400, 1, 3), horizon=good[0].horizon
    )
    items = [good[0], bad, good[1]]

    with pytest.raises(ValueError, match="calendar ends on"):
        run_batch(loaded, items)
    outcomes = run_isolated(loaded, items)

    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[0], Forecast)
    assert isinstance(outcomes[2], Forecast)
    assert_same(outcomes[0], run_batch(loaded, [good[0]])[0])
    assert_same(outcomes[2], run_batch(loaded, [good[1]])[0])


def test_batcher_gives_the_error_to_its_caller_only(registry: Registry) -> None:
    loaded = registry.load("nflx", 1)
    item = build_input(loaded, 3)
    bad = ForecastInput(closes=item.closes, last_date=dt.date(2400, 1, 3), horizon=3)

    async def submit_all(batcher: MicroBatcher) -> list[object]:
        calls = [batcher.forecast(loaded, x) for x in (item, bad, item, bad, item)]
        return await asyncio.gather(*calls, return_exceptions=True)

    with ThreadPoolExecutor(max_workers=1) as pool:
        batcher = MicroBatcher(pool, window_seconds=0.05, max_batch_size=8)
        outcomes = asyncio.run(submit_all(batcher))

    expected = run_batch(loaded, [item])[0]
    for index in (0, 2, 4):
        assert isinstance(outcomes[index], Forecast)
        assert_same(outcomes[index], expected)
    for index in (1, 3):
        assert isinstance(outcomes[index], ValueError)
    assert batcher.stats.largest > 1


def record_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of the thread of every ``run_isolated`` call of the
    batcher, in call order."""
    threads: list[str] = []

    def recorded(
        loaded: LoadedModel, items: list[ForecastInput], *rest: Any
    ) -> list[object]:
        threads.append(threading.current_thread().name)
        return run_isolated(loaded, items, *rest)

    monkeypatch.setattr("service.batching.run_isolated", recorded)
    return threads


async def forecast_three_times(
    batcher: MicroBatcher, loaded: LoadedModel, item: ForecastInput
) -> None:
    """Send ``item`` three times, each after the previous one finished."""
    for _ in range(3):
        await batcher.forecast(loaded, item)


def test_lone_cheap_request_runs_on_the_loop(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = registry.load("nflx", 1)
    items = [build_input(loaded, horizon) for horizon in (5, 3, 1)]
    threads = record_threads(monkeypatch)

    async def one_by_one(batcher: MicroBatcher) -> list[Forecast]:
        return [await batcher.forecast(loaded, item) for item in items]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
        batcher = MicroBatcher(
            pool, window_seconds=0.05, max_batch_size=8, inline_seconds=10.0
        )
        results = asyncio.run(one_by_one(batcher))

    # the first lone pass is timed on the pool; the later ones run on the loop
    assert threads == ["pool_0", "MainThread", "MainThread"]
    assert batcher.stats.on_loop == 2
    assert batcher.stats.batches == 3
    for item, result in zip(items, results, strict=True):
        assert_same(result, run_batch(loaded, [item])[0])


def test_slow_version_stays_on_the_pool(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = registry.load("nflx", 1)
    item = build_input(loaded, 3)
    threads = record_threads(monkeypatch)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
        batcher = MicroBatcher(
            pool, window_seconds=0.05, max_batch_size=8, inline_seconds=1e-9
        )
        asyncio.run(forecast_three_times(batcher, loaded, item))

    assert threads == ["pool_0"] * 3
    assert batcher.stats.on_loop == 0


@pytest.mark.parametrize("window", [0.0, 0.05])
def test_inline_setting_needs_batching_on(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, window: float
) -> None:
    loaded = registry.load("nflx", 1)
    item = build_input(loaded, 3)
    threads = record_threads(monkeypatch)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
        batcher = MicroBatcher(
            pool, window_seconds=window, max_batch_size=8, inline_seconds=0.0
        )
        asyncio.run(forecast_three_times(batcher, loaded, item))
        off = MicroBatcher(pool, window_seconds=0.0, max_batch_size=8)
        off.inline_seconds = 10.0
        asyncio.run(forecast_three_times(off, loaded, item))

    assert threads == ["pool_0"] * 6


def test_arrivals_during_the_yield_join_one_batch(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = [
        (model, item)
        for model, item in prepared(registry, varied_cases(registry, 15, seed=5))
        if (model.name, model.version) == ("nflx", 1)
    ]
    loaded = pairs[0][0]
    threads = record_threads(monkeypatch)

    async def warm_then_together(batcher: MicroBatcher) -> list[Forecast]:
        await batcher.forecast(loaded, pairs[0][1])
        return await asyncio.gather(
            *(batcher.forecast(model, item) for model, item in pairs)
        )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
        batcher = MicroBatcher(
            pool, window_seconds=1.0, max_batch_size=64, inline_seconds=10.0
        )
        results = asyncio.run(warm_then_together(batcher))

    # the first of the gathered requests found the version idle and yielded;
    # the others queued behind it meanwhile, so all ran as one batch
    assert threads == ["pool_0", "pool_0"]
    assert batcher.stats.largest == len(pairs)
    assert batcher.stats.on_loop == 0
    for (_, item), result in zip(pairs, results, strict=True):
        assert_same(result, run_batch(loaded, [item])[0])


def test_mixed_versions_with_inline_runs_are_not_mixed(registry: Registry) -> None:
    pairs = prepared(registry, varied_cases(registry, 45, seed=6))
    expected = [run_batch(model, [item])[0] for model, item in pairs]

    async def waves(batcher: MicroBatcher) -> list[Forecast]:
        results = []
        for start in range(0, len(pairs), 5):
            wave = pairs[start : start + 5]
            results += await asyncio.gather(
                *(batcher.forecast(model, item) for model, item in wave)
            )
        for model, item in pairs[:6]:
            results.append(await batcher.forecast(model, item))
        return results

    with ThreadPoolExecutor(max_workers=2) as pool:
        batcher = MicroBatcher(
            pool, window_seconds=0.05, max_batch_size=4, inline_seconds=10.0
        )
        results = asyncio.run(waves(batcher))

    for result, want in zip(results, expected + expected[:6], strict=True):
        assert_same(result, want)
    assert batcher.stats.on_loop >= 3
    assert batcher.stats.items == len(pairs) + 6


async def forecast_as(
    batcher: MicroBatcher, loaded: LoadedModel, item: ForecastInput, request_id: str
) -> Forecast | Exception:
    """Return the forecast of ``item`` requested under ``request_id``, or the
    exception it raised."""
    REQUEST_ID.set(request_id)
    try:
        return await batcher.forecast(loaded, item)
    except Exception as exc:
        return exc


def test_failing_batch_logs_request_ids(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that the line of a batch that raised names every request in it."""
    loaded = registry.load("nflx", 1)
    item = build_input(loaded, 3)
    bad = ForecastInput(closes=item.closes, last_date=dt.date(2400, 1, 3), horizon=3)

    async def submit_all() -> list[object]:
        first = asyncio.create_task(forecast_as(batcher, loaded, item, "rid-first"))
        await asyncio.sleep(0)
        rest = [
            asyncio.create_task(forecast_as(batcher, loaded, x, f"rid-{index}"))
            for index, x in enumerate((item, bad, item))
        ]
        return await asyncio.gather(first, *rest)

    caplog.set_level(logging.DEBUG, logger="service.batching")
    with ThreadPoolExecutor(max_workers=1) as pool:
        batcher = MicroBatcher(pool, window_seconds=0.05, max_batch_size=8)
        outcomes = asyncio.run(submit_all())

    assert isinstance(outcomes[2], ValueError)
    lines = [r for r in caplog.records if "one by one" in r.getMessage()]
    assert len(lines) == 1
    assert "requests rid-0, rid-1, rid-2" in lines[0].getMessage()


class RejectsAfterFirst(ThreadPoolExecutor):
    """A pool that runs its first job and rejects the rest, as a pool that
    is shutting down does."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        if self.submitted > 1:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return super().submit(*args, **kwargs)


def test_rejected_batch_logs_request_ids(registry: Registry) -> None:
    """Check that the error line of a batch the pool rejected names its
    requests, and not the id of the request whose finish sent it."""
    loaded = registry.load("nflx", 1)
    item = build_input(loaded, 3)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("service.batching")
    logger.addHandler(handler)

    async def submit_all() -> list[object]:
        first = asyncio.create_task(forecast_as(batcher, loaded, item, "rid-first"))
        await asyncio.sleep(0)
        rest = [
            asyncio.create_task(forecast_as(batcher, loaded, item, f"rid-{index}"))
            for index in range(2)
        ]
        return await asyncio.gather(first, *rest)

    try:
        with RejectsAfterFirst() as pool:
            batcher = MicroBatcher(pool, window_seconds=0.05, max_batch_size=8)
            outcomes = asyncio.run(submit_all())
    finally:
        logger.removeHandler(handler)

    assert isinstance(outcomes[0], Forecast)
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], RuntimeError)
    errors = [r for r in records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "(requests rid-0, rid-1) failed" in errors[0].getMessage()
    assert errors[0].request_id is None


def test_batcher_rejects_bad_settings() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(ValueError, match="window_seconds=-1 is negative"):
            MicroBatcher(pool, window_seconds=-1, max_batch_size=4)
        with pytest.raises(ValueError, match="inline_seconds=-0.1 is negative"):
            MicroBatcher(
                pool, window_seconds=0.002, max_batch_size=4, inline_seconds=-0.1
            )
        with pytest.raises(ValueError, match="max_batch_size=0 must be at least 1"):
            MicroBatcher(pool, window_seconds=0.002, max_batch_size=0)


def test_concurrent_http_requests_are_not_mixed(registry: Registry) -> None:
    cases = varied_cases(registry, 48, seed=4)
    expected = [
        run_batch(model, [item])[0] for model, item in prepared(registry, cases)
    ]

    async def post_all(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=24)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            calls = [
                client.post(f"/v1/models/{case.name}/forecast", json=case.body())
                for case in cases
            ]
            return await asyncio.gather(*calls)

    server = LiveServer(
        registry.root,
        env={"RNN_FORECAST_BATCH_WINDOW_MS": "20", "RNN_FORECAST_MAX_BATCH_SIZE": "8"},
    )
    try:
        responses = asyncio.run(post_all(server.url))
    finally:
        server.stop()

    for case, response, want in zip(cases, responses, expected, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == case.name
        assert body["version"] == case.version
        assert body["horizon"] == case.horizon
        assert body["last_history_date"] == case.dates[-1]
        points = body["forecast"]
        with_interval = case.level is not None
        got = Forecast(
            dates=[p["date"] for p in points],
            values=[p["value"] for p in points],
            lower=[p["lower"] for p in points] if with_interval else None,
            upper=[p["upper"] for p in points] if with_interval else None,
        )
        assert_same(got, want)
