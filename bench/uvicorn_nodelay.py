"""MLflow's default server (uvicorn, FastAPI in front of the Flask app) made fair for a
comparison with the shipped one (gunicorn): uvicorn's HTTP protocol with TCP_NODELAY.

`mlflow server --workers N` runs uvicorn's supervisor, which binds the listening socket
itself, and asyncio then never turns TCP_NODELAY on (uvicorn issue #3149): without this,
every request on a kept-alive connection waits ~40 ms for the client's delayed ACK, which
would measure Nagle's algorithm, not the server. Loaded by bench/recorder_backends.py:

    mlflow server --uvicorn-opts "--http bench.uvicorn_nodelay:NoDelayHTTPProtocol" ...
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol with TCP_NODELAY on each connection."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Turn Nagle's algorithm off, then serve the connection as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
