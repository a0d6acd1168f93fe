"""The in-host runner: jobs run in child processes of the API process.

One dispatcher thread in the API process does all the work, in a loop that
wakes on a submission, a cancel request, a child's exit or every
``POLL_SECONDS``:

1. reap children that exited; a job still ``running`` after its process
   ended was interrupted (e.g. ``kill -9``) and is failed at once, or
   cancelled when a cancel was requested;
2. terminate a child whose job asked to cancel more than
   ``RNN_FORECAST_JOB_CANCEL_GRACE_SECONDS`` ago and is still running, or
   whose job was already failed by the heartbeat sweep;
3. fail jobs of any worker whose heartbeat is stale;
4. claim the oldest queued jobs, up to ``RNN_FORECAST_MAX_CONCURRENT_JOBS``
   children, and start one process per job.

Children come from multiprocessing's ``forkserver``: a clean single-threaded
server process, started with the first job, that imported torch and the
training code once and forks a child per job. The API process itself is
never forked (it runs threads), and a job starts in milliseconds instead of
the seconds that a ``spawn`` child needs to import torch. The first job's
start waits until the fork server has imported them. A stop during that wait
kills the fork server and requeues the job, so the stop does not wait for
the imports. It waits, up to ``FORK_SERVER_EXIT_SECONDS``, until the killed
server has exited, so that a runner started next in the same process finds
it gone and starts a new one instead of sending its first job to the dying
one.

A child ignores SIGINT and SIGHUP (the API's shutdown stops it), heartbeats
from a thread and exits when the API process is gone, so killing the API never
leaves a job training unseen. The concurrency limit applies per API process,
so several API processes on one store each run up to the limit.
"""

from __future__ import annotations

import logging
import logging.config
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing import forkserver
from multiprocessing.connection import wait
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import cast

from models.processes import pid_alive
from models.registry import Registry
from service.jobs.execution import configure_worker_process, execute_job, worker_label
from service.jobs.recovery import (
    fail_dead_local_jobs,
    fail_interrupted,
    fail_stale_jobs,
    interrupted_error_of,
    shutdown_error,
)
from service.jobs.runner_state import OK, UNAVAILABLE, RunnerState
from service.jobs.store import FAILED, RUNNING, Job, JobStore, open_store
from service.logging_config import log_config
from service.settings import Settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
TERMINATE_WAIT_SECONDS = 3.0
# how long ``stop`` waits for the dispatcher thread before it goes on without it
STOP_JOIN_SECONDS = 30.0
# how long ``stop`` waits for a fork server that it killed to exit
FORK_SERVER_EXIT_SECONDS = 5.0
START_METHOD = "forkserver"
# imported once by the fork server, so every child starts with them loaded
PRELOAD_MODULES = ["torch", "models.pipeline", "service.jobs.execution"]


