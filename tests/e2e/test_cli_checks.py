"""Command-line checks that run before any work: ports, settings, aliases,
output paths, and the wording of spec errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from service.jobs.schema import VERSION_TABLE
from service.jobs.store import QUEUED, JobStore, sqlite_url
from service.settings import Settings
from tests.conftest import free_port
from tests.e2e.test_cli import run_cli as run_on_registry


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``rnn-forecast`` with a registry and data folder in ``tmp_path``.
    A ``serve`` that gets past its checks listens on a free port, not on
    8000, which a server of the user or of another test process may hold."""
    data = {
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
        "RNN_FORECAST_PORT": str(free_port()),
        **(env or {}),
    }
    return run_on_registry(tmp_path / "registry", *args, env=data)


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_serve_rejects_invalid_port(tmp_path: Path, port: str) -> None:
    result = run_cli(tmp_path, "serve", "--port", port)

    assert result.returncode == 2
    assert "argument --port" in result.stderr
    assert "use a port from 1 to 65535" in result.stderr


def test_serve_names_invalid_port_variable(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", env={"RNN_FORECAST_PORT": "abc"})

    assert result.returncode == 2
    assert "RNN_FORECAST_PORT='abc'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["serve"], ["train", "--serve"]])
def test_serve_names_bracketed_host_variable(
    tmp_path: Path, command: list[str]
) -> None:
    result = run_cli(tmp_path, *command, env={"RNN_FORECAST_HOST": "[::1]"})

    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: RNN_FORECAST_HOST: the host '[::1]' is in brackets"
    ), result.stderr
    assert "such as ::1" in result.stderr
    assert "--host" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "registry").exists()


def test_busy_port_leaves_queued_job(tmp_path: Path) -> None:
    """Check that a server whose port is taken exits before its job runner
    could claim a queued job of the store."""
    store = JobStore(sqlite_url(tmp_path / "data" / "jobs.db"))
    job = store.create("train", {"epochs": 1})
    store.close()

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run_cli(tmp_path, "serve", "--port", port)

    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another port" in result.stderr
    store = JobStore(sqlite_url(tmp_path / "data" / "jobs.db"))
    assert store.get(job.id).status == QUEUED
    store.close()


def test_train_serve_busy_port_trains_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run_cli(
            tmp_path, "train", "--epochs", "1", "--quiet", "--serve", "--port", port
        )

    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "wrote" not in result.stdout
    assert not (tmp_path / "registry" / "nflx").exists()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RNN_FORECAST_MAX_EPOCHS", "-5", "RNN_FORECAST_MAX_EPOCHS=-5 is invalid"),
        ("RNN_FORECAST_MAX_EPOCHS", "abc", "RNN_FORECAST_MAX_EPOCHS='abc'"),
        ("RNN_FORECAST_MAX_HORIZON", "100", "use at most 60"),
        (
            "RNN_FORECAST_MAX_HEAD_BYTES",
            "100",
            "RNN_FORECAST_MAX_HEAD_BYTES=100 is invalid; use a limit from 1024 to "
            "1048576 bytes, such as the default 32768",
        ),
        (
            "RNN_FORECAST_MAX_HEAD_BYTES",
            "2000000",
            "RNN_FORECAST_MAX_HEAD_BYTES=2000000 is invalid; use a limit from 1024",
        ),
        (
            "RNN_FORECAST_MAX_HEAD_BYTES",
            "16k",
            "RNN_FORECAST_MAX_HEAD_BYTES='16k': Input should be a valid integer",
        ),
        (
            "RNN_FORECAST_JOB_STORE",
            "bogus://",
            "RNN_FORECAST_JOB_STORE=bogus:// is not a database URL",
        ),
        (
            "RNN_FORECAST_JOB_STORE",
            "foo",
            "not a database URL (Could not parse SQLAlchemy URL from given URL "
            "string); use e.g. sqlite:///var/jobs.db or postgresql+psycopg://",
        ),
        ("RNN_FORECAST_TUNING_STORAGE", "foo://x", "RNN_FORECAST_TUNING_STORAGE"),
        (
            "RNN_FORECAST_JOB_STORE",
            "mysql://x",
            "RNN_FORECAST_JOB_STORE=mysql://x needs the database driver module "
            "'MySQLdb', which is not installed; install that driver",
        ),
        (
            "RNN_FORECAST_TUNING_STORAGE",
            "mysql://x",
            "RNN_FORECAST_TUNING_STORAGE=mysql://x needs the database driver "
            "module 'MySQLdb'",
        ),
        (
            "RNN_FORECAST_JOB_STORE",
            "sqlite://",
            "RNN_FORECAST_JOB_STORE=sqlite:// is an in-memory or temporary SQLite "
            "database",
        ),
        (
            "RNN_FORECAST_JOB_STORE",
            "sqlite:///:memory:",
            "use a file such as sqlite:///var/jobs.db",
        ),
        (
            "RNN_FORECAST_TUNING_STORAGE",
            "sqlite://",
            "RNN_FORECAST_TUNING_STORAGE=sqlite:// is an in-memory or temporary",
        ),
        (
            "RNN_FORECAST_TUNING_STORAGE",
            "sqlite:///:memory:",
            "RNN_FORECAST_TUNING_STORAGE=sqlite:///:memory: is an in-memory or "
            "temporary",
        ),
        (
            "RNN_FORECAST_JOB_STORE",
            "sqlite:///var/jobs.db?timeout=abc",
            "RNN_FORECAST_JOB_STORE=sqlite:///var/jobs.db?timeout=abc has the "
            "invalid parameter timeout='abc'",
        ),
        (
            "RNN_FORECAST_TUNING_STORAGE",
            "postgresql+psycopg://user@127.0.0.1:5432/db?sslmode=on",
            "RNN_FORECAST_TUNING_STORAGE=postgresql+psycopg://user@127.0.0.1:5432/"
            "db?sslmode=on has the invalid parameter sslmode='on'",
        ),
        ("RNN_FORECAST_DATA_DIR", "/proc/no-such/x", "cannot create the folder"),
        (
            "RNN_FORECAST_RUNNER",
            "threads",
            "RNN_FORECAST_RUNNER='threads': Input should be 'inhost' or 'celery'",
        ),
        (
            "RNN_FORECAST_TUNING_HEARTBEAT_SECONDS",
            "-1",
            "RNN_FORECAST_TUNING_HEARTBEAT_SECONDS='-1': Input should be greater "
            "than or equal to 0",
        ),
        (
            "RNN_FORECAST_BROKER_MESSAGE_CHECK_SECONDS",
            "-1",
            "RNN_FORECAST_BROKER_MESSAGE_CHECK_SECONDS='-1': Input should be "
            "greater than or equal to 0",
        ),
    ],
)
def test_serve_names_invalid_setting(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = run_cli(tmp_path, "serve", env={variable: value})

    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_rejects_short_heartbeat_timeout(tmp_path: Path) -> None:
    env = {
        "RNN_FORECAST_JOB_HEARTBEAT_SECONDS": "100",
        "RNN_FORECAST_JOB_HEARTBEAT_TIMEOUT": "10",
    }
    result = run_cli(tmp_path, "serve", "--port", str(free_port()), env=env)

    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: RNN_FORECAST_JOB_HEARTBEAT_TIMEOUT (10 s) must be longer than "
        "RNN_FORECAST_JOB_HEARTBEAT_SECONDS (100 s)"
    )
    assert len(result.stderr.splitlines()) == 1


