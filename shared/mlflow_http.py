"""The MLflow server's HTTP protocol: uvicorn's own, with Nagle's algorithm off.

`mlflow server --workers N` (N > 1) runs uvicorn's supervisor, which binds the listening
socket itself with `proto` 0; asyncio turns TCP_NODELAY on only for sockets that say
IPPROTO_TCP, so every connection keeps Nagle's algorithm on. A response goes out as two
writes (headers, then body) and the body waits for the client's delayed ACK: about 40 ms
on every request after the first of a keep-alive connection, which every MLflow client
uses (uvicorn issue #3149). The recorder makes several calls per cell, so that wait was
most of a cell's recording time (docs/performance.md).

Both MLflow servers load it: the local stack's (`tipbench/stack.py`) and compose's, which
mounts this file alone into the official MLflow image; it imports nothing but the
standard library and uvicorn:

    mlflow server --uvicorn-opts "--http shared.mlflow_http:NoDelayHTTPProtocol" ...
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def disable_nagle(transport: asyncio.BaseTransport) -> None:
    """Send each write of this TCP connection at once (TCP_NODELAY)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol (httptools if installed, else h11) with TCP_NODELAY."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Turn Nagle's algorithm off, then serve the connection as uvicorn does."""
        disable_nagle(transport)
        super().connection_made(transport)
