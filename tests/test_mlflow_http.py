"""Specs of the MLflow server's HTTP protocol (shared/mlflow_http.py): TCP_NODELAY on every
connection of a server whose listening socket uvicorn bound itself, as `--workers N` does."""

from __future__ import annotations

import ast
import http.client
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.importer import import_from_string

from shared import mlflow_http
from shared.settings import Settings
from tipbench import stack

ROOT = Path(__file__).parents[1]


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _served(protocol_name: str) -> Iterator[uvicorn.Server]:
    """A real uvicorn server on a socket bound the way its multi-process supervisor binds it."""
    config = uvicorn.Config(_ok, host="127.0.0.1", port=0, http=protocol_name, log_level="warning")
    listener = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def _nodelay_of_a_served_connection(protocol_name: str) -> int:
    """TCP_NODELAY of the server's side of a keep-alive connection that got an answer."""
    with _served(protocol_name) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            client.request("GET", "/")
            assert client.getresponse().read() == b"ok"
            (protocol,) = server.server_state.connections
            served = protocol.transport.get_extra_info("socket")
            return int(served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        finally:
            client.close()


def test_the_protocol_turns_nagle_off_on_a_socket_uvicorns_supervisor_bound() -> None:
    assert _nodelay_of_a_served_connection("shared.mlflow_http:NoDelayHTTPProtocol") == 1


def test_uvicorns_own_protocol_leaves_nagle_on_there_uvicorn_issue_3149() -> None:
    # When this fails, uvicorn sets TCP_NODELAY itself and shared/mlflow_http.py can go.
    assert _nodelay_of_a_served_connection("auto") == 0


def test_a_server_that_loaded_the_protocol_ticks_once_a_second() -> None:
    # uvicorn counts its ticks in tenths of a second and refreshes the Date header at each
    # multiple of ten; a worker that loaded the protocol module ticks only on those.
    config = uvicorn.Config(
        _ok, host="127.0.0.1", port=0, http="shared.mlflow_http:NoDelayHTTPProtocol"
    )
    server = uvicorn.Server(config)
    ticks: list[int] = []
    on_tick = server.on_tick

    async def noted(counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(counter)

    server.on_tick = noted  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while len(ticks) < 3:
        time.sleep(0.05)
    server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert ticks[:3] == [0, 10, 20], ticks  # uvicorn's own loop: 0, 1, 2


def test_a_worker_that_loads_the_protocol_by_its_name_ticks_once_a_second() -> None:
    # what a worker of `mlflow server --uvicorn-opts "--http …"` does, in a fresh process
    probe = (
        "import uvicorn.server as s; before = s.Server.main_loop;"
        "from uvicorn.importer import import_from_string;"
        "import_from_string('shared.mlflow_http:NoDelayHTTPProtocol');"
        "print(s.Server.main_loop is not before, s.Server.main_loop.__module__)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["True", "shared.mlflow_http"], found.stderr


def test_the_local_stacks_mlflow_server_runs_the_protocol(tmp_path: Path) -> None:
    argv = stack.mlflow_service(Settings(var_dir=str(tmp_path))).argv
    opts = shlex.split(argv[argv.index("--uvicorn-opts") + 1])
    assert opts[0] == "--http"
    assert import_from_string(opts[1]) is mlflow_http.NoDelayHTTPProtocol
    assert int(argv[argv.index("--workers") + 1]) > 1  # the case the protocol is for


def test_the_protocol_imports_only_the_standard_library_and_uvicorn() -> None:
    # compose mounts this one file into the official MLflow image, which has no tipbench
    tree = ast.parse(Path(mlflow_http.__file__).read_text("utf-8"))
    imported = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - {"__future__", "uvicorn"} <= sys.stdlib_module_names, imported
