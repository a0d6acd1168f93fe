"""Building and loading the inference kernel's library in fresh processes:
a cache built once and loaded after, a missing or failing compiler,
processes that build at the same time, and a library that is cut short or
does not load."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from models.nn import infer_kernel_build

ROOT = Path(__file__).resolve().parents[3]
LOAD_SCRIPT = (
    "import logging\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "import torch\n"
    "from models.nn import infer_kernel\n"
    "from models.nn.forecaster import Forecaster\n"
    "print('loaded', infer_kernel.load())\n"
    "model = Forecaster('gru', input_size=1, hidden_size=4, num_layers=1, horizon=2)\n"
    "with torch.inference_mode():\n"
    "    print('forecast', model.eval().infer(torch.ones(1, 3, 1)).shape)\n"
)


def run_python(
    args: list[str], cache: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` in a fresh process whose cache
    folder is ``cache``."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "RNN_FORECAST_CACHE_DIR": str(cache), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def load_in_process(cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(["-c", LOAD_SCRIPT], cache, **env)


def built_files(cache: Path) -> list[Path]:
    return sorted(path for path in (cache / "native").rglob("*") if path.is_file())


def fake_compiler(folder: Path, body: str) -> Path:
    script = folder / "fake-cxx"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_library_built_once_then_loaded(tmp_path: Path) -> None:
    first = load_in_process(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "loaded True" in first.stdout
    assert "forecast torch.Size([1, 2])" in first.stdout
    [library] = built_files(tmp_path)
    assert library.name == infer_kernel_build.LIBRARY
    built = library.stat().st_mtime_ns

    second = load_in_process(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "loaded True" in second.stdout
    assert built_files(tmp_path) == [library]
    assert library.stat().st_mtime_ns == built


def test_missing_compiler_warns_once(tmp_path: Path) -> None:
    done = load_in_process(tmp_path, CXX="no-such-compiler-here")

    assert done.returncode == 0, done.stderr
    assert "loaded False" in done.stdout
    assert "forecast torch.Size([1, 2])" in done.stdout
    assert done.stderr.count("WARNING") == 1
    assert (
        "'no-such-compiler-here' (from CXX, default c++) is not on PATH" in done.stderr
    )
    assert "RNN_FORECAST_INFER_KERNEL=0" in done.stderr


def test_failing_compiler_leaves_no_library(tmp_path: Path) -> None:
    compiler = fake_compiler(tmp_path, 'echo "x.cpp:1: error: no room" >&2; exit 1')

    done = load_in_process(tmp_path / "cache", CXX=str(compiler))

    assert "loaded False" in done.stdout
    assert "failed: x.cpp:1: error: no room" in done.stderr
    assert built_files(tmp_path / "cache") == []


def test_processes_that_build_at_once_all_load(tmp_path: Path) -> None:
    env = {**os.environ, "RNN_FORECAST_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", LOAD_SCRIPT],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]

    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
        assert "loaded True" in stdout
    assert [path.name for path in built_files(tmp_path)] == [infer_kernel_build.LIBRARY]


def test_switch_off_skips_build(tmp_path: Path) -> None:
    done = load_in_process(tmp_path, RNN_FORECAST_INFER_KERNEL="0")

    assert "loaded False" in done.stdout
    assert "WARNING" not in done.stderr
    assert not (tmp_path / "native").exists()


def test_library_cut_short_is_built_again(tmp_path: Path) -> None:
    """The loader maps a truncated library and SIGBUS ends the process."""
    first = load_in_process(tmp_path)
    assert first.returncode == 0, first.stderr
    [library] = built_files(tmp_path)
    whole = library.read_bytes()
    library.write_bytes(whole[: len(whole) // 2])

    second = load_in_process(tmp_path)

    assert second.returncode == 0, second.stderr
    assert "loaded True" in second.stdout
    assert "WARNING" not in second.stderr
    assert library.stat().st_size == len(whole)


def test_library_that_does_not_load_is_built_again(tmp_path: Path) -> None:
    first = load_in_process(tmp_path)
    assert first.returncode == 0, first.stderr
    [library] = built_files(tmp_path)
    size = library.stat().st_size
    library.write_bytes(b"not a library\n")

    second = load_in_process(tmp_path)

    assert second.returncode == 0, second.stderr
    assert "loaded True" in second.stdout
    assert library.stat().st_size == size


def test_builds_with_the_same_pid_write_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes in two containers that share the cache can have one PID."""
    outputs = tmp_path / "outputs"
    compiler = fake_compiler(
        tmp_path,
        'while [ "$1" != -o ]; do shift; done\n'
        f'echo "$2" >> {outputs}\n'
        'echo "x.cpp:1: error: stop" >&2; exit 1',
    )
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.setattr(os, "getpid", lambda: 7)
    folder = tmp_path / "cache"

    for _ in range(2):
        with pytest.raises(infer_kernel_build.BuildError, match="error: stop"):
            infer_kernel_build._compile(folder, folder / infer_kernel_build.LIBRARY)

    first, second = outputs.read_text().split()
    assert first != second


