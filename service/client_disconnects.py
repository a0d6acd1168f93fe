"""Requests whose client disconnects before the whole body arrived.

Starlette's body read raises ``ClientDisconnect`` when it receives
``http.disconnect``, and FastAPI (0.165) turns every error of the body read
into a 400 response, sent to a connection that is already closed. The
access log and the metrics count these requests with status 499 (client
closed request, a status of nginx that HTTP does not define), so that a
dropped upload is not counted as a bad request. The response, if one is
sent, keeps its status.
"""

from __future__ import annotations

from starlette.types import Message, Receive

CLIENT_CLOSED_REQUEST = 499


class BodyWatch:
    """A ``receive`` that records whether the client disconnected before
    the last part of the request body."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.body_done = False
        self.disconnected_early = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.body_done = not message.get("more_body", False)
        elif message["type"] == "http.disconnect" and not self.body_done:
            self.disconnected_early = True
        return message

    def logged_status(self, status: int) -> int:
        """Return the status to log and count for a response of ``status``:
        499 after an early disconnect, else ``status``."""
        return CLIENT_CLOSED_REQUEST if self.disconnected_early else status
