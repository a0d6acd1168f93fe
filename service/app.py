"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends

from models import __version__
from models.calendar import session_days
from models.nn import infer_kernel
from models.registry import Registry
from service.batching import MicroBatcher
from service.diagnostics_queue import DiagnosticsQueue
from service.errors import install_error_handlers
from service.fast_forecast import (
    FastPathApp,
    FastPathStats,
    ForecastFastPath,
    telemetry_enabled,
)
from service.inference import ModelCache, make_executor
from service.jobs.manager import JobManager
from service.middleware import install_middleware
from service.observability import install_metrics
from service.openapi import install_openapi
from service.query_params import UnknownQueryCheck
from service.read_deadlines import ReadDeadlines
from service.resolution import VersionResolver
from service.routes import forecast, health, models
from service.routes import metrics as metrics_route
from service.routes.aliases import router as aliases_router
from service.routes.diagnostics import router as diagnostics_router
from service.routes.jobs import router as jobs_router
from service.routes.series import router as series_router
from service.routes.training_jobs import router as training_jobs_router
from service.series_orphans import next_sweep_delay, sweep_orphans
from service.serving import Serving
from service.settings import Settings
from service.startup_stop import StartupStop
from service.upload_parsing import UploadParsing

logger = logging.getLogger(__name__)

API_PREFIX = "/v1"
HEALTH_PATH = f"{API_PREFIX}/health"


async def schedule_later_sweep(
    settings: Settings, executor: Executor
) -> asyncio.TimerHandle | None:
    """Schedule a sweep of the upload orphans that start-up kept because they
    were too young. It runs when the youngest is old enough. Return its
    handle, or None when no orphan is left."""
    delay = await asyncio.to_thread(next_sweep_delay, settings)
    if delay is None:
        return None
    loop = asyncio.get_running_loop()
    # a second of margin, so that the youngest is past the minimum age
    return loop.call_later(delay + 1.0, executor.submit, sweep_orphans, settings)


async def start_background_work(
    app: FastPathApp, settings: Settings
) -> asyncio.TimerHandle | None:
    """Sweep the upload orphans and start the job runner, unless the server
    was asked to stop before either step. Return the handle of the later
    sweep, or None when none is scheduled.

    A stop skips both steps, so the sweep removes no file and a queued job
    stays queued instead of starting and then failing as interrupted.
    """
    stop: StartupStop = app.state.startup_stop
    later_sweep = None
    if not stop.requested:
        await asyncio.to_thread(sweep_orphans, settings)
        later_sweep = await schedule_later_sweep(settings, app.state.executor)
    if stop.requested:
        logger.info("stop requested during start-up; the job runner does not start")
        return later_sweep
    app.state.jobs = JobManager.from_settings(settings)
    app.state.jobs.start()
    return later_sweep


def create_app(settings: Settings | None = None) -> FastPathApp:
    """Build the app; the registry, model cache and thread pool live in its
    lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastPathApp) -> AsyncIterator[None]:
        if telemetry_enabled(app):
            logger.info("OpenTelemetry is configured; forecasts skip the fast path")
            app.fast_path = None
        registry = Registry(settings.registry)
        app.state.settings = settings
        app.state.registry = registry
        app.state.cache = ModelCache(registry, settings.model_cache_size)
        app.state.executor = make_executor(
            settings.inference_workers, settings.torch_threads
        )
        # the first forecast would otherwise read the NYSE session file
        # (about 10 ms), so a pool thread reads it while the server starts
        app.state.executor.submit(session_days)
        # Every forecast runs on the compiled kernel from the first one on,
        # so a forecast's values do not change when the kernel arrives.
        # Building it took about 0.6 s once per machine, loading it under 1 ms.
        await asyncio.to_thread(infer_kernel.load)
        app.state.diagnostics_executor = make_executor(
            settings.diagnostics_workers, settings.torch_threads, name="diagnostics"
        )
        app.state.diagnostics_queue = DiagnosticsQueue(
            app.state.diagnostics_executor,
            settings.diagnostics_workers,
            settings.max_queued_diagnostics,
        )
        app.state.upload_parsing = UploadParsing(settings.upload_workers)
        app.state.resolver = VersionResolver(registry, settings.resolve_ttl_ms / 1000)
        app.state.batcher = MicroBatcher(
            app.state.executor,
            window_seconds=settings.batch_window_ms / 1000,
            max_batch_size=settings.max_batch_size,
            inline_seconds=settings.inline_forward_ms / 1000,
        )
        app.state.serving = Serving(
            settings,
            app.state.resolver,
            app.state.cache,
            app.state.executor,
            app.state.batcher,
        )
        logger.info(
            "serving registry %s with models %s",
            registry.root,
            registry.names(),
            extra={"registry": str(registry.root), "models": registry.names()},
        )
        later_sweep = await start_background_work(app, settings)
        try:
            yield
        finally:
            if later_sweep is not None:
                later_sweep.cancel()
            jobs = getattr(app.state, "jobs", None)
            if jobs is not None:
                jobs.stop()
            app.state.batcher.close()
            app.state.executor.shutdown(wait=False, cancel_futures=True)
            app.state.diagnostics_executor.shutdown(wait=False, cancel_futures=True)
            app.state.upload_parsing.close()

    app = FastPathApp(
        title="rnn-forecast",
        version=__version__,
        description="RNN, LSTM and GRU forecasters: forecasts, training jobs "
        "and gradient diagnostics.",
        lifespan=lifespan,
        # a path with a trailing slash gets a 404 that names the path
        # without it (service.trailing_slashes), not a redirect
        redirect_slashes=False,
        # load balancers may call the health check with parameters of their own
        dependencies=[Depends(UnknownQueryCheck(API_PREFIX, open_paths=[HEALTH_PATH]))],
    )
    install_error_handlers(app)
    install_openapi(app)
    metrics = install_metrics(app)
    # the body reads of the middleware and the fast path, which the server
    # ends when it shuts down
    app.state.body_reads = ReadDeadlines(settings.body_timeout_seconds)
    install_middleware(
        app,
        settings,
        metrics,
        app.state.body_reads,
        upload_paths=(f"{API_PREFIX}/series",),
    )
    app.state.stop_requests = functools.partial(_stop_requests, app)
    # set by the server's signal handler; the lifespan reads it
    app.state.startup_stop = StartupStop()
    # valid forecasts are served in front of the middleware; the counters go
    # to app.state.fast_path
    app.state.fast_path = FastPathStats()
    app.fast_path = ForecastFastPath(
        API_PREFIX, settings, metrics, app.state.fast_path, app.state.body_reads
    )

    api = APIRouter(prefix=API_PREFIX)
    # routes are matched in order, so the hot forecast route goes first
    api.include_router(forecast.router)
    api.include_router(health.router)
    api.include_router(models.router)
    api.include_router(training_jobs_router)
    api.include_router(jobs_router)
    api.include_router(series_router)
    api.include_router(aliases_router)
    api.include_router(diagnostics_router)
    app.include_router(api)
    app.include_router(metrics_route.router)
    return app


def _stop_requests(app: FastPathApp) -> None:
    """End the body reads and the upload parses in progress; the server
    calls this when its shutdown begins, before it waits for the requests."""
    app.state.body_reads.close()
    parsing = getattr(app.state, "upload_parsing", None)
    if parsing is not None:
        parsing.cancel_running()
