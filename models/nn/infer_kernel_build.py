"""Compile ``infer_kernel.cpp`` into a shared library, once per machine and
source, and load it with ctypes.

The source includes no torch header, so one compiler call builds it in
about half a second. It is compiled for this CPU (``-march=native``), or
for the base instruction set where /proc/cpuinfo cannot be read. The
library lives in ``<cache dir>/native/<tag>/librf_infer.so``, where the tag
is a digest of the source, the flags, the compiler's file and the CPU's
model and feature flags. The cache dir is ``RNN_FORECAST_CACHE_DIR``
(default ``~/.cache/rnn-forecast``). Another source or CPU gets a folder of
its own, so machines that share a cache never load a library built for
another CPU.

Each build writes a file of its own and renames it into place, so
processes that build at the same time never see a partial library, and the
last rename wins with identical bytes. A library that ends before its
headers say (cut short by a full disk or a crash) would kill the process
that loads it, so it is built again, as is one that does not load. The
compiler runs at low priority (``nice``), beside whatever else the machine
serves.

``build_in_background`` starts the compiler on a thread of its own, so a
server that starts can compile while it imports torch; ``build_and_load``
waits for that build and raises its error, if it had one. The compiler
runs in a process group of its own. A process that exits while it runs,
such as a command that stops at a bad argument, ends that group and
deletes its temporary library at exit, so no compiler outlives it.

Every failure raises ``BuildError`` with a one-line reason.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import platform
import secrets
import shlex
import shutil
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

from models.paths import ENV_PREFIX, default_cache_dir

SWITCH = f"{ENV_PREFIX}INFER_KERNEL"
SWITCH_OFF = frozenset({"0", "false", "off", "no"})
SOURCE = Path(__file__).with_name("infer_kernel.cpp")
LIBRARY = "librf_infer.so"
# No -ffast-math: every row must take the same rounding in every batch, so
# sums keep their order; FMA contraction is on, as GNU C++ has it.
FLAGS = ["-O3", "-fno-math-errno", "-ffp-contract=fast"]
# for the CPU that builds, where its feature flags can key the cache folder
NATIVE = "-march=native"
COMPILE_SECONDS = 120.0
# seconds a compiler gets to exit after SIGTERM before it gets SIGKILL
STOP_SECONDS = 2.0

# the thread started by ``build_in_background``, and the error it met
_background: threading.Thread | None = None
_background_error: BuildError | None = None
_background_lock = threading.Lock()
# compilers running now, each with the temporary library it writes
_running: dict[subprocess.Popen[bytes], Path] = {}
_running_lock = threading.Lock()
# set by ``stop_compilers`` at exit, after which no compiler starts
_exiting = False


class BuildError(RuntimeError):
    """The library could not be built or loaded; the message gives the reason."""


def enabled() -> bool:
    """False when ``RNN_FORECAST_INFER_KERNEL`` is 0, false, off or no."""
    return os.environ.get(SWITCH, "").strip().lower() not in SWITCH_OFF


def compiler() -> str:
    """Return the C++ compiler command as text: ``CXX``, default ``c++``."""
    return os.environ.get("CXX", "").strip() or "c++"


def compiler_command() -> list[str]:
    """Return the C++ compiler command as its words, split as a shell
    splits ``CXX``, so that a wrapper such as ``ccache g++`` runs as
    ``ccache`` with ``g++`` as its first argument."""
    try:
        return shlex.split(compiler())
    except ValueError as exc:
        text = compiler()
        raise BuildError(f"CXX {text!r} cannot be split into words: {exc}") from exc


def build_folder() -> Path:
    """Return the folder of this source, flags, compiler and CPU."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join(compile_flags()).encode())
    digest.update(_compiler_stamp().encode())
    digest.update((_cpu_signature() or "").encode())
    tag = f"rf_infer-{digest.hexdigest()[:16]}-{platform.machine()}"
    return default_cache_dir() / "native" / tag


