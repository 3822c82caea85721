"""ExtractWebsiteContentBlock and SearchTheWebBlock against local stand-ins (page, SearXNG, Jina).

Pages are served on 127.0.0.1 but reached as a public address (93.184.216.34) through a
transport that forwards there, so the default address guard stays on and is exercised.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from company.graphs.blocks.base import Block, BlockContext
from company.graphs.blocks.search import (
    ExtractWebsiteContentBlock,
    SearchTheWebBlock,
    format_results,
    with_scheme,
)
from company.graphs.catalogue import Catalogue
from company.graphs.config import GraphSettings, SearchSettings
from company.graphs.model import Graph
from company.graphs.page_text import page_kind
from company.graphs.results import ExecutionStatus
from company.graphs.runner import GraphRunner
from company.graphs.safe_http import SafeHttpClient

CATALOGUE_DIR = Path(__file__).resolve().parents[1] / "config" / "graphs"
PUBLIC = "93.184.216.34"  # a public address: the guard lets it through, the transport forwards
JINA_KEY = "test-jina-key"
CONNECT_FAILED = r"ConnectError|cannot reach host '127\.0\.0\.1'"

ARTICLE = """<!DOCTYPE html>
<html><head><title>Herons | Birds Weekly</title>
<script>var trackingSecretScript = "do-not-show";</script>
<style>.menu { color: red }</style></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us menu</a></li></ul></nav>
<article>
<h1>The Heron Report</h1>
<p>Grey herons nest in colonies called heronries, often high in tall trees close to water.
They return to the same colony year after year, repairing last season's nests.</p>
<p>A heron hunts by standing perfectly still in shallow water and striking fish with its long
bill, a method that rewards patience more than speed.</p>
<p>Young herons leave the nest after about fifty days and disperse widely before they
settle.</p>
</article>
<footer>Copyright footer boilerplate, all rights reserved</footer>
</body></html>"""
LATIN1_PAGE = (
    '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body><article>'
    "<p>The caf\xe9 by the harbour serves cr\xe8me br\xfbl\xe9e every afternoon to sailors and "
    "walkers, and its terrace looks out over the fishing boats coming home.</p>"
    "</article></body></html>"
).encode("latin-1")
SEARX_RESULTS = [
    {"title": "Grey heron - Wikipedia", "url": "https://en.wikipedia.org/wiki/Grey_heron",
     "content": "The grey heron is a long-legged wading bird\n of the heron family."},
    {"title": "Heron nesting", "url": "https://birds.example/herons", "content": ""},
    {"title": "Third", "url": "https://third.example/", "content": "Not kept with max 2."},
]
JINA_TEXT = (
    "[1] Title: Grey heron\n[1] URL Source: https://en.wikipedia.org/wiki/Grey_heron\n"
    "[1] Description: A wading bird.\n"
)


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.hits.append(self.path)
        path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
        port = self.server.server_address[1]
        pages = {
            "/article": (ARTICLE.encode(), "text/html; charset=utf-8"),
            "/latin1": (LATIN1_PAGE, "text/html"),
            "/notes.txt": (b"plain notes\nline two\n", "text/plain; charset=utf-8"),
            "/photo.png": (b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png"),
            "/blank": (b"<html><head></head><body><script>x()</script></body></html>", "text/html"),
        }
        if path in pages:
            self._send(200, *pages[path])
        elif path == "/to-private":
            self._redirect(f"http://127.0.0.1:{port}/secret")
        elif path == "/secret":
            self._send(200, b"internal secret", "text/plain")
        elif path == "/search":
            self._searxng(query)
        elif path == "/noformats/search":
            self._send(403, b"Forbidden", "text/html")
        elif path == "/redir/search":
            self._redirect(f"http://localhost:{port}/search?q=x&format=json")
        elif path == "/notsearx/search":
            self._send(200, b"<html>a blog</html>", "text/html")
        elif path.startswith("/jina/"):
            if self.headers.get("Authorization") != f"Bearer {JINA_KEY}":
                self._send(401, b'{"message": "invalid key"}', "application/json")
            else:
                self._send(200, JINA_TEXT.encode(), "text/plain; charset=utf-8")
        else:
            self._send(404, b"not here", "text/plain")

    def _searxng(self, query: dict[str, list[str]]) -> None:
        assert query.get("format") == ["json"]
        q = query["q"][0]
        if q == "nothing":
            body = {"query": q, "results": [], "unresponsive_engines": [["duckduckgo", "timeout"]]}
        elif q == "nothing at all":
            body = {"query": q, "results": [], "unresponsive_engines": []}
        else:
            body = {"query": q, "results": SEARX_RESULTS, "unresponsive_engines": []}
        self._send(200, json.dumps(body).encode(), "application/json")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class ToLoopback(httpx.AsyncBaseTransport):
    """Sends requests for the PUBLIC address (http or https) to the local stand-in server."""

    def __init__(self, base: str):
        self.port = httpx.URL(base).port
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(str(request.url))
        if request.url.host == PUBLIC:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def guarded(server: str) -> AsyncIterator[tuple[SafeHttpClient, ToLoopback]]:
    """A client with the default guard (private addresses refused) and the forwarder."""
    transport = ToLoopback(server)
    async with SafeHttpClient(transport=transport) as client:
        yield client, transport


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_ctx(http: SafeHttpClient, **settings: Any) -> BlockContext:
    return BlockContext(
        settings=GraphSettings(**settings), llm=None, http=http, graph=Graph(nodes=[]),
        node_id="n", node_exec_id="e",
    )


async def run_block(cls: type[Block], ctx: BlockContext, **inputs: Any) -> dict[str, Any]:
    block = cls()
    pairs = [pair async for pair in block.run(block.validate_input(inputs), ctx)]
    assert len(pairs) == 1, pairs
    return dict(pairs)


# ----- ExtractWebsiteContentBlock -----


async def test_article_text_without_boilerplate(guarded: tuple[SafeHttpClient, Any]) -> None:
    out = await run_block(
        ExtractWebsiteContentBlock, make_ctx(guarded[0]), url=f"http://{PUBLIC}/article"
    )
    content = out["content"]
    assert "Grey herons nest in colonies called heronries" in content
    assert "rewards patience more than speed" in content
    assert f"URL Source: http://{PUBLIC}/article" in content
    assert "Heron" in content.split("\n", 1)[0]  # the title line
    for boilerplate in ("About us menu", "trackingSecretScript", "do-not-show", "color: red",
                        "Copyright footer"):
        assert boilerplate not in content


async def test_raw_content_is_the_page_as_served(guarded: tuple[SafeHttpClient, Any]) -> None:
    out = await run_block(
        ExtractWebsiteContentBlock, make_ctx(guarded[0]),
        url=f"http://{PUBLIC}/article", raw_content=True,
    )
    assert out == {"content": ARTICLE}


async def test_charset_from_the_page_meta_tag(guarded: tuple[SafeHttpClient, Any]) -> None:
    out = await run_block(
        ExtractWebsiteContentBlock, make_ctx(guarded[0]), url=f"http://{PUBLIC}/latin1"
    )
    assert "crème brûlée" in out["content"]


async def test_plain_text_passes_through(guarded: tuple[SafeHttpClient, Any]) -> None:
    out = await run_block(
        ExtractWebsiteContentBlock, make_ctx(guarded[0]), url=f"http://{PUBLIC}/notes.txt"
    )
    assert out == {"content": "plain notes\nline two\n"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", f"HTTP 404 Not Found from http://{PUBLIC}/missing"),
        ("/photo.png", "is not a web page or text (image/png)"),
        ("/blank", f"no readable text found on http://{PUBLIC}/blank"),
    ],
)
async def test_pages_it_cannot_read_are_clear_errors(
    path: str, message: str, guarded: tuple[SafeHttpClient, Any]
) -> None:
    out = await run_block(
        ExtractWebsiteContentBlock, make_ctx(guarded[0]), url=f"http://{PUBLIC}{path}"
    )
    assert message in out["error"]


async def test_redirect_to_a_private_address_is_refused(
    guarded: tuple[SafeHttpClient, ToLoopback], server: str
) -> None:
    _Handler.hits.clear()
    out = await run_block(
        ExtractWebsiteContentBlock, make_ctx(guarded[0]), url=f"http://{PUBLIC}/to-private"
    )
    assert out["error"].startswith(f"refused to fetch {server}/secret")
    assert "allow_private_network is off" in out["error"]
    assert _Handler.hits == ["/to-private"]  # the secret was never asked for


async def test_private_page_url_is_refused(server: str) -> None:
    async with SafeHttpClient() as client:
        out = await run_block(ExtractWebsiteContentBlock, make_ctx(client), url=f"{server}/article")
    assert "refused to fetch" in out["error"]


async def test_url_without_scheme_gets_https(guarded: tuple[SafeHttpClient, ToLoopback]) -> None:
    client, transport = guarded
    out = await run_block(ExtractWebsiteContentBlock, make_ctx(client), url=f"{PUBLIC}/notes.txt")
    assert out == {"content": "plain notes\nline two\n"}
    assert transport.seen[-1] == f"https://{PUBLIC}/notes.txt"
    assert with_scheme("  example.org/a ") == "https://example.org/a"
    assert with_scheme("http://example.org/a") == "http://example.org/a"


async def test_fetch_failure_and_empty_url_are_clear_errors() -> None:
    url = closed_port_url()
    async with SafeHttpClient(allow_private_network=True) as client:
        ctx = make_ctx(client)
        out = await run_block(ExtractWebsiteContentBlock, ctx, url=f"{url}/page")
        assert out["error"].startswith(f"could not fetch {url}/page: ")
        assert re.search(CONNECT_FAILED, out["error"])
        out = await run_block(ExtractWebsiteContentBlock, ctx, url="  ")
        assert "url is empty" in out["error"]


def test_page_kind() -> None:
    assert page_kind("text/html; charset=utf-8", b"") == "html"
    assert page_kind("text/markdown", b"# hi") == "text"
    assert page_kind("application/pdf", b"%PDF") == "binary"
    assert page_kind("", b"  <!DOCTYPE html><html>") == "html"
    assert page_kind("application/octet-stream", b"\x00\x01") == "binary"
    assert page_kind("", b"just words") == "text"


# ----- SearchTheWebBlock: SearXNG -----


async def test_searxng_results_formatted_as_jina_does(server: str) -> None:
    # The backend is operator configuration: reached on loopback with the guard on.
    async with SafeHttpClient() as client:
        ctx = make_ctx(client, search={"base_url": server, "max_results": 2})
        out = await run_block(SearchTheWebBlock, ctx, query="grey heron")
    assert out == {"results": (
        "[1] Title: Grey heron - Wikipedia\n"
        "[1] URL Source: https://en.wikipedia.org/wiki/Grey_heron\n"
        "[1] Description: The grey heron is a long-legged wading bird of the heron family.\n"
        "\n"
        "[2] Title: Heron nesting\n"
        "[2] URL Source: https://birds.example/herons\n"
    )}


async def test_searxng_redirect_off_its_origin_is_guarded(server: str) -> None:
    async with SafeHttpClient() as client:
        ctx = make_ctx(client, search={"base_url": f"{server}/redir"})
        out = await run_block(SearchTheWebBlock, ctx, query="grey heron")
    assert "refused to fetch http://localhost:" in out["error"]


async def test_searxng_down_names_the_setting() -> None:
    base = closed_port_url()
    async with SafeHttpClient() as client:
        out = await run_block(
            SearchTheWebBlock, make_ctx(client, search={"base_url": base}), query="heron"
        )
    assert out["error"].startswith(f"cannot reach SearXNG at {base} (")
    assert re.search(CONNECT_FAILED, out["error"])
    assert "graphs.search.base_url" in out["error"]


@pytest.mark.parametrize(
    ("base", "query", "expected"),
    [
        ("/noformats", "heron", ("error", "add json to search.formats")),
        ("/notsearx", "heron", ("error", "did not answer SearXNG JSON")),
        ("", "nothing", ("error", "engines that failed: duckduckgo")),
        ("", "nothing at all", ("results", "No results found for 'nothing at all'.")),
    ],
)
async def test_searxng_problems(
    server: str, base: str, query: str, expected: tuple[str, str]
) -> None:
    async with SafeHttpClient() as client:
        ctx = make_ctx(client, search={"base_url": server + base})
        out = await run_block(SearchTheWebBlock, ctx, query=query)
    pin, text = expected
    assert text in out[pin]


def test_format_results_skips_entries_without_url() -> None:
    assert format_results([{"title": "x"}, {"url": "https://a.example"}], 5) == (
        "[1] Title: https://a.example\n[1] URL Source: https://a.example\n"
    )
    assert format_results([], 5) == ""


# ----- SearchTheWebBlock: Jina -----


async def test_jina_passes_its_text_through(server: str, monkeypatch: Any) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    _Handler.hits.clear()
    search = {"kind": "jina", "jina_base_url": f"{server}/jina", "jina_api_key": JINA_KEY}
    async with SafeHttpClient() as client:
        out = await run_block(SearchTheWebBlock, make_ctx(client, search=search),
                              query="grey heron/egret?")
    assert out == {"results": JINA_TEXT}
    assert _Handler.hits == ["/jina/grey%20heron%2Fegret%3F"]


async def test_jina_key_from_the_environment(server: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("JINA_API_KEY", JINA_KEY)
    search = {"kind": "jina", "jina_base_url": f"{server}/jina"}
    async with SafeHttpClient() as client:
        out = await run_block(SearchTheWebBlock, make_ctx(client, search=search), query="heron")
    assert out == {"results": JINA_TEXT}


async def test_jina_without_or_with_a_wrong_key(server: str, monkeypatch: Any) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    async with SafeHttpClient() as client:
        ctx = make_ctx(client, search={"kind": "jina", "jina_base_url": f"{server}/jina"})
        out = await run_block(SearchTheWebBlock, ctx, query="heron")
        assert "graphs.search.jina_api_key" in out["error"]
        assert "JINA_API_KEY" in out["error"]
        search = {"kind": "jina", "jina_base_url": f"{server}/jina", "jina_api_key": "wrong"}
        out = await run_block(SearchTheWebBlock, make_ctx(client, search=search), query="heron")
        assert "rejected the API key (HTTP 401 Unauthorized)" in out["error"]
        out = await run_block(SearchTheWebBlock, make_ctx(client), query="   ")
        assert "query is empty" in out["error"]


def test_search_settings_validate_urls() -> None:
    assert SearchSettings(base_url="http://searx.lan:8080/").base_url == "http://searx.lan:8080"
    with pytest.raises(ValidationError, match="http:// or https://"):
        SearchSettings(base_url="localhost:8888")
    assert GraphSettings().search.kind == "searxng"


# ----- the catalogue graphs through GraphRunner -----


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(CATALOGUE_DIR)


async def test_read_web_page_graph(server: str, catalogue: Catalogue) -> None:
    entry = catalogue.get("read_web_page")
    assert entry.needs_network and [s.name for s in entry.inputs] == ["url"]
    runner = GraphRunner(GraphSettings(), http_transport=ToLoopback(server))
    run = await runner.run(entry.graph, {"url": f"http://{PUBLIC}/article"})
    assert run.status == ExecutionStatus.COMPLETED and not run.failed_nodes
    (text,) = run.outputs["text"]
    assert "Grey herons nest in colonies" in text and "About us menu" not in text

    run = await runner.run(entry.graph, {"url": f"http://{PUBLIC}/to-private"})
    assert run.outputs.get("text", []) == []
    (failed,) = run.failed_nodes
    assert failed.block_name == "ExtractWebsiteContentBlock"
    assert "refused to fetch" in failed.error


async def test_web_search_graph(server: str, catalogue: Catalogue) -> None:
    entry = catalogue.get("web_search")
    assert entry.needs_network and [s.name for s in entry.inputs] == ["query"]
    # The runner's transport (here a forwarder) also carries the backend's requests.
    transport = ToLoopback(server)
    settings = GraphSettings(search={"base_url": f"http://{PUBLIC}"})
    run = await GraphRunner(settings, http_transport=transport).run(
        entry.graph, {"query": "grey heron"}
    )
    assert run.status == ExecutionStatus.COMPLETED and not run.failed_nodes
    (results,) = run.outputs["results"]
    assert results.startswith("[1] Title: Grey heron - Wikipedia\n")
    assert transport.seen == [f"http://{PUBLIC}/search?q=grey+heron&format=json"]
