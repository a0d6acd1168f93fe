"""Ctrl-C, SIGTERM and SIGHUP for commands that write a registry version.

A Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` wherever the main thread is.
``install_stop_handlers`` makes a SIGTERM raise ``SigtermInterrupt`` and a
SIGHUP, which a process gets when its terminal closes, raise
``SighupInterrupt``. Both are subclasses, so that they run the same cleanup
and end the command with an error line instead of killing it without one.
A SIGHUP that the process inherited as ignored, as under ``nohup``, stays
ignored.

Between the rename that publishes a version and the end of the command,
any of these signals would stop the command after the version exists, with nothing
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

from models.exit_status import SIGHUP_STATUS, SIGINT_STATUS, SIGTERM_STATUS

# the signals that ``HeldInterrupt`` holds back
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SigtermInterrupt(KeyboardInterrupt):
    """A SIGTERM, raised where a Ctrl-C raises ``KeyboardInterrupt``."""


class SighupInterrupt(KeyboardInterrupt):
    """A SIGHUP, raised where a Ctrl-C raises ``KeyboardInterrupt``."""


class InterruptTracebackFilter(logging.Filter):
    """A logging filter that removes the traceback from a record whose
    exception is a Ctrl-C, SIGTERM or SIGHUP and keeps its message, because the
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


def raise_sighup_interrupt(signum: int, frame: FrameType | None) -> None:
    """Raise ``SighupInterrupt``; a SIGHUP handler."""
    raise SighupInterrupt


def interrupt_for(signum: int) -> KeyboardInterrupt:
    """Return the exception that signal ``signum`` raises in a command."""
    if signum == signal.SIGTERM:
        return SigtermInterrupt()
    if signum == signal.SIGHUP:
        return SighupInterrupt()
    return KeyboardInterrupt()


def install_stop_handlers() -> None:
    """Make SIGTERM and SIGHUP raise their ``KeyboardInterrupt`` subclass in
    the main thread. A SIGHUP that is ignored, as under ``nohup``, stays
    ignored."""
    signal.signal(signal.SIGTERM, raise_sigterm_interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, raise_sighup_interrupt)


def stop_word(stop: KeyboardInterrupt) -> str:
    """Return the words that an error line uses for ``stop``."""
    if isinstance(stop, SigtermInterrupt):
        return "terminated"
    if isinstance(stop, SighupInterrupt):
        return "terminated by SIGHUP"
    return "interrupted"


def stop_status(stop: KeyboardInterrupt) -> int:
    """Return the exit status of a command that ``stop`` ended."""
    if isinstance(stop, SigtermInterrupt):
        return SIGTERM_STATUS
    if isinstance(stop, SighupInterrupt):
        return SIGHUP_STATUS
    return SIGINT_STATUS


class HeldInterrupt:
    """Record SIGINT, SIGTERM and SIGHUP from ``hold`` until ``release``
    instead of raising. A second signal in that time raises the first one's
    exception. A signal that is ignored when ``hold`` runs stays ignored.

    Only the main thread can set a signal handler, so in any other thread
    ``hold`` does nothing and the signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.received: KeyboardInterrupt | None = None
        self._previous: dict[int, Any] = {}

    def hold(self) -> None:
        """Start recording the signals in place of their current handlers."""
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in HELD_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
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
        self.received = interrupt_for(signum)


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
