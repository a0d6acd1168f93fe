"""A job that the in-host runner of ``rnn-forecast serve`` had claimed, but
whose worker process had not begun it, goes back to queued when a SIGTERM
stops the server, instead of failing as interrupted."""

from __future__ import annotations

import signal
from pathlib import Path

from service.jobs.store import JobStore, sqlite_url
from tests.e2e.test_serve_kernel_stop import wait_for
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


def stored_job(data_dir: Path, job_id: str) -> tuple[str, str | None]:
    """Return the status and the worker of job ``job_id`` in the SQLite job
    store of ``data_dir``."""
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        job = store.get(job_id)
        return job.status, job.worker
    finally:
        store.close()


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
