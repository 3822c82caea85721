"""HTTP fetching for blocks: refuses private networks (SSRF), bounded size, bounded time."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_REDIRECTS = (301, 302, 303, 307, 308)
# Headers kept when a redirect leaves the origin; every other one (Authorization, Cookie,
# API keys in custom headers...) stays with the origin it was meant for.
_CROSS_ORIGIN_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "cache-control", "content-language",
     "content-type", "pragma", "user-agent"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def keeps_credentials(old: httpx.URL, new: httpx.URL) -> bool:
    """True when a redirect stays on its origin (or upgrades http to https on the same host
    and default ports), as httpx and requests decide whether to keep credentials."""
    if _origin(old) == _origin(new):
        return True
    return (
        old.scheme == "http"
        and new.scheme == "https"
        and old.host == new.host
        and old.port in (None, 80)
        and new.port in (None, 443)
    )


def cross_origin_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers a request may carry to another origin: no credentials of any kind."""
    return {k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_HEADERS}


def _no_cookies() -> CookieJar:
    # Connections go to pinned IP addresses, so a cookie jar would file cookies under an IP
    # that many sites may share; blocks send cookies explicitly, per request, instead.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class NetworkUnreachableError(ValueError):
    """A host that cannot be resolved or connected to: the network (or the host) is down."""


NETWORK_FAILURE = re.compile(r"cannot (?:resolve|reach) host '")
"""How a network failure reads in a node's error (the messages NetworkUnreachableError has)."""


def is_network_failure(error: str | None) -> bool:
    """Whether an error text says a host could not be resolved or reached."""
    return bool(error and NETWORK_FAILURE.search(error))


class BlockedAddressError(ValueError):
    """The URL points at a loopback, private, link-local, multicast or reserved address."""


class ResponseTooLargeError(ValueError):
    """The response body is larger than the configured limit."""


def is_forbidden_ip(ip: IPAddress) -> bool:
    """True for any address that is not a public unicast internet address."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None and is_forbidden_ip(mapped):
            return True
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise NetworkUnreachableError(
            f"cannot resolve host '{host}': {err.strerror or err}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise NetworkUnreachableError(f"cannot resolve host '{host}'")
    return addresses


@dataclass
class FetchResult:
    """A fully read HTTP response."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    @property
    def text(self) -> str:
        """The body decoded with the response charset (UTF-8 by default)."""
        charset = "utf-8"
        content_type = self.headers.get("content-type", "")
        if "charset=" in content_type:
            charset = content_type.split("charset=", 1)[1].split(";")[0].strip() or charset
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    @property
    def is_json(self) -> bool:
        """True when the server says the body is JSON."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        return content_type == "application/json" or content_type.endswith("+json")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.content)


class SafeHttpClient:
    """An httpx client that vets every hop's addresses and stops reading at a size limit.

    Each request connects to the vetted IP itself (Host header and TLS SNI keep the
    name), so a DNS answer cannot change between the check and the connection.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 20.0,
        max_bytes: int = 5 * 1024 * 1024,
        max_redirects: int = 5,
        allow_private_network: bool = False,
        user_agent: str = "the-company-graphs/0.1",
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.allow_private_network = allow_private_network
        self._options: dict[str, Any] = {
            "timeout": httpx.Timeout(timeout_s),
            "follow_redirects": False,
            "headers": {"User-Agent": user_agent},
            "transport": transport,
            "trust_env": False,
            "cookies": _no_cookies(),
        }
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        # Created on first use: building the TLS context costs ~15 ms, wasted on runs
        # that never fetch anything.
        if self._http is None:
            self._http = httpx.AsyncClient(**self._options)
        return self._http

    async def __aenter__(self) -> SafeHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _target(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        if url.scheme not in ("http", "https"):
            raise ValueError(f"only http and https URLs are allowed, not '{url.scheme}:'")
        if not url.host:
            raise ValueError(f"URL has no host: {url}")
        if self.allow_private_network:
            return url, {}, {}
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve_host(url.host, port)
        for ip in addresses:
            if is_forbidden_ip(ip):
                raise BlockedAddressError(
                    f"refused to fetch {url}: {url.host} is {ip}, a loopback, private, "
                    "link-local, multicast or reserved address (allow_private_network is off)"
                )
        pinned = url.copy_with(host=str(addresses[0]))
        headers = {"Host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        return pinned, headers, extensions

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
    ) -> FetchResult:
        """Send a request, following redirects (each hop vetted), and read the body.

        A redirect to another origin drops every credential header (see `keeps_credentials`).
        """
        current = httpx.URL(url)
        method = method.upper()
        headers = dict(headers or {})
        for _ in range(self.max_redirects + 1):
            target, extra_headers, extensions = await self._target(current)
            merged = {
                k: v for k, v in headers.items() if not (extra_headers and k.lower() == "host")
            }
            request = self._client.build_request(
                method,
                target,
                headers={**merged, **extra_headers},
                json=json_body,
                data=data,
                files=files,
                extensions=extensions,
            )
            try:
                response = await self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                raise NetworkUnreachableError(
                    f"cannot reach host '{current.host}': {err or type(err).__name__}") from None
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    following = current.join(location)
                    if not keeps_credentials(current, following):
                        headers = cross_origin_headers(headers)
                    current = following
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, json_body, data, files = "GET", None, None, None
                    continue
                content = await self._read_limited(response, str(current))
                return FetchResult(response.status_code, response.headers, content, str(current))
            finally:
                await response.aclose()
        raise ValueError(f"too many redirects (more than {self.max_redirects}) from {url}")

    async def _read_limited(self, response: httpx.Response, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLargeError(
                f"response from {url} is {declared} bytes, over the {self.max_bytes}-byte limit"
            )
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > self.max_bytes:
                raise ResponseTooLargeError(
                    f"response from {url} exceeds the {self.max_bytes}-byte limit"
                )
            chunks.append(chunk)
        return b"".join(chunks)
