"""Fuzz the event stream's parameters (``Last-Event-ID``, ``?after=``, ``?token=``) and the task
ids in every task path against the in-process app: whatever a client sends, never a 5xx.

Bounded: a fixed number of examples each, a deadline per example. Inputs that once found a bug
stay as explicit ``@example`` cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api_inproc import SyncClient, inproc_client, inproc_config, seed_finished

FUZZ = settings(max_examples=200, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
KEY = "fuzz-key"

# header values: raw bytes a client could put on the wire (no CR, LF or NUL), plus digit-like
# characters of every script, the class that broke ``str.isdigit`` + ``int``
header_bytes = st.binary(max_size=24).filter(
    lambda b: not any(c in b for c in b"\r\n\x00"))
digit_like = st.text(st.characters(categories=["Nd", "No", "Nl"]) | st.sampled_from("0123456789"),
                     max_size=16).map(lambda s: s.encode("utf-8"))
latin1_digits = st.text(st.sampled_from("0123456789²³¹¼½¾ "), max_size=16).map(
    lambda s: s.encode("latin-1"))
any_text = st.text(max_size=40)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncClient, str]]:
    """The app with an API key and one finished task (whose stream ends at once)."""
    tmp_path: Path = tmp_path_factory.mktemp("sse-fuzz")
    with inproc_client(inproc_config(tmp_path, api_key=KEY)) as (client, company):
        yield client, seed_finished(company, tmp_path)


def check(resp: Any) -> None:
    """No server error, and every error is JSON with a detail."""
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert "detail" in resp.json()


@FUZZ
@given(last_event_id=header_bytes | digit_like | latin1_digits, after=any_text | st.none(),
       token=st.just(KEY) | any_text | st.none(), known=st.booleans())
@example(last_event_id=b"\xb2", after=None, token=KEY, known=True)  # L3: a 500 before
@example(last_event_id="²".encode(), after="²", token=KEY, known=True)
@example(last_event_id=b"1" * 14, after="1_0", token=KEY, known=True)
@example(last_event_id=b" 3 ", after=" 5", token=KEY, known=True)
def test_sse_parameters_never_give_a_server_error(
        served: tuple[SyncClient, str], last_event_id: bytes, after: str | None,
        token: str | None, known: bool) -> None:
    client, task_id = served
    params = {k: v for k, v in (("after", after), ("token", token)) if v is not None}
    target = task_id if known else "tnope"
    resp = client.get(f"/v1/tasks/{target}/events", params=params,
                      headers={"Last-Event-ID": last_event_id})
    check(resp)
    if token != KEY:
        assert resp.status_code in (401, 422), resp.text[:300]


@FUZZ
@given(task_id=any_text | st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
       tail=st.sampled_from(["", "/events", "/report", "/messages/1", "/messages/x",
                             "/cancel"]))
@example(task_id="²", tail="/events")
@example(task_id="a" * 65, tail="")
@example(task_id="..", tail="/events")
def test_task_ids_in_paths_never_give_a_server_error(
        served: tuple[SyncClient, str], task_id: str, tail: str) -> None:
    client, _ = served
    path = f"/v1/tasks/{quote(task_id, safe='')}{tail}"
    method = "POST" if tail == "/cancel" else "GET"
    check(client.request(method, path, headers={"Authorization": f"Bearer {KEY}"}))
