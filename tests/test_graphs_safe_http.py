"""SafeHttpClient redirects: credentials stay with their origin (M4)."""

from __future__ import annotations

import httpx
import pytest

from company.graphs.safe_http import SafeHttpClient

SECRETS = {
    "Authorization": "Bearer secret-token",
    "Cookie": "session=secret",
    "Proxy-Authorization": "Basic c2VjcmV0",
    "X-Api-Key": "secret-key",
}
BENIGN = {"Accept": "application/json", "Content-Type": "application/json"}


class Recorder:
    """A mock web: `/go?to=URL` redirects there, anything else answers 200."""

    def __init__(self, status: int = 302) -> None:
        self.status = status
        self.seen: list[tuple[str, httpx.Headers]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((str(request.url), request.headers))
        if request.url.path == "/go":
            return httpx.Response(self.status, headers={"Location": request.url.params["to"]})
        return httpx.Response(
            200, text="ok", headers={"Set-Cookie": "tracker=1; Path=/"}
        )


async def fetch(url: str, recorder: Recorder, **kwargs: object) -> list[tuple[str, httpx.Headers]]:
    client = SafeHttpClient(allow_private_network=True, transport=httpx.MockTransport(recorder))
    async with client:
        result = await client.request("GET", url, headers={**SECRETS, **BENIGN}, **kwargs)
    assert result.status == 200
    return recorder.seen


@pytest.mark.parametrize(
    "target",
    [
        "http://b.example/land",  # another host
        "https://a.example:8443/land",  # another port
        "https://b.example/land",  # another host over https
    ],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_credentials_are_dropped_when_a_redirect_leaves_the_origin(
    target: str, status: int
) -> None:
    seen = await fetch(f"http://a.example/go?to={target}", Recorder(status))
    (_, first), (last_url, last) = seen
    assert last_url == target
    for name in SECRETS:
        assert first[name] == SECRETS[name]
        assert name not in last, f"{name} followed the redirect to {target}"
    assert last["Accept"] == "application/json"


@pytest.mark.parametrize(
    "target", ["http://a.example/land", "/land", "https://a.example/land"]
)
async def test_credentials_are_kept_on_the_same_origin_or_an_https_upgrade(target: str) -> None:
    seen = await fetch(f"http://a.example/go?to={target}", Recorder())
    _, last = seen[-1]
    for name, value in SECRETS.items():
        assert last[name] == value


async def test_credentials_stay_dropped_after_coming_back() -> None:
    back = "http://b.example/go?to=http://a.example/land"
    seen = await fetch(f"http://a.example/go?to={back}", Recorder())
    assert [url for url, _ in seen][-1] == "http://a.example/land"
    assert "Authorization" not in seen[-1][1]


async def test_cookies_set_by_one_site_are_never_sent_to_another() -> None:
    recorder = Recorder()
    client = SafeHttpClient(allow_private_network=True, transport=httpx.MockTransport(recorder))
    async with client:
        await client.request("GET", "http://a.example/page")
        await client.request("GET", "http://b.example/page")
    assert "Cookie" not in recorder.seen[-1][1]


async def test_an_unreachable_host_is_a_network_failure() -> None:
    from company.graphs.safe_http import NetworkUnreachableError, is_network_failure

    async with SafeHttpClient(allow_private_network=True, timeout_s=5) as client:
        with pytest.raises(NetworkUnreachableError) as err:
            await client.request("GET", f"http://127.0.0.1:{_free_port()}/")
    assert is_network_failure(f"SomeBlock: {err.value}")
    assert not is_network_failure("TextSplitBlock: delimiter must not be empty")
    assert not is_network_failure(None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
