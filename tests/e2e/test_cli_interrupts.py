"""Ctrl-C, SIGTERM, SIGHUP and alias failures of ``rnn-forecast train`` and
``tune`` around the registry write: the command either writes nothing or
names the version it wrote. A Ctrl-C or SIGTERM while a command imports its
modules, ``serve`` included, ends it with one error line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from models import cli
from models.pipeline import build_metadata
from models.registry import Registry
from tests.conftest import ROOT, free_port

TINY = [
    "--name", "ar", "--data", "synthetic:ar1", "--length", "300",
    "--target", "price", "--epochs", "1", "--hidden-size", "4",
    "--num-layers", "1", "--lookback", "5", "--horizon", "2",
]  # fmt: skip


def interrupt_self() -> None:
    """Send SIGINT to this process, as a Ctrl-C in its terminal does."""
    os.kill(os.getpid(), signal.SIGINT)


def train(registry: Path, *options: str) -> int:
    return cli.main(["--registry", str(registry), "train", *TINY, "--quiet", *options])


def interrupt_after_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every registry write send SIGINT once its version is in place."""
    write = Registry.write

    def write_then_interrupt(self: Registry, *args: Any, **kwargs: Any) -> int:
        version = write(self, *args, **kwargs)
        interrupt_self()
        return version

    monkeypatch.setattr(Registry, "write", write_then_interrupt)


def test_ctrl_c_during_write_names_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_after_write(monkeypatch)

    status = train(tmp_path, "--alias", "prod", "--alias", "candidate")

    registry = Registry(tmp_path)
    assert status == cli.SIGINT_STATUS
    assert capsys.readouterr().err == (
        f"error: interrupted after writing ar version 1 to {registry.root}, "
        "with aliases 'prod', 'candidate'\n"
    )
    assert registry.versions("ar") == [1]
    assert registry.aliases("ar") == {"prod": 1, "candidate": 1, "latest": 1}


def test_second_ctrl_c_stops_held_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def hanging_write(self: Registry, *args: Any, **kwargs: Any) -> int:
        interrupt_self()
        interrupt_self()
        # a write stuck on the lock; a Ctrl-C that stops it ends the wait
        time.sleep(30)
        return 1

    monkeypatch.setattr(Registry, "write", hanging_write)
    started = time.monotonic()

    status = train(tmp_path)

    assert time.monotonic() - started < 20
    assert status == cli.SIGINT_STATUS
    assert capsys.readouterr().err == "error: interrupted\n"


def test_ctrl_c_during_report_names_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted_report(*args: Any) -> None:
        interrupt_self()

    monkeypatch.setattr(cli, "print_training_report", interrupted_report)

    status = train(tmp_path)

    assert status == cli.SIGINT_STATUS
    assert capsys.readouterr().err == (
        f"error: interrupted after writing ar version 1 to {Registry(tmp_path).root}\n"
    )


def test_ctrl_c_before_write_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted_metadata(*args: Any) -> dict[str, Any]:
        interrupt_self()
        return build_metadata(*args)

    monkeypatch.setattr("models.pipeline.build_metadata", interrupted_metadata)

    status = train(tmp_path)

    assert status == cli.SIGINT_STATUS
    assert capsys.readouterr().err == "error: interrupted\n"
    assert Registry(tmp_path).versions("ar") == []


def test_signal_handlers_restored_after_train(tmp_path: Path) -> None:
    ctrl_c = signal.getsignal(signal.SIGINT)
    sigterm = signal.getsignal(signal.SIGTERM)
    sighup = signal.getsignal(signal.SIGHUP)

    assert train(tmp_path) == 0
    assert signal.getsignal(signal.SIGINT) is ctrl_c
    assert signal.getsignal(signal.SIGTERM) is sigterm
    assert signal.getsignal(signal.SIGHUP) is sighup


def test_invalid_alias_file_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ar").mkdir()
    (tmp_path / "ar" / "aliases.json").write_text("{bad")

    status = train(tmp_path, "--alias", "prod")

    assert status == 2
    assert capsys.readouterr().err.startswith(
        "error: alias file ar/aliases.json in the registry is invalid"
    )
    assert not (tmp_path / "ar" / "versions").exists()


