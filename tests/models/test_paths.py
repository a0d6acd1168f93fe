"""Default registry and cache folders: an empty variable counts as unset,
so no command writes into the folder it starts in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import paths

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_cache_dir_uses_home_cache(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RNN_FORECAST_CACHE_DIR", value)

    assert paths.default_cache_dir() == tmp_path / ".cache" / "rnn-forecast"


@pytest.mark.parametrize("value", ["", " "])
def test_empty_registry_uses_registry_folder(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNN_FORECAST_REGISTRY", value)

    assert paths.default_registry() == Path("registry")


def test_set_folders_are_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RNN_FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RNN_FORECAST_REGISTRY", str(tmp_path / "registry"))

    assert paths.default_cache_dir() == tmp_path / "cache"
    assert paths.default_registry() == tmp_path / "registry"


def test_empty_cache_dir_builds_kernel_outside_working_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "RNN_FORECAST_CACHE_DIR": "",
        "PYTHONPATH": str(ROOT),
    }

    done = subprocess.run(
        [sys.executable, "-m", "models.nn.infer_kernel"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert list(work.iterdir()) == []
    assert str(tmp_path / "home" / ".cache" / "rnn-forecast" / "native") in done.stdout
