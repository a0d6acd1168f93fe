"""Prometheus metrics of one app, kept in the app's own ``CollectorRegistry``.

Each app gets its own registry, so tests that build several apps in one
process never register a metric twice. Request metrics are updated by the
request middleware. The model cache and job figures are read from the app's
state when ``/metrics`` is scraped, and so are the epochs that jobs have
finished since the last scrape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from service.jobs.store import FINISHED, STATUSES, Job, JobStore

logger = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "rnn_forecast"
# NOTE: a job's epochs are observed while it runs and while it is among this
# many most recently created finished jobs. Epochs of a long run that many
# newer jobs overtake before its end are missed.
RECENT_FINISHED_JOBS = 50
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


@dataclass(frozen=True)
class ServingFigures:
    """Counters of the forecast path since start. The batch counters give
    the forward passes run, the requests in them and the largest batch. The
    fast path counters give the requests it served and those it passed on
    to the app."""

    batches: int
    batch_items: int
    largest_batch: int
    fast_served: int
    fast_passed_on: int


@dataclass
class StateReaders:
    """Callables that read the app's state at scrape time.

    Each returns None while the part it reads does not exist, before start-up
    or in an app without a job store.
    """

    cache: Callable[[], CacheFigures | None] = lambda: None
    jobs_by_state: Callable[[], Mapping[str, int] | None] = lambda: None
    job_epochs: Callable[[], Iterable[JobEpochs] | None] = lambda: None
    serving: Callable[[], ServingFigures | None] = lambda: None


class StateCollector:
    """Collector for the figures that live in the app's state."""

    def __init__(self, readers: StateReaders) -> None:
        self.readers = readers

    def describe(self) -> Iterable[Metric]:
        return self._families(
            CacheFigures(0, 0, 0, 0), {}, ServingFigures(0, 0, 0, 0, 0)
        )

    def collect(self) -> Iterable[Metric]:
        cache = read_safely(self.readers.cache, "the model cache")
        jobs = read_safely(self.readers.jobs_by_state, "the job counts")
        serving = read_safely(self.readers.serving, "the forecast counters")
        return self._families(cache, jobs, serving)

    @staticmethod
    def _families(
        cache: CacheFigures | None,
        jobs: Mapping[str, int] | None,
        serving: ServingFigures | None,
    ) -> list[Metric]:
        families: list[Metric] = []
        if cache is not None:
            families += _cache_families(cache)
        if serving is not None:
            families += _serving_families(serving)
        if jobs is not None:
            gauge = GaugeMetricFamily(
                f"{PREFIX}_jobs", "Jobs in the job store by state", labels=["state"]
            )
            for state, count in sorted(jobs.items()):
                gauge.add_metric([state], count)
            families.append(gauge)
        return families


def read_safely(reader: Callable[[], T | None], label: str) -> T | None:
    """Call ``reader``; on an error, log it and return None, so that one
    unreadable source (e.g. a locked job store) leaves the other metrics."""
    try:
        return reader()
    except Exception:
        logger.exception("reading %s for /metrics failed; left out", label)
        return None


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


def _serving_families(serving: ServingFigures) -> list[Metric]:
    batches = CounterMetricFamily(
        f"{PREFIX}_forecast_batches",
        "Forward passes run for forecasts, each over one batch of requests",
    )
    batches.add_metric([], serving.batches)
    items = CounterMetricFamily(
        f"{PREFIX}_forecast_batch_items",
        "Forecast requests computed in those forward passes; divided by "
        "forecast_batches, the mean batch size",
    )
    items.add_metric([], serving.batch_items)
    largest = GaugeMetricFamily(
        f"{PREFIX}_forecast_batch_largest", "Requests in the largest batch so far"
    )
    largest.add_metric([], serving.largest_batch)
    fast = CounterMetricFamily(
        f"{PREFIX}_forecast_fast_path",
        "Forecast requests the fast path took (a JSON body within the size "
        "limit and without content coding, with CORS on or off), by whether "
        "it served them or passed them on to the app, which answers invalid "
        "and failing requests",
        labels=["outcome"],
    )
    fast.add_metric(["served"], serving.fast_served)
    fast.add_metric(["passed_on"], serving.fast_passed_on)
    return [batches, items, largest, fast]


