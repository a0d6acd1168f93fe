"""Build and load the fused GRU extension (``fused_gru.cpp``), once per
machine and source, safely across processes.

The compiled library lives in ``<cache dir>/torch_extensions/<tag>``, where
the tag is ``rnn_forecast_gru-<source digest>-torch<version>-<machine>``
and the cache dir is ``RNN_FORECAST_CACHE_DIR`` (default
``~/.cache/rnn-forecast``). A new
source, torch version or machine type gets a folder of its own, so
checkouts and virtualenvs that share a cache never rebuild over each other.

Loading goes in this order:

1. A library whose SHA-256 matches the record written after its last good
   build is loaded directly, with no compiler, ninja or write access, so a
   cache built ahead of time can sit on a read-only volume.
2. Otherwise the process takes an exclusive ``flock`` on the folder; the
   kernel releases it when the process dies. Under the lock it checks
   step 1 again, because another process may have just built the library.
   Then it deletes what a killed build may have left: torch's ``lock``
   file, on which torch would wait forever, and a library without a
   matching record. Last, it builds with torch's ``cpp_extension.load``
   and records the new library's SHA-256.

Every failure raises ``BuildError`` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import shutil
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from models.nn import infer_kernel_build
from models.paths import default_cache_dir

LIBRARY = "rnn_forecast_gru"
SOURCE = Path(__file__).with_name("fused_gru.cpp")
# -ffast-math lets gcc call libmvec's vector exp (glibc declares it only
# under -ffast-math). It also lets gcc assume finite values, which
# ``fused_gru.applies`` guarantees by sending non-finite inputs or weights
# to nn.GRU
CFLAGS = ["-O3", "-ffast-math", "-fopenmp-simd"]
# a build takes about 10 s; a wait this long means a stuck builder
LOCK_WAIT_SECONDS = 600.0
LOCK_POLL_SECONDS = 0.1
TORCH_LOCK = "lock"
BUILD_LOCK = ".rnn-forecast-build.lock"


class BuildError(RuntimeError):
    """The extension could not be built or loaded; the message gives the
    reason."""


def build_folder() -> Path:
    """Return the folder of this source, these flags, this torch version
    and machine type."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode())
    tag = f"{LIBRARY}-{digest.hexdigest()[:16]}-torch{torch.__version__}"
    return default_cache_dir() / "torch_extensions" / f"{tag}-{platform.machine()}"


def build_and_load(folder: Path) -> None:
    """Load the library from ``folder``, building it first when needed.

    Raises ``BuildError`` with the reason when neither works.
    """
    if _load_verified(folder):
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(folder / BUILD_LOCK):
            if _load_verified(folder):
                return
            _clear_leftovers(folder)
            _check_compiler()
            try:
                _compile(folder)
            except Exception:
                # a damaged object file would otherwise fail every later build
                for path in folder.glob("*.o"):
                    path.unlink(missing_ok=True)
                raise
            _record(folder)
    except BuildError:
        raise
    except Exception as exc:
        raise BuildError(_reason(exc)) from exc


def _library(folder: Path) -> Path:
    return folder / f"{LIBRARY}.so"


def _record_path(folder: Path) -> Path:
    return folder / f"{LIBRARY}.so.sha256"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_verified(folder: Path) -> bool:
    """Load the library if its SHA-256 matches the record; False if either
    file is missing or they differ."""
    library, record = _library(folder), _record_path(folder)
    try:
        verified = record.read_text().strip() == _sha256(library)
    except OSError:
        return False
    if verified:
        torch.ops.load_library(str(library))
    return verified


def _record(folder: Path) -> None:
    """Write the SHA-256 of the library that was just built and loaded."""
    record = _record_path(folder)
    partial = record.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(_sha256(_library(folder)) + "\n")
    os.replace(partial, record)


def _clear_leftovers(folder: Path) -> None:
    """Delete torch's lock file and an unrecorded library, both left by a
    build that was killed; only called under the exclusive lock."""
    (folder / TORCH_LOCK).unlink(missing_ok=True)
    _library(folder).unlink(missing_ok=True)


def _check_compiler() -> None:
    """Raise ``BuildError`` unless the program of ``CXX`` (its first word,
    so ``ccache g++`` checks ``ccache``) is on PATH."""
    try:
        program = infer_kernel_build.compiler_command()[0]
    except infer_kernel_build.BuildError as exc:
        raise BuildError(str(exc)) from exc
    if shutil.which(program) is None:
        raise BuildError(
            f"C++ compiler not found: {program!r} (from CXX, default c++) is "
            "not on PATH; install g++ or point CXX at a compiler"
        )


def _compile(folder: Path) -> None:
    from torch.utils import cpp_extension

    with _scripts_on_path(), _quiet("torch.utils.cpp_extension"):
        cpp_extension.load(
            name=LIBRARY,
            sources=[str(SOURCE)],
            extra_cflags=CFLAGS,
            build_directory=str(folder),
            is_python_module=False,
            verbose=False,
        )


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, waiting at most
    ``LOCK_WAIT_SECONDS`` for another process to release it."""
    import fcntl

    with open(path, "a") as handle:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(
                        f"timed out after {LOCK_WAIT_SECONDS:.0f} s waiting for "
                        f"{path}, which another process holds while it builds"
                    ) from None
                time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _scripts_on_path() -> Iterator[None]:
    """Put this interpreter's scripts folder (where pip puts ``ninja``) on
    PATH while torch looks for ninja, even when the virtualenv is not
    activated. PATH is restored afterwards, and stays unset if it was."""
    before = os.environ.get("PATH")
    scripts = sysconfig.get_path("scripts") or str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([scripts, before]) if before else scripts
    try:
        yield
    finally:
        if before is None:
            del os.environ["PATH"]
        else:
            os.environ["PATH"] = before


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Keep a logger's warnings out while it runs; its errors still show."""
    target = logging.getLogger(name)
    level = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(level)


def _reason(exc: BaseException) -> str:
    """Pick one line from a failed build: the first compiler error or
    missing file in torch's output, else its last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        lowered = line.lower()
        if "error:" in lowered or "not found" in lowered or "no such file" in lowered:
            return f"{type(exc).__name__}: {line[:300]}"
    last = lines[-1][:300] if lines else "no message"
    return f"{type(exc).__name__}: {last}"
