"""Processes for tests and benchmarks: a free port, the environment of a Settings."""

from __future__ import annotations

import socket

from shared.settings import Settings


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The TIPBENCH_* environment that reproduces these settings in another process."""
    env = {}
    for name, value in settings.model_dump().items():
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        env[f"TIPBENCH_{name.upper()}"] = text
    return env
