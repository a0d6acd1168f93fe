"""Tests of building and loading the fused GRU extension across processes:
a build killed half-way, a damaged library, a cache used without build
tools, and PATH handling. Each case copies this session's good build into
its own cache folder and runs ``load`` in a fresh process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.nn import fused_gru, fused_gru_build

ROOT = Path(__file__).resolve().parents[3]
LOAD_SCRIPT = (
    "import logging\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "from models.nn import fused_gru\n"
    "print('loaded', fused_gru.load())\n"
)


@pytest.fixture
def built_copy(tmp_path: Path) -> Path:
    """A cache folder holding a copy of this session's verified build;
    returns the build folder inside it."""
    assert fused_gru.load(), "see the warning logged by models.nn.fused_gru"
    source = fused_gru_build.build_folder()
    target = tmp_path / "cache" / "torch_extensions" / source.name
    shutil.copytree(source, target)
    return target


def load_in_process(cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT],
        cwd=ROOT,
        env={**os.environ, "RNN_FORECAST_CACHE_DIR": str(cache), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def library(folder: Path) -> Path:
    return folder / f"{fused_gru_build.LIBRARY}.so"


def record(folder: Path) -> Path:
    return folder / f"{fused_gru_build.LIBRARY}.so.sha256"


def test_leftovers_of_a_killed_build_do_not_block(built_copy: Path) -> None:
    """torch's lock file and a library without a record, as a build killed
    after linking leaves them; torch alone would wait on the lock forever."""
    (built_copy / fused_gru_build.TORCH_LOCK).touch()
    record(built_copy).unlink()

    done = load_in_process(built_copy.parents[1])

    assert done.returncode == 0, done.stderr
    assert "loaded True" in done.stdout
    assert not (built_copy / fused_gru_build.TORCH_LOCK).exists()
    assert record(built_copy).read_text().strip() == fused_gru_build._sha256(
        library(built_copy)
    )


def test_damaged_library_is_rebuilt(built_copy: Path) -> None:
    """A truncated library would crash the process when loaded."""
    good = library(built_copy).read_bytes()
    library(built_copy).write_bytes(good[:1000])

    done = load_in_process(built_copy.parents[1])

    assert done.returncode == 0, done.stderr
    assert "loaded True" in done.stdout
    assert library(built_copy).stat().st_size > 1000


def test_verified_build_needs_no_build_tools(built_copy: Path) -> None:
    """No compiler, no ninja on PATH: the recorded library still loads, and
    nothing in the folder is written, as on a read-only volume."""
    before = {path.name: path.stat().st_mtime_ns for path in built_copy.iterdir()}

    done = load_in_process(
        built_copy.parents[1], CXX="/no/such/compiler", PATH="/nonexistent"
    )

    assert done.returncode == 0, done.stderr
    assert "loaded True" in done.stdout
    after = {path.name: path.stat().st_mtime_ns for path in built_copy.iterdir()}
    assert after == before


def test_new_source_gets_own_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = fused_gru_build.build_folder()
    changed = tmp_path / "fused_gru.cpp"
    changed.write_text(fused_gru_build.SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(fused_gru_build, "SOURCE", changed)

    assert fused_gru_build.build_folder() != first
    assert fused_gru_build.build_folder().parent == first.parent


def test_path_is_restored_and_unset_stays_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    with fused_gru_build._scripts_on_path():
        assert os.environ["PATH"].endswith(os.pathsep + "/usr/bin")
    assert os.environ["PATH"] == "/usr/bin"

    monkeypatch.delenv("PATH")
    with fused_gru_build._scripts_on_path():
        assert os.environ["PATH"]
    assert "PATH" not in os.environ


def test_build_failures_name_the_first_error() -> None:
    output = RuntimeError(
        "Error building extension 'x':\n[1/2] c++ -c a.cpp\n"
        "a.cpp:3:1: error: expected ';' before '}' token\n"
        "ninja: build stopped: subcommand failed.\n"
    )
    assert fused_gru_build._reason(output) == (
        "RuntimeError: a.cpp:3:1: error: expected ';' before '}' token"
    )
    assert fused_gru_build._reason(OSError("disk full")) == "OSError: disk full"
