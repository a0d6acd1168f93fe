"""Prometheus metrics of one app, kept in the app's own ``CollectorRegistry``.

Each app gets its own registry, so tests that build several apps in one
process never register a metric twice. Request metrics are updated by the
request middleware; the model cache, job and epoch figures are read from the
app's state when ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

PREFIX = "rnn_forecast"
FORECAST_ROUTE = "/v1/models/{name}/forecast"

# request and forecast latency buckets in seconds, 1 ms to 10 s
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# seconds per training epoch, 10 ms to 10 min
EPOCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 600.0)


@dataclass(frozen=True)
class CacheFigures:
    """Counters and size of the model cache at one moment."""

    hits: int
    misses: int
    size: int
    capacity: int


@dataclass
class StateReaders:
    """Callables that read the app's state at scrape time; each returns None
    while the part it reads does not exist (before start-up, or in an app
    without a job store)."""

    cache: Callable[[], CacheFigures | None] = lambda: None
    jobs_by_state: Callable[[], Mapping[str, int] | None] = lambda: None
    epoch_seconds: Callable[[], Sequence[float] | None] = lambda: None


class StateCollector:
    """Collector for the figures that live in the app's state."""

    def __init__(self, readers: StateReaders) -> None:
        self.readers = readers

    def describe(self) -> Iterable[Metric]:
        return self._families(CacheFigures(0, 0, 0, 0), {}, [])

    def collect(self) -> Iterable[Metric]:
        cache = self.readers.cache()
        jobs = self.readers.jobs_by_state()
        epochs = self.readers.epoch_seconds()
        return self._families(cache, jobs, epochs)

    @staticmethod
    def _families(
        cache: CacheFigures | None,
        jobs: Mapping[str, int] | None,
        epochs: Sequence[float] | None,
    ) -> list[Metric]:
        families: list[Metric] = []
        if cache is not None:
            families += _cache_families(cache)
        if jobs is not None:
            gauge = GaugeMetricFamily(
                f"{PREFIX}_jobs", "Training jobs by state", labels=["state"]
            )
            for state, count in sorted(jobs.items()):
                gauge.add_metric([state], count)
            families.append(gauge)
        if epochs is not None:
            families.append(_epoch_histogram(epochs))
        return families


def _cache_families(cache: CacheFigures) -> list[Metric]:
    hits = CounterMetricFamily(
        f"{PREFIX}_model_cache_hits", "Forecasts served by a cached version"
    )
    hits.add_metric([], cache.hits)
    misses = CounterMetricFamily(
        f"{PREFIX}_model_cache_misses", "Versions loaded from disk into the cache"
    )
    misses.add_metric([], cache.misses)
    size = GaugeMetricFamily(
        f"{PREFIX}_model_cache_size", "Versions held in the model cache"
    )
    size.add_metric([], cache.size)
    capacity = GaugeMetricFamily(
        f"{PREFIX}_model_cache_capacity",
        "Versions the model cache holds before evicting (model_cache_size)",
    )
    capacity.add_metric([], cache.capacity)
    return [hits, misses, size, capacity]


def _epoch_histogram(epochs: Sequence[float]) -> HistogramMetricFamily:
    """Histogram of epoch durations in seconds, from the job store's records."""
    counts = [sum(1 for s in epochs if s <= bound) for bound in EPOCH_BUCKETS]
    buckets = [(str(b), c) for b, c in zip(EPOCH_BUCKETS, counts, strict=True)]
    buckets.append(("+Inf", len(epochs)))
    family = HistogramMetricFamily(
        f"{PREFIX}_training_epoch_seconds",
        "Wall time of one training epoch of a job",
    )
    family.add_metric([], buckets=buckets, sum_value=float(sum(epochs)))
    return family


@dataclass
class Metrics:
    """Every metric of one app; ``registry`` is what ``/metrics`` exposes."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    readers: StateReaders = field(default_factory=StateReaders)

    def __post_init__(self) -> None:
        labels = ["method", "route", "status"]
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by method, route template and status code",
            labels,
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from request start to the last response byte",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.forecast_seconds = Histogram(
            f"{PREFIX}_forecast_duration_seconds",
            "Time to answer a successful forecast request, by model name",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StateCollector(self.readers))

    def observe_request(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        path_params: Mapping[str, object],
    ) -> None:
        """Count one finished request and record its latency; a successful
        forecast also goes into the forecast histogram of its model."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.request_seconds.labels(*labels).observe(seconds)
        if route == FORECAST_ROUTE and 200 <= status < 300:
            model = str(path_params.get("name", ""))
            self.forecast_seconds.labels(model).observe(seconds)


def install_metrics(app: FastAPI) -> Metrics:
    """Create the app's metrics, store them as ``app.state.metrics`` and point
    their state readers at the model cache the lifespan creates."""

    def read_cache() -> CacheFigures | None:
        cache = getattr(app.state, "cache", None)
        if cache is None:
            return None
        return CacheFigures(cache.hits, cache.misses, len(cache), cache.max_size)

    metrics = Metrics(readers=StateReaders(cache=read_cache))
    app.state.metrics = metrics
    return metrics
