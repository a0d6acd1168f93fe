"""Failing jobs whose worker is gone, so no job stays ``running`` forever.

Two checks, both safe to run from any number of processes because every
change is a conditional update of a running job:

- at start-up, a running job recorded on this host whose worker process no
  longer exists (or is this very process, which has not started any job yet)
  was interrupted by a crash or a ``kill -9``;
- at any time, a running job without a heartbeat for longer than the
  timeout lost its worker, on whatever host it ran.

A failed job that was writing its version gets that version as its result
when the registry has it: a job's registry writes the job id into each
version's metadata (``Registry.version_of_job``).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from typing import Any

from models.processes import local_pid, local_process_gone
from models.registry import Registry
from service.jobs.store import CANCELLED, FAILED, WRITING_STAGE, Job, JobStore

logger = logging.getLogger(__name__)

# the end of the error of a job that was interrupted while writing its version
VERSION_MAY_EXIST = (
    "so the version may exist. List the model's versions before you submit "
    "the job again"
)


def interrupted_error(cause: str, job: Job) -> str:
    """Write the error of ``job``, whose worker is gone for ``cause``, such as
    ``"worker process 12 was killed by SIGKILL"``.

    A job in the stage ``WRITING_STAGE`` may have written its version before
    its worker stopped, so its error states that instead of asking for the job
    to be submitted again.
    """
    if _was_writing(job):
        return _writing_error(cause)
    return f"interrupted: {cause}; submit the job again"


def _was_writing(job: Job) -> bool:
    return job.progress is not None and job.progress.get("stage") == WRITING_STAGE


def shutdown_error(job: Job) -> str:
    """Write the error of ``job``, whose worker the API stopped as it shut
    down."""
    if _was_writing(job):
        return (
            "interrupted: the API shut down while the job was writing its "
            f"version, {VERSION_MAY_EXIST}"
        )
    return (
        "interrupted: the API shut down while the job was running; submit the job again"
    )


def _writing_error(cause: str) -> str:
    return f"interrupted: {cause} while it was writing its version, {VERSION_MAY_EXIST}"


def fail_dead_local_jobs(
    store: JobStore, *, when: str, registry: Registry | None = None
) -> list[str]:
    """End running jobs of this host whose worker process is gone and return
    their ids: ``cancelled`` after a cancel request, else ``failed``.

    ``when`` completes the error message, e.g. ``"at API start-up"``. The
    worker label is ``<host>:<pid>``, so this relies on host names being
    unique among the processes that share one store. With ``registry``, a
    job that wrote its version before it stopped gets that version as its
    result.
    """
    host = socket.gethostname()
    ended = []
    for job in store.running():
        pid = local_pid(job.worker)
        if pid is None or not local_process_gone(pid):
            continue
        if job.cancel_requested:
            done = store.finish(job.id, CANCELLED)
        else:
            error = interrupted_error(
                f"worker process {pid} on {host} was gone {when}", job
            )
            done = store.finish(job.id, FAILED, error=error)
        if done:
            ended.append(job.id)
    if ended:
        logger.warning("ended %d interrupted jobs %s: %s", len(ended), when, ended)
    if registry is not None:
        record_written_versions(store, registry, ended)
    return ended


def fail_stale_jobs(
    store: JobStore, timeout: float, registry: Registry | None = None
) -> list[str]:
    """End running jobs without a heartbeat for more than ``timeout``
    seconds and return their ids: ``cancelled`` after a cancel request, else
    ``failed``. With ``registry``, a job that wrote its version before its
    worker stopped gets that version as its result."""
    error = (
        f"interrupted: no heartbeat from the worker for more than {timeout:g} s; "
        "submit the job again"
    )
    writing_error = (
        _writing_error(f"no heartbeat from the worker for more than {timeout:g} s")
        + ". A worker that still finishes records the version in this job's result"
    )
    ended = store.fail_stale(time.time() - timeout, error, writing_error)
    if ended:
        logger.warning("ended %d jobs without heartbeat: %s", len(ended), ended)
    if registry is not None:
        record_written_versions(store, registry, ended)
    return ended


def fail_interrupted(
    store: JobStore, job_id: str, error: str, registry: Registry
) -> bool:
    """Fail the running job ``job_id`` with ``error``, an ``interrupted:``
    error, and record the version it wrote, if any. Return whether the job
    was failed."""
    failed = store.finish(job_id, FAILED, error=error)
    if failed:
        record_written_versions(store, registry, [job_id])
    return failed


def record_written_versions(
    store: JobStore, registry: Registry, job_ids: Iterable[str]
) -> list[str]:
    """Record, as the result of each failed job of ``job_ids`` that was
    writing its version, the version that the registry has for it. Return
    the ids of those jobs.

    The error keeps its cause and gets a sentence that names the version.
    """
    recorded = []
    for job_id in job_ids:
        job = store.get(job_id)
        name = _written_model(job.params)
        if not _was_writing(job) or name is None:
            continue
        try:
            version = registry.version_of_job(name, job.id)
        except Exception:
            logger.exception("failed to look up the version of job %s", job.id)
            continue
        if version is None:
            continue
        note = (
            f"Version {version} of {name} was written before the worker "
            "stopped, and result names it; use that version instead of "
            "submitting the job again"
        )
        result = {"name": name, "version": version}
        if store.record_late_result(job.id, result, note):
            logger.warning(
                "failed job %s had written %s version %d", job.id, name, version
            )
            recorded.append(job.id)
    return recorded


def _written_model(params: Any) -> str | None:
    """Return the model name that a job's params write to: ``name`` for
    training, and for tuning ``name`` or, when that is null, ``base.name``."""
    if not isinstance(params, dict):
        return None
    name = params.get("name")
    base = params.get("base")
    if name is None and isinstance(base, dict):
        name = base.get("name")
    return name if isinstance(name, str) else None
