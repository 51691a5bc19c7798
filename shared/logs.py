"""Structured logs: one JSON object per line, carrying the request id of the work at hand.

The gateway gives every request an id (or takes a well-formed `X-Request-ID`); `send`
puts it into the options of every message it enqueues, and the broker's RequestId
middleware restores it while an actor handles that message. So one grep of the id
follows a job from the POST through every actor, in every service's log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
request_id_var: ContextVar[str | None] = ContextVar("tipbench_request_id", default=None)
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def new_request_id(proposed: str | None = None) -> str:
    """A well-formed proposed id as is, else a new one."""
    if proposed and REQUEST_ID_PATTERN.match(proposed):
        return proposed
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The request id of the work this thread is doing, if any."""
    return request_id_var.get()


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: ts, level, service, logger, msg, request_id, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, level: int = logging.INFO) -> None:
    """Send every log record of this process to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    # Replace plain stream handlers (dramatiq's basicConfig); keep any other (a test runner's).
    root.handlers = [h for h in root.handlers if type(h) is not logging.StreamHandler]
    root.addHandler(handler)
    root.setLevel(level)
