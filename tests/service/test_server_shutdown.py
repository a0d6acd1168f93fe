"""``StoppingServer`` ends stalled body reads when its shutdown begins.

uvicorn 0.55 documents no hook for the start of a shutdown, so the server
overrides ``uvicorn.Server.shutdown``. This test runs the installed uvicorn
in process, and its failure message names the override when uvicorn no
longer calls it before it waits for the requests in progress.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import Receive, Scope, Send

from service.read_deadlines import ReadDeadlines, ServerStoppingError
from service.server import StoppingServer
from tests.conftest import free_port
from tests.service.raw_http import read_reply

SECONDS = 10


class StalledBodyApp:
    """An ASGI app that reads the request body through ``ReadDeadlines`` and
    responds with 503 when the server stops the read, else 200."""

    def __init__(self) -> None:
        self.reads = ReadDeadlines(timeout=60)
        self.reading = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 200
        try:
            more_body = True
            while more_body:
                message = await self.reads.receive(receive)
                more_body = message.get("more_body", False)
                self.reading.set()
        except ServerStoppingError:
            status = 503
        headers = [(b"content-length", b"0"), (b"connection", b"close")]
        start = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": b""})


def test_shutdown_ends_stalled_body_read() -> None:
    app = StalledBodyApp()
    stops: list[float] = []

    def on_stop() -> None:
        stops.append(time.monotonic())
        app.reads.close()

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None
    )
    server = StoppingServer(config, on_stop=on_stop)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SECONDS
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, f"uvicorn did not start on port {port} in {SECONDS} s"

    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.settimeout(SECONDS)
        head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head.encode() + b"first part")
        assert app.reading.wait(SECONDS), "the app never received the first part"
        server.should_exit = True
        try:
            reply = read_reply(sock)
        except TimeoutError:
            reply = ""
    finally:
        sock.close()
        # a server whose shutdown waits for the stalled request ends now
        server.force_exit = True
        thread.join(SECONDS)

    assert stops, (
        f"uvicorn {uvicorn.__version__} shut down without calling "
        "StoppingServer.shutdown, so a request body stalled mid-request holds "
        "the shutdown until it times out; find where uvicorn/server.py now "
        "begins its shutdown and call on_stop there"
    )
    assert reply.startswith("HTTP/1.1 503 "), (
        f"uvicorn {uvicorn.__version__} waited for the stalled request before "
        f"calling StoppingServer.shutdown, or the read did not end: {reply!r}"
    )
    assert not thread.is_alive()
