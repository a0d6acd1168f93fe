"""The head deadline's timer ends with the connection's HTTP protocol: a
WebSocket handshake, which uvicorn hands to its WebSocket protocol, and a
request that is not valid HTTP leave no timer scheduled.

uvicorn runs in this process on 127.0.0.1, because only here can a test
see the protocol object after the client's connection is closed."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.request_heads import head_deadline_protocol
from service.websocket_requests import reject_websocket
from tests.conftest import free_port
from tests.service.test_websocket_requests import HANDSHAKE

# far longer than the test, so a timer left behind is still scheduled at
# its end
HEAD_TIMEOUT = 300.0
WAIT = 10.0
INVALID = b"GET /v1/he alth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def serve_one(base: type[asyncio.Protocol], request: bytes) -> list[object]:
    """Send ``request`` to uvicorn serving ``reject_websocket`` on the head
    deadline protocol built on ``base``, read the reply until the server
    closes the connection, and return the HTTP protocol objects of the
    connection."""
    protocols: list[object] = []

    class RecordingProtocol(head_deadline_protocol(HEAD_TIMEOUT, base)):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            protocols.append(self)
            super().connection_made(transport)

    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    config = uvicorn.Config(
        reject_websocket, http=RecordingProtocol, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        writer.write(request)
        reply = await asyncio.wait_for(reader.read(), WAIT)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 400 "), reply
        return protocols
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, WAIT)
        listener.close()


@pytest.mark.parametrize("base", [HttpToolsProtocol, H11Protocol])
@pytest.mark.parametrize(
    "request_bytes",
    [HANDSHAKE.format(path="/v1/health").encode(), INVALID],
    ids=["websocket", "invalid"],
)
def test_rejected_connection_leaves_no_timer(
    base: type[asyncio.Protocol], request_bytes: bytes
) -> None:
    protocols = asyncio.run(serve_one(base, request_bytes))

    assert len(protocols) == 1
    assert protocols[0]._head_timer is None  # type: ignore[attr-defined]
