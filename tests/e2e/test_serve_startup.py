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


def test_failed_startup_logs_no_listening_line(tmp_path: Path) -> None:
    # a folder name of 300 bytes, over the 255 that Linux file systems allow,
    # fails the registry's first read in the app's start-up
    registry = tmp_path / ("r" * 300)
    env = {
        **os.environ,
        "RNN_FORECAST_REGISTRY": str(registry),
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
    assert "File name too long" in output
    assert "Application startup failed" in output
    assert "listening on" not in output
