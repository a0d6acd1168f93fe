"""Failing jobs whose worker is gone, so no job stays ``running`` forever.

Two checks, both safe to run from any number of processes because every
change is a conditional update of a running job:

- at start-up, a running job recorded on this host whose worker process no
  longer exists (or is this very process, which has not started any job yet)
  was interrupted by a crash or a ``kill -9``. When no worker process had
  begun it (``Job.unbegun``: the in-host dispatcher claimed it and died
  before its child called ``JobStore.begin_work``, or an older release's
  dispatcher, which set ``started_at`` in its claim, died before its child
  sent a heartbeat), it lost no work and goes back to ``queued`` instead;
- at any time, a running job without a heartbeat for longer than the
  timeout lost its worker, on whatever host it ran. An unbegun job goes
  back to ``queued`` here too.

A failed job that was writing its version gets that version as its result
when the registry has it: a job's registry writes the job id into each
version's metadata (``Registry.version_of_job``). The status, the error and
that result are stored in one conditional update (``end_interrupted``).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Collection
from typing import Any

from models.processes import local_pid, local_process_gone
from models.registry import Registry
from service.jobs.store import RUNNING, WRITING_STAGE, Job, JobStore, Run

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

    A job that no worker process had begun goes back to ``queued`` instead
    (see ``requeue_unbegun``) and is not in the returned ids. ``when``
    completes the error message, e.g. ``"at API start-up"``. The worker
    label is ``<host>:<pid>``, so this relies on host names being unique
    among the processes that share one store. With ``registry``, a job that
    wrote its version before it stopped gets that version as its result.
    """
    host = socket.gethostname()
    ended = []
    for job in store.running():
        pid = local_pid(job.worker)
        if pid is None or not local_process_gone(pid):
            continue
        if job.unbegun:
            reason = f"{job.worker}, which claimed it, was gone {when}"
            reread = requeue_unbegun(store, job, reason)
            if reread is None or reread.worker != job.worker:
                continue
            job = reread
        cause = f"worker process {pid} on {host} was gone {when}"
        error_of = interrupted_error_of(cause)
        if end_interrupted(store, job, error_of, registry) is not None:
            ended.append(job.id)
    if ended:
        logger.warning("ended %d interrupted jobs %s: %s", len(ended), when, ended)
    return ended


def requeue_unbegun(
    store: JobStore, job: Job, reason: str, heartbeat_before: float | None = None
) -> Job | None:
    """Move the running ``job``, which no worker process had begun and whose
    claiming process is gone or silent for ``reason``, back to ``queued``.

    The update requires that the job still has that worker, is still
    unbegun (``Job.unbegun``), has no cancel request and, with
    ``heartbeat_before``, a last heartbeat before that time
    (``JobStore.requeue_unstarted``). Returns None when the job was
    requeued or is no longer running, else the job as read again, which the
    caller ends as interrupted unless its worker or heartbeat changed.
    """
    claimed_by = job.worker or ""
    if store.requeue_unstarted(job.id, claimed_by, heartbeat_before):
        logger.warning(
            "job %s had not begun in a worker process, and %s, so it is queued again",
            job.id,
            reason,
        )
        return None
    job = store.get(job.id)
    return job if job.status == RUNNING else None


def fail_stale_jobs(
    store: JobStore, timeout: float, registry: Registry | None = None
) -> list[str]:
    """End running jobs without a heartbeat for more than ``timeout``
    seconds and return their ids: ``cancelled`` after a cancel request, else
    ``failed``. With ``registry``, a job that wrote its version before its
    worker stopped gets that version as its result.

    A job that no worker process had begun (``Job.unbegun``) lost no work,
    so it goes back to ``queued`` instead and is not in the returned ids
    (``requeue_stale_unbegun``). This release's in-host runner claims such
    jobs (``JobStore.claim`` with ``started=False``), and so did older
    releases, which set ``started_at`` in the claim but left the claim's
    heartbeat alone until the child ran. A Celery worker of this release
    begins its job in its claim (``claim_and_execute``), so its stale jobs
    always fail here.
    """
    error = (
        f"interrupted: no heartbeat from the worker for more than {timeout:g} s; "
        "submit the job again"
    )
    writing_error = (
        _writing_error(f"no heartbeat from the worker for more than {timeout:g} s")
        + ". A worker that still finishes records the version in this job's result"
    )

    def error_of(job: Job) -> str:
        return writing_error if _was_writing(job) else error

    older_than = time.time() - timeout
    ended = []
    for job in store.stale(older_than):
        if job.unbegun:
            reread = requeue_stale_unbegun(store, job, timeout, older_than)
            if reread is None:
                continue
            job = reread
        if end_interrupted(store, job, error_of, registry, older_than) is not None:
            ended.append(job.id)
    if ended:
        logger.warning("ended %d jobs without heartbeat: %s", len(ended), ended)
    return ended