def test_serve_rejects_non_ascii_api_key(tmp_path: Path) -> None:
    # a data folder that cannot be created ends serve before it listens,
    # should the key be accepted
    env = {
        "RNN_FORECAST_API_KEY": "clé-secret",
        "RNN_FORECAST_DATA_DIR": "/proc/no-such/x",
    }
    result = run_cli(tmp_path, "serve", env=env)

    assert result.returncode == 2
    assert result.stderr.startswith("error: RNN_FORECAST_API_KEY contains a")
    assert result.stderr.count("\n") == 1
    assert "clé-secret" not in result.stderr


def test_serve_names_unreachable_job_store(tmp_path: Path) -> None:
    # nothing listens on a free port, so the connection is refused
    url = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/test"

    result = run_cli(tmp_path, "serve", env={"RNN_FORECAST_JOB_STORE": url})

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: RNN_FORECAST_JOB_STORE: cannot open the job store {url} ("
    )
    assert "Connection refused); start the database" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_serve_names_unknown_store_revision(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "data" / "jobs.db")
    JobStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()

    result = run_cli(tmp_path, "serve")

    assert result.returncode == 2
    assert result.stderr.startswith("error: the job store sqlite:///")
    assert "schema revision '9999'" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_empty_store_settings_mean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_FORECAST_JOB_STORE", "")
    monkeypatch.setenv("RNN_FORECAST_TUNING_STORAGE", " ")

    settings = Settings()

    assert settings.job_store is None
    assert settings.tuning_storage is None


def test_empty_folder_settings_mean_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RNN_FORECAST_REGISTRY", "")
    monkeypatch.setenv("RNN_FORECAST_CACHE_DIR", " ")
    monkeypatch.setenv("RNN_FORECAST_DATA_DIR", "")

    settings = Settings()

    assert settings.registry == Path("registry")
    assert settings.cache_dir == tmp_path / ".cache" / "rnn-forecast"
    assert settings.data_dir == Path("var")


def test_serve_accepts_empty_job_store(tmp_path: Path) -> None:
    # the tuning storage is checked after the job store, and its error ends
    # serve before it listens
    env = {"RNN_FORECAST_JOB_STORE": "", "RNN_FORECAST_TUNING_STORAGE": "bogus://"}

    result = run_cli(tmp_path, "serve", env=env)

    assert result.returncode == 2
    assert "RNN_FORECAST_JOB_STORE" not in result.stderr
    assert "RNN_FORECAST_TUNING_STORAGE=bogus:// is not a database URL" in result.stderr


