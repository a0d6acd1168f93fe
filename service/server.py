"""The uvicorn server of ``rnn-forecast serve``.

On SIGTERM or Ctrl-C, uvicorn's ``Server.shutdown`` (read in uvicorn 0.55)
closes the listening sockets, closes idle connections and then waits for
every request in progress to send its response. The app's lifespan shutdown
runs after that wait, so it cannot end a request whose client stalled while
sending its body, nor a series upload whose parse takes seconds.
``StoppingServer`` ends those body reads and parses first (``on_stop``),
then shuts down as uvicorn does. It logs the line "listening on" only once
the app's start-up has completed and its sockets accept connections, so a
server whose start-up fails never logs it.

Once its shutdown is complete, uvicorn raises each signal that it handled
again, with the handler that was in place before it started.
``sigterm_raises`` installs a handler that turns SIGTERM into
``Terminated``, so ``rnn-forecast serve`` can exit 0 after a graceful
shutdown instead of being ended by the signal.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

logger = logging.getLogger("uvicorn.error")


class StoppingServer(uvicorn.Server):
    """A uvicorn server that logs where it listens once its start-up has
    completed, and calls ``on_stop`` when its shutdown begins, before it
    waits for the requests in progress."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    # NOTE: uvicorn 0.55 documents no hook for the end of its start-up, so
    # this overrides Server.startup, which calls sys.exit when the lifespan
    # start-up fails and otherwise serves the sockets and sets ``started``.
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            logger.info("listening on http://%s:%d", self.config.host, self.config.port)

    # NOTE: uvicorn 0.55 documents no hook for the start of a shutdown, so
    # this overrides the method that Server.serve awaits after its main loop.
    # The lifespan shutdown runs only after the wait, and handle_exit only on
    # a signal. tests/service/test_server_shutdown.py fails with a message
    # if a uvicorn release stops calling this before the wait.
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.on_stop()
        await super().shutdown(sockets=sockets)


class Terminated(Exception):
    """The exception that ``sigterm_raises`` raises on SIGTERM."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Raise ``Terminated`` in the main thread on SIGTERM inside the block,
    and restore the previous SIGTERM handler after it.

    uvicorn replaces this handler while it serves, and calls it through the
    signal that it raises again after its shutdown.
    """
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")
