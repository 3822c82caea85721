"""HTTP download to ``<file>.part`` with resume (Range), short connect timeouts and progress."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from company.models.digest import sha256_file
from company.models.errors import SourceFailed
from company.models.progress import Progress

if TYPE_CHECKING:
    import httpx

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _headers() -> dict[str, str]:
    headers = {"User-Agent": "the-company-models/1"}
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def download(url: str, part: Path, *, expected_size: int | None, progress: Progress,
             stage: str, connect_timeout_s: float, read_timeout_s: float,
             attempts: int) -> str:
    """Fetch ``url`` into ``part`` (resuming what is there); return the file's sha256.

    A dropped connection is resumed with a Range request (or restarted when the server
    ignores Range), at most ``attempts`` times; an unreachable host or an HTTP error fails
    at once with ``SourceFailed``."""
    import httpx

    timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
    part.parent.mkdir(parents=True, exist_ok=True)
    last_error = "no attempt made"
    with httpx.Client(timeout=timeout, follow_redirects=True, headers=_headers()) as client:
        for _ in range(attempts):
            have = part.stat().st_size if part.exists() else 0
            if expected_size is not None and have > expected_size:
                part.unlink()
                have = 0
            if expected_size is not None and have == expected_size and have > 0:
                break
            try:
                _fetch(client, url, part, have, expected_size, progress, stage)
                break
            except httpx.ConnectError as exc:
                raise SourceFailed(f"network unreachable ({exc})") from None
            except httpx.ConnectTimeout:
                raise SourceFailed(f"no answer within {connect_timeout_s:g} s") from None
            except (httpx.TransportError, _Incomplete) as exc:
                last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            raise SourceFailed(f"download kept breaking off ({last_error}) after "
                               f"{attempts} attempts; the partial file {part} is kept for "
                               "the next try")
    return sha256_file(part, progress, f"{stage}: verifying")


class _Incomplete(Exception):
    """The body ended before Content-Length said it would."""


def _fetch(client: httpx.Client, url: str, part: Path, have: int, expected_size: int | None,
           progress: Progress, stage: str) -> None:
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and have:
            part.unlink()  # the part does not fit the file any more: start again
            raise _Incomplete("range not satisfiable; restarting")
        if response.status_code >= 400:
            raise SourceFailed(f"HTTP {response.status_code} from {response.url}")
        start = 0
        total: int | None = None
        if response.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if not match or int(match.group(1)) != have:
                part.unlink(missing_ok=True)
                raise _Incomplete("server answered a different range; restarting")
            start = have
            total = int(match.group(3)) if match.group(3) != "*" else None
        elif "content-length" in response.headers:
            total = int(response.headers["content-length"])
        if expected_size is not None and total is not None and total != expected_size:
            raise SourceFailed(f"{response.url} has {total} bytes, expected {expected_size}")
        total = total if total is not None else expected_size
        done = start
        with part.open("ab" if start else "wb") as handle:
            for chunk in response.iter_bytes():  # as received: a drop keeps what came
                handle.write(chunk)
                done += len(chunk)
                progress(stage, done, total)
        if total is not None and done < total:
            raise _Incomplete(f"got {done} of {total} bytes")
