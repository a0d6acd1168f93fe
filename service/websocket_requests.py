"""WebSocket handshakes, which the API rejects because it has none.

uvicorn hands a request with ``Upgrade: websocket`` to the app as a
``websocket`` connection when a WebSocket library (websockets or wsproto)
is installed. Starlette's router closes such a connection when no
WebSocket route matches, and uvicorn then sends ``403 Forbidden`` with an
empty body. ``reject_websocket`` sends a problem+json 400 through
the ASGI WebSocket Denial Response extension instead, and falls back to the
close on a server without that extension.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from service.errors import problem

DENIAL_EXTENSION = "websocket.http.response"
DETAIL = (
    "this API has no WebSocket endpoints, so it does not accept the header "
    "Upgrade: websocket; send the request without the Upgrade and "
    "Connection: Upgrade headers, as plain HTTP"
)


async def reject_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """Reject the WebSocket handshake of ``scope`` with a 400 whose problem
    details name the ``Upgrade`` header."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if DENIAL_EXTENSION not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return

    response = problem(400, DETAIL)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "websocket.http.response.body", "body": response.body})
