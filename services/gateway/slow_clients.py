"""A gunicorn gthread worker that gives every request a deadline to arrive in full.

gunicorn's threaded worker hands a connection to a thread once its first bytes arrive; a
client that then sends the rest one byte at a time held that thread for as long as it
liked (8 such clients stalled the API). Here every read of a request, its headers and
its body, must end by the request's deadline (`read_timeout_s` after the thread took it);
past it the read fails as if the client had gone: the thread is freed, the connection
closed. Behind the compose proxy this never triggers: nginx buffers a whole request first.
"""

from __future__ import annotations

import math
import socket
import time
from typing import Any

from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker


class RequestTooSlow(NoMoreData):  # type: ignore[misc]
    """Raised when a request has not arrived in full by its deadline (a quiet disconnect)."""

    def __str__(self) -> str:
        return "the request did not arrive in full before its deadline"


class DeadlineSocket(socket.socket):
    """A client socket whose reads fail past `deadline` (time.monotonic())."""

    deadline = math.inf

    @classmethod
    def adopt(cls, sock: socket.socket) -> DeadlineSocket:
        """The same connection, as a DeadlineSocket (the old object is detached)."""
        timeout = sock.gettimeout()
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.settimeout(timeout)
        return adopted

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """socket.recv, bounded by what is left before the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RequestTooSlow()
        timeout = self.gettimeout()
        self.settimeout(left if timeout is None else min(timeout, left))
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            if time.monotonic() >= self.deadline:
                raise RequestTooSlow() from None
            raise
        finally:
            self.settimeout(timeout)


class DeadlineThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with a deadline on reading each request (set by gunicorn.conf.py)."""

    read_timeout_s = 20.0

    def handle(self, conn: Any) -> Any:
        """Arm the request's deadline, then serve it as gthread does."""
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket.adopt(conn.sock)
        conn.sock.deadline = time.monotonic() + self.read_timeout_s
        return super().handle(conn)
