"""A stop of the in-host runner while its fork server still imports torch
returns without waiting for the imports, and the job that was starting goes
back to queued. A stop whose dispatcher step does not return gives up on it
after ``STOP_JOIN_SECONDS``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from service.jobs import inhost
from service.jobs.inhost import PRELOAD_MODULES, InHostRunner
from service.settings import Settings
from tests.conftest import ROOT
from tests.e2e.test_serve_startup_stop import queue_job
from tests.service.jobs_support import open_job_store

# Starts an in-host runner on the store of $RNN_FORECAST_DATA_DIR, waits
# until it has claimed the queued job $JOB_ID, stops it, and prints the seconds that
# ``stop`` took and the job's status after it. The fork server of this fresh
# process starts with that claim, so the stop comes while it imports.
STOP_AFTER_CLAIM = """\
import json
import os
import time

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
began = time.monotonic()
runner.stop()
seconds = time.monotonic() - began
job = store.get(job_id)
print(json.dumps({
    "claimed_status": claimed.status,
    "stop_seconds": seconds,
    "status": job.status,
    "worker": job.worker,
    "error": job.error,
}))
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


def test_stop_during_fork_server_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    job_id = queue_job(data_dir)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(data_dir),
        "RNN_FORECAST_JOB_STORE": "",
        "RNN_FORECAST_RUNNER": "inhost",
        "JOB_ID": job_id,
    }

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
