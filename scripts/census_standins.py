"""Local stand-ins the agent census runs graphs against: no request leaves this machine.

- `StandInWeb`: one loopback HTTP server for every host a block fetches (pages, a SearXNG
  JSON search, and the YouTube endpoints youtube-transcript-api reads captions from), reached
  through `LoopbackTransport`, which sends every request of the run there;
- `CensusLLM`: a GraphLLM answering every prompt with plausible fixed text, XML in the tags a
  prompt asks for, or JSON shaped by the schema the block sends;
- `plausible_inputs`: values for a graph's required inputs from their names and types;
- `RemoteStandIn`: tests/fakes/autogpt_server.py's AutoGPT stand-in, served on loopback.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from company.graphs.blocks.registry import BlockRegistry
from company.graphs.interface import InputSpec, graph_inputs
from company.graphs.model import Graph

SEARCH_BASE_URL = "http://searxng.census.invalid"
INNERTUBE_KEY = "AIzaCensusStandInKey"
VIDEO_IDS = ("dQw4w9WgXcQ", "jNQXAC9IVRw", "9bZkp7q19f0")
SAMPLE_EMAIL = "hello@example.com"
CAPTION_LINES = (
    "Welcome to this short talk about building useful software agents.",
    "First we look at the problem, then at three practical ways to solve it.",
    "Thanks for watching, and see you in the next video.",
)
ARTICLE = f"""<!DOCTYPE html>
<html><head><title>Example Studio | Practical automation</title></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Practical automation for small teams</h1>
<p>Example Studio helps small teams automate the dull parts of their week: reports, follow-up
emails and research notes, so that people can spend their time on the work that matters.</p>
<p>Our agents read the web, summarise what they find and draft answers for a human to check.
Contact us at {SAMPLE_EMAIL} or read the videos we recommend:
<a href="https://www.youtube.com/watch?v={VIDEO_IDS[0]}">watch?v={VIDEO_IDS[0]}</a>,
<a href="https://www.youtube.com/watch?v={VIDEO_IDS[1]}">watch?v={VIDEO_IDS[1]}</a>.</p>
</article><footer>Copyright Example Studio</footer></body></html>"""
SEARCH_RESULTS = [
    {"title": "Example Studio - contact", "url": "https://example.com/contact",
     "content": f"Reach the Example Studio team at {SAMPLE_EMAIL}."},
    {"title": "Practical automation - Example blog", "url": "https://example.org/automation",
     "content": "How small teams automate reports and research notes."},
    {"title": "Agents explained", "url": "https://example.net/agents",
     "content": "A gentle introduction to software agents."},
]


# ----- the loopback web -----


class _Web(BaseHTTPRequestHandler):
    """Answers every host: YouTube's caption endpoints, SearXNG's JSON search, and pages."""

    server: _WebServer

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _seen(self) -> tuple[str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        host = self.headers.get("Host", "")
        self.server.seen.append(f"{self.command} {host}{self.path}")
        return url.path, parse_qs(url.query)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        """Pages, search results, the watch page and caption tracks."""
        path, query = self._seen()
        if path == "/watch":
            page = f'<html><script>ytcfg.set({{"INNERTUBE_API_KEY": "{INNERTUBE_KEY}"}})</script>'
            self._send(200, page + "</html>", "text/html; charset=utf-8")
        elif path == "/api/timedtext":
            lines = "".join(
                f'<text start="{i * 2}.0" dur="2.0">{line}</text>'
                for i, line in enumerate(CAPTION_LINES)
            )
            body = f'<?xml version="1.0" encoding="utf-8" ?><transcript>{lines}</transcript>'
            self._send(200, body, "text/xml; charset=utf-8")
        elif path.endswith("/search") and query.get("format") == ["json"]:
            q = query.get("q", [""])[0]
            body = json.dumps({"query": q, "results": SEARCH_RESULTS, "unresponsive_engines": []})
            self._send(200, body, "application/json")
        else:
            self._send(200, ARTICLE, "text/html; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        """YouTube's player API (the caption track list); any other POST answers JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, query = self._seen()
        if path == "/youtubei/v1/player" and query.get("key") == [INNERTUBE_KEY]:
            video = str(json.loads(raw or b"{}").get("videoId", VIDEO_IDS[0]))
            track = {
                "baseUrl": f"https://www.youtube.com/api/timedtext?v={video}&lang=en",
                "name": {"runs": [{"text": "English"}]},
                "languageCode": "en",
                "isTranslatable": True,
            }
            player = {
                "playabilityStatus": {"status": "OK"},
                "captions": {"playerCaptionsTracklistRenderer": {"captionTracks": [track]}},
            }
            self._send(200, json.dumps(player), "application/json")
        else:
            self._send(200, json.dumps({"ok": True, "received": len(raw)}), "application/json")

    do_PUT = do_PATCH = do_DELETE = do_POST


class _WebServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]


