"""The serving path stays free of slow imports: a fresh process that imports
the app, or that runs ``rnn-forecast serve`` and returns its first forecasts,
never imports pandas, exchange-calendars or matplotlib."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from models.registry import Registry
from tests.conftest import ROOT, free_port

HEAVY_MODULES = ("pandas", "exchange_calendars", "matplotlib")
FORECAST_PATH = "/v1/models/nflx/forecast"

IMPORT_APP = f"""
import sys
import service.app
print(sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules))
"""

# ``rnn-forecast serve`` on the port argv[2] that writes the heavy modules it
# loaded to the file argv[1] once SIGTERM has stopped it. uvicorn shuts down
# gracefully and ``serve`` then returns its exit status.
SERVE_AND_REPORT = f"""
import json
import sys

from models.cli import main

status = main(["serve", "--port", sys.argv[2]])
loaded = sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules)
with open(sys.argv[1], "w") as handle:
    json.dump(loaded, handle)
sys.exit(status)
"""


class ReportingServer:
    """A ``rnn-forecast serve`` subprocess that reports its heavy imports."""

    def __init__(self, registry: Path, folder: Path) -> None:
        self.report = folder / "heavy-modules.json"
        self.log = folder / "server.log"
        env = {
            **os.environ,
            "RNN_FORECAST_REGISTRY": str(registry),
            "RNN_FORECAST_DATA_DIR": str(folder / "data"),
        }
        port = str(free_port())
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVE_AND_REPORT, str(self.report), port],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if self.client.get("/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout} s")

    def stop(self) -> list[str]:
        """Stop the server gracefully and return the heavy modules it loaded."""
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        assert self.report.is_file(), f"no report:\n{self.log.read_text()}"
        loaded: list[str] = json.loads(self.report.read_text())
        return loaded


@pytest.fixture
def reporting_server(trained_registry: Registry) -> Iterator[ReportingServer]:
    with tempfile.TemporaryDirectory(prefix="rnn-forecast-imports-") as folder:
        server = ReportingServer(trained_registry.root, Path(folder))
        try:
            server.wait_ready()
            yield server
        finally:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()


def test_import_app_skips_heavy_modules() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_APP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_first_forecasts_skip_heavy_modules(
    reporting_server: ReportingServer, trained_registry: Registry
) -> None:
    closes = trained_registry.metadata("nflx", 1)["tail"]["close"]
    # the history ends on Monday 2019-12-23; Christmas falls on the Wednesday
    dates = weekdays_until("2019-12-23", len(closes))
    rows = [{"date": d, "close": c} for d, c in zip(dates, closes, strict=True)]

    by_tail = reporting_server.client.post(FORECAST_PATH, json={"horizon": 5})
    by_history = reporting_server.client.post(
        FORECAST_PATH, json={"horizon": 5, "history": rows}
    )
    loaded = reporting_server.stop()

    assert by_tail.status_code == 200, by_tail.text
    assert by_history.status_code == 200, by_history.text
    assert loaded == []
    assert [point["date"] for point in by_tail.json()["forecast"]] == [
        "2020-12-14",
        "2020-12-15",
        "2020-12-16",
        "2020-12-17",
        "2020-12-18",
    ]
    assert [point["date"] for point in by_history.json()["forecast"]] == [
        "2019-12-24",
        "2019-12-26",
        "2019-12-27",
        "2019-12-30",
        "2019-12-31",
    ]


def weekdays_until(last: str, count: int) -> list[str]:
    """Return ``count`` consecutive Monday-to-Friday ISO dates ending on ``last``."""
    end = np.datetime64(last, "D")
    days = np.arange(end - np.timedelta64(2 * count, "D"), end + 1)
    return [str(day) for day in days[np.is_busday(days)][-count:]]
