"""A switch that blocks requests to real model servers (tests turn it off), after pydantic-ai's
``ALLOW_MODEL_REQUESTS``: every real provider checks it before it sends a chat request."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from company.llm.base import LLMError

ALLOW_MODEL_REQUESTS: bool = True
"""False blocks every model request except to the hosts in ``allowed_hosts``."""

allowed_hosts: set[str] = set()
"""Hosts that stay reachable while requests are blocked (fakes on loopback), as URLs or
``host:port``; a URL is compared by its ``host:port`` only."""


class ModelRequestsBlocked(LLMError):
    """A provider tried to reach a model server while model requests are blocked."""


def host_key(host: str) -> str:
    """``host:port`` of a URL (``http://127.0.0.1:8/v1`` → ``127.0.0.1:8``); other text as is."""
    text = host.strip()
    if "://" in text:
        netloc = urlsplit(text).netloc
        return (netloc.rpartition("@")[2] or text).lower()
    return text.lower()


def is_allowed(host: str) -> bool:
    """True when a request to ``host`` may go out now."""
    if ALLOW_MODEL_REQUESTS:
        return True
    key = host_key(host)
    return any(host_key(allowed) == key for allowed in allowed_hosts)


def check_model_request(provider_name: str, host: str) -> None:
    """Raise ModelRequestsBlocked unless a request from this provider to ``host`` may go out."""
    if is_allowed(host):
        return
    raise ModelRequestsBlocked(
        f"model requests are blocked in tests; use the scripted provider or the fake_ollama "
        f"fixture (the {provider_name} provider tried to reach {host}; mark the test "
        "real_model or wrap the call in company.llm.guard.allow_model_requests() to allow it)"
    )


@contextmanager
def allow_model_requests(hosts: Iterable[str] | None = None) -> Iterator[None]:
    """Allow every model request (``hosts`` None) or only these hosts, inside the block."""
    global ALLOW_MODEL_REQUESTS
    if hosts is None:
        previous = ALLOW_MODEL_REQUESTS
        ALLOW_MODEL_REQUESTS = True
        try:
            yield
        finally:
            ALLOW_MODEL_REQUESTS = previous
        return
    added = [host for host in hosts if host not in allowed_hosts]
    allowed_hosts.update(added)
    try:
        yield
    finally:
        allowed_hosts.difference_update(added)
