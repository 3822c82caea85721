#!/usr/bin/env python3
"""Container health check of an API node: exit 0 when its health route answers 200, else 1.

Standard library only (it runs every few seconds inside the image, next to a busy server).
``GET /health`` is asked first; a server without that route (404) is asked ``GET /v1/health``
with the API key of ``$COMPANY_API_KEY``. ``$COMPANY_HEALTH_URL`` overrides the address."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/health"
FALLBACK_PATH = "/v1/health"
KEY_ENV = "COMPANY_API_KEY"
URL_ENV = "COMPANY_HEALTH_URL"


def fetch_status(url: str, key: str | None, timeout_s: float) -> int:
    """The HTTP status of ``GET url`` (a Bearer ``key`` when given); 0 when nothing answered."""
    request = urllib.request.Request(url, method="GET")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):  # refused, reset, timed out, or a malformed address
        return 0


def fallback_url(url: str) -> str:
    """``url`` with its path replaced by ``/v1/health`` (scheme, host and port kept)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, FALLBACK_PATH, "", ""))


def probe(url: str, key: str | None, timeout_s: float = 4.0) -> tuple[bool, str]:
    """Is the API node at ``url`` healthy? Returns the verdict and a line saying why."""
    status = fetch_status(url, key, timeout_s)
    if status == 404:
        url = fallback_url(url)
        status = fetch_status(url, key, timeout_s)
    if status == 200:
        return True, f"{url} answered 200"
    if status == 0:
        return False, f"{url} did not answer"
    return False, f"{url} answered {status}"


def main() -> int:
    """Probe the configured address and print one line; the exit code is the verdict."""
    url = os.environ.get(URL_ENV, "").strip() or DEFAULT_URL
    key = os.environ.get(KEY_ENV, "").strip() or None
    healthy, detail = probe(url, key)
    print(detail, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