def build_in_background() -> None:
    """Start building the library on a daemon thread, unless one was
    started before in this process. The thread only waits on the compiler
    process, so the caller goes on at full speed; ``build_and_load`` joins
    it."""
    global _background
    with _background_lock:
        if _background is not None:
            return
        atexit.register(stop_compilers)
        _background = threading.Thread(
            target=_build_quietly, name="rf-infer-build", daemon=True
        )
        _background.start()


def _build_quietly() -> None:
    """Compile the library when its folder has none, keeping the error for
    ``build_and_load`` to raise."""
    global _background_error
    try:
        folder = build_folder()
        library = folder / LIBRARY
        if not _complete(library):
            _compile(folder, library)
    except BuildError as exc:
        _background_error = exc
    except OSError as exc:
        _background_error = BuildError(f"could not build in the background: {exc}")


def build_and_load() -> ctypes.CDLL:
    """Load the library, compiling it first when its folder has none or
    has one cut short, and again when the one there does not load.

    A build started by ``build_in_background`` is waited for first, and its
    error is raised here."""
    if _background is not None:
        _background.join()
        if _background_error is not None:
            raise _background_error
    folder = build_folder()
    library = folder / LIBRARY
    if not _complete(library):
        _compile(folder, library)
        return _load(library)
    try:
        return ctypes.CDLL(str(library))
    except OSError:
        _compile(folder, library)
        return _load(library)


def _load(library: Path) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(str(library))
    except OSError as exc:
        raise BuildError(f"could not load {library}: {exc}") from exc


def _complete(library: Path) -> bool:
    """Return False when library is missing or is an ELF file that ends
    before a segment or table that its headers place. The dynamic loader
    maps such a file, and the process dies of SIGBUS when it reads past
    the end."""
    try:
        data = library.read_bytes()
    except OSError:
        return False
    if not data.startswith(b"\x7fELF") or len(data) < 64 or data[4] != 2:
        # not a 64-bit ELF file: the loader rejects it, or it is another
        # format that the loader reads
        return bool(data)
    order = "<" if data[5] == 1 else ">"
    try:
        header = struct.unpack_from(f"{order}QQ6xHHHH", data, 32)
        program_offset, section_offset, entry_size, entries = header[:4]
        section_entry_size, sections = header[4:]
        ends = [section_offset + sections * section_entry_size]
        for index in range(entries):
            segment = program_offset + index * entry_size
            offset, _, _, size = struct.unpack_from(f"{order}QQQQ", data, segment + 8)
            ends.append(offset + size)
    except struct.error:
        return False
    return max(ends) <= len(data)


def _compile(folder: Path, library: Path) -> None:
    cxx = compiler()
    words = compiler_command()
    if shutil.which(words[0]) is None:
        raise BuildError(
            f"C++ compiler not found: {words[0]!r} (from CXX, default c++) is "
            "not on PATH; install g++ or point CXX at a compiler"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"cannot create {folder}: {exc}") from exc

    _remove_stale_partials(folder)
    # processes in other PID namespaces (containers that share the cache)
    # can have the same PID, so the name has a random part too
    partial = folder / f"{LIBRARY}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    command = [
        *words,
        *compile_flags(),
        "-shared",
        "-fPIC",
        "-o",
        str(partial),
        str(SOURCE),
    ]
    if shutil.which("nice"):
        command = ["nice", "-n", "10", *command]
    try:
        returncode, errors = _run_compiler(command, partial)
    except (OSError, subprocess.TimeoutExpired) as exc:
        partial.unlink(missing_ok=True)
        raise BuildError(f"{cxx} did not finish: {exc}") from exc
    except BaseException:
        # Ctrl-C stopped the compiler, so its partial output is deleted too
        partial.unlink(missing_ok=True)
        raise
    if returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"{cxx} failed: {_first_error(errors)}")
    os.replace(partial, library)