def test_failed_link_names_the_linker_cause(tmp_path: Path) -> None:
    compiler = fake_compiler(
        tmp_path,
        'echo "/usr/bin/ld: final link failed: No space left on device" >&2\n'
        'echo "collect2: error: ld returned 1 exit status" >&2; exit 1',
    )

    done = load_in_process(tmp_path / "cache", CXX=str(compiler))

    assert "loaded False" in done.stdout
    assert "failed: /usr/bin/ld: final link failed: No space left on device" in (
        done.stderr
    )


def run_module(cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(["-m", "models.nn.infer_kernel"], cache, **env)


def test_module_builds_and_prints_library(tmp_path: Path) -> None:
    done = run_module(tmp_path)

    assert done.returncode == 0, done.stderr
    [library] = built_files(tmp_path)
    assert done.stdout == f"inference kernel ready: {library}\n"


def test_module_without_compiler_exits_1(tmp_path: Path) -> None:
    done = run_module(tmp_path, CXX="no-such-compiler-here")

    assert done.returncode == 1
    assert "C++ compiler not found" in done.stderr
    assert not (tmp_path / "native").exists() or built_files(tmp_path) == []


def test_module_switched_off_exits_1(tmp_path: Path) -> None:
    done = run_module(tmp_path, RNN_FORECAST_INFER_KERNEL="off")

    assert done.returncode == 1
    assert done.stdout == "inference kernel switched off by RNN_FORECAST_INFER_KERNEL\n"


def test_flags_target_native_cpu_only_when_known() -> None:
    known = infer_kernel_build.compile_flags("flags : fpu sse2 avx2")
    unknown = infer_kernel_build.compile_flags("")

    assert infer_kernel_build.NATIVE in known
    assert infer_kernel_build.NATIVE not in unknown
    assert unknown == infer_kernel_build.FLAGS


def test_unknown_cpu_builds_for_base_instruction_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNN_FORECAST_CACHE_DIR", str(tmp_path))
    native_folder = infer_kernel_build.build_folder()
    monkeypatch.setattr(infer_kernel_build, "_cpu_signature", lambda: None)

    library = infer_kernel_build.build_and_load()

    [built] = built_files(tmp_path)
    assert built.parent == infer_kernel_build.build_folder()
    assert built.parent != native_folder
    # 32-byte vectors without -march=native: blocks of 16 floats
    assert library.rf_infer_pad() == 16


BACKGROUND_SCRIPT = (
    "import logging\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "from models.nn import infer_kernel_build\n"
    "infer_kernel_build.build_in_background()\n"
    "infer_kernel_build.build_in_background()\n"
    "import torch\n"
    "from models.nn import infer_kernel\n"
    "print('loaded', infer_kernel.load())\n"
)


def logging_compiler(folder: Path, log: Path) -> Path:
    """A compiler that appends a line to ``log`` and runs the system's."""
    return fake_compiler(folder, f'echo run >> "{log}"\nexec c++ "$@"')


def test_background_build_is_joined_and_runs_once(tmp_path: Path) -> None:
    log = tmp_path / "compiler.log"
    compiler = logging_compiler(tmp_path, log)

    done = run_python(["-c", BACKGROUND_SCRIPT], tmp_path / "cache", CXX=str(compiler))

    assert done.returncode == 0, done.stderr
    assert "loaded True" in done.stdout
    assert log.read_text().splitlines() == ["run"]
    assert [path.name for path in built_files(tmp_path / "cache")] == [
        infer_kernel_build.LIBRARY
    ]


def test_background_build_with_library_present_compiles_nothing(
    tmp_path: Path,
) -> None:
    log = tmp_path / "compiler.log"
    compiler = logging_compiler(tmp_path, log)
    first = run_python(["-c", BACKGROUND_SCRIPT], tmp_path / "cache", CXX=str(compiler))
    assert first.returncode == 0, first.stderr

    second = run_python(
        ["-c", BACKGROUND_SCRIPT], tmp_path / "cache", CXX=str(compiler)
    )

    assert "loaded True" in second.stdout
    assert log.read_text().splitlines() == ["run"]


def test_background_build_error_is_raised_by_load(tmp_path: Path) -> None:
    log = tmp_path / "compiler.log"
    compiler = fake_compiler(
        tmp_path, f'echo run >> "{log}"\necho "k.cpp:2: error: stop" >&2; exit 1'
    )

    done = run_python(["-c", BACKGROUND_SCRIPT], tmp_path / "cache", CXX=str(compiler))

    assert done.returncode == 0, done.stderr
    assert "loaded False" in done.stdout
    assert done.stderr.count("WARNING") == 1
    assert "failed: k.cpp:2: error: stop" in done.stderr
    # the load reports the background build's error instead of compiling again
    assert log.read_text().splitlines() == ["run"]
    assert built_files(tmp_path / "cache") == []


def test_stale_partial_libraries_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    stale = folder / f"{infer_kernel_build.LIBRARY}.11.aaaaaaaaaaaa.tmp"
    fresh = folder / f"{infer_kernel_build.LIBRARY}.12.bbbbbbbbbbbb.tmp"
    other = folder / "notes.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    old = time.time() - infer_kernel_build.COMPILE_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))

    infer_kernel_build._compile(folder, folder / infer_kernel_build.LIBRARY)

    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()
    assert (folder / infer_kernel_build.LIBRARY).is_file()


def test_non_utf8_compiler_output_fails_build(tmp_path: Path) -> None:
    """A compiler writes its messages in its locale's encoding, which need
    not be UTF-8; the build fails with the message instead of raising on
    the bytes."""
    compiler = fake_compiler(
        tmp_path, r'printf "k.cpp:3: error: \377\376 d\351j\340\n" >&2; exit 1'
    )

    done = run_python(["-c", BACKGROUND_SCRIPT], tmp_path / "cache", CXX=str(compiler))

    assert done.returncode == 0, done.stderr
    assert "loaded False" in done.stdout
    assert "Traceback" not in done.stderr
    assert done.stderr.count("WARNING") == 1
    assert "failed: k.cpp:3: error: \ufffd\ufffd d\ufffdj\ufffd" in done.stderr


EXIT_DURING_BUILD_SCRIPT = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from models.nn import infer_kernel_build\n"
    "infer_kernel_build.build_in_background()\n"
    "started = Path(sys.argv[1])\n"
    "deadline = time.monotonic() + 60\n"
    "while not started.exists() and time.monotonic() < deadline:\n"
    "    time.sleep(0.05)\n"
    "sys.exit(2)\n"
)


