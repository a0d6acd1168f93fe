"""Failing jobs whose worker is gone, so no job stays ``running`` forever.

Two checks, both safe to run from any number of processes because every
change is a conditional update of a running job:

- at start-up, a running job recorded on this host whose worker process no
  longer exists (or is this very process, which has not started any job yet)
  was interrupted by a crash or a ``kill -9``;
- at any time, a running job without a heartbeat for longer than the
  timeout lost its worker, on whatever host it ran.
"""

from __future__ import annotations

import logging
import socket
import time

from models.processes import local_pid, local_process_gone
from service.jobs.store import FAILED, WRITING_STAGE, Job, JobStore

logger = logging.getLogger(__name__)


def interrupted_error(cause: str, job: Job) -> str:
    """Write the error of ``job``, whose worker is gone for ``cause``, such as
    ``"worker process 12 was killed by SIGKILL"``.

    A job in the stage ``WRITING_STAGE`` may have written its version before
    its worker stopped, so its error states that instead of asking for the job
    to be submitted again.
    """
    if job.progress is not None and job.progress.get("stage") == WRITING_STAGE:
        return _writing_error(cause)
    return f"interrupted: {cause}; submit the job again"


def _writing_error(cause: str) -> str:
    return (
        f"interrupted: {cause} while it was writing its version, so the "
        "version may exist. List the model's versions before you submit "
        "the job again"
    )


def fail_dead_local_jobs(store: JobStore, *, when: str) -> list[str]:
    """Fail running jobs of this host whose worker process is gone.

    ``when`` completes the error message, e.g. ``"at API start-up"``. The
    worker label is ``<host>:<pid>``, so this relies on host names being
    unique among the processes that share one store.
    """
    host = socket.gethostname()
    failed = []
    for job in store.running():
        pid = local_pid(job.worker)
        if pid is None or not local_process_gone(pid):
            continue
        error = interrupted_error(
            f"worker process {pid} on {host} was gone {when}", job
        )
        if store.finish(job.id, FAILED, error=error):
            failed.append(job.id)
    if failed:
        logger.warning(
            "marked %d interrupted jobs failed %s: %s", len(failed), when, failed
        )
    return failed


def fail_stale_jobs(store: JobStore, timeout: float) -> list[str]:
    """Fail running jobs without a heartbeat for more than ``timeout``
    seconds."""
    error = (
        f"interrupted: no heartbeat from the worker for more than {timeout:g} s; "
        "submit the job again"
    )
    writing_error = (
        _writing_error(f"no heartbeat from the worker for more than {timeout:g} s")
        + ". A worker that still finishes records the version in this job's result"
    )
    failed = store.fail_stale(time.time() - timeout, error, writing_error)
    if failed:
        logger.warning(
            "marked %d jobs without heartbeat failed: %s", len(failed), failed
        )
    return failed
