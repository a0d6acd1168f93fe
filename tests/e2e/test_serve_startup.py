"""``rnn-forecast serve`` logs "listening on" only once the app's start-up
has completed and the server accepts connections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, LiveServer, free_port


def test_listening_line_follows_startup(tmp_path: Path) -> None:
    env = {"RNN_FORECAST_DATA_DIR": str(tmp_path / "data")}
    server = LiveServer(tmp_path / "registry", env=env)
    try:
        answered = server.client.get("/v1/health").status_code
    finally:
        output = server.stop()

    assert answered == 200
    listening = output.find(f"listening on http://127.0.0.1:{server.port}")
    assert listening != -1, output
    assert output.find("Application startup complete.") < listening


# A ``sitecustomize`` module whose upload sweep fails, as a disk error would,
# in the app's start-up: every option is valid, so the command line's own
# checks pass and only the start-up fails.
FAILING_SWEEP_HOOK = """\
from service import series_orphans


def _failing_sweep(*args, **kwargs):
    raise OSError(5, "Input/output error")


series_orphans.sweep_orphans = _failing_sweep
"""


def test_failed_startup_logs_no_listening_line(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(FAILING_SWEEP_HOOK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT)]),
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
    }

    result = subprocess.run(
        [sys.executable, "-m", "models.cli", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Input/output error" in output
    assert "Application startup failed" in output
    assert "listening on" not in output
