"""A SIGTERM, Ctrl-C or SIGHUP that reaches ``rnn-forecast serve`` during the
app's start-up, after the inference kernel has loaded, stops the server
before it serves. It exits with 143, 130 or 129 and does not log "listening
on". A queued job stays queued, because the job runner does not start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.cli import SIGHUP_STATUS, SIGINT_STATUS, SIGTERM_STATUS
from service.jobs.kinds import get_kind
from service.jobs.store import JobStore, sqlite_url
from tests.conftest import ROOT, TINY, free_port
from tests.e2e.test_serve_kernel_stop import wait_for

# max seconds from the signal to the exit, with room for a busy machine
EXIT_SECONDS = 5.0

# A ``sitecustomize`` module that pauses the app's start-up in its upload
# sweep: the sweep writes $PAUSED_FILE, then waits up to 60 s until the
# server's signal handler has recorded the stop, and runs after that. The
# app's lifespan calls the sweep after it has loaded the inference kernel
# and before it starts the job runner.
PAUSE_HOOK = """\
import os
import time
from pathlib import Path

from service import series_orphans
from service.startup_stop import StartupStop

_sweep = series_orphans.sweep_orphans
_request = StartupStop.request
_requested = False


def _request_and_note(self):
    global _requested
    _request(self)
    _requested = True


def _sweep_after_stop(*args, **kwargs):
    Path(os.environ["PAUSED_FILE"]).write_text("paused")
    deadline = time.monotonic() + 60
    while not _requested and time.monotonic() < deadline:
        time.sleep(0.02)
    return _sweep(*args, **kwargs)


StartupStop.request = _request_and_note
series_orphans.sweep_orphans = _sweep_after_stop
"""


def queue_job(data_dir: Path) -> str:
    """Store a queued training job in the SQLite job store of ``data_dir``
    and return its id."""
    params = get_kind("train").params_model.model_validate({**TINY, "name": "queued"})
    data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        return store.create("train", params.model_dump(mode="json")).id
    finally:
        store.close()


def start_hooked_serve(tmp_path: Path, hook: str, log_path: Path) -> subprocess.Popen:
    """Start ``rnn-forecast serve`` with the in-host runner, the registry and
    data folder under ``tmp_path`` and ``hook`` as its ``sitecustomize``
    module; it writes its log to ``log_path`` and reads $PAUSED_FILE as
    ``tmp_path / "paused"``. Another call with the same ``tmp_path`` starts
    a server on the same registry and data folder."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(hook)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT)]),
        "PAUSED_FILE": str(tmp_path / "paused"),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
        "RNN_FORECAST_JOB_STORE": "",
        "RNN_FORECAST_RUNNER": "inhost",
    }
    command = [sys.executable, "-m", "models.cli", "serve", "--port", str(free_port())]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)


def job_status(data_dir: Path, job_id: str) -> str:
    """Return the status of job ``job_id`` in the job store of ``data_dir``."""
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        return store.get(job_id).status
    finally:
        store.close()


@pytest.mark.parametrize(
    ("stop", "status"),
    [
        (signal.SIGTERM, SIGTERM_STATUS),
        (signal.SIGINT, SIGINT_STATUS),
        (signal.SIGHUP, SIGHUP_STATUS),
    ],
    ids=["sigterm", "ctrl-c", "sighup"],
)
def test_signal_in_startup_stops_serve(
    tmp_path: Path, stop: signal.Signals, status: int
) -> None:
    paused = tmp_path / "paused"
    data_dir = tmp_path / "data"
    job_id = queue_job(data_dir)
    log_path = tmp_path / "serve.log"
    server = start_hooked_serve(tmp_path, PAUSE_HOOK, log_path)
    try:
        wait_for(paused.is_file, "start-up pause", timeout=120.0)
        signalled = time.monotonic()
        server.send_signal(stop)
        server.wait(timeout=60)
        seconds = time.monotonic() - signalled
    finally:
        server.kill()
        server.wait()

    output = log_path.read_text()
    assert server.returncode == status, output
    assert seconds < EXIT_SECONDS, output
    assert "listening on" not in output
    assert "Traceback" not in output
    assert ("SIGHUP received" in output) == (stop == signal.SIGHUP), output
    assert job_status(data_dir, job_id) == "queued", output
