"""Shared fixtures: tiny trained registries and a real uvicorn server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.ports import PORTS_VARIABLE, free_port, worker_range
from models.registry import Registry
from models.spec import BundledData, SyntheticData, TrainingSpec

ROOT = Path(__file__).resolve().parents[1]

# The fused GRU extension that GRU training builds, and any download cache,
# go to a folder of this test run instead of the user's ~/.cache/rnn-forecast.
# Servers and commands started by the tests inherit the setting.
_OWN_CACHE = "RNN_FORECAST_CACHE_DIR" not in os.environ
if _OWN_CACHE:
    os.environ["RNN_FORECAST_CACHE_DIR"] = tempfile.mkdtemp(prefix="rnn-cache-")


def _ignore_hangups(signum: int, frame: object) -> None:
    """Do nothing on SIGHUP."""


# Under nohup this process starts with SIGHUP ignored, and every process it
# starts would inherit that, so the tests of SIGHUP handling would find it
# ignored. A handler keeps this process alive on a hangup as nohup does,
# and exec resets a handled signal to its default action in the children.
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, _ignore_hangups)

# A command started with `&` by a shell without job control starts with
# SIGINT ignored, and Python then leaves it ignored: the tests that send
# Ctrl-C to this process or to the commands it starts would find it
# ignored. Python's own handler restores what an interactive start has.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ``make test`` runs the tests in two processes (pytest-xdist). Each takes
# its own part of the port range, when one is set.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and os.environ.get(PORTS_VARIABLE):
    os.environ[PORTS_VARIABLE] = worker_range(
        os.environ[PORTS_VARIABLE],
        int(_WORKER.removeprefix("gw")),
        int(os.environ["PYTEST_XDIST_WORKER_COUNT"]),
    )


# the files whose tests run one after another in one test process
CELERY_TESTS = "test_celery*.py"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Give pytest-xdist a scheduler that runs the Celery tests together in
    one process and hands out the other tests as its default one does."""
    from xdist.scheduler import LoadScheduling

    class CeleryTogether(LoadScheduling):
        """A scheduler that sends every Celery test to the first process.

        The Celery tests share one Redis database, and their workers reply to
        control broadcasts, so two processes' Celery tests would receive each
        other's messages. Every other test is scheduled by its position in
        the collection, as ``LoadScheduling`` does. Unlike a scheduler keyed
        by test id, this runs every item of an id that several items share,
        as schemathesis's items of one test do."""

        celery_sent = False

        # NOTE: ``_send_tests`` is internal to pytest-xdist (read in 3.8.0).
        # Should a release rename it, the Celery tests spread over both
        # processes again and fail on each other's messages.
        def _send_tests(self, node: Any, num: int) -> None:
            if not self.celery_sent:
                self.celery_sent = True
                celery = [i for i in self.pending if _is_celery(self.collection[i])]
                if celery:
                    sent = set(celery)
                    self.pending[:] = [i for i in self.pending if i not in sent]
                    self.node2pending[node].extend(celery)
                    node.send_runtest_some(celery)
                    return
            super()._send_tests(node, num)

    return CeleryTogether(config, log)


def _is_celery(nodeid: str) -> bool:
    """Return whether the test ``nodeid`` is in one of the ``CELERY_TESTS``
    files."""
    return Path(nodeid.split("::", 1)[0]).match(CELERY_TESTS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Delete the run's cache folder if this file created it."""
    if _OWN_CACHE:
        shutil.rmtree(os.environ["RNN_FORECAST_CACHE_DIR"], ignore_errors=True)


TINY = {
    "hidden_size": 8,
    "num_layers": 1,
    "lookback": 20,
    "horizon": 5,
    "epochs": 2,
    "batch_size": 128,
}


def copy_version(source: Path, target: Path) -> Path:
    """Copy the version folder ``source`` to ``target``, a
    ``<name>/versions/<N>`` folder, and return ``target``.

    The registry rejects metadata that names another folder, so the copy's
    name and version are set to ``target``'s."""
    shutil.copytree(source, target)
    path = target / "metadata.json"
    meta = json.loads(path.read_text())
    meta.update(name=target.parent.parent.name, version=int(target.name))
    path.write_text(json.dumps(meta))
    return target


def tiny_spec(**overrides: object) -> TrainingSpec:
    """A spec that trains in about a second on the bundled data."""
    return TrainingSpec.model_validate({**TINY, **overrides})


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A registry with ``nflx`` version 1 (bundled NFLX, LSTM) and ``sine``
    version 1 (synthetic, GRU, price target)."""
    from models.pipeline import train_and_register

    registry = Registry(tmp_path_factory.mktemp("registry"))
    train_and_register(tiny_spec(name="nflx", data=BundledData()), registry)
    train_and_register(
        tiny_spec(
            name="sine",
            cell="gru",
            target="price",
            data=SyntheticData(generator="noisy_sine", length=400),
        ),
        registry,
    )
    return registry


# the names of ``cell_registry``'s versions: an LSTM, a GRU and an RNN
CELL_MODELS = ("nflx", "sine", "rnn")


@pytest.fixture(scope="session")
def cell_registry(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Registry:
    """A copy of ``trained_registry`` (the ``nflx`` LSTM on the bundled NFLX
    closes, 6 decimals, and the ``sine`` GRU with a price target) with an
    ``rnn`` version added, trained on noisy-sine closes near 10 written with
    15 to 17 significant digits. All three have calibrated intervals."""
    from models.pipeline import train_and_register

    root = tmp_path_factory.mktemp("cell-registry") / "registry"
    shutil.copytree(trained_registry.root, root)
    registry = Registry(root)
    sine = SyntheticData(generator="noisy_sine", length=400, level=10.0)
    train_and_register(tiny_spec(name="rnn", cell="rnn", data=sine), registry)
    return registry


class LiveServer:
    """A ``rnn-forecast serve`` subprocess on 127.0.0.1 and a client for it."""

    def __init__(self, registry: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {
            **os.environ,
            "RNN_FORECAST_REGISTRY": str(registry),
            # job store and uploads of this server alone, not the repo's ./var
            "RNN_FORECAST_DATA_DIR": tempfile.mkdtemp(prefix="rnn-forecast-data-"),
            **(env or {}),
        }
        # the server's logs go to a file because an unread pipe would block
        # the server once its buffer is full of access log lines
        handle, log_name = tempfile.mkstemp(prefix="rnn-forecast-server-")
        os.close(handle)
        self.log_path = Path(log_name)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "models.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if self.client.get("/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server on {self.url} did not start in {timeout} s")

    def output(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """Stop the server and return its whole output."""
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        output = self.output()
        self.log_path.unlink(missing_ok=True)
        return output


@pytest.fixture(scope="session")
def live_server(trained_registry: Registry) -> Iterator[LiveServer]:
    server = LiveServer(trained_registry.root)
    yield server
    server.stop()
