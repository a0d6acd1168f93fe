"""Ctrl-C and SIGTERM for commands that write a registry version.

A Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` wherever the main thread is.
``raise_sigterm_interrupt`` makes a SIGTERM raise ``SigtermInterrupt``, a
subclass, so that it runs the same cleanup and ends the command with an
error line instead of killing it without one.

Between the rename that publishes a version and the end of the command,
either signal would stop the command after the version exists, with nothing
to tell the user. ``HeldInterrupt`` records them in that stretch instead, so
the command can finish the write, set its aliases and then report the
signal together with the version it wrote.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from models.exit_status import SIGINT_STATUS, SIGTERM_STATUS

# the signals that ``HeldInterrupt`` holds back
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SigtermInterrupt(KeyboardInterrupt):
    """A SIGTERM, raised where a Ctrl-C raises ``KeyboardInterrupt``."""


class InterruptTracebackFilter(logging.Filter):
    """A logging filter that removes the traceback from a record whose
    exception is a Ctrl-C or SIGTERM and keeps its message, because the
    command ends with its own error line for those."""

    def filter(self, record: logging.LogRecord) -> bool:
        stop = record.exc_info[1] if record.exc_info else None
        if isinstance(stop, KeyboardInterrupt):
            record.exc_info = None
            record.exc_text = None
        return True


def raise_sigterm_interrupt(signum: int, frame: FrameType | None) -> None:
    """Raise ``SigtermInterrupt``; a SIGTERM handler."""
    raise SigtermInterrupt


def stop_word(stop: KeyboardInterrupt) -> str:
    """Return the word that an error line uses for ``stop``."""
    return "terminated" if isinstance(stop, SigtermInterrupt) else "interrupted"


def stop_status(stop: KeyboardInterrupt) -> int:
    """Return the exit status of a command that ``stop`` ended."""
    return SIGTERM_STATUS if isinstance(stop, SigtermInterrupt) else SIGINT_STATUS


class HeldInterrupt:
    """Record SIGINT and SIGTERM from ``hold`` until ``release`` instead of
    raising. A second signal in that time raises the first one's exception.

    Only the main thread can set a signal handler, so in any other thread
    ``hold`` does nothing and both signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.received: KeyboardInterrupt | None = None
        self._previous: dict[int, Any] = {}

    def hold(self) -> None:
        """Start recording the signals in place of their current handlers."""
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in HELD_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._record)

    def release(self) -> KeyboardInterrupt | None:
        """Put the previous handlers back and return the exception of the
        first signal that arrived since ``hold``, or None."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        return self.received

    def _record(self, signum: int, frame: FrameType | None) -> None:
        # A second signal raises at once, so a write that hangs, such as
        # one that waits for the lock of a stopped process, can still be
        # stopped.
        if self.received is not None:
            raise self.received
        terminated = signum == signal.SIGTERM
        self.received = SigtermInterrupt() if terminated else KeyboardInterrupt()


def interrupted_after_write(
    stop: KeyboardInterrupt,
    name: str,
    version: int,
    root: Path,
    aliases: Sequence[str] = (),
) -> str:
    """Return the error line of a command that ``stop`` ended after it wrote
    ``name`` version ``version`` to the registry at ``root`` and set
    ``aliases``."""
    line = f"error: {stop_word(stop)} after writing {name} version {version} to {root}"
    if not aliases:
        return line
    names = ", ".join(repr(alias) for alias in aliases)
    return f"{line}, with alias{'es' if len(aliases) > 1 else ''} {names}"
