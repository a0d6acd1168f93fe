"""Requests written byte by byte on a socket, for what HTTP clients will not
send: a body that stops half-way, or one far shorter than its
``Content-Length``."""

from __future__ import annotations

import re
import socket


def read_reply(sock: socket.socket) -> str:
    """Read one HTTP reply, head and body, which may arrive in several
    segments."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode()
        data += chunk

    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    expected_length = int(length.group(1)) if length else 0
    while len(body) < expected_length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()
