"""Worker liveness checks used by job recovery."""

from __future__ import annotations

import os
import subprocess
import time

from models.processes import is_zombie, pid_alive


def test_unreaped_child_counts_as_dead() -> None:
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while not is_zombie(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

        assert is_zombie(child.pid)
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_running_process_counts_as_alive() -> None:
    assert pid_alive(os.getpid())
    assert not is_zombie(os.getpid())


def test_missing_process_counts_as_dead() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert not pid_alive(child.pid)