def requeue_stale_unbegun(
    store: JobStore, job: Job, timeout: float, older_than: float
) -> Job | None:
    """Requeue the running ``job``, which no worker process had begun and
    whose last heartbeat is before ``older_than``, as ``requeue_unbegun``
    does. Returns None when it was requeued, or when it is no longer
    running, has another worker or a newer heartbeat, such as after its
    child began it (``JobStore.begin_work``). Else returns the job as read
    again, which the caller ends, such as a job with a cancel request."""
    reason = (
        f"{job.worker}, which claimed it, sent no heartbeat for more than {timeout:g} s"
    )
    reread = requeue_unbegun(store, job, reason, heartbeat_before=older_than)
    if reread is None or reread.worker != job.worker:
        return None
    if (reread.heartbeat_at or 0) >= older_than:
        return None
    return reread


def fail_interrupted(
    store: JobStore,
    job_id: str,
    error_of: Callable[[Job], str],
    registry: Registry,
    workers: Collection[str] | None = None,
    run: Run | None = None,
) -> str | None:
    """End the job ``job_id`` when it is still running, as
    ``end_interrupted`` does, and return its new status or None.

    With ``workers``, only a job whose worker is one of them ends. Another
    worker means that the job was requeued, such as by the stale heartbeat
    sweep before its child began it, and another process claimed it since.
    With ``run``, the run of a worker that ends its own job, only a job that
    ``run`` still owns ends.
    """
    job = store.get(job_id)
    if job.status != RUNNING:
        return None
    if workers is not None and job.worker not in workers:
        return None
    if run is not None and job.run != run:
        logger.warning(
            "job %s: worker %s did not end the job, because its run that "
            "began at %.3f no longer owns it",
            job_id,
            run.worker,
            run.started_at,
        )
        return None
    return end_interrupted(store, job, error_of, registry)


def end_interrupted(
    store: JobStore,
    job: Job,
    error_of: Callable[[Job], str],
    registry: Registry | None,
    heartbeat_before: float | None = None,
) -> str | None:
    """End the running ``job``, whose worker is gone, and return its new
    status, or None when it is no longer running (or, with
    ``heartbeat_before``, has a newer heartbeat).

    A cancel request ends the job ``cancelled``. Otherwise it fails with
    ``error_of(job)``, an ``interrupted:`` error, and, when the job was
    writing its version and ``registry`` has it, the version as its result
    and a sentence that names it in the error. The status, the error and the
    result are one write (``JobStore.end_interrupted``), so no failure
    between them leaves a failed job without its version. When the cancel
    flag or the stage changed since ``job`` was read, the job is read again
    and the error built anew.
    """
    for _ in range(3):
        error = error_of(job)
        written = None if registry is None else written_version(registry, job)
        result = None
        if written is not None:
            result, note = written
            error = f"{error}. {note}"
        status = store.end_interrupted(job, error, result, heartbeat_before)
        if status is not None:
            if result is not None:
                logger.warning("failed job %s had written %s", job.id, result)
            return status
        job = store.get(job.id)
        if job.status != RUNNING:
            return None
        if heartbeat_before is not None and (job.heartbeat_at or 0) >= heartbeat_before:
            return None
    # Reached only if the cancel flag or the stage changed under every
    # attempt. Each changes at most once in a job's life, so this is not
    # expected; the job then stays for the next check.
    logger.error("job %s changed under each attempt to end it", job.id)
    return None


def written_version(registry: Registry, job: Job) -> tuple[dict[str, Any], str] | None:
    """Return the result that names the version which ``job``, a job in the
    stage ``WRITING_STAGE``, wrote before its worker stopped, and the
    sentence of its error that names it. Return None when the job was not
    writing or the registry has no such version."""
    name = _written_model(job.params)
    if not _was_writing(job) or name is None:
        return None
    try:
        version = registry.version_of_job(name, job.id)
    except Exception:
        logger.exception("failed to look up the version of job %s", job.id)
        return None
    if version is None:
        return None
    note = (
        f"Version {version} of {name} was written before the worker "
        "stopped, and result names it; use that version instead of "
        "submitting the job again"
    )
    return {"name": name, "version": version}, note


def interrupted_error_of(cause: str) -> Callable[[Job], str]:
    """Return the function that writes the error of a job interrupted for
    ``cause``."""
    return lambda job: interrupted_error(cause, job)


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
