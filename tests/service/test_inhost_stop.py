"""A stop of the in-host runner while its fork server still imports torch
returns without waiting for the imports, and the job that was starting goes
back to queued. The stop returns once the killed fork server has exited, so
a runner started next in the same process runs that job. A stop whose
dispatcher step does not return gives up on it after
``STOP_JOIN_SECONDS``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from models.processes import pid_alive
from service.jobs import inhost
from service.jobs.inhost import PRELOAD_MODULES, InHostRunner, wait_exited
from service.jobs.store import QUEUED, RUNNING
from service.settings import Settings
from tests.conftest import ROOT
from tests.e2e.test_serve_startup_stop import queue_job
from tests.service.jobs_support import open_job_store

# Starts an in-host runner on the store of $RNN_FORECAST_DATA_DIR, waits
# until it has claimed the queued job $JOB_ID and stops it. It prints the seconds
# that ``stop`` took, whether the fork server still ran after it, and the job's
# status after it. The fork server of this fresh process starts with that
# claim, so the stop comes while it imports. With $RESTART set, a second runner
# then starts in this process, and the job's status once it ends is printed too.
STOP_AFTER_CLAIM = """\
import json
import os
import time
from multiprocessing import forkserver

from models.processes import pid_alive
from service.jobs.inhost import InHostRunner
from service.jobs.store import RUNNING, open_store
from service.settings import Settings

settings = Settings()
store = open_store(settings)
job_id = os.environ["JOB_ID"]
runner = InHostRunner(settings, store)
runner.start()
deadline = time.monotonic() + 120
while store.get(job_id).status != RUNNING and time.monotonic() < deadline:
    time.sleep(0.01)
claimed = store.get(job_id)
server = forkserver._forkserver._forkserver_pid
began = time.monotonic()
runner.stop()
seconds = time.monotonic() - began
server_alive = server is not None and pid_alive(server)
job = store.get(job_id)
outcome = {
    "claimed_status": claimed.status,
    "stop_seconds": seconds,
    "server_alive": server_alive,
    "status": job.status,
    "worker": job.worker,
    "error": job.error,
}
if os.environ.get("RESTART"):
    second = InHostRunner(settings, store)
    second.start()
    deadline = time.monotonic() + 240
    while not store.get(job_id).finished and time.monotonic() < deadline:
        time.sleep(0.05)
    second.stop()
    ended = store.get(job_id)
    outcome["final_status"] = ended.status
    outcome["final_error"] = ended.error
print(json.dumps(outcome))
"""

# Imports what the fork server imports, and prints the seconds it took.
TIME_PRELOAD = f"""\
import importlib
import time

began = time.monotonic()
for name in {PRELOAD_MODULES!r}:
    importlib.import_module(name)
print(time.monotonic() - began)
"""


def run_python(code: str, env: dict[str, str]) -> str:
    """Run ``code`` in a new Python process and return its standard output."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def runner_env(tmp_path: Path, job_id: str) -> dict[str, str]:
    """Return the environment of a runner script on the registry and data
    folder under ``tmp_path`` that stops while it starts ``job_id``."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
        "RNN_FORECAST_JOB_STORE": "",
        "RNN_FORECAST_RUNNER": "inhost",
        "JOB_ID": job_id,
    }


def test_stop_during_fork_server_start(tmp_path: Path) -> None:
    env = runner_env(tmp_path, queue_job(tmp_path / "data"))

    stopped = json.loads(run_python(STOP_AFTER_CLAIM, env).splitlines()[-1])
    preload_seconds = float(run_python(TIME_PRELOAD, env).splitlines()[-1])

    assert stopped["claimed_status"] == "running", stopped
    assert stopped["status"] == "queued", stopped
    assert stopped["worker"] is None
    assert stopped["error"] is None
    # a stop that waited for the fork server would take about the import time
    assert stopped["stop_seconds"] < preload_seconds / 2, (stopped, preload_seconds)


def test_stop_gives_up_on_stuck_dispatcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inhost, "STOP_JOIN_SECONDS", 0.5)
    entered = threading.Event()
    release = threading.Event()

    def stuck_claim_next(worker: str, *, started: bool = True) -> None:
        # a dispatcher step that does not return, such as a blocked query
        entered.set()
        release.wait(300)

    with open_job_store("sqlite", tmp_path) as store:
        monkeypatch.setattr(store, "claim_next", stuck_claim_next)
        settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path)
        runner = InHostRunner(settings, store)
        runner.start()
        assert entered.wait(60)
        stopper = threading.Thread(target=runner.stop, daemon=True)
        stopper.start()
        stopper.join(60)
        stop_returned = not stopper.is_alive()
        release.set()
        stopper.join(60)
        runner._thread.join(60)

    assert stop_returned
    assert not runner._thread.is_alive()


def test_runner_started_after_stop_runs_requeued_job(tmp_path: Path) -> None:
    env = runner_env(tmp_path, queue_job(tmp_path / "data"))

    outcome = json.loads(
        run_python(STOP_AFTER_CLAIM, {**env, "RESTART": "1"}).splitlines()[-1]
    )

    assert outcome["server_alive"] is False, outcome
    assert outcome["status"] == "queued", outcome
    assert outcome["final_status"] == "succeeded", outcome


class StartingProcess:
    """A child whose start waits, as the first start does while the fork
    server imports, and fails once the server closes its sockets."""

    closed = threading.Event()

    def __init__(self, **_kwargs: object) -> None:
        self.pid = None

    def start(self) -> None:
        self.closed.wait(60)
        raise EOFError("the fork server closed the connection")


def test_stop_waits_for_killed_fork_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = subprocess.Popen(["sleep", "30"])
    StartingProcess.closed.clear()

    def kill_fork_server() -> int:
        # A killed server closes its sockets before it has exited, so the
        # start fails while the process still runs. The timer stretches
        # that gap to 0.3 s.
        if not StartingProcess.closed.is_set():
            StartingProcess.closed.set()
            threading.Timer(0.3, server.kill).start()
        return server.pid

    monkeypatch.setattr(inhost, "_kill_fork_server", kill_fork_server)
    try:
        with open_job_store("sqlite", tmp_path) as store:
            job = store.create("train", {})
            settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path)
            runner = InHostRunner(settings, store)
            monkeypatch.setattr(runner._mp, "Process", StartingProcess)
            runner.start()
            deadline = time.monotonic() + 60
            while store.get(job.id).status != RUNNING:
                assert time.monotonic() < deadline, "the runner claimed no job"
                time.sleep(0.01)

            runner.stop()
            alive_after_stop = pid_alive(server.pid)
            status = store.get(job.id).status
    finally:
        server.kill()
        server.wait(10)

    assert not alive_after_stop
    assert status == QUEUED


def test_wait_exited_waits_for_a_killed_process() -> None:
    child = subprocess.Popen(["sleep", "30"])
    # a kill that lands 0.3 s later, as a slow exit would
    timer = threading.Timer(0.3, os.kill, (child.pid, signal.SIGKILL))
    began = time.monotonic()
    timer.start()
    try:
        exited = wait_exited(child.pid, 10)
        waited = time.monotonic() - began
    finally:
        timer.cancel()
        child.kill()

    assert exited
    assert waited >= 0.3
    # the exited child was left for its parent to reap
    assert child.wait(10) == -signal.SIGKILL


def test_wait_exited_gives_up_on_a_running_process() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        began = time.monotonic()
        exited = wait_exited(child.pid, 0.2)
        waited = time.monotonic() - began
    finally:
        child.kill()
        child.wait(10)

    assert not exited
    assert 0.2 <= waited < 5
