"""The ports of 127.0.0.1 that test and benchmark servers listen on."""

from __future__ import annotations

import itertools
import os
import socket

# The ports that test and benchmark servers may use, as "LOW-HIGH" such as
# "18500-18599".
# Set it on a machine where each user has a range of ports. Unset, any free
# port is used.
PORTS_VARIABLE = "RNN_FORECAST_TEST_PORTS"
_next_port = itertools.count()


def free_port() -> int:
    """Find a port of 127.0.0.1 that no socket is bound to, in the range of
    ``RNN_FORECAST_TEST_PORTS`` when that is set.

    The ports of the range are tried in turn, so a port that was just
    returned comes again only after every other port of the range.
    """
    ports = os.environ.get(PORTS_VARIABLE)
    if not ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    low, high = _port_range(ports)
    size = high - low + 1
    for _ in range(size):
        port = low + next(_next_port) % size
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(
        f"{PORTS_VARIABLE}={ports}: no free port in the range; stop the "
        "servers that use them or give a wider range"
    )


def worker_range(ports: str, worker: int, workers: int) -> str:
    """Return the ``worker``-th (from 0) of ``workers`` equal parts of the
    range ``ports`` ("LOW-HIGH"), so that processes running side by side
    never try the same port. Raise ``ValueError`` when a part would be
    empty."""
    low, high = _port_range(ports)
    size = (high - low + 1) // workers
    if size < 1:
        raise ValueError(
            f"{PORTS_VARIABLE}={ports!r} has fewer ports than the {workers} "
            "test processes; give a wider range"
        )
    first = low + worker * size
    return f"{first}-{first + size - 1}"


def _port_range(ports: str) -> tuple[int, int]:
    """Parse ``LOW-HIGH`` into its first and last port; raise ``ValueError``
    naming the variable when it is invalid."""
    low, _, high = ports.partition("-")
    try:
        first, last = int(low), int(high)
    except ValueError:
        first, last = 0, -1
    if not 1 <= first <= last <= 65535:
        raise ValueError(
            f"{PORTS_VARIABLE}={ports!r} is invalid; give a range such as 18500-18599"
        )
    return first, last
