"""Worker processes labelled ``<host>:<pid>``, and whether one has exited.

Jobs and tuning trials record the label of the process that runs them, so
that a later process on the same host can tell that this one died. This
relies on host names being unique among the processes that share a job
store or a study database.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_label(pid: int | None = None) -> str:
    """Return ``"<host>:<pid>"`` of this process, or of ``pid`` on this
    host."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def local_pid(label: str | None) -> int | None:
    """Return the pid in ``label`` when it names a process on this host,
    else None (another host, or no label)."""
    host, _, pid_text = (label or "").rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    return int(pid_text)


def local_process_gone(pid: int) -> bool:
    """True when the process ``pid`` of this host has exited.

    The callers check before this process starts any work of its own, so
    a ``pid`` equal to this process's pid is an exited process whose pid
    was reused, and counts as gone.
    """
    return pid == os.getpid() or not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists and is not a zombie (it may
    belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    """True when ``pid`` has exited but was not reaped yet (Linux ``/proc``).

    A worker killed after its API died is reparented to init, and an init
    that reaps late leaves it a zombie that ``os.kill(pid, 0)`` still finds.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state letter follows the command name, which is in parentheses
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] == "Z"
