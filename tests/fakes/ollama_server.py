"""A fake Ollama server on loopback speaking /api/chat, /api/tags, /api/pull, /api/version,
with scripted answers, so the real ``ollama`` client code runs in tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from company.llm import guard

Reply = str | Callable[[dict[str, Any]], str]


@dataclass
class Rule:
    """Answer requests whose messages contain ``match`` with the replies, in turn."""

    match: str
    replies: list[Reply]
    status: int = 200
    delay_s: float = 0.0
    repeat_last: bool = True
    finish_reason: str = "stop"
    used: int = 0

    def next_reply(self, body: dict[str, Any]) -> str:
        index = min(self.used, len(self.replies) - 1) if self.repeat_last else self.used
        self.used += 1
        reply = self.replies[index % len(self.replies)]
        return reply(body) if callable(reply) else reply


@dataclass
class FakeOllama:
    """Scripted Ollama: rules are checked in order against the request's message text."""

    rules: list[Rule] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["qwen2.5:latest"])
    chat_status: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # scripting -----------------------------------------------------------
    def on(self, match: str, *replies: Reply, status: int = 200, delay_s: float = 0.0) -> Rule:
        """Answer messages containing ``match`` with these replies in turn (the last repeats)."""
        rule = Rule(match, list(replies) or [""], status=status, delay_s=delay_s)
        self.rules.append(rule)
        return rule

    def on_json(self, match: str, *payloads: Any) -> Rule:
        """Answer with these objects as JSON, in turn."""
        return self.on(match, *(json.dumps(p) for p in payloads))

    @property
    def chat_calls(self) -> int:
        """How many /api/chat requests arrived."""
        return len(self.requests)

    def calls_matching(self, text: str) -> int:
        """How many chat requests contained ``text``."""
        return sum(1 for r in self.requests if text in _text_of(r))

    # serving -------------------------------------------------------------
    @property
    def host(self) -> str:
        """The base URL to hand to the client."""
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeOllama:
        """Serve on an ephemeral loopback port in a thread; model requests to it are allowed."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: Any, ndjson: bool = False) -> None:
                if ndjson:
                    data = "".join(json.dumps(p) + "\n" for p in body).encode()
                    ctype = "application/x-ndjson"
                else:
                    data = json.dumps(body).encode()
                    ctype = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up waiting (a deadline or an HTTP limit)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/api/version":
                    self._send(200, {"version": "0.12.0"})
                elif self.path == "/api/tags":
                    self._send(200, {"models": [_model_entry(m) for m in fake.models]})
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/api/chat":
                    self._chat(body)
                elif self.path == "/v1/chat/completions":
                    self._chat(body, openai=True)
                elif self.path == "/api/pull":
                    name = body.get("model") or body.get("name") or ""
                    fake.pulls.append(name)
                    if name.startswith("missing"):
                        self._send(500, {"error": "pull model manifest: file does not exist"})
                        return
                    with fake._lock:
                        fake.models.append(name)
                    parts = [{"status": "pulling manifest"},
                             {"status": "downloading", "digest": "sha256:1", "total": 100,
                              "completed": 50},
                             {"status": "downloading", "digest": "sha256:1", "total": 100,
                              "completed": 100},
                             {"status": "success"}]
                    self._send(200, parts, ndjson=True)
                elif self.path == "/api/show":
                    self._send(200, {"modelfile": "", "details": {}})
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def _chat(self, body: dict[str, Any], openai: bool = False) -> None:
                with fake._lock:
                    fake.requests.append(body)
                    if fake.chat_status is not None:
                        status, content, delay = fake.chat_status, None, 0.0
                        finish = "stop"
                    else:
                        status, content, delay, finish = 500, None, 0.0, "stop"
                        text = _text_of(body)
                        for rule in fake.rules:
                            if rule.match in text:
                                status, delay = rule.status, rule.delay_s
                                finish = rule.finish_reason
                                content = rule.next_reply(body)
                                break
                if delay:
                    time.sleep(delay)
                model = body.get("model", "")
                if model and not any(model == m or f"{model}:latest" == m for m in fake.models):
                    self._send(404, {"error": f"model '{model}' not found"})
                    return
                if status != 200 or content is None:
                    self._send(status if status != 200 else 500,
                               {"error": "no scripted answer" if content is None else content})
                    return
                if openai:
                    self._send(200, {
                        "id": "c1", "object": "chat.completion", "model": model,
                        "choices": [{"index": 0, "finish_reason": finish,
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": max(1, len(_text_of(body)) // 4),
                                  "completion_tokens": max(1, len(content) // 4)},
                    })
                    return
                self._send(200, {
                    "model": model, "created_at": "2026-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": content},
                    "done": True, "done_reason": finish,
                    "prompt_eval_count": max(1, len(_text_of(body)) // 4),
                    "eval_count": max(1, len(content) // 4),
                })

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        guard.allowed_hosts.add(self.host)  # model requests to this fake pass the test guard
        return self

    def stop(self) -> None:
        """Stop serving (and take the fake's host off the guard's allowed hosts)."""
        if self._server is not None:
            guard.allowed_hosts.discard(self.host)
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _text_of(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def _model_entry(name: str) -> dict[str, Any]:
    return {"name": name, "model": name, "modified_at": "2026-01-01T00:00:00Z", "size": 1,
            "digest": "0" * 64, "details": {}}