def test_tune_ctrl_c_during_write_names_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_after_write(monkeypatch)
    registry = tmp_path / "registry"
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"

    status = cli.main(
        ["--registry", str(registry), "tune", *TINY, "--trials", "1",
         "--storage", storage, "--heartbeat-seconds", "0"]
    )  # fmt: skip

    assert status == cli.SIGINT_STATUS
    assert capsys.readouterr().err.endswith(
        f"error: interrupted after writing ar version 1 to {Registry(registry).root}\n"
    )
    assert Registry(registry).versions("ar") == [1]


# Runs ``rnn-forecast`` on the registry in argv[1] with the options in
# argv[2:], with the signal that STOP names (SIGTERM unless set) sent to
# itself at the point that PATCH names. IGNORE_SIGHUP=1 ignores SIGHUP
# first, as nohup does.
SIGTERM_SCRIPT = """
import os, signal, sys
from models import cli, pipeline
from models.registry import Registry

if os.environ.get("IGNORE_SIGHUP") == "1":
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

def terminate():
    os.kill(os.getpid(), signal.Signals[os.environ.get("STOP", "SIGTERM")])

write = Registry.write
build_metadata = pipeline.build_metadata

def write_then_terminate(self, *args, **kwargs):
    version = write(self, *args, **kwargs)
    terminate()
    return version

def terminate_then_build(*args):
    terminate()
    return build_metadata(*args)

if os.environ["PATCH"] == "after write":
    Registry.write = write_then_terminate
else:
    pipeline.build_metadata = terminate_then_build
sys.exit(cli.main(["--registry", sys.argv[1], "train", *sys.argv[2:]]))
"""


def run_script(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with ``args`` in a new Python process."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def train_terminated(
    registry: Path, moment: str, stop: str = "SIGTERM", ignore_hangup: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``train`` in a new process that sends itself the signal named
    ``stop`` at ``moment``: "after write" or "before write". With
    ``ignore_hangup`` the process ignores SIGHUP from its start."""
    env = {"PATCH": moment, "STOP": stop, "IGNORE_SIGHUP": str(int(ignore_hangup))}
    return run_script(SIGTERM_SCRIPT, str(registry), *TINY, "--quiet", env=env)


def test_sigterm_before_write_writes_nothing(tmp_path: Path) -> None:
    result = train_terminated(tmp_path, "before write")

    assert result.returncode == 143
    assert result.stderr.endswith("error: terminated\n")
    assert Registry(tmp_path).versions("ar") == []
    assert list((tmp_path / "ar").glob(".tmp-*")) == []


def test_sigterm_during_write_names_version(tmp_path: Path) -> None:
    result = train_terminated(tmp_path, "after write")

    assert result.returncode == 143
    assert result.stderr.endswith(
        f"error: terminated after writing ar version 1 to {Registry(tmp_path).root}\n"
    )
    assert Registry(tmp_path).versions("ar") == [1]


def test_sighup_before_write_writes_nothing(tmp_path: Path) -> None:
    result = train_terminated(tmp_path, "before write", stop="SIGHUP")

    assert result.returncode == 129, result.stderr
    assert result.stderr.endswith("error: terminated by SIGHUP\n")
    assert Registry(tmp_path).versions("ar") == []
    assert list((tmp_path / "ar").glob(".tmp-*")) == []


def test_sighup_during_write_names_version(tmp_path: Path) -> None:
    result = train_terminated(tmp_path, "after write", stop="SIGHUP")

    registry = Registry(tmp_path)
    assert result.returncode == 129, result.stderr
    assert result.stderr.endswith(
        f"error: terminated by SIGHUP after writing ar version 1 to {registry.root}\n"
    )
    assert registry.versions("ar") == [1]


def test_ignored_sighup_keeps_training(tmp_path: Path) -> None:
    for moment in ("before write", "after write"):
        result = train_terminated(tmp_path, moment, stop="SIGHUP", ignore_hangup=True)

        assert result.returncode == 0, result.stderr
        assert "error:" not in result.stderr
    assert Registry(tmp_path).versions("ar") == [1, 2]


# Runs ``rnn-forecast tune`` on the registry in argv[1] with the options in
# argv[2:], with SIGTERM sent to itself when the first trial starts to fit.
TUNE_FIT_SIGTERM_SCRIPT = """
import os, signal, sys
from models import cli, tuning

fit = tuning.fit

def terminate_then_fit(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return fit(*args, **kwargs)

tuning.fit = terminate_then_fit
sys.exit(cli.main(["--registry", sys.argv[1], "tune", *sys.argv[2:]]))
"""


def test_tune_sigterm_fails_running_trial(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"

    result = run_script(
        TUNE_FIT_SIGTERM_SCRIPT, str(registry), *TINY, "--trials", "1",
        "--storage", storage, "--heartbeat-seconds", "0",
    )  # fmt: skip

    assert result.returncode == 143, result.stderr
    assert result.stderr.endswith("error: terminated\n")
    study = optuna.load_study(study_name="ar-tuning", storage=storage)
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    assert states == [TrialState.FAIL]
    assert Registry(registry).versions("ar") == []


# Runs ``rnn-forecast models list`` with a Ctrl-C raised by the first import
# after torch's fake tensor module has registered its exit handler, which
# logs at INFO.
IMPORT_INTERRUPT_SCRIPT = """
import sys

class InterruptImport:
    def find_spec(self, name, path=None, target=None):
        fake_tensor = sys.modules.get("torch._subclasses.fake_tensor")
        if hasattr(fake_tensor, "dump_cache_stats"):
            sys.meta_path.remove(self)
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, InterruptImport())
from models import cli
sys.exit(cli.main(["--registry", sys.argv[1], "models", "list"]))
"""


def test_ctrl_c_in_torch_import_prints_one_line(tmp_path: Path) -> None:
    result = run_script(IMPORT_INTERRUPT_SCRIPT, str(tmp_path))

    assert result.returncode == cli.SIGINT_STATUS
    assert result.stderr == "error: interrupted\n"


# Runs ``rnn-forecast serve`` on the registry in argv[1] and the port in
# argv[2], with SIGTERM sent to itself when serve imports its app, before it
# binds the port.
SERVE_IMPORT_SIGTERM_SCRIPT = """
import os, signal, sys

class TerminateImport:
    def find_spec(self, name, path=None, target=None):
        if name == "service.app":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGTERM)
        return None

