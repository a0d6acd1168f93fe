"""A job that the in-host runner of ``rnn-forecast serve`` had claimed, but
whose worker process had not begun it, goes back to queued instead of
failing as interrupted. This happens when a SIGTERM stops the server, and
at the next start after a ``kill -9`` of the server."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from service.jobs.store import FINISHED, Job, JobStore, sqlite_url
from tests.e2e.test_serve_kernel_stop import running, wait_for
from tests.e2e.test_serve_startup_stop import queue_job, start_hooked_serve

# A ``sitecustomize`` module that pauses a job's worker process before it
# records itself as the job's worker: ``begin_work`` writes $PAUSED_FILE,
# then sleeps for up to 60 s, so the server's shutdown finds the job claimed
# but not begun. Only worker processes call ``begin_work``.
PAUSE_HOOK = """\
import os
import time
from pathlib import Path

from service.jobs.store import JobStore

_begin_work = JobStore.begin_work


def _paused_begin_work(self, *args, **kwargs):
    Path(os.environ["PAUSED_FILE"]).write_text("paused")
    time.sleep(60)
    return _begin_work(self, *args, **kwargs)


JobStore.begin_work = _paused_begin_work
"""


# A ``sitecustomize`` module that pauses the first worker process that calls
# ``begin_work``, of any server started with it on one $PAUSED_FILE: that
# process writes its pid to $PAUSED_FILE, then sleeps for up to 60 s. Later
# worker processes find the file and do not pause.
PAUSE_ONCE_HOOK = """\
import os
import time
from pathlib import Path

from service.jobs.store import JobStore

_begin_work = JobStore.begin_work


def _paused_begin_work(self, *args, **kwargs):
    paused = Path(os.environ["PAUSED_FILE"])
    if not paused.exists():
        partial = paused.with_name(paused.name + ".partial")
        partial.write_text(str(os.getpid()))
        os.replace(partial, paused)
        time.sleep(60)
    return _begin_work(self, *args, **kwargs)


JobStore.begin_work = _paused_begin_work
"""


def read_job(data_dir: Path, job_id: str) -> Job:
    """Return job ``job_id`` from the SQLite job store of ``data_dir``."""
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        return store.get(job_id)
    finally:
        store.close()


def stored_job(data_dir: Path, job_id: str) -> tuple[str, str | None]:
    """Return the status and the worker of job ``job_id`` in the SQLite job
    store of ``data_dir``."""
    job = read_job(data_dir, job_id)
    return job.status, job.worker


def test_sigterm_requeues_unstarted_job(tmp_path: Path) -> None:
    paused = tmp_path / "paused"
    data_dir = tmp_path / "data"
    job_id = queue_job(data_dir)
    log_path = tmp_path / "serve.log"
    server = start_hooked_serve(tmp_path, PAUSE_HOOK, log_path)
    try:
        wait_for(paused.is_file, "pause before the job begins", timeout=120.0)
        wait_for(lambda: "listening on" in log_path.read_text(), "listening line")
        claimed = stored_job(data_dir, job_id)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        server.kill()
        server.wait()

    output = log_path.read_text()
    assert claimed[0] == "running", output
    assert server.returncode == 0, output
    assert stored_job(data_dir, job_id) == ("queued", None), output
    assert f"job {job_id} had not begun; it is queued again" in output
    assert "interrupted" not in output
    assert "Traceback" not in output


def test_kill_requeues_unstarted_job_at_start(tmp_path: Path) -> None:
    paused = tmp_path / "paused"
    data_dir = tmp_path / "data"
    job_id = queue_job(data_dir)
    first_log = tmp_path / "first.log"
    first = start_hooked_serve(tmp_path, PAUSE_ONCE_HOOK, first_log)
    try:
        wait_for(paused.is_file, "pause before the job begins", timeout=120.0)
        claimed = read_job(data_dir, job_id)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        first.kill()
        first.wait()
        # the paused worker process outlives its server; end it before the
        # next start, as a kill -9 of the whole process group would
        pid = int(paused.read_text()) if paused.is_file() else None
        if pid is not None and running(pid):
            os.kill(pid, signal.SIGKILL)

    second_log = tmp_path / "second.log"
    second = start_hooked_serve(tmp_path, PAUSE_ONCE_HOOK, second_log)
    try:
        wait_for(
            lambda: read_job(data_dir, job_id).status in FINISHED,
            "requeued job's end",
            timeout=180.0,
        )
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    finally:
        second.kill()
        second.wait()

    output = second_log.read_text()
    done = read_job(data_dir, job_id)
    assert claimed.status == "running", first_log.read_text()
    assert claimed.started_at is None
    assert claimed.worker == f"{socket.gethostname()}:{first.pid}"
    assert first.returncode == -signal.SIGKILL
    assert done.status == "succeeded", done.error
    assert done.started_at is not None
    assert f"job {job_id} had not begun" in output
    assert "it is queued again" in output
    assert "interrupted" not in output
    assert "Traceback" not in output
