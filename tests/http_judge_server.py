"""A real OpenAI-compatible HTTP server on loopback whose answers and faults the tests script."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    """What the server answers to one request: a completion, or an HTTP error after an optional delay."""

    text: str = "A"
    top_logprobs: dict[str, float] | None = None  # first token's alternatives; None: no logprobs in the response
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    message: str = ""  # the error message of a non-200 reply
    choice: dict[str, Any] | None = None  # a raw choice to send as is (a 200 answer of the wrong shape)
    body: bytes | None = None  # a raw body to send as is with ``status`` (not JSON, too deep, not UTF-8)


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    prompt: str
    attempt: int
    started: float
    finished: float = 0.0
    status: int = 0


Respond = Callable[[str, int, dict[str, Any]], Reply]  # (prompt, 0-based attempt for this prompt, body) -> Reply


class JudgeServer:
    """``/v1/chat/completions`` and ``/v1/models`` on 127.0.0.1, port chosen by the OS; use as a context manager.

    ``logprobs``: ``"yes"`` returns top_logprobs when asked, ``"ignore"`` never returns them,
    ``"reject"`` answers HTTP 400 when they are asked for. ``api_key``: when set, a request without
    ``Authorization: Bearer <api_key>`` gets HTTP 401.
    """

    def __init__(self, respond: Respond, *, logprobs: str = "yes", api_key: str | None = None,
                 model: str = "judge-model") -> None:
        self.respond = respond
        self.logprobs = logprobs
        self.api_key = api_key
        self.model = model
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> JudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def chat_requests(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.path.endswith("/chat/completions")]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if not server._authorized(self):
                    return self._send(401, {"error": {"message": "invalid api key", "type": "auth"}})
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                server._serve_chat(self, body)

            def _send(self, status: int, payload: dict[str, Any] | bytes,
                      headers: dict[str, str] | None = None) -> None:
                blob = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(blob)))
                    self.end_headers()
                    self.wfile.write(blob)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return Handler

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        return self.api_key is None or handler.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _record(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> Seen:
        prompt = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        with self._lock:
            attempt = sum(1 for seen in self.requests if seen.prompt == prompt)
            seen = Seen(handler.path, dict(handler.headers.items()), body, prompt, attempt, time.monotonic())
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return seen

    def _serve_chat(self, handler: Any, body: dict[str, Any]) -> None:
        seen = self._record(handler, body)
        try:
            status, payload, headers = self._answer(handler, body, seen)
        finally:
            with self._lock:
                self.in_flight -= 1
                seen.finished = time.monotonic()
        seen.status = status
        handler._send(status, payload, headers)

    def _answer(self, handler: Any, body: dict[str, Any], seen: Seen) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not self._authorized(handler):
            return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, {}
        if body.get("logprobs") and self.logprobs == "reject":
            return 400, {"error": {"message": "logprobs is not supported by this server"}}, {}
        reply = self.respond(seen.prompt, seen.attempt, body)
        if reply.delay_s:
            self._stop.wait(reply.delay_s)
        if reply.body is not None:
            return reply.status, reply.body, reply.headers  # type: ignore[return-value]
        if reply.status != 200:
            message = reply.message or f"scripted HTTP {reply.status}"
            return reply.status, {"error": {"message": message, "type": "scripted"}}, reply.headers
        return 200, self._completion(body, reply), reply.headers

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        choice: dict[str, Any] = reply.choice if reply.choice is not None else {"index": 0, "message": {"role": "assistant", "content": reply.text},
                                  "finish_reason": "stop", "logprobs": None}
        if body.get("logprobs") and self.logprobs == "yes" and reply.top_logprobs is not None:
            choice["logprobs"] = {"content": _logprob_content(reply, int(body.get("top_logprobs") or 0))}
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model"), "choices": [choice],
                "usage": {"prompt_tokens": len(str(body).split()), "completion_tokens": 1, "total_tokens": 0}}


def _logprob_content(reply: Reply, top_n: int) -> list[dict[str, Any]]:
    """One entry for the first token (with its alternatives), one for the rest of the text."""
    ranked = sorted(reply.top_logprobs.items(), key=lambda kv: -kv[1])[:top_n]
    first_token = reply.text[:1]
    content = [{"token": first_token, "logprob": reply.top_logprobs.get(first_token, -20.0),
                "bytes": list(first_token.encode()),
                "top_logprobs": [{"token": tok, "logprob": lp, "bytes": list(tok.encode())} for tok, lp in ranked]}]
    if reply.text[1:]:
        content.append({"token": reply.text[1:], "logprob": 0.0, "bytes": list(reply.text[1:].encode()),
                        "top_logprobs": []})
    return content