sys.meta_path.insert(0, TerminateImport())
from models import cli
sys.exit(cli.main(["--registry", sys.argv[1], "serve", "--port", sys.argv[2]]))
"""


def test_sigterm_in_serve_import_prints_line(tmp_path: Path) -> None:
    result = run_script(
        SERVE_IMPORT_SIGTERM_SCRIPT,
        str(tmp_path / "registry"),
        str(free_port()),
        env={"RNN_FORECAST_DATA_DIR": str(tmp_path / "data")},
    )

    assert result.returncode == cli.SIGTERM_STATUS, result.stderr
    assert result.stderr.endswith("error: terminated\n"), result.stderr
    assert "Traceback" not in result.stderr


# Runs ``rnn-forecast tune`` on the registry in argv[1] and the study
# database in argv[2], with SIGTERM sent to itself when the first trial
# starts to train.
TUNE_SIGTERM_SCRIPT = """
import os, signal, sys
from models import cli, tuning

def terminate(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the trial")

tuning.fit = terminate
sys.exit(cli.main([
    "--registry", sys.argv[1], "tune", "--trials", "2", "--epochs", "1",
    "--study-name", "stopped", "--storage", "sqlite:///" + sys.argv[2],
]))
"""


def test_sigterm_in_trial_prints_no_traceback(tmp_path: Path) -> None:
    result = run_script(
        TUNE_SIGTERM_SCRIPT, str(tmp_path / "registry"), str(tmp_path / "study.db")
    )

    assert result.returncode == cli.SIGTERM_STATUS, result.stderr
    assert result.stderr.endswith("error: terminated\n"), result.stderr
    assert "Traceback" not in result.stderr
    # the trial that the signal stopped is still named
    assert "Trial 0 failed" in result.stderr
    assert Registry(tmp_path / "registry").versions("nflx") == []
