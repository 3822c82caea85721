"""Bearer-key authentication for ``/v1`` (and ``?token=`` where EventSource needs it)."""

from __future__ import annotations

import hmac

from fastapi import Request

from company.api.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two keys."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8"))


def check_request(request: Request, *, allow_query_token: bool = False) -> None:
    """Raise 401 unless the request carries the configured key (no key configured: open)."""
    expected = request.app.state.api.settings.api_key
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token and _same(token.strip(), expected):
        return
    if allow_query_token:
        query = request.query_params.get("token")
        if query and _same(query, expected):
            return
    missing = not header and not (allow_query_token and request.query_params.get("token"))
    detail = ("missing API key: send 'Authorization: Bearer <key>'" if missing
              else "invalid API key")
    raise ApiError(401, detail, headers=_CHALLENGE)


async def require_key(request: Request) -> None:
    """Dependency of every ``/v1`` route except the event stream."""
    check_request(request)


async def require_key_or_token(request: Request) -> None:
    """Dependency of the event stream: a Bearer header or ``?token=``."""
    check_request(request, allow_query_token=True)
