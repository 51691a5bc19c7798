"""The gateway's HTTP API as the CLI sees it, and how a command ends: CliError, exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from shared.settings import Settings

EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
# The local stack's admin token, in its var dir (the Makefile writes it).
LOCAL_TOKEN_FILE = "admin-token"


class CliError(Exception):
    """Raised to end the command with one clear line (and any detail lines) and an exit code."""

    def __init__(self, message: str, code: int, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.lines: list[str] = lines or []
        # the gateway's per-field details of a refusal, for commands that show them their way
        self.details: list[dict[str, Any]] = []


def load_settings() -> Settings:
    """The settings from the environment; CliError naming the first bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "TIPBENCH_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise CliError(f"{name}: {first['msg']}", EXIT_USAGE) from None


def write_output(path: str, text: str) -> None:
    """Write a command's output file; CliError (exit 2) naming the file if it cannot be."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE) from exc


def gateway_url(settings: Settings) -> str:
    """The gateway the CLI talks to: TIPBENCH_URL (or --url), else the local stack's."""
    return settings.url.rstrip("/") or f"http://{settings.gateway_host}:{settings.gateway_port}"


def admin_token(settings: Settings) -> str:
    """The token the CLI sends: TIPBENCH_ADMIN_TOKEN or _FILE if set, else the local
    stack's, which `make` keeps in <var dir>/admin-token — only to the local stack's own
    gateway: a gateway named by --url / TIPBENCH_URL never gets the local token."""
    local = Path(settings.var_dir) / LOCAL_TOKEN_FILE
    to_local_stack = not settings.url
    if to_local_stack and not settings.admin_tokens() and not settings.dev_mode and local.is_file():
        token = local.read_text(encoding="utf-8").strip()
        if token:
            return token
    try:
        return settings.checked_admin_tokens()[0]
    except ValueError as exc:
        where = (
            f"a local stack started by `make up` keeps its token in {local}"
            if to_local_stack
            else f"the local stack's token is not sent to {settings.url}"
        )
        raise CliError(f"{exc}; {where}", EXIT_USAGE) from None


class Gateway:
    """A small client of the gateway's HTTP API."""

    def __init__(self, settings: Settings) -> None:
        self.base = gateway_url(settings)
        token = admin_token(settings)
        self._http = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        text: bool = False,
        content: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send `body` as JSON (or `content` as is); CliError with the gateway's message on
        any refusal."""
        try:
            if content is None:
                response = self._http.request(method, path, json=body)
            else:
                headers = {"Content-Type": content_type}
                response = self._http.request(method, path, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise CliError(f"gateway unreachable at {self.base}: {exc}", EXIT_UNREACHABLE) from exc
        if response.status_code >= 400:
            raise refusal(method, path, response)
        return response.text if text else response.json()


def refusal(method: str, path: str, response: httpx.Response) -> CliError:
    """A refusal as one line, then one line per invalid field or item if there are several."""
    try:
        error = response.json()["error"]
        message, details = str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        message, details = response.text[:200], None
    code = EXIT_UNREACHABLE if response.status_code >= 500 else EXIT_USAGE
    failure = CliError(f"{method} {path}: {response.status_code} {message}", code)
    if isinstance(details, list):
        failure.details = [d for d in details if isinstance(d, dict)]
        if len(failure.details) > 1:
            failure.lines = [
                f"  {d.get('field', '?')}: {d.get('message', '')}" for d in failure.details
            ]
    return failure