@dataclass(frozen=True)
class JobEpochs:
    """The durations in seconds of the epochs a job has finished, in order."""

    job_id: str
    kind: str
    seconds: Sequence[float | None]


class EpochTracker:
    """Observe each epoch of each job once into a histogram.

    Jobs run in worker processes and report epochs to the job store, so the
    tracker reads the store on every scrape and remembers how many epochs of
    each job it has already observed.
    """

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._observed: dict[str, int] = {}
        self._lock = threading.Lock()

    def update(self, jobs: Iterable[JobEpochs]) -> None:
        """Observe the epochs of ``jobs`` not observed before; forget jobs
        that ``jobs`` no longer lists."""
        with self._lock:
            observed: dict[str, int] = {}
            for job in jobs:
                for seconds in job.seconds[self._observed.get(job.job_id, 0) :]:
                    if seconds is not None:
                        self.histogram.labels(job.kind).observe(seconds)
                observed[job.job_id] = len(job.seconds)
            self._observed = observed


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
        self.epoch_seconds = Histogram(
            f"{PREFIX}_training_epoch_seconds",
            "Wall time of one training epoch of a job, by job kind",
            ["kind"],
            buckets=EPOCH_BUCKETS,
            registry=self.registry,
        )
        self.epochs = EpochTracker(self.epoch_seconds)
        self.registry.register(StateCollector(self.readers))
        # the labelled children per label values: ``labels()`` checks and
        # locks on every call, which costs the event loop on each request
        self._request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._forecast_children: dict[str, Any] = {}

    def refresh(self) -> None:
        """Observe the epochs that jobs finished since the last call; the
        ``/metrics`` route calls it before each scrape."""
        jobs = read_safely(self.readers.job_epochs, "the job epochs")
        if jobs is not None:
            self.epochs.update(jobs)

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
        children = self._request_children.get(labels)
        if children is None:
            children = (
                self.requests.labels(*labels),
                self.request_seconds.labels(*labels),
            )
            self._request_children[labels] = children
        children[0].inc()
        children[1].observe(seconds)

        if route == FORECAST_ROUTE and 200 <= status < 300:
            model = str(path_params.get("name", ""))
            child = self._forecast_children.get(model)
            if child is None:
                child = self._forecast_children[model] = self.forecast_seconds.labels(
                    model
                )
            child.observe(seconds)


def install_metrics(app: FastAPI) -> Metrics:
    """Create the app's metrics, store them as ``app.state.metrics`` and point
    their readers at the model cache and the job manager that the lifespan
    creates."""

    def read_cache() -> CacheFigures | None:
        cache = getattr(app.state, "cache", None)
        if cache is None:
            return None
        return CacheFigures(cache.hits, cache.misses, len(cache), cache.max_size)

    def read_jobs_by_state() -> Mapping[str, int] | None:
        store = _job_store(app)
        if store is None:
            return None
        return {status: store.count(status) for status in STATUSES}

    def read_job_epochs() -> list[JobEpochs] | None:
        store = _job_store(app)
        if store is None:
            return None
        jobs = store.running() + store.list_jobs(
            statuses=FINISHED, limit=RECENT_FINISHED_JOBS
        )
        return [JobEpochs(job.id, job.kind, _epoch_seconds(job)) for job in jobs]

    def read_serving() -> ServingFigures | None:
        batcher = getattr(app.state, "batcher", None)
        fast_path = getattr(app.state, "fast_path", None)
        if batcher is None or fast_path is None:
            return None
        stats = batcher.stats
        return ServingFigures(
            stats.batches,
            stats.items,
            stats.largest,
            fast_path.served,
            fast_path.passed_on,
        )

    readers = StateReaders(
        cache=read_cache,
        jobs_by_state=read_jobs_by_state,
        job_epochs=read_job_epochs,
        serving=read_serving,
    )
    metrics = Metrics(readers=readers)
    app.state.metrics = metrics
    return metrics


def _job_store(app: FastAPI) -> JobStore | None:
    manager = getattr(app.state, "jobs", None)
    return None if manager is None else manager.store


def _epoch_seconds(job: Job) -> list[float | None]:
    """Seconds per epoch from a job's history; entries without an epoch
    number (the records of other job kinds) are skipped."""
    return [
        entry.get("seconds")
        for entry in job.history
        if isinstance(entry, dict) and "epoch" in entry
    ]
