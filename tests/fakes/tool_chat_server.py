"""A loopback chat server that answers with whole scripted JSON bodies (tool calls included),
for Ollama's /api/chat and OpenAI's /v1/chat/completions; it records each request body."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from company.llm import guard


@dataclass
class Reply:
    """One scripted answer: an HTTP status and a JSON body (or raw text)."""

    body: Any
    status: int = 200


@dataclass
class ToolChatServer:
    """Answers POSTs with its replies in turn (the last repeats); GETs of /api/version and
    /api/tags answer so the real clients are content."""

    replies: list[Reply] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["qwen2.5:latest"])
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        """The server's base URL."""
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The JSON bodies posted to this path, in order."""
        return [body for where, body in self.requests if where == path]

    def _next(self) -> Reply:
        with self._lock:
            index = min(len(self.requests) - 1, len(self.replies) - 1)
            return self.replies[index] if index >= 0 else Reply({"error": "nothing scripted"}, 500)

    def start(self) -> ToolChatServer:
        """Serve on an ephemeral loopback port; model requests to it are allowed."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/api/version":
                    self._send(200, {"version": "0.12.0"})
                elif self.path == "/api/tags":
                    self._send(200, {"models": [{"name": m, "model": m} for m in fake.models]})
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append((self.path, body))
                reply = fake._next()
                self._send(reply.status, reply.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        guard.allowed_hosts.add(self.host)
        return self

    def stop(self) -> None:
        """Stop serving and take the host off the guard's allowed hosts."""
        if self._server is not None:
            guard.allowed_hosts.discard(self.host)
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def tool_chat_server(*replies: Reply) -> Iterator[ToolChatServer]:
    """A started server with these replies, stopped afterwards."""
    server = ToolChatServer(list(replies)).start()
    try:
        yield server
    finally:
        server.stop()