def test_limit_settings_bounds() -> None:
    assert Settings(max_horizon=30).max_horizon == 30
    assert Settings(max_history_rows=100_000).max_history_rows == 100_000
    with pytest.raises(ValueError, match="RNN_FORECAST_MAX_NUM_LAYERS=0 is invalid"):
        Settings(max_num_layers=0)
    with pytest.raises(ValueError, match="RNN_FORECAST_MAX_LOOKBACK=513 is above"):
        Settings(max_lookback=513)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "variable", ["RNN_FORECAST_BATCH_WINDOW_MS", "RNN_FORECAST_INLINE_FORWARD_MS"]
)
def test_non_finite_float_setting_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValueError, match="Input should be a finite number"):
        Settings()


@pytest.mark.parametrize("alias", ["BAD ALIAS", "latest"])
def test_train_checks_alias_before_training(tmp_path: Path, alias: str) -> None:
    result = run_cli(tmp_path, "train", "--alias", alias, "--epochs", "1", "--quiet")

    assert result.returncode == 2
    assert f"alias '{alias}'" in result.stderr
    assert "wrote" not in result.stdout
    assert not (tmp_path / "registry" / "nflx").exists()


def test_train_names_file_in_place_of_model_folder(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "blocked").write_text("notes\n")

    result = run_on_registry(
        registry, "train", "--name", "blocked", "--epochs", "1", "--quiet"
    )

    assert result.returncode == 2
    assert result.stderr == (
        "error: blocked in the registry is a file, not a model folder; move or "
        "remove the file, or choose another model name\n"
    )
    assert (registry / "blocked").read_text() == "notes\n"


def test_train_rejects_start_for_bundled_data(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "train", "--start", "2020-01-01", "--quiet")

    assert result.returncode == 2
    assert result.stderr.startswith("error: --start applies only to --data yfinance")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "registry" / "nflx").exists()


def test_spec_error_has_no_empty_location(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "train", "--dropout", "0.5", "--num-layers", "1")

    assert result.returncode == 2
    assert result.stderr.startswith("error: --dropout: --dropout 0.5 has no effect")
    assert "Value error" not in result.stderr


def test_output_folder_is_checked_first(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "gradients", "flow", "--png", str(tmp_path))

    assert result.returncode == 2
    assert f"--png {tmp_path} is a folder" in result.stderr


def test_unwritable_output_fails_before_work(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "experiments", "synthetic", "--quick", "--out", "/proc/no-such"
    )

    assert result.returncode == 2
    assert (
        "--out /proc/no-such: cannot write to the folder /proc (the folder exists "
        "but does not accept new files)"
    ) in result.stderr
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"epochs": 1,', "invalid JSON at line 1, column 14"),
        ("[1, 2]", "expected a JSON object of spec fields, got list"),
        (None, "cannot read the file (No such file or directory)"),
    ],
)
def test_bad_spec_file_is_named(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    spec = tmp_path / "spec.json"
    if content is not None:
        spec.write_text(content)

    result = run_cli(tmp_path, "train", "--spec", str(spec))

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --spec {spec}: ")
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["tune", "--no-register"], "--space"),
        (["gradients", "flow"], "--values"),
        (["backtest"], "--spec"),
        (["tune", "--no-register"], "--spec"),
    ],
)
def test_missing_json_file_names_option(
    tmp_path: Path, command: list[str], option: str
) -> None:
    missing = tmp_path / "missing.json"

    result = run_cli(tmp_path, *command, option, str(missing))

    assert result.returncode == 2
    assert result.stderr == (
        f"error: {option} {missing}: cannot read the file (No such file or "
        "directory); check the path\n"
    )


@pytest.mark.parametrize(
    "command", [["models", "show"], ["gradients", "training"], ["backtest", "--model"]]
)
def test_empty_version_is_rejected(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(tmp_path, *command, "nflx:")

    assert result.returncode == 2
    assert "'nflx:' has no version after ':'; write nflx for the latest" in (
        result.stderr
    )


def test_serve_names_host_not_on_machine(tmp_path: Path) -> None:
    # 192.0.2.0/24 is reserved for documentation, so no machine has it
    result = run_cli(
        tmp_path, "serve", "--host", "192.0.2.1", "--port", str(free_port())
    )

    assert result.returncode == 2
    assert "error: cannot listen on 192.0.2.1:" in result.stderr
    assert "'192.0.2.1' is not an address of this machine; choose one with --host" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"]
)
def test_serve_exits_0_after_a_graceful_stop(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RNN_FORECAST_REGISTRY": str(tmp_path / "registry"),
        "RNN_FORECAST_DATA_DIR": str(tmp_path / "data"),
    }
    # a child of this process starts with the default SIGINT action, as a
    # command started from a terminal does
    server = subprocess.Popen(
        [sys.executable, "-m", "models.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_listening(port)
        server.send_signal(stop)
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()

    assert server.returncode == 0, stderr
    assert "error:" not in stderr
    assert "Finished server process" in stderr


def wait_until_listening(port: int, timeout: float = 60.0) -> None:
    """Wait until ``GET /v1/health`` on 127.0.0.1:``port`` returns 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no server answered on 127.0.0.1:{port} in {timeout} s")
