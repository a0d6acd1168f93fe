"""A raw ASGI app with no framework: the cost of the HTTP server alone.

For ``POST /v1/models/{name}/forecast`` it reads the whole body, parses
nothing, and sends fixed response bytes (those ``serve`` returned for the
benchmark's body) with the headers ``serve`` sends on its fast path:
``content-length``, ``content-type`` and a 32-digit ``x-request-id``.
``GET /v1/health`` returns 200, and every other request 404.

``--server serve`` runs it on the server code and settings of
``rnn-forecast serve``: ``service.server.StoppingServer`` with the deadline
and size limit for request heads (``service.request_heads``), uvloop and
httptools. ``--server plain`` runs it on plain ``uvicorn.run`` with uvloop
and httptools and without that layer. Neither writes an access log::

    python -m bench.raw_app --port 8002 --response response.json --server serve
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from service.request_heads import head_deadline_protocol
from service.server import StoppingServer
from service.settings import Settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]
SERVERS = ("serve", "plain")
HEALTH = b'{"status":"ok"}'


def create_raw_app(response: bytes) -> RawApp:
    """Return an ASGI app that sends ``response`` for any forecast POST."""
    forecast_start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-length", str(len(response)).encode()),
            (b"content-type", b"application/json"),
            (b"x-request-id", b"0" * 32),
        ],
    }
    forecast_body = {"type": "http.response.body", "body": response}

    async def app(
        scope: MutableMapping[str, Any], receive: Receive, send: Send
    ) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path = scope["path"]
        if scope["method"] == "POST" and path.endswith("/forecast"):
            # read the body to its end, as a server that parses it would
            more_body = True
            while more_body:
                message = await receive()
                more_body = message.get("more_body", False)
            await send(forecast_start)
            await send(forecast_body)
            return
        status, body = (200, HEALTH) if path == "/v1/health" else (404, b"")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    """Reply to the lifespan start-up and shutdown messages."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def run(app: RawApp, host: str, port: int, server: str) -> None:
    """Serve ``app`` on ``host:port`` with ``server``'s code and settings:
    ``serve`` (the project's HTTP layer) or ``plain`` (uvicorn alone)."""
    if server == "plain":
        uvicorn.run(
            app, host=host, port=port, loop="uvloop", http="httptools", access_log=False
        )
        return
    settings = Settings.model_fields
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        access_log=False,
        http=head_deadline_protocol(
            settings["head_timeout_seconds"].default,
            max_head_bytes=settings["max_head_bytes"].default,
        ),
    )
    StoppingServer(config, on_stop=lambda: None).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address")
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument(
        "--response",
        type=Path,
        required=True,
        help="file whose bytes are the forecast response body",
    )
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="serve",
        help="serve: the server code and head limits of rnn-forecast serve; "
        "plain: uvicorn.run without them",
    )
    args = parser.parse_args()
    run(create_raw_app(args.response.read_bytes()), args.host, args.port, args.server)


if __name__ == "__main__":
    main()