class InHostRunner:
    """Runs queued jobs in child processes that the fork server forks."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self._mp = cast(ForkServerContext, multiprocessing.get_context(START_METHOD))
        self._mp.set_forkserver_preload(PRELOAD_MODULES)
        self._children: dict[str, BaseProcess] = {}
        self._wake_recv, self._wake_send = self._mp.Pipe(duplex=False)
        self._send_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="job-dispatcher", daemon=True
        )
        self._swept_at = 0.0
        # True while the dispatcher is in ``Process.start``, and once one
        # such call has returned (the fork server has imported its modules)
        self._starting = False
        self._fork_server_ready = False

    def start(self) -> None:
        registry = Registry(self.settings.registry)
        fail_dead_local_jobs(self.store, when="at API start-up", registry=registry)
        self._thread.start()
        logger.info(
            "in-host job runner started: up to %d concurrent jobs",
            self.settings.max_concurrent_jobs,
        )

    def stop(self) -> None:
        """Stop dispatching, terminate running children and fail their jobs
        as interrupted, or cancel those with a cancel request; queued jobs
        stay queued for the next start. A job that had written its version
        gets that version as its result. A job whose child had not begun it
        (``JobStore.begin_work``) goes back to queued instead, as does a job
        whose start waited for the fork server's imports."""
        self._stopping.set()
        self._wake()
        deadline = time.monotonic() + STOP_JOIN_SECONDS
        self._end_fork_server_start(deadline)
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for job_id, process in list(self._children.items()):
            self._end_at_stop(job_id, process)
        self._children.clear()
        with self._send_lock:
            self._wake_send.close()
        self._wake_recv.close()
        logger.info("in-host job runner stopped")

    def _end_fork_server_start(self, deadline: float) -> None:
        """Kill the fork server while the dispatcher waits in its first
        ``Process.start`` for the server to import ``PRELOAD_MODULES``, a few
        seconds for torch. The start then fails at once, and the dispatcher
        requeues its job (``_start_failed``). Gives up at ``deadline``
        (``time.monotonic``), as a dispatcher stuck elsewhere would keep it
        waiting. Then waits until a server that it killed has exited (see
        ``wait_exited``)."""
        killed = None
        while (
            self._thread.is_alive()
            and not self._fork_server_ready
            and time.monotonic() < deadline
        ):
            if self._starting:
                killed = _kill_fork_server() or killed
            self._thread.join(0.05)
        if killed is not None and not wait_exited(killed, FORK_SERVER_EXIT_SECONDS):
            logger.warning(
                "the killed fork server %s had not exited after %g s",
                killed,
                FORK_SERVER_EXIT_SECONDS,
            )

    def state(self) -> RunnerState:
        """Report the runner unavailable once its dispatcher thread has died."""
        if self._thread.is_alive() or self._stopping.is_set():
            return RunnerState("inhost", OK)
        return RunnerState(
            "inhost",
            UNAVAILABLE,
            "the job dispatcher thread has stopped, so queued jobs do not "
            "start; restart the server",
        )

    def submitted(self, job: Job) -> None:
        self._wake()

    def cancel_requested(self, job: Job) -> None:
        self._wake()

    def running_pids(self) -> dict[str, int | None]:
        """Return the pid of each child by job id (a snapshot)."""
        return {job_id: p.pid for job_id, p in list(self._children.items())}

    # ---- the dispatcher thread ---------------------------------------------

    def _wake(self) -> None:
        with self._send_lock:
            try:
                self._wake_send.send_bytes(b"\0")
            except OSError:
                logger.debug("dispatcher wake-up pipe is closed")

    def _loop(self) -> None:
        # The fork server starts from this thread, and it and every child
        # inherit this thread's signal mask. A closed terminal sends SIGHUP
        # to the whole process group, so blocking it here keeps them alive
        # until the API's shutdown stops the children. The main thread still
        # handles SIGHUP.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                logger.exception("job dispatcher step failed; retrying")
            if self._stopping.is_set():
                # a stop that gave up waiting for this step has closed the pipe
                return
            sentinels = [p.sentinel for p in self._children.values()]
            ready = wait([self._wake_recv, *sentinels], timeout=POLL_SECONDS)
            if self._wake_recv in ready:
                while self._wake_recv.poll():
                    self._wake_recv.recv_bytes()

    def _tick(self) -> None:
        self._reap()
        self._terminate_overdue()
        self._sweep()
        self._start_queued()

    def _reap(self) -> None:
        for job_id, process in list(self._children.items()):
            if process.is_alive():
                continue
            process.join()
            del self._children[job_id]

            # the job is this child's, or this process's while no child has
            # begun it; any other worker claimed it after a requeue
            workers = (worker_label(process.pid), worker_label())
            error_of = interrupted_error_of(describe_exit(process))
            registry = Registry(self.settings.registry)
            fail_interrupted(self.store, job_id, error_of, registry, workers)

    def _terminate_overdue(self) -> None:
        now = time.time()
        grace = self.settings.job_cancel_grace_seconds
        for job_id, process in list(self._children.items()):
            job = self.store.get(job_id)
            if job.status == RUNNING and job.cancel_requested:
                since = job.cancel_requested_at or now
            elif job.status != RUNNING:
                since = job.finished_at or now
            else:
                continue
            if now - since < grace or not process.is_alive():
                continue
            logger.warning(
                "job %s (%s) still has worker pid %s %.1f s later; terminating it",
                job_id,
                "cancel requested" if job.status == RUNNING else job.status,
                process.pid,
                now - since,
            )
            _terminate(process)

    def _sweep(self) -> None:
        if time.monotonic() - self._swept_at < self.settings.job_heartbeat_seconds:
            return
        self._swept_at = time.monotonic()
        fail_stale_jobs(
            self.store,
            self.settings.job_heartbeat_timeout,
            Registry(self.settings.registry),
        )

    def _start_queued(self) -> None:
        limit = self.settings.max_concurrent_jobs
        while len(self._children) < limit and not self._stopping.is_set():
            job = self.store.claim_next(worker_label(), started=False)
            if job is None:
                return
            process = self._mp.Process(
                target=run_child,
                args=(job.id, self.settings, os.getpid(), job.worker, job.heartbeat_at),
                name=f"rnn-forecast-job-{job.id[:8]}",
                daemon=True,
            )
            self._starting = True
            try:
                process.start()
            except (OSError, EOFError, RuntimeError) as exc:
                self._start_failed(job, exc)
                continue
            finally:
                self._starting = False
            self._fork_server_ready = True
            self._children[job.id] = process
            logger.info("started %s job %s in pid %s", job.kind, job.id, process.pid)

    def _start_failed(self, job: Job, exc: BaseException) -> None:
        """Requeue ``job`` when a stop ended its start (``stop`` kills a
        starting fork server, which raises ``EOFError`` here), else fail it.

        The requeue requires that no child began the job. A fork server
        killed just after it forked the child leaves a child that may begin
        the job first, and the job then fails as interrupted by the shutdown.
        """
        if self._stopping.is_set():
            self._end_at_stop(job.id, None)
            return
        logger.error("failed to start a worker for job %s", job.id, exc_info=exc)
        error = f"failed to start a worker process: {exc}"
        self.store.finish(job.id, FAILED, error=error)

    def _end_at_stop(self, job_id: str, process: BaseProcess | None) -> None:
        """Requeue the job ``job_id`` when no child began it, else fail it as
        interrupted by the shutdown (cancel it after a cancel request).

        The requeue comes before ``process``, the job's child, is
        terminated, so that the child cannot begin the job after the check,
        and the failure after, so that the child no longer writes to it.
        """
        requeued = self.store.requeue_unstarted(job_id, worker_label())
        if process is not None:
            _terminate(process)
        if requeued:
            logger.info("job %s had not begun; it is queued again", job_id)
            return
        registry = Registry(self.settings.registry)
        fail_interrupted(self.store, job_id, shutdown_error, registry)


