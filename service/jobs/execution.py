"""Running one job inside a worker process, shared by both runners.

The in-host runner claims a job and starts a process that calls
``execute_job``; a Celery task calls ``claim_and_execute``. Either way the job
function runs in a process of its own, reports progress to the job store,
heartbeats from a background thread, and ends the job with exactly one final
status: ``succeeded`` with the kind's result, ``failed`` with a one-line
error (the traceback goes to the worker's log only) or ``cancelled``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import torch
from pydantic import ValidationError

from models.errors import RnnForecastError
from models.json_values import json_safe
from models.processes import pid_alive
from models.processes import process_label as worker_label
from models.registry import Registry
from models.training import TrainingCancelled
from service.field_errors import field_message, field_path
from service.jobs.kinds import JobCancelled, get_kind
from service.jobs.recovery import fail_interrupted, interrupted_error_of
from service.jobs.store import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobStore,
    Run,
)
from service.settings import Settings

logger = logging.getLogger(__name__)

# how often should_stop reads the cancel flag from the store at most
CANCEL_POLL_SECONDS = 0.25


def configure_worker_process(settings: Settings) -> None:
    """Per-process set-up of a worker: torch's intra-op thread count."""
    torch.set_num_threads(settings.job_torch_threads)


class StoreContext:
    """The ``JobContext`` of a job whose state lives in a ``JobStore``.

    Every write is conditional on ``job.run``, the run that this worker
    began (see ``Run``). Once a write finds that the run no longer owns the
    job, or ``should_stop`` reads that, the job stops and writes nothing
    more: no progress and no registry version.
    """

    def __init__(self, store: JobStore, job: Job, settings: Settings) -> None:
        self.store = store
        self.job_id = job.id
        self.run = job.run
        self.settings = settings
        self.registry = Registry(settings.registry, job_id=job.id)
        self._stop = False
        self._checked_at = 0.0

    def report(
        self, progress: dict[str, Any], history: list[Any] | None = None
    ) -> None:
        safe_history = None if history is None else json_safe(history)
        if not self.store.report(
            self.job_id, json_safe(progress), safe_history, run=self.run
        ):
            # the job was cancelled, failed by the stale-heartbeat sweep, or
            # another run owns it
            self._stop = True

    def begin_write(self, progress: dict[str, Any]) -> None:
        if not self.store.begin_write(self.job_id, json_safe(progress), run=self.run):
            self._stop = True
            raise JobCancelled(
                f"job {self.job_id} was cancelled or ended before its write"
            )

    def should_stop(self) -> bool:
        if self._stop:
            return True
        now = time.monotonic()
        if now - self._checked_at < CANCEL_POLL_SECONDS:
            return False
        self._checked_at = now
        if self.run is None:
            status, cancel_requested = self.store.cancel_state(self.job_id)
            self._stop = cancel_requested or status != RUNNING
        else:
            state = self.store.run_state(self.run)
            self._stop = (
                state.cancel_requested or state.status != RUNNING or not state.owned
            )
        return self._stop


