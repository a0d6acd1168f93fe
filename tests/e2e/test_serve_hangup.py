"""``rnn-forecast serve`` on SIGHUP, which a process gets when its terminal
closes: a graceful shutdown as on SIGTERM, a log line and exit status 129.
A server that inherited SIGHUP as ignored, as under ``nohup``, keeps
serving, and a closed terminal does not end the in-host runner's jobs
before the shutdown stops them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from models.exit_status import SIGHUP_STATUS
from service.jobs.store import JobStore, sqlite_url
from tests.conftest import ROOT, free_port
from tests.e2e.test_serve_kernel_stop import wait_for
from tests.e2e.test_serve_startup_stop import queue_job

HANGUP_LINE = "SIGHUP received; shutting down as on SIGTERM"

# A ``sitecustomize`` module that makes a job's worker process write
# $PAUSED_FILE and sleep for 60 s in place of the job, so the job is running
# when the signal comes. Only worker processes call ``execute_job``.
RUNNING_JOB_HOOK = """\
import os
import time
from pathlib import Path

from service.jobs import inhost


def _paused_execute_job(*args, **kwargs):
    Path(os.environ["PAUSED_FILE"]).write_text("paused")
    time.sleep(60)


inhost.execute_job = _paused_execute_job
"""


def start_server(
    tmp_path: Path,
    port: int,
    *,
    ignore_hangup: bool = False,
    hook: str | None = None,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``rnn-forecast serve`` on ``port`` of 127.0.0.1 with the in-host
    runner and the SQLite job store of ``tmp_path/data``; the log goes to
    ``tmp_path/serve.log``. ``hook`` is loaded as ``sitecustomize`` with
    ``PAUSED_FILE`` set to ``tmp_path/paused``, and ``new_session`` starts
    the server in a process group of its own."""
    env = {
        **os.environ,
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
        "RNN_FORECAST_JOB_STORE": "",
        "RNN_FORECAST_RUNNER": "inhost",
    }
    if hook is not None:
        hooks = tmp_path / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(hook)
        env["PYTHONPATH"] = os.pathsep.join([str(hooks), str(ROOT)])
        env["PAUSED_FILE"] = str(tmp_path / "paused")

    command = [sys.executable, "-m", "models.cli", "serve", "--port", str(port)]

    # the child inherits an ignored SIGHUP, as nohup passes it on
    hangup = signal.SIG_IGN if ignore_hangup else signal.SIG_DFL
    previous = signal.signal(signal.SIGHUP, hangup)
    try:
        with open(tmp_path / "serve.log", "wb") as log:
            return subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=new_session,
            )
    finally:
        signal.signal(signal.SIGHUP, previous)


def wait_listening(server: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until ``server`` logs "listening on"; kill it when it does not."""
    try:
        wait_for(lambda: "listening on" in log_path.read_text(), "listening line", 120)
    except BaseException:
        server.kill()
        server.wait()
        raise


def stop_server(server: subprocess.Popen[bytes], stop: signal.Signals) -> None:
    """Send ``stop`` to ``server``, wait up to 60 s for its exit, and kill
    it when it is still running then."""
    try:
        if server.poll() is None:
            server.send_signal(stop)
        server.wait(timeout=60)
    finally:
        server.kill()
        server.wait()


def test_sighup_shuts_down_gracefully(tmp_path: Path) -> None:
    server = start_server(tmp_path, free_port())
    log_path = tmp_path / "serve.log"
    wait_listening(server, log_path)

    stop_server(server, signal.SIGHUP)

    output = log_path.read_text()
    assert server.returncode == SIGHUP_STATUS, output
    assert HANGUP_LINE in output
    assert "in-host job runner stopped" in output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def test_ignored_sighup_keeps_serving(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, port, ignore_hangup=True)
    log_path = tmp_path / "serve.log"
    wait_listening(server, log_path)
    try:
        server.send_signal(signal.SIGHUP)
        # a handled SIGHUP closes the listening socket well within this
        time.sleep(1.0)
        health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=30)
        running = server.poll() is None
    finally:
        stop_server(server, signal.SIGTERM)

    output = log_path.read_text()
    assert health.status_code == 200, output
    assert running, output
    assert server.returncode == 0, output
    assert HANGUP_LINE not in output


def test_closed_terminal_fails_job_as_shutdown(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    job_id = queue_job(data_dir)
    # a closed terminal sends SIGHUP to every process of its foreground
    # process group, which is the server's own group here
    server = start_server(
        tmp_path, free_port(), hook=RUNNING_JOB_HOOK, new_session=True
    )
    try:
        wait_for((tmp_path / "paused").is_file, "pause in the running job", 120)
        os.killpg(server.pid, signal.SIGHUP)
        server.wait(timeout=60)
    finally:
        stop_server(server, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)

    output = (tmp_path / "serve.log").read_text()
    store = JobStore(sqlite_url(data_dir / "jobs.db"))
    try:
        job = store.get(job_id)
    finally:
        store.close()
    assert server.returncode == SIGHUP_STATUS, output
    assert job.status == "failed", output
    assert job.error is not None
    assert job.error.startswith("interrupted: the API shut down"), job.error