def _kill_fork_server() -> int | None:
    """Kill this process's fork server, if it runs, and return its pid. The
    next ``Process.start`` finds it gone, once it has exited, and starts a
    new one.

    NOTE: multiprocessing has no public call for this. The pid is the
    private ``_forkserver_pid`` of CPython's module-level fork server, as
    read in CPython 3.11. A Python without it keeps the fork server, and a
    stop then waits for the imports.
    """
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not isinstance(pid, int):
        return None
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        logger.debug("fork server %s has already exited", pid)
    return pid


def wait_exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until the process ``pid`` has exited
    and return whether it has.

    A process killed with SIGKILL exits once the kernel has freed its memory
    and closed its files, which takes longer for a process that imported
    torch. Until then multiprocessing's next ``Process.start`` takes the fork
    server for alive and sends it the new child's request. An exited child
    of this process stays a zombie until multiprocessing reaps it as it
    starts a new fork server, so this only looks and never reaps.
    """
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def describe_exit(process: BaseProcess) -> str:
    """Describe how a child process ended."""
    code = process.exitcode
    if code is not None and code < 0:
        return (
            f"worker process {process.pid} was killed by {signal.Signals(-code).name}"
        )
    return f"worker process {process.pid} exited with code {code}"


def _terminate(process: BaseProcess) -> None:
    process.terminate()
    process.join(TERMINATE_WAIT_SECONDS)
    if process.is_alive():
        process.kill()
        process.join(TERMINATE_WAIT_SECONDS)


def run_child(
    job_id: str,
    settings: Settings,
    parent_pid: int,
    claimed_by: str | None,
    claimed_at: float | None = None,
) -> None:
    """Entry point of a worker process: run one job that the API process,
    whose worker label is ``claimed_by``, claimed at ``claimed_at`` (the
    claim's ``heartbeat_at``), then exit.

    The child records itself as the job's worker, and the time as its
    ``started_at``, before it runs the job. On stop, the API process
    requeues a job whose worker is still its own, and so does the next
    start after the API process died. Both writes are conditional on the
    stored worker, so only one of them takes effect, and the job runs in
    this child or after the next start. The begin is also conditional on
    ``claimed_at``: a child that was paused until the stale heartbeat sweep
    requeued its job, and the same API process claimed it again for another
    child, does not begin it.
    """
    # A Ctrl-C or a closed terminal signals the whole process group, and the
    # API's shutdown then stops this child and records the job's error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.config.dictConfig(log_config(settings.log_format, settings.log_level))
    configure_worker_process(settings)

    store = open_store(settings)
    try:
        worker = worker_label(os.getpid())
        if claimed_by is None or not store.begin_work(
            job_id, claimed_by, worker, claimed_at
        ):
            logger.info(
                "job %s was requeued, claimed again or ended before it began", job_id
            )
            return
        job = store.get(job_id)
        if job.status == RUNNING and job.worker == worker:
            execute_job(store, job, settings, parent_pid=parent_pid)
    finally:
        store.close()