class Heartbeat:
    """A daemon thread that records a heartbeat every ``interval`` seconds.

    With ``parent_pid`` it also watches the API process that started this
    one: when that process is gone (the API was killed), or this process was
    re-parented, the job is failed as interrupted and this process exits, so
    no orphan keeps training. A job that had written its version by then gets
    that version, found in ``registry``, as its result. Both the heartbeat
    and that failure take effect only while ``run`` owns the job.
    """

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        interval: float,
        parent_pid: int | None,
        registry: Registry,
        run: Run | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.job_id = job_id
        self.interval = interval
        self.parent_pid = parent_pid
        self.registry = registry
        self._initial_ppid = os.getppid()
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{job_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        tick = min(self.interval, 1.0)
        last = time.monotonic()
        while not self._stopped.wait(tick):
            if self.parent_pid is not None and self._orphaned(self.parent_pid):
                self._exit_orphaned()
            if time.monotonic() - last >= self.interval:
                last = time.monotonic()
                try:
                    self.store.heartbeat(self.job_id, run=self.run)
                except Exception:
                    logger.exception("heartbeat of job %s failed", self.job_id)

    def _orphaned(self, parent_pid: int) -> bool:
        return os.getppid() != self._initial_ppid or not pid_alive(parent_pid)

    def _exit_orphaned(self) -> None:
        try:
            cause = (
                f"the API process (pid {self.parent_pid}) that started this job exited"
            )
            logger.error("job %s stops: %s", self.job_id, cause)
            error_of = interrupted_error_of(cause)
            fail_interrupted(
                self.store, self.job_id, error_of, self.registry, run=self.run
            )
        finally:
            os._exit(1)


def claim_and_execute(store: JobStore, job_id: str, settings: Settings) -> str | None:
    """Claim a queued job for this process and run it; None when another
    process claimed it first or it was cancelled while queued."""
    job = store.claim(job_id, worker_label())
    if job is None:
        logger.info("job %s is no longer queued; skipping it", job_id)
        return None
    return execute_job(store, job, settings)


def execute_job(
    store: JobStore, job: Job, settings: Settings, *, parent_pid: int | None = None
) -> str:
    """Run a claimed (running) job to its end and return its final status."""
    logger.info("running %s job %s in pid %d", job.kind, job.id, os.getpid())
    registry = Registry(settings.registry)
    interval = settings.job_heartbeat_seconds
    run = job.run
    with Heartbeat(store, job.id, interval, parent_pid, registry, run):
        try:
            kind = get_kind(job.kind)
            params = kind.params_model.model_validate(job.params)
            result = kind.run(params, StoreContext(store, job, settings))
        except (JobCancelled, TrainingCancelled):
            return _end(store, job, CANCELLED)
        except ValidationError as exc:
            logger.info("job %s has invalid params: %s", job.id, exc)
            error = invalid_params_error(exc, settings.root_path)
            return _end(store, job, FAILED, error=error)
        except RnnForecastError as exc:
            return _end(store, job, FAILED, error=exc.message)
        except Exception as exc:
            logger.exception("job %s raised", job.id)
            error = (
                f"internal error ({type(exc).__name__}: {exc}); the worker's "
                "log has the traceback"
            )
            return _end(store, job, FAILED, error=error)
        except BaseException:
            cause = "the worker process received a stop signal"
            error_of = interrupted_error_of(cause)
            fail_interrupted(store, job.id, error_of, registry, run=run)
            raise
        return _end(store, job, SUCCEEDED, result=json_safe(result))


def invalid_params_error(exc: ValidationError, root_path: str) -> str:
    """Write the errors of params that no longer validate, such as those of a
    job queued before an upgrade tightened a check, as one line. API paths
    in the messages start with ``root_path``, the service's root path."""
    listed = "; ".join(
        f"{field_path(error['loc'], None, error['type'])}: "
        f"{field_message(error, root_path)}"
        for error in exc.errors()
    )
    return f"invalid params: {listed}; submit the job again with valid params"


def _end(
    store: JobStore,
    job: Job,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> str:
    run = job.run
    if store.finish(job.id, status, result=result, error=error, run=run):
        return status

    final = store.get(job.id)
    if run is not None and final.run != run:
        logger.warning(
            "job %s: worker %s stopped without writing its %s status, because "
            "its run that began at %.3f no longer owns the job (now %s, worker "
            "%s, began at %s)",
            job.id,
            run.worker,
            status,
            run.started_at,
            final.status,
            final.worker,
            final.started_at,
        )
        return final.status

    # the stale heartbeat sweep or a shutdown failed the job while it ran on
    if status == SUCCEEDED and result is not None:
        store.record_late_result(job.id, result, run=run)
    final = store.get(job.id)
    logger.warning(
        "job %s ended %s in its worker, but its stored status was already %s (%s)",
        job.id,
        status,
        final.status,
        final.error,
    )
    return final.status
