"""The MLflow server's HTTP protocol: uvicorn's own, with Nagle's algorithm off.

`mlflow server --workers N` (N > 1) runs uvicorn's supervisor, which binds the listening
socket itself with `proto` 0; asyncio turns TCP_NODELAY on only for sockets that say
IPPROTO_TCP, so every connection keeps Nagle's algorithm on. A response goes out as two
writes (headers, then body) and the body waits for the client's delayed ACK: about 40 ms
on every request after the first of a keep-alive connection, which every MLflow client
uses (uvicorn issue #3149). The recorder makes several calls per cell, so that wait was
most of a cell's recording time (docs/performance.md).

At rest, each uvicorn worker wakes ten times a second (`Server.main_loop` sleeps 0.1 s
between ticks that refresh the Date header and look for a shutdown): 0.25% of a core per
worker, half of what the whole idle stack was allowed (issue 16). Importing this module
makes the tick once a second (`tick_every_second`): the Date header is refreshed at each
tick as before (uvicorn did it every tenth), and a SIGTERM is noticed within a second
instead of a tenth; the server's own shutdown then runs as before. A worker imports it
when it loads its protocol, before its main loop starts.

Both MLflow servers load it: the local stack's (`tipbench/stack.py`) and compose's, which
mounts this file alone into the official MLflow image; it imports nothing but the
standard library and uvicorn:

    mlflow server --uvicorn-opts "--http shared.mlflow_http:NoDelayHTTPProtocol" ...
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import Server

# uvicorn counts ticks in tenths of a second (on_tick: the Date header at each multiple of
# ten, callback_notify at multiples of 10 × timeout_notify).
TICKS_PER_S = 10
TICK_S = 1.0


async def _main_loop(self: Server) -> None:
    """uvicorn's main loop with one tick a second instead of ten."""
    counter = 0
    should_exit = await self.on_tick(counter)
    while not should_exit:
        counter = (counter + TICKS_PER_S) % 864000
        await asyncio.sleep(TICK_S)
        should_exit = await self.on_tick(counter)


def tick_every_second() -> None:
    """Make every uvicorn server of this process tick once a second."""
    Server.main_loop = _main_loop  # type: ignore[method-assign]


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


tick_every_second()
