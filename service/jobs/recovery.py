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
from service.jobs.store import FAILED, JobStore

logger = logging.getLogger(__name__)


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
        error = (
            f"interrupted: worker process {pid} on {host} was gone {when}; "
            "submit the job again"
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
        f"interrupted: no heartbeat from the worker for more than {timeout:g} s "
        "while it was writing its version, so the version may exist. List the "
        "model's versions before you submit the job again. A worker that still "
        "finishes records the version in this job's result"
    )
    failed = store.fail_stale(time.time() - timeout, error, writing_error)
    if failed:
        logger.warning(
            "marked %d jobs without heartbeat failed: %s", len(failed), failed
        )
    return failed
