"""Ctrl-C held back while a command writes a registry version.

A Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` wherever the main thread is.
Between the rename that publishes a version and the end of the command, that
would stop the command after the version exists, with nothing to tell the
user. ``HeldInterrupt`` records a Ctrl-C in that stretch instead, so the
command can finish the write, set its aliases and then report the
interruption together with the version it wrote.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any


class HeldInterrupt:
    """Record SIGINT from ``hold`` until ``release`` instead of raising.

    Only the main thread can set a signal handler, so in any other thread
    ``hold`` does nothing and a Ctrl-C keeps its usual effect.
    """

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None
        self._holding = False

    def hold(self) -> None:
        """Start recording SIGINT in place of its current handler."""
        if self._holding or threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(signal.SIGINT, self._record)
        self._holding = True

    def release(self) -> bool:
        """Put the previous SIGINT handler back and return whether a SIGINT
        arrived since ``hold``."""
        if self._holding:
            signal.signal(signal.SIGINT, self._previous)
            self._holding = False
        return self.received

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.received = True


def interrupted_after_write(
    name: str, version: int, root: Path, aliases: Sequence[str] = ()
) -> str:
    """Return the error line of a command that a Ctrl-C stopped after it
    wrote ``name`` version ``version`` to the registry at ``root`` and set
    ``aliases``."""
    line = f"error: interrupted after writing {name} version {version} to {root}"
    if not aliases:
        return line
    names = ", ".join(repr(alias) for alias in aliases)
    return f"{line}, with alias{'es' if len(aliases) > 1 else ''} {names}"
