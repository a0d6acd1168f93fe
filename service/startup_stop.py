"""A request to stop the server that arrives while the app starts."""

from __future__ import annotations


class StartupStop:
    """Whether the server has been asked to stop, such as by SIGTERM or
    Ctrl-C.

    The server's signal handler sets it, and the app's lifespan reads it
    before the start-up steps that write files or start jobs. It is a plain
    attribute because a signal handler must not take a lock: the handler
    runs in the main thread between two bytecodes, which may be inside the
    code that holds that lock.
    """

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        """Record the request to stop."""
        self.requested = True
