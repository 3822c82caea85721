"""A `requests.Session` whose requests go through a block's `SafeHttpClient` (ctx.http).

For synchronous libraries that take a `requests.Session` (youtube-transcript-api): they run on
a worker thread, and each request is sent on the event loop that owns the async client, so
SSRF checks, size and time limits (and test transports) apply to them as to any block fetch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import default_user_agent, get_encoding_from_headers

from company.graphs.safe_http import SafeHttpClient

# Headers the async client sets itself (or that describe requests' own connection).
_DROPPED_HEADERS = frozenset({"content-length", "connection", "host", "accept-encoding"})


class SafeHttpAdapter(BaseAdapter):
    """A requests transport adapter that sends through a `SafeHttpClient` on `loop`."""

    def __init__(
        self, http: SafeHttpClient, loop: asyncio.AbstractEventLoop, timeout_s: float
    ) -> None:
        super().__init__()
        self._http = http
        self._loop = loop
        self._timeout_s = timeout_s

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
        verify: Any = True, cert: Any = None, proxies: Any = None,
    ) -> requests.Response:
        """Send one prepared request (from a worker thread) and wait for the whole answer."""
        if self._loop.is_running() and _on_loop_thread(self._loop):
            raise RuntimeError("SafeHttpAdapter must be used from a worker thread, not the loop")
        headers = {
            k: v for k, v in request.headers.items()
            if k.lower() not in _DROPPED_HEADERS
            and not (k.lower() == "user-agent" and v == default_user_agent())  # ours applies
        }
        coro = self._http.request(
            request.method or "GET", request.url or "", headers=headers, **_body(request)
        )
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            fetched = future.result(timeout=self._timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise requests.Timeout(
                f"no complete answer from {request.url} within {self._timeout_s:g} s"
            ) from None
        response = requests.Response()
        response.status_code = fetched.status
        response.headers = CaseInsensitiveDict(fetched.headers.items())
        response._content = fetched.content  # already decoded (gzip etc.) and size-checked
        response.url = fetched.url
        response.encoding = get_encoding_from_headers(response.headers)
        response.reason = _reason(fetched.status)
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to close: the async client belongs to the run."""


def _body(request: requests.PreparedRequest) -> dict[str, Any]:
    """The body as `SafeHttpClient.request` keywords: JSON and form bodies only."""
    body = request.body
    if not body:
        return {}
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    if not isinstance(body, str):
        raise TypeError("SafeHttpAdapter sends JSON or form bodies only, not streams or files")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return {"json_body": json.loads(body)}
    if content_type == "application/x-www-form-urlencoded":
        return {"data": dict(parse_qsl(body, keep_blank_values=True))}
    raise TypeError(f"SafeHttpAdapter cannot send a {content_type or 'raw'} body")


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def safe_session(
    http: SafeHttpClient, loop: asyncio.AbstractEventLoop, timeout_s: float
) -> requests.Session:
    """A session for a worker thread whose every request goes through `http` on `loop`;
    `timeout_s` bounds each request, redirects included."""
    session = requests.Session()
    session.trust_env = False  # no proxies or CA bundles from the environment
    adapter = SafeHttpAdapter(http, loop, timeout_s)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