class StandInWeb:
    """The loopback web server, started and stopped as a context manager."""

    def __init__(self) -> None:
        self.server = _WebServer(("127.0.0.1", 0), _Web)
        self.server.seen = []
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    @property
    def seen(self) -> list[str]:
        """`METHOD host/path?query` of every request it answered."""
        return self.server.seen

    def __enter__(self) -> StandInWeb:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class LoopbackTransport(httpx.AsyncBaseTransport):
    """Sends every request, whatever its host and scheme, to the loopback web server (the Host
    header keeps the name the block asked for)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward to 127.0.0.1."""
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the pool."""
        await self.inner.aclose()


# ----- the LLM -----

_EMPTY_TAG_PAIR = re.compile(r"<([A-Za-z_][\w.-]*)>\s*</\1>")
_TRUE_FALSE = re.compile(r"\bonly 'true' or 'false'", re.IGNORECASE)
GENERIC_ANSWER = (
    "Small teams can automate routine work with a few well-chosen agents: one reads the "
    "sources, one summarises them, and a person checks the result before it goes out."
)


def _sample_text(name: str, context: str) -> Any:
    """A plausible value for a field or XML tag called `name`."""
    key = name.lower()
    if "email" in key:
        return SAMPLE_EMAIL
    if key in ("list", "urls", "items") or key.endswith("_list"):
        if "youtube" in context.lower():
            return [f"https://www.youtube.com/watch?v={v}" for v in VIDEO_IDS]
        return ["First idea", "Second idea", "Third idea"]
    if "url" in key or "link" in key or "website" in key:
        return "https://example.com/"
    if "keyword" in key:
        return "automation, agents, small teams"
    return f"Sample {name.replace('_', ' ')}: {GENERIC_ANSWER}"


def _from_schema(schema: Any, name: str, context: str) -> Any:
    """A value matching a JSON schema (the shapes our LLM blocks send)."""
    if not isinstance(schema, dict):
        return _sample_text(name, context)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {key: _from_schema(sub, key, context) for key, sub in props.items()}
    if kind == "array":
        return [_from_schema(schema.get("items"), name, context) for _ in range(2)]
    if kind in ("integer", "number"):
        return 3
    if kind == "boolean":
        return True
    return _sample_text(name, context)


def text_answer(prompt: str) -> str:
    """XML in the tags the prompt asks for (`<x></x>`), `true` for a yes/no condition, or a
    fixed paragraph."""
    tags = list(dict.fromkeys(_EMPTY_TAG_PAIR.findall(prompt)))
    if tags:
        parts = []
        for tag in tags:
            value = _sample_text(tag, prompt)
            value = ", ".join(value) if isinstance(value, list) else value
            parts.append(f"<{tag}>{value}</{tag}>")
        return "\n".join(parts)
    if _TRUE_FALSE.search(prompt):
        return "true"
    return GENERIC_ANSWER


@dataclass
class ToolAnswer:
    """An assistant turn without tool calls (the GraphToolAnswer shape)."""

    content: str
    tool_calls: list[Any] = field(default_factory=list)


class CensusLLM:
    """A GraphLLM that answers at once with plausible fixed text or schema-shaped JSON."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def ask(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        """Record the call and answer it."""
        self.calls.append({"messages": messages, "model": model, "json_schema": json_schema})
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        if json_schema is not None:
            return json.dumps(_from_schema(json_schema, "answer", prompt))
        return text_answer(prompt)

    async def ask_tools(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
    ) -> ToolAnswer:
        """Answer in text, calling no tool."""
        self.calls.append({"messages": messages, "model": model, "tools": tools})
        prompt = "\n".join(str(m.get("content") or "") for m in messages)
        return ToolAnswer(content=text_answer(prompt))


# ----- inputs -----


def plausible_value(spec: InputSpec) -> Any:
    """A value for one input from its type, name, description and options."""
    if spec.options:
        return spec.options[0]
    words = f"{spec.name} {spec.description}".lower()
    if spec.type == "boolean":
        return True
    if spec.type in ("integer", "number") or any(
        w in words for w in ("number of", "count", "threshold", "radius", "how many")
    ):
        return 3 if spec.type != "string" else "3"
    if spec.type == "array":
        return ["automation", "agents"]
    if spec.type == "object":
        return {"topic": "automation"}
    if "email" in words:
        return SAMPLE_EMAIL
    if "youtube" in words:
        return f"https://www.youtube.com/watch?v={VIDEO_IDS[0]}"
    if any(w in words for w in ("url", "website", "link", "homepage")):
        return "https://example.com/"
    if "word count" in words or "length" in words:
        return "500"
    if "time range" in words or "date" in words:
        return "the last day"
    return "practical automation for small teams"


def plausible_inputs(graph: Graph, registry: BlockRegistry) -> dict[str, Any]:
    """Values for the graph's required inputs (the others keep their defaults)."""
    return {s.name: plausible_value(s) for s in graph_inputs(graph, registry) if s.required}


# ----- the AutoGPT server -----


class RemoteStandIn:
    """tests/fakes/autogpt_server.py's app served by uvicorn on a loopback port, so the remote
    client talks real HTTP to it; `register` makes a graph known there (others are 404)."""

    def __init__(self, outputs: dict[str, list[Any]] | None = None) -> None:
        import uvicorn

        from tests.fakes.autogpt_server import FakeAutoGPT, create_app

        self.state = FakeAutoGPT(graphs=set(), outputs=outputs or {"result": ["done"]})
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        config = uvicorn.Config(create_app(self.state), log_level="error", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def base_url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def register(self, graph: Graph) -> None:
        """Make the graph's id and version known to the server (as an upload would)."""
        assert self.state.graphs is not None
        self.state.graphs.add((graph.id, graph.version or 1))

    def __enter__(self) -> RemoteStandIn:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the AutoGPT stand-in server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.socket.close()


@contextmanager
def instant_countdowns() -> Iterator[None]:
    """CountdownTimerBlock waits no time while the census runs (clock's `sleep` replaced)."""
    from company.graphs.blocks import clock

    async def no_wait(seconds: float) -> None:
        return None

    saved = clock.sleep
    clock.sleep = no_wait
    try:
        yield
    finally:
        clock.sleep = saved
