"""The ``rnn-forecast`` console script ends on a Ctrl-C during its first
imports with one line and status 130, as it does later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from models.exit_status import SIGINT_STATUS
from tests.conftest import ROOT
from tests.e2e.test_serve_kernel_stop import wait_for

# The console script that ``pip install -e .`` writes next to the interpreter.
CONSOLE_SCRIPT = Path(sys.executable).parent / "rnn-forecast"

# A ``sitecustomize`` module that pauses the process in its first import of
# pydantic, which ``models.cli`` imports at its top: the import writes
# $PAUSED_FILE, then sleeps for 60 s, so the Ctrl-C arrives in it.
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


def test_ctrl_c_during_imports_prints_one_line(tmp_path: Path) -> None:
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
        [str(CONSOLE_SCRIPT), "models", "list"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(paused.is_file, "pause in the pydantic import")
        command.send_signal(signal.SIGINT)
        stdout, stderr = command.communicate(timeout=30)
    finally:
        command.kill()
        command.wait()

    assert command.returncode == SIGINT_STATUS, stderr
    assert stderr == "error: interrupted\n"
    assert stdout == ""
