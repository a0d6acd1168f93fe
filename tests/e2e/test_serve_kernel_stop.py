"""A SIGTERM, Ctrl-C or SIGHUP that reaches ``rnn-forecast serve`` while the
inference kernel compiles ends the compiler, and the command exits at once
without leaving a partial library in the cache folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from models.cli import SIGHUP_STATUS, SIGINT_STATUS, SIGTERM_STATUS
from models.nn.infer_kernel_build import SWITCH
from tests.conftest import ROOT, free_port

# seconds the fake compiler sleeps, far longer than the exit may take
COMPILER_SECONDS = 60
# max seconds from the signal to the exit, with room for a busy machine
EXIT_SECONDS = 5.0

# A compiler that writes part of its output file (the kernel build passes
# "-o FILE"), writes its process id to $STARTED_FILE, and sleeps.
SLOW_COMPILER = f"""#!/bin/sh
out=""
while [ $# -gt 0 ]; do
  if [ "$1" = "-o" ]; then out="$2"; fi
  shift
done
printf 'partial' > "$out"
echo $$ > "$STARTED_FILE"
exec sleep {COMPILER_SECONDS}
"""


def slow_compiler(folder: Path) -> Path:
    """Write the fake compiler into ``folder`` and return its path."""
    path = folder / "slow-c++"
    path.write_text(SLOW_COMPILER)
    path.chmod(0o755)
    return path


def wait_for(check: Callable[[], object], event: str, timeout: float = 60.0) -> None:
    """Wait until ``check()`` is true; raise ``TimeoutError`` naming ``event``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise TimeoutError(f"waiting for the {event} timed out after {timeout} s")


def running(pid: int) -> bool:
    """Return whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def end_compiler(started: Path) -> None:
    """Kill the fake compiler whose id ``started`` records, if it runs."""
    text = started.read_text() if started.is_file() else ""
    if text.strip() and running(int(text)):
        os.kill(int(text), signal.SIGKILL)


@pytest.mark.parametrize(
    ("stop", "status", "moment"),
    [
        (signal.SIGTERM, SIGTERM_STATUS, "compiler start"),
        (signal.SIGINT, SIGINT_STATUS, "compiler start"),
        (signal.SIGTERM, SIGTERM_STATUS, "kernel wait"),
        (signal.SIGINT, SIGINT_STATUS, "kernel wait"),
        (signal.SIGHUP, SIGHUP_STATUS, "compiler start"),
        (signal.SIGHUP, SIGHUP_STATUS, "kernel wait"),
    ],
    ids=[
        "sigterm-at-compiler-start",
        "ctrl-c-at-compiler-start",
        "sigterm-in-kernel-wait",
        "ctrl-c-in-kernel-wait",
        "sighup-at-compiler-start",
        "sighup-in-kernel-wait",
    ],
)
def test_signal_stops_kernel_build(
    tmp_path: Path, stop: signal.Signals, status: int, moment: str
) -> None:
    cache = tmp_path / "cache"
    started = tmp_path / "compiler.pid"
    log_path = tmp_path / "serve.log"
    env = {
        **os.environ,
        "CXX": str(slow_compiler(tmp_path)),
        "STARTED_FILE": str(started),
        "RNN_FORECAST_CACHE_DIR": str(cache),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
        # a new SQLite job store, whose schema upgrade logs the job store line
        "RNN_FORECAST_JOB_STORE": "",
    }
    env.pop(SWITCH, None)
    command = [sys.executable, "-m", "models.cli", "serve", "--port", str(free_port())]

    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: started.is_file() and started.read_text(), "compiler start")
        compiler = int(started.read_text())
        if moment == "kernel wait":
            # The job store's line is the last before serve waits for the build,
            # which the signal then finds a second later.
            wait_for(lambda: "job store" in log_path.read_text(), "job store line")
            time.sleep(1.0)
        signalled = time.monotonic()
        server.send_signal(stop)
        server.wait(timeout=COMPILER_SECONDS / 2)
        seconds = time.monotonic() - signalled
    finally:
        server.kill()
        server.wait()
        end_compiler(started)

    output = log_path.read_text()
    assert server.returncode == status, output
    assert seconds < EXIT_SECONDS, output
    assert not running(compiler)
    assert [path.name for path in cache.rglob("*") if path.is_file()] == []