def _run_compiler(command: list[str], partial: Path) -> tuple[int, str]:
    """Run ``command`` in a session of its own, within ``COMPILE_SECONDS``;
    return its exit status and its standard error as text.

    The output is decoded as UTF-8 with invalid bytes replaced, because a
    compiler writes messages in the encoding of its locale. The compiler and
    its subprocesses are ended when this returns early (a timeout, Ctrl-C),
    and by ``stop_compilers`` when the process exits first."""
    # The lock is held from the start of the compiler to its record, so
    # ``stop_compilers`` finds every compiler that has started.
    with _running_lock:
        if _exiting:
            raise BuildError("the process is exiting, so the compiler did not start")
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        _running[process] = partial
    try:
        _, errors = process.communicate(timeout=COMPILE_SECONDS)
    finally:
        with _running_lock:
            _running.pop(process, None)
        _stop(process)
    return process.returncode, errors.decode("utf-8", errors="replace")


def stop_compilers() -> None:
    """End every compiler that is still running and delete the temporary
    library it was writing. Registered with ``atexit`` by
    ``build_in_background``: its thread is a daemon that the interpreter
    stops without unwinding. No compiler starts after this call."""
    global _exiting
    with _running_lock:
        _exiting = True
        running = list(_running.items())
        _running.clear()
    for process, partial in running:
        _stop(process)
        partial.unlink(missing_ok=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the process group of ``process`` unless it has exited: SIGTERM,
    which lets the compiler driver delete its own temporary files, then
    SIGKILL after ``STOP_SECONDS``."""
    if process.poll() is not None:
        return
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _remove_stale_partials(folder: Path) -> None:
    """Delete temporary libraries older than ``COMPILE_SECONDS``. A build
    that is still running is younger, so only files whose process exited
    before its rename go. A process killed while it was compiling, by
    SIGKILL or by a signal that it does not handle, leaves one, because
    ``stop_compilers`` runs only at exit. ``serve`` and ``forecast`` handle
    SIGTERM and Ctrl-C, and exit through it."""
    cutoff = time.time() - COMPILE_SECONDS
    for path in folder.glob(f"{LIBRARY}.*.tmp"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _first_error(output: str) -> str:
    """Return the compiler's first error line, else its last line. The
    driver's summary of a failed link ("collect2: error: ld returned 1")
    counts only when the linker wrote nothing before it, because the
    linker's own line gives the cause, such as a full disk."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith("collect2:")] or lines
    for line in causes:
        if "error" in line.lower():
            return line[:300]
    return causes[-1][:300] if causes else "no message"


def _compiler_stamp() -> str:
    """Return the compiler's resolved path, size and modification time, or
    '' when it is not on PATH. It takes one stat, so loading a built library
    starts no process."""
    try:
        words = compiler_command()
    except BuildError:
        return ""
    found = shutil.which(words[0])
    if found is None:
        return ""
    path = os.path.realpath(found)
    try:
        stat = os.stat(path)
    except OSError:
        return " ".join([path, *words[1:]])
    return " ".join([path, str(stat.st_size), str(stat.st_mtime_ns), *words[1:]])


def compile_flags(signature: str | None = None) -> list[str]:
    """Return the compiler flags: ``-march=native`` only where the CPU's
    feature flags are known (``signature``, read from /proc/cpuinfo by
    default).
    Without them, two CPUs that share a cache folder would share one
    folder, and a library built for the newer one could stop the older one
    with an illegal instruction, so the build targets the base instruction
    set instead."""
    if signature is None:
        signature = _cpu_signature()
    return [*FLAGS, NATIVE] if signature else list(FLAGS)


@functools.cache
def _cpu_signature() -> str | None:
    """Return the CPU's model name and feature flags, which ``-march=native``
    reads too, or None where /proc/cpuinfo cannot be read or lists none.
    The file is read once per process."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    keys = ("model name", "flags", "Features", "CPU part")
    lines = [line for line in text.splitlines() if line.startswith(keys)]
    return "\n".join(sorted(set(lines))) or None
