"""``rnn-forecast``, as the console script and as ``python -m models.cli``,
ends on a Ctrl-C, SIGTERM or SIGHUP during its first imports with one line
and the signal's status (130, 143 or 129), as it does later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from models.exit_status import SIGHUP_STATUS, SIGINT_STATUS, SIGTERM_STATUS
from tests.conftest import ROOT
from tests.e2e.test_serve_kernel_stop import wait_for

# The console script that ``pip install -e .`` writes next to the interpreter.
CONSOLE_SCRIPT = Path(sys.executable).parent / "rnn-forecast"

# A ``sitecustomize`` module that pauses the process in its first import of
# pydantic, which ``models.cli`` imports at its top: the import writes
# $PAUSED_FILE, then sleeps for 60 s, so the signal arrives in it.
PAUSE_HOOK = """\
import os
import sys
import time
from pathlib import Path


class _PauseImport:
    def find_spec(self, name, path=None, target=None):
        if name != "pydantic":
            return None
        sys.meta_path.remove(self)
        Path(os.environ["PAUSED_FILE"]).write_text("paused")
        time.sleep(60)
        return None


sys.meta_path.insert(0, _PauseImport())
"""


# each stop signal, with its exit status and the line on stderr
STOPS = [
    (signal.SIGINT, SIGINT_STATUS, "error: interrupted\n"),
    (signal.SIGTERM, SIGTERM_STATUS, "error: terminated\n"),
    (signal.SIGHUP, SIGHUP_STATUS, "error: terminated by SIGHUP\n"),
]
LAUNCHERS = {
    "console-script": [str(CONSOLE_SCRIPT)],
    "python-m": [sys.executable, "-m", "models.cli"],
}


@pytest.mark.parametrize("launcher", LAUNCHERS.values(), ids=LAUNCHERS.keys())
@pytest.mark.parametrize(
    ("stop", "status", "line"), STOPS, ids=[stop[0].name for stop in STOPS]
)
def test_signal_during_imports_prints_one_line(
    tmp_path: Path, launcher: list[str], stop: signal.Signals, status: int, line: str
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(PAUSE_HOOK)
    paused = tmp_path / "paused"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT)]),
        "PAUSED_FILE": str(paused),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
    }

    command = subprocess.Popen(
        [*launcher, "models", "list"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(paused.is_file, "pause in the pydantic import")
        command.send_signal(stop)
        stdout, stderr = command.communicate(timeout=30)
    finally:
        command.kill()
        command.wait()

    assert command.returncode == status, stderr
    assert stderr == line
    assert stdout == ""