def running(pid: int) -> bool:
    """True while process ``pid`` exists and has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_exit_during_build_stops_compiler(tmp_path: Path) -> None:
    """A command that exits at a bad argument while the build runs leaves
    neither a compiler nor a temporary library behind."""
    pids = tmp_path / "pids"
    compiler = fake_compiler(
        tmp_path,
        'while [ "$1" != -o ]; do shift; done\n'
        'echo partial > "$2"\n'
        "sleep 60 &\n"
        f'echo "$$ $!" > "{pids}.tmp"; mv "{pids}.tmp" "{pids}"\n'
        "wait",
    )
    started = time.monotonic()

    done = run_python(
        ["-c", EXIT_DURING_BUILD_SCRIPT, str(pids)],
        tmp_path / "cache",
        CXX=str(compiler),
    )

    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 30
    shell, child = (int(pid) for pid in pids.read_text().split())
    deadline = time.monotonic() + 10
    while (running(shell) or running(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(shell)
    assert not running(child)
    assert built_files(tmp_path / "cache") == []


def pid_compiler(folder: Path, pid_file: Path) -> Path:
    """Write a fake compiler that records its process id in ``pid_file``
    and sleeps for 60 s."""
    return fake_compiler(
        folder,
        f'echo "$$" > "{pid_file}.tmp"; mv "{pid_file}.tmp" "{pid_file}"\n'
        "exec sleep 60",
    )


def test_exit_as_compiler_starts_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exit between the compiler's start and its record by the build
    thread still ends the compiler."""
    monkeypatch.setattr(infer_kernel_build, "_exiting", False)
    pid_file = tmp_path / "pid"
    compiler = pid_compiler(tmp_path, pid_file)
    started = threading.Event()
    resume = threading.Event()
    start_process = subprocess.Popen

    def start_then_pause(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        # the build thread loses the CPU right after the compiler started
        process = start_process(*args, **kwargs)
        started.set()
        resume.wait(timeout=10)
        return process

    monkeypatch.setattr(subprocess, "Popen", start_then_pause)
    build = threading.Thread(
        target=infer_kernel_build._run_compiler,
        args=([str(compiler)], tmp_path / "partial.so"),
    )
    build.start()
    try:
        assert started.wait(timeout=10)
        stop = threading.Thread(target=infer_kernel_build.stop_compilers)
        stop.start()
        stop.join(timeout=0.2)
        resume.set()
        stop.join(timeout=10)
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(pid_file.read_text())
        compiler_running = running(pid)
    finally:
        resume.set()
        if pid_file.exists() and running(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        build.join(timeout=10)

    assert not stop.is_alive()
    assert not compiler_running


def test_no_compiler_starts_after_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(infer_kernel_build, "_exiting", False)
    pid_file = tmp_path / "pid"
    compiler = pid_compiler(tmp_path, pid_file)

    infer_kernel_build.stop_compilers()
    with pytest.raises(infer_kernel_build.BuildError) as caught:
        infer_kernel_build._run_compiler([str(compiler)], tmp_path / "partial.so")

    assert str(caught.value) == (
        "the process is exiting, so the compiler did not start"
    )
    time.sleep(0.2)
    assert not pid_file.exists()


def test_ctrl_c_during_build_removes_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the compiler runs, as during ``make install``, stops it
    and deletes the library it had started to write."""
    pids = tmp_path / "pids"
    compiler = fake_compiler(
        tmp_path,
        'while [ "$1" != -o ]; do shift; done\n'
        'echo partial > "$2"\n'
        f'echo "$$" > "{pids}"\n'
        "exec sleep 60",
    )
    monkeypatch.setenv("CXX", str(compiler))
    folder = tmp_path / "cache"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            infer_kernel_build._compile(folder, folder / infer_kernel_build.LIBRARY)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert not running(int(pids.read_text()))
    assert list(folder.iterdir()) == []


def test_compiler_wrapper_with_arguments_builds(tmp_path: Path) -> None:
    log = tmp_path / "wrapper.log"
    wrapper = fake_compiler(tmp_path, f'echo "$1" >> "{log}"\nexec "$@"')

    done = load_in_process(tmp_path / "cache", CXX=f"{wrapper} c++")

    assert done.returncode == 0, done.stderr
    assert "loaded True" in done.stdout
    assert log.read_text().splitlines() == ["c++"]


def test_unbalanced_quote_in_compiler_is_named(tmp_path: Path) -> None:
    done = load_in_process(tmp_path, CXX="'c++")

    assert "loaded False" in done.stdout
    assert 'CXX "\'c++" cannot be split into words' in done.stderr
