"""A fake Ollama HTTP server speaking the documented API, for tests.

It serves /api/tags, /api/show, /api/ps, /api/generate (load and unload) and /api/chat,
and records what a real server would make observable: every call, every model load,
and how many models were resident at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[str, list[dict[str, str]]], str]
_N_TIPS = re.compile(r"exactly (\d+) tips")


def requested_tips(messages: list[dict[str, str]]) -> int:
    """How many tips the last user message asks for (3 if it does not say)."""
    match = _N_TIPS.search(messages[-1]["content"])
    return int(match.group(1)) if match else 3


def tidy_reply(model: str, messages: list[dict[str, str]]) -> str:
    """A well-formed answer: exactly the tips asked for, numbered, short."""
    tips = [
        f"{i}. Take a short concrete step number {i} now."
        for i in range(1, requested_tips(messages) + 1)
    ]
    return "\n".join(tips)


@dataclass
class FakeModel:
    """A model the fake serves."""

    name: str
    parameter_size: str = "1B"
    parameter_count: int | None = None
    reply: Reply = tidy_reply
    digest: str = "sha256:" + "0" * 64


@dataclass
class FakeOllamaState:
    """What the fake has seen; read by tests."""

    models: dict[str, FakeModel] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    resident: set[str] = field(default_factory=set)
    max_resident: int = 0
    generation_delay_s: float = 0.0
    load_delay_s: float = 0.0  # the cost of loading a model that is not resident
    failing: dict[str, int] = field(default_factory=dict)  # model -> HTTP status of /api/chat
    unload_failures: dict[str, int] = field(default_factory=dict)  # model -> unloads to refuse
    malformed: set[str] = field(default_factory=set)  # models whose chat answer is cut short
    hanging: dict[str, float] = field(default_factory=dict)  # model -> seconds before answering
    empty: set[str] = field(default_factory=set)  # models whose chat answer has no content
    in_flight: int = 0  # chat calls being answered right now
    max_in_flight: int = 0  # the most chat calls answered at once
    chat_spans: list[tuple[float, float]] = field(default_factory=list)  # monotonic start, end
    # per chat: when its request line arrived (before the fake parsed it) and its answer left
    chat_requests: list[tuple[float, float]] = field(default_factory=list)
    model_spans: list[tuple[str, float, float]] = field(default_factory=list)  # per chat
    # Parallel slots, as OLLAMA_NUM_PARALLEL: chats beyond them wait; 0 = no limit.
    slots: int = 0
    generating: int = 0
    slot_free: threading.Condition = field(default_factory=threading.Condition)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget calls, loads and residency (models stay)."""
        with self.lock:
            self.calls.clear()
            self.loads.clear()
            self.resident.clear()
            self.max_resident = 0
            self.generation_delay_s = 0.0
            self.load_delay_s = 0.0
            self.failing.clear()
            self.unload_failures.clear()
            self.malformed.clear()
            self.hanging.clear()
            self.empty.clear()
            self.chat_spans.clear()
            self.chat_requests.clear()
            self.model_spans.clear()
            self.max_in_flight = 0
            self.slots = 0

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        """Bodies of the calls to one endpoint."""
        with self.lock:
            return [body for p, body in self.calls if p == path]

    def _load(self, model: str) -> bool:
        with self.lock:
            if model in self.resident:
                return False
            self.resident.add(model)
            self.loads.append(model)
            self.max_resident = max(self.max_resident, len(self.resident))
        if self.load_delay_s:
            time.sleep(self.load_delay_s)
        return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return

    def parse_request(self) -> bool:
        # called as soon as the request line is read: the moment the request reached the
        # server, before the fake's own parsing (Ollama's server parses in microseconds)
        self._arrived = time.monotonic()
        return super().parse_request()

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self._answered()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        return body

    def _model(self, body: dict[str, Any]) -> FakeModel | None:
        found = self.server.state.models.get(body.get("model", ""))
        if found is None:
            self._send(404, {"error": f"model '{body.get('model')}' not found"})
        return found

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.calls.append((self.path, {}))
        if self.path == "/api/tags":
            self._send(200, {"models": [self._entry(m) for m in state.models.values()]})
        elif self.path == "/api/ps":
            with state.lock:
                resident = [state.models[name] for name in sorted(state.resident)]
            self._send(200, {"models": [self._entry(m) for m in resident]})
        elif self.path == "/v1/models":
            self._send(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": m.name,
                            "object": "model",
                            "owned_by": "fake-llama-server",
                            "meta": {"n_params": m.parameter_count} if m.parameter_count else {},
                        }
                        for m in state.models.values()
                    ],
                },
            )
        elif self.path == "/api/version":
            self._send(200, {"version": "0.0.0-fake"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        body = self._body()
        with state.lock:
            state.calls.append((self.path, body))
        if self.path == "/api/show":
            model = self._model(body)
            if model:
                self._send(200, self._show(model))
        elif self.path == "/api/generate":
            model = self._model(body)
            if model:
                self._generate(model, body)
        elif self.path == "/api/chat":
            model = self._model(body)
            if model:
                self._chat(model, body)
        elif self.path == "/v1/chat/completions":
            model = self._model(body)
            if model:
                self._openai_chat(model, body)
        else:
            self._send(404, {"error": "not found"})

    @staticmethod
    def _entry(model: FakeModel) -> dict[str, Any]:
        return {
            "name": model.name,
            "model": model.name,
            "modified_at": _now(),
            "size": 1,
            "digest": model.digest,
            "details": {"parameter_size": model.parameter_size, "quantization_level": "Q4_K_M"},
        }

    @staticmethod
    def _show(model: FakeModel) -> dict[str, Any]:
        info: dict[str, Any] = {"general.architecture": "llama"}
        if model.parameter_count is not None:
            info["general.parameter_count"] = model.parameter_count
        return {
            "modelfile": "",
            "template": "{{ .Prompt }}",
            "details": {
                "format": "gguf",
                "family": "llama",
                "parameter_size": model.parameter_size,
                "quantization_level": "Q4_K_M",
            },
            "model_info": info,
            "modified_at": _now(),
        }

    def _generate(self, model: FakeModel, body: dict[str, Any]) -> None:
        state = self.server.state
        if not body.get("prompt") and body.get("keep_alive") in (0, "0", "0s"):
            with state.lock:
                refused = state.unload_failures.get(model.name, 0) > 0
                if refused:  # a server busy or restarting: the model stays resident
                    state.unload_failures[model.name] -= 1
                else:
                    state.resident.discard(model.name)
            if refused:
                self._send(503, {"error": f"injected failure to unload {model.name}"})
                return
            reason = "unload"
        else:
            state._load(model.name)
            reason = "load"
        self._send(
            200,
            {
                "model": model.name,
                "created_at": _now(),
                "response": "",
                "done": True,
                "done_reason": reason,
            },
        )

    def _answered(self) -> None:
        """A chat's answer is about to leave: it is no longer in flight (counted before the
        answer is written: a client may send its next chat before this handler ends)."""
        if getattr(self, "_chat_in_flight", False):
            self._chat_in_flight = False
            state = self.server.state
            with state.lock:
                state.in_flight -= 1

    def _chat(self, model: FakeModel, body: dict[str, Any]) -> None:
        state = self.server.state
        with state.lock:  # counted on arrival: what the client asks at once
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        self._chat_in_flight = True
        with state.slot_free:
            while state.slots and state.generating >= state.slots:
                state.slot_free.wait()
            state.generating += 1
        started = time.monotonic()
        try:
            self._answer_chat(model, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout) or was killed
        finally:
            self._answered()  # (a client that gave up got no answer)
            ended = time.monotonic()
            with state.lock:
                state.chat_spans.append((started, ended))
                state.chat_requests.append((self._arrived, ended))
                state.model_spans.append((model.name, started, ended))
            with state.slot_free:
                state.generating -= 1
                state.slot_free.notify_all()

    def _answer_chat(self, model: FakeModel, body: dict[str, Any]) -> None:
        state = self.server.state
        if model.name in state.failing:
            self._send(state.failing[model.name], {"error": f"injected failure of {model.name}"})
            return
        if model.name in state.malformed:
            data = b'{"model": "truncated'
            self._answered()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        loaded_now = state._load(model.name)
        if state.generation_delay_s:
            time.sleep(state.generation_delay_s)
        if model.name in state.hanging:
            time.sleep(state.hanging[model.name])
        text = model.reply(model.name, body.get("messages", []))
        if model.name in state.empty:
            text = ""
        eval_count = max(1, len(text.split()))
        self._send(
            200,
            {
                "model": model.name,
                "created_at": _now(),
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": "stop",
                "total_duration": 600_000_000 if loaded_now else 500_000_000,
                "load_duration": 100_000_000 if loaded_now else 1_000_000,
                "prompt_eval_count": 40,
                "prompt_eval_duration": 50_000_000,
                "eval_count": eval_count,
                "eval_duration": 400_000_000,
            },
        )

    def _openai_chat(self, model: FakeModel, body: dict[str, Any]) -> None:
        """llama-server's answer: OpenAI fields plus `timings` in milliseconds."""
        text = model.reply(model.name, body.get("messages", []))
        tokens = max(1, len(text.split()))
        self._send(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": model.name,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": 40,
                    "completion_tokens": tokens,
                    "total_tokens": 40 + tokens,
                },
                "timings": {"prompt_ms": 20.0, "predicted_ms": 250.0},
            },
        )


class _KeepAliveHandler(_Handler):
    """HTTP/1.1 with connections kept open and Nagle's algorithm off, as Ollama's server."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeOllamaState


class FakeOllama:
    """Runs the fake on 127.0.0.1 in a background thread.

    It answers HTTP/1.0, one connection per request, unless `keep_alive`: then HTTP/1.1
    with each client's connection kept open, as Ollama's own server does, which spares a
    connection and a handler thread per chat (the benchmarks' setting). A client's open
    connection is served past `pause()`, so the specs that pause the fake use the default.
    """

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.state = FakeOllamaState()
        self._handler = _KeepAliveHandler if keep_alive else _Handler
        self._server = _Server(("127.0.0.1", 0), self._handler)
        self._server.state = self.state
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:41234."""
        return f"http://127.0.0.1:{self._port}"

    def pause(self) -> None:
        """Close the listening socket: connections are refused until resume()."""
        self.stop()

    def resume(self) -> None:
        """Listen again on the same port."""
        self._server = _Server(("127.0.0.1", self._port), self._handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, model: FakeModel) -> FakeModel:
        """Serve one more model."""
        self.state.models[model.name] = model
        return model

    def start(self) -> FakeOllama:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
