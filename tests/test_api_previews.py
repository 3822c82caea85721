"""What the API returns and replays is bounded: a task holding megabytes answers GET and SSE with
previews cut by a marker, the full value stays one explicit request away, server-local paths do
not leak into the stream, resume ids parse strictly, and a NaN budget is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.api_inproc import inproc_client, inproc_config, seed_finished
from tests.api_support import read_sse

HUGE = 3 * 1024 * 1024


def sse(client: Any, task_id: str, **kw: Any) -> tuple[str, list[dict[str, Any]]]:
    """The raw SSE body of a finished task and its parsed frames."""
    resp = client.get(f"/v1/tasks/{task_id}/events", **kw)
    assert resp.status_code == 200, resp.text[:500]
    return resp.text, list(read_sse(iter(resp.text.splitlines())))


def test_a_huge_message_is_previewed_in_get_and_sse(tmp_path: Path) -> None:
    """M3: a plan that grew its outputs gave a 126 MB GET and a 63 MB SSE replay."""
    config = inproc_config(tmp_path)
    with inproc_client(config) as (client, company):
        task_id = seed_finished(company, tmp_path, content="c" * HUGE,
                                payload={"outputs": {"result": ["p" * HUGE]}},
                                report="r" * HUGE)
        detail = client.get(f"/v1/tasks/{task_id}")
        body, frames = sse(client, task_id)
        full = client.get(f"/v1/tasks/{task_id}/messages/2")
        report = client.get(f"/v1/tasks/{task_id}/report")
        listed = client.get("/v1/tasks")
    assert detail.status_code == 200
    assert len(detail.content) < 200_000  # 9 MB of values stored
    task = detail.json()
    executor = task["messages"][1]
    assert len(executor["content"]) < 20_000
    assert executor["content"].startswith("ccc")
    assert f"see GET /v1/tasks/{task_id}/messages/2" in executor["content"]
    assert "3.1M chars" in executor["content"]
    assert f"/v1/tasks/{task_id}/messages/2" in json.dumps(executor["payload"])
    assert task["report"].startswith("rrr") and f"/v1/tasks/{task_id}/report" in task["report"]
    assert len(body) < 200_000
    assert all(len(json.dumps(f["data"])) < 70_000 for f in frames if "data" in f)
    message = [f["data"] for f in frames if f.get("data", {}).get("kind") == "message"][-1]
    assert f"/v1/tasks/{task_id}/messages/2" in message["data"]["content"]
    finished = [f["data"] for f in frames if f.get("data", {}).get("kind") == "task_finished"]
    assert finished[0]["data"]["report"].endswith(f"see GET /v1/tasks/{task_id}/report]")
    assert len(listed.content) < 10_000
    # the full values: one explicit request each
    assert full.status_code == 200 and full.json()["content"] == "c" * HUGE
    assert full.json()["payload"] == {"outputs": {"result": ["p" * HUGE]}}
    assert report.status_code == 200 and report.text == "r" * HUGE


def test_many_messages_stay_under_the_task_view_limit(tmp_path: Path) -> None:
    from company.message import Message

    config = inproc_config(tmp_path, max_view_task_bytes=256 * 1024)
    with inproc_client(config) as (client, company):
        task_id = seed_finished(company, tmp_path)
        for seq in range(3, 63):
            company.store.append_message(Message(
                id=f"{task_id}-{seq:05d}", task_id=task_id, seq=seq, content="m" * 40_000,
                payload={"v": "w" * 30_000}, cause_by="RunGraphs", sent_from="Executor"))
        detail = client.get(f"/v1/tasks/{task_id}")
    assert detail.status_code == 200
    assert len(detail.content) < 300 * 1024
    messages = detail.json()["messages"]
    assert [m["seq"] for m in messages] == list(range(1, 63))  # every message is listed ...
    assert messages[-1]["content"].startswith("mmm")  # ... the newest with a preview
    assert messages[-1]["payload"]["v"].startswith("www")
    assert messages[2]["content"].startswith("… [truncated")  # ... the oldest as a marker


def test_unknown_message_is_404_and_a_missing_report_409(tmp_path: Path) -> None:
    with inproc_client(inproc_config(tmp_path)) as (client, company):
        task_id = seed_finished(company, tmp_path)
        company.store.update_task(task_id, report=None)
        assert client.get(f"/v1/tasks/{task_id}/messages/99").status_code == 404
        assert client.get(f"/v1/tasks/{task_id}/messages/0").status_code == 422
        assert client.get("/v1/tasks/tnope/messages/1").status_code == 404
        assert client.get(f"/v1/tasks/{task_id}/report").status_code == 409
        assert client.get(f"/v1/tasks/{task_id}/messages/1").json()["content"] == "do it"


def test_the_stream_does_not_carry_server_paths(tmp_path: Path) -> None:
    """L8: GET hides the workspace; the SSE ``task_finished`` event did not."""
    with inproc_client(inproc_config(tmp_path)) as (client, company):
        task_id = seed_finished(company, tmp_path)
        body, frames = sse(client, task_id)
    finished = [f["data"] for f in frames if f.get("data", {}).get("kind") == "task_finished"]
    assert finished and "workspace" not in finished[0]["data"]
    assert finished[0]["data"]["status"] == "done"
    assert str(tmp_path) not in body


@pytest.mark.parametrize("value", ["²", "١٢", "1_0", "+5", "5.0", "9" * 14, "-1", "0x1"])
def test_resume_ids_parse_strictly(tmp_path: Path, value: str) -> None:
    """L3: ``Last-Event-ID: ²`` was a 500 (``str.isdigit`` accepts it, ``int`` does not)."""
    with inproc_client(inproc_config(tmp_path)) as (client, company):
        task_id = seed_finished(company, tmp_path)
        url = f"/v1/tasks/{task_id}/events"
        header = client.get(url, headers={"Last-Event-ID": value.encode("utf-8")})
        latin1 = client.get(url, headers={"Last-Event-ID": b"\xb2"})
        query = client.get(url, params={"after": value})
    for resp in (header, latin1, query):
        assert resp.status_code == 422, resp.text
        assert "ASCII digits" in resp.json()["detail"]


def test_resume_ids_that_are_plain_digits_still_work(tmp_path: Path) -> None:
    with inproc_client(inproc_config(tmp_path)) as (client, company):
        task_id = seed_finished(company, tmp_path)
        _, frames = sse(client, task_id, headers={"Last-Event-ID": " 2 "}, params={"after": "1"})
        spaced = client.get(f"/v1/tasks/{task_id}/events", params={"after": " 5"})
    assert [int(f["id"]) for f in frames if "id" in f] == [3, 4]
    assert spaced.status_code == 422  # a query value is not a header: no spaces


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_investment_is_refused_clearly(tmp_path: Path, number: str) -> None:
    with inproc_client(inproc_config(tmp_path)) as (client, _company):
        body = '{"request": "x", "options": {"investment": NUMBER}}'.replace("NUMBER", number)
        resp = client.post("/v1/tasks", content=body,
                           headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert "finite" in resp.json()["detail"] and "1000" not in resp.json()["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3000),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=40), inner,
                                                                max_size=8),
    max_leaves=30)


@settings(max_examples=150, deadline=1000, derandomize=True)
@given(value=json_values, max_bytes=st.integers(512, 20_000), max_chars=st.integers(256, 4096))
def test_fit_bounds_any_json_value(value: Any, max_bytes: int, max_chars: int) -> None:
    from company.api.previews import fit, json_size

    out = fit(value, max_bytes, max_chars, "/v1/tasks/t/messages/1")
    assert json_size(out) <= max(max_bytes, 200)
    if json_size(value) <= max_bytes and all(
            len(s) <= max_chars for s in _strings(value)):
        assert out == value  # what fits is shown unchanged


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_a_huge_list_becomes_a_marker() -> None:
    from company.api.previews import TRUNCATED_KEY, fit

    assert fit(["x"] * 100_000, 4096, 256, "/see") == {TRUNCATED_KEY: "… [truncated, see GET /see]"}
