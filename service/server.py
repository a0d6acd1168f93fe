"""The uvicorn server of ``rnn-forecast serve``.

On SIGTERM or Ctrl-C, uvicorn's ``Server.shutdown`` (read in uvicorn 0.55)
closes the listening sockets, closes idle connections and then waits for
every request in progress to send its response. The app's lifespan shutdown
runs after that wait, so it cannot end a request whose client stalled while
sending its body, nor a series upload whose parse takes seconds.
``StoppingServer`` ends those body reads and parses first (``on_stop``),
then shuts down as uvicorn does. It logs the line "listening on" only once
the app's start-up has completed and its sockets accept connections, so a
server whose start-up fails never logs it. uvicorn only records a SIGTERM or
Ctrl-C that arrives during the app's start-up, and would then serve and
shut down at once. ``StoppingServer`` passes the stop to the app, which
skips the steps that write files or start jobs, and stops before its
sockets serve.

Once its shutdown is complete, uvicorn raises each signal that it handled
again, with the handler that was in place before it started.
``stop_signals_raise`` installs a handler that turns SIGTERM and SIGHUP into
``Terminated``, so ``rnn-forecast serve`` can exit 0 after a graceful
shutdown instead of being ended by the signal.

uvicorn 0.55 handles SIGINT and SIGTERM only, so a SIGHUP, which a process
gets when its terminal closes, would end the server without a shutdown.
gunicorn reloads its configuration and replaces its workers on SIGHUP, but
a single uvicorn process has nothing to reload in place. ``StoppingServer``
therefore shuts down on SIGHUP as on SIGTERM and logs that it did, and
``rnn-forecast serve`` then exits 129. A SIGHUP that the process inherited
as ignored, as under ``nohup``, stays ignored.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn

logger = logging.getLogger("uvicorn.error")


class StoppingServer(uvicorn.Server):
    """A uvicorn server that logs where it listens once its start-up has
    completed, and calls ``on_stop`` when its shutdown begins, before it
    waits for the requests in progress.

    A SIGTERM or Ctrl-C during the app's start-up calls ``on_signal`` (from
    the signal handler, so it must take no lock), and the server stops once
    the start-up has returned, before its sockets accept a connection.
    ``ready`` is true from the "listening on" line on, so it is false for a
    server that never served. ``hangup`` is true once a SIGHUP has started
    the shutdown.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_stop: Callable[[], None],
        on_signal: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.on_stop = on_stop
        self.on_signal = on_signal
        self.ready = False
        self.hangup = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGHUP:
            # This runs in a signal handler, so the start-up or the shutdown
            # logs the SIGHUP. uvicorn records SIGTERM in its place and
            # raises that again after its shutdown.
            self.hangup = True
            sig = signal.SIGTERM
        super().handle_exit(sig, frame)
        if self.on_signal is not None and not self.ready:
            self.on_signal()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Handle SIGHUP as SIGTERM, besides uvicorn's own signals, unless
        SIGHUP is ignored or this is not the main thread."""
        hangup_ignored = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        in_main = threading.current_thread() is threading.main_thread()
        previous = None
        if in_main and not hangup_ignored:
            previous = signal.signal(signal.SIGHUP, self.handle_exit)
        try:
            with super().capture_signals():
                yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGHUP, previous)

    # NOTE: uvicorn 0.55 documents no hook for the end of its start-up, so
    # this overrides Server.startup, which runs the lifespan start-up, calls
    # sys.exit when that fails, and otherwise serves the sockets and sets
    # ``started``. The lifespan start-up runs here first, so that a signal
    # that arrived during it stops the server before the sockets serve.
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.should_exit and not self.lifespan.should_exit:
            self._log_hangup()
            logger.info("stop requested during start-up; the server does not serve")
            await self.lifespan.shutdown()
            return
        lifespan = self.lifespan
        self.lifespan = _StartedLifespan(lifespan)
        try:
            await super().startup(sockets=sockets)
        finally:
            self.lifespan = lifespan
        # a signal may also arrive while the sockets start to serve
        if self.started and not self.should_exit:
            self.ready = True
            url = server_url(self.config.host, self.config.port)
            logger.info("listening on %s", url)

    # NOTE: uvicorn 0.55 documents no hook for the start of a shutdown, so
    # this overrides the method that Server.serve awaits after its main loop.
    # The lifespan shutdown runs only after the wait, and handle_exit only on
    # a signal. tests/service/test_server_shutdown.py fails with a message
    # if a uvicorn release stops calling this before the wait.
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._log_hangup()
        self.on_stop()
        await super().shutdown(sockets=sockets)

    def _log_hangup(self) -> None:
        if self.hangup:
            logger.info("SIGHUP received; shutting down as on SIGTERM")


def server_url(host: str, port: int) -> str:
    """Return the HTTP URL of ``host:port``. An IPv6 address such as ``::1``
    goes in brackets (RFC 3986, section 3.2.2), and the ``%`` before its zone
    id is written ``%25`` (RFC 6874)."""
    if ":" in host:
        host = "[" + host.replace("%", "%25") + "]"
    return f"http://{host}:{port}"


class _StartedLifespan:
    """A uvicorn lifespan whose start-up has already run: ``startup`` returns
    at once, and every other attribute is the wrapped lifespan's."""

    def __init__(self, lifespan: object) -> None:
        self._lifespan = lifespan

    async def startup(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lifespan, name)


class Terminated(Exception):
    """The exception that ``stop_signals_raise`` raises on SIGTERM or SIGHUP;
    ``signum`` is the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Raise ``Terminated`` in the main thread on SIGTERM and SIGHUP inside
    the block, and restore the previous handlers after it. A SIGHUP that is
    ignored, as under ``nohup``, stays ignored.

    uvicorn replaces these handlers while it serves, and calls the SIGTERM
    handler through the signal that it raises again after its shutdown.
    """
    signals = [signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)
