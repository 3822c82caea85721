"""Request limits at the edge: a body size limit for the JSON routes (the upload routes bound
their own streams) and body read timeouts for every route."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STREAMED = re.compile(r"^/v1/(tasks/(voice|[^/]+/messages)|audio/(transcriptions|translations))$")
"""Routes that parse their bodies as streams with their own limits."""


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or STREAMED.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _send_413(send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, _detail(self.max_bytes))
            return message

        await self.app(scope, limited, send)


class BodyTimeout:
    """Answer 408 (and close) when a request body stalls: nothing for ``idle_s`` seconds, or not
    finished ``total_s`` seconds after the request began. Waits after the body (an event stream
    listening for the client to leave) are not limited."""

    def __init__(self, app: ASGIApp, idle_s: float, total_s: float) -> None:
        self.app = app
        self.idle_s = idle_s
        self.total_s = total_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_s
        finished = False

        async def timed() -> Message:
            nonlocal finished
            if finished:
                return await receive()
            left = deadline - loop.time()
            idle = self.idle_s <= left
            try:
                async with asyncio.timeout(max(0.0, min(self.idle_s, left))):
                    message = await receive()
            except TimeoutError:
                finished = True
                why = (f"no data for {self.idle_s:g} s" if idle
                       else f"not complete after {self.total_s:g} s")
                raise HTTPException(408, f"the request body stalled ({why})",
                                    headers={"Connection": "close"}) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                finished = True
            return message

        await self.app(scope, timed, send)


def _detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _detail(limit)}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()),
                          (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
