"""AutoGPT's search blocks (jina/search.py): read a web page's text, search the web.

AutoGPT sends both to Jina's hosted services. Here a page is fetched through `ctx.http`
(SSRF-safe, every redirect re-checked) and its readable text extracted in-process; a search
goes to the backend `GraphSettings.search` names: a SearXNG instance (default) or Jina.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.config import GraphSettings, SearchSettings
from company.graphs.offload import run_cpu_bound
from company.graphs.page_text import extract_readable, page_kind, reader_format
from company.graphs.safe_http import BlockedAddressError, FetchResult, SafeHttpClient

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PAGE_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"
_SETTING = "graphs.search"  # where the backend is configured in config/config.yaml


def with_scheme(url: str) -> str:
    """The URL with `https://` in front when it names no scheme (`example.com/page`)."""
    url = url.strip()
    if "://" in url:
        return url
    return "https://" + url.lstrip("/")


def _status_text(status: int) -> str:
    reason = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {reason}".rstrip()


def _fetch_problem(err: Exception, timeout_s: float) -> str:
    """What went wrong with a request, in words."""
    if isinstance(err, httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s"
    if isinstance(err, httpx.HTTPError):
        return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return str(err)


# ----- ExtractWebsiteContentBlock -----


class ExtractWebsiteContentBlock(Block):
    """Fetches a web page and yields its readable text (or, with raw_content, the raw body)."""

    id = "436c3984-57fd-4b85-8e9a-459b356883bd"
    description = "This block scrapes the content from the given web URL."
    needs_network = True

    class Input(BlockSchema):
        """Input pins (AutoGPT's `credentials`, a Jina API key, is not used: no Jina reader)."""

        credentials: Any = None
        url: str
        raw_content: bool = False

    class Output(BlockSchema):
        """Output pins."""

        content: str
        error: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `content`, or `error` naming the URL and what failed."""
        if not input_data.url.strip():
            yield "error", "url is empty: give the http(s) address of a page"
            return
        url = with_scheme(input_data.url)
        try:
            page = await ctx.http.request("GET", url, headers={"Accept": _PAGE_ACCEPT})
        except BlockedAddressError as err:
            yield "error", str(err)
            return
        except (httpx.HTTPError, ValueError) as err:
            problem = _fetch_problem(err, ctx.settings.web_timeout_s)
            yield "error", f"could not fetch {url}: {problem}"
            return
        if not 200 <= page.status < 300:
            yield "error", f"{_status_text(page.status)} from {page.url}"
            return
        if input_data.raw_content:
            yield "content", page.text
            return
        kind = page_kind(page.headers.get("content-type", ""), page.content)
        if kind == "text":
            yield "content", page.text
        elif kind == "binary":
            mime = page.headers.get("content-type", "").split(";")[0].strip()
            yield "error", (
                f"{page.url} is not a web page or text ({mime}); this block reads HTML and "
                "plain text only"
            )
        else:
            async for pair in _readable(page, ctx):
                yield pair


async def _readable(page: FetchResult, ctx: BlockContext) -> BlockOutput:
    # A charset in the HTTP header wins; else trafilatura reads the page's <meta charset>.
    html: bytes | str = (
        page.text if "charset=" in page.headers.get("content-type", "") else page.content
    )
    found = await run_cpu_bound(
        ctx, "HTML text extraction", lambda _: extract_readable(html, page.url)
    )
    if found is None:
        yield "error", f"no readable text found on {page.url}"
    else:
        yield "content", reader_format(found, page.url)


# ----- SearchTheWebBlock -----


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


class BackendClient(SafeHttpClient):
    """A SafeHttpClient that trusts one origin: the search backend the operator configured.

    Requests to that origin skip the private-address check (a SearXNG on localhost is the
    usual setup); a redirect to any other origin is vetted as usual.
    """

    def __init__(self, trusted_url: str, **options: Any):
        super().__init__(**options)
        self.trusted_origin = _origin(httpx.URL(trusted_url))

    async def _target(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        if url.scheme in _DEFAULT_PORTS and _origin(url) == self.trusted_origin:
            return url, {}, {}
        return await super()._target(url)


class _Borrowed(httpx.AsyncBaseTransport):
    """Another client's transport, used but not closed (its owner closes it)."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the owner's transport."""
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Leave the transport open for its owner."""


def _backend_client(ctx: BlockContext, trusted_url: str) -> BackendClient:
    """A client for the search backend with the run's web limits and its HTTP transport."""
    # A transport given to the runner (tests, proxies) sits in the run client's options.
    shared = getattr(ctx.http, "_options", {}).get("transport")
    return BackendClient(
        trusted_url,
        timeout_s=ctx.settings.search.timeout_s,
        max_bytes=ctx.http.max_bytes,
        max_redirects=ctx.http.max_redirects,
        allow_private_network=ctx.settings.allow_private_network,
        user_agent=ctx.settings.user_agent,
        transport=_Borrowed(shared) if shared is not None else None,
    )


def _one_line(value: Any) -> str:
    return " ".join(str(value or "").split())


def format_results(results: list[dict[str, Any]], limit: int) -> str:
    """Search results laid out as Jina's search answers: title, URL and description each."""
    blocks = []
    for item in results:
        url = _one_line(item.get("url"))
        if not url:
            continue
        n = len(blocks) + 1
        lines = [f"[{n}] Title: {_one_line(item.get('title')) or url}", f"[{n}] URL Source: {url}"]
        if description := _one_line(item.get("content")):
            lines.append(f"[{n}] Description: {description}")
        blocks.append("\n".join(lines))
        if len(blocks) == limit:
            break
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _searxng_results(fetched: FetchResult, base: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The result entries and the engines that failed; ValueError when it is not SearXNG JSON."""
    try:
        data = fetched.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError(
            f"{base}/search did not answer SearXNG JSON: is {_SETTING}.base_url a SearXNG "
            "instance?"
        )
    results = [r for r in data["results"] if isinstance(r, dict)]
    failed = [
        str(e[0]) if isinstance(e, list) and e else str(e)
        for e in data.get("unresponsive_engines") or []
    ]
    return results, failed


async def _search_searxng(query: str, ctx: BlockContext, s: SearchSettings) -> BlockOutput:
    base = s.base_url
    url = f"{base}/search?{urlencode({'q': query, 'format': 'json'})}"
    try:
        async with _backend_client(ctx, base) as client:
            fetched = await client.request("GET", url, headers={"Accept": "application/json"})
    except (httpx.HTTPError, ValueError) as err:
        yield "error", (
            f"cannot reach SearXNG at {base} ({_fetch_problem(err, s.timeout_s)}). Run a "
            f"SearXNG instance there with the json format enabled, or set {_SETTING}.base_url "
            f"to one (or {_SETTING}.kind: jina with a Jina API key)"
        )
        return
    if fetched.status == 403:
        yield "error", (
            f"SearXNG at {base} refused format=json ({_status_text(403)}): add json to "
            "search.formats in its settings.yml"
        )
        return
    if not 200 <= fetched.status < 300:
        yield "error", f"SearXNG at {base} answered {_status_text(fetched.status)}"
        return
    try:
        results, failed = _searxng_results(fetched, base)
    except ValueError as err:
        yield "error", str(err)
        return
    text = format_results(results, s.max_results)
    if text:
        yield "results", text
    elif failed:
        yield "error", f"SearXNG found nothing for {query!r}; engines that failed: " + ", ".join(
            failed
        )
    else:
        yield "results", f"No results found for {query!r}.\n"


async def _search_jina(query: str, ctx: BlockContext, s: SearchSettings) -> BlockOutput:
    key = s.resolved_jina_key()
    if key is None:
        yield "error", (
            f"{_SETTING}.kind is jina but no Jina API key is set: set {_SETTING}.jina_api_key "
            f"or the {s.jina_api_key_env} environment variable (or use {_SETTING}.kind: searxng)"
        )
        return
    url = f"{s.jina_base_url}/{quote(query, safe='')}"
    # The headers AutoGPT sends; the answer is Jina's plain-text result list.
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    try:
        async with _backend_client(ctx, s.jina_base_url) as client:
            fetched = await client.request("GET", url, headers=headers)
    except (httpx.HTTPError, ValueError) as err:
        yield "error", (
            f"cannot reach Jina search at {s.jina_base_url} "
            f"({_fetch_problem(err, s.timeout_s)})"
        )
        return
    status = fetched.status
    if status in (401, 403):
        yield "error", (
            f"Jina search rejected the API key ({_status_text(status)}): check "
            f"{_SETTING}.jina_api_key or {s.jina_api_key_env}"
        )
    elif 400 <= status < 500:
        yield "error", f"Search request failed: {_status_text(status)}: {fetched.text[:300]}"
    elif not 200 <= status < 300:
        yield "error", f"Search service unavailable: {_status_text(status)} from Jina search"
    else:
        yield "results", fetched.text


class SearchTheWebBlock(Block):
    """Searches the web with the configured backend and yields the results as one text."""

    id = "87840993-2053-44b7-8da4-187ad4ee518c"
    description = "This block searches the internet for the given search query."
    needs_network = True

    def missing_credentials(self, settings: GraphSettings) -> str | None:
        """With the Jina backend, the Jina API key (from the config or the environment)."""
        s = settings.search
        if s.kind != "jina" or s.resolved_jina_key() is not None:
            return None
        return (f"SearchTheWebBlock needs a Jina API key ({_SETTING}.kind is jina): set "
                f"{_SETTING}.jina_api_key or the {s.jina_api_key_env} environment variable")

    class Input(BlockSchema):
        """Input pins (AutoGPT's `credentials` is unused: the key is in graphs.search)."""

        credentials: Any = None
        query: str

    class Output(BlockSchema):
        """Output pins."""

        results: str
        error: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `results` (title, URL and description per result), or `error`."""
        query = input_data.query.strip()
        if not query:
            yield "error", "query is empty: give the words to search the web for"
            return
        s = ctx.settings.search
        backend = _search_jina if s.kind == "jina" else _search_searxng
        async for pair in backend(query, ctx, s):
            yield pair


BLOCKS: list[type[Block]] = [ExtractWebsiteContentBlock, SearchTheWebBlock]
