"""The notebook routes: ideas and action items listed (filters, search, pages), read, changed,
dropped (a soft drop) and exported; 404/409/400/422 in the API's error shape; the API key;
the OpenAPI examples; the live notebook stream and the Analyst's ``notebook`` task event."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from company.company import Company
from company.notebook import Note, Notebook
from tests.api_inproc import SyncClient, inproc_client, inproc_config
from tests.api_support import api_config, live_server, read_sse, script, wait_status
from tests.fakes.ollama_server import FakeOllama

KEY = "s3cret-key"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SyncClient, Company]]:
    """The app in-process and its Company (an empty notebook)."""
    with inproc_client(inproc_config(tmp_path)) as pair:
        yield pair


def seed(company: Company) -> dict[str, Note]:
    """Three items (one done, one with a tag) and two ideas (one dropped), oldest first."""
    book = Notebook(company.store)
    notes = {
        "invoice": book.add("item", "Send the invoice to Bob", priority="high",
                            tags=["billing"], task_id="t1")[0],
        "call": book.add("item", "Call Alice about the roof", priority="low")[0],
        "milk": book.add("item", "Buy milk")[0],
        "pdf": book.add("idea", "Bob prefers PDF invoices", priority="low")[0],
        "garden": book.add("idea", "A herb garden on the balcony")[0],
    }
    book.mark_done(notes["milk"].id)
    book.drop(notes["garden"].id)
    return {k: book.get(n.id) for k, n in notes.items()}


def texts(body: dict[str, Any]) -> list[str]:
    """The texts of a page of notes."""
    return [n["text"] for n in body["items"]]


def patch(client: SyncClient, note_id: int, body: Any) -> httpx.Response:
    """PATCH an action item."""
    return client.request("PATCH", f"/v1/action-items/{note_id}", json=body)


# listing -------------------------------------------------------------------------------
def test_items_and_ideas_are_listed_apart_newest_first(served) -> None:
    client, company = served
    seed(company)
    items = client.get("/v1/action-items").json()
    assert texts(items) == ["Buy milk", "Call Alice about the roof", "Send the invoice to Bob"]
    assert (items["total"], items["limit"], items["offset"], items["next_offset"]) == (
        3, 50, 0, None)
    first = items["items"][2]
    assert first["kind"] == "item" and first["priority"] == "high"
    assert first["tags"] == ["billing"] and first["task_id"] == "t1"
    assert {"id", "status", "source", "mentions", "created_at", "updated_at"} <= set(first)
    ideas = client.get("/v1/ideas").json()
    assert texts(ideas) == ["A herb garden on the balcony", "Bob prefers PDF invoices"]
    assert {n["kind"] for n in ideas["items"]} == {"idea"}


def test_filters_by_status_search_and_tag(served) -> None:
    client, company = served
    seed(company)
    assert texts(client.get("/v1/action-items?status=open").json()) == [
        "Call Alice about the roof", "Send the invoice to Bob"]
    assert texts(client.get("/v1/action-items?status=done").json()) == ["Buy milk"]
    assert texts(client.get("/v1/ideas?status=kept").json()) == ["Bob prefers PDF invoices"]
    assert texts(client.get("/v1/ideas?status=dropped").json()) == [
        "A herb garden on the balcony"]
    found = client.get("/v1/action-items", params={"q": "BOB invoice"}).json()
    assert texts(found) == ["Send the invoice to Bob"] and found["total"] == 1
    assert client.get("/v1/action-items", params={"q": "bob roof"}).json()["total"] == 0
    assert texts(client.get("/v1/action-items?tag=%23Billing").json()) == [
        "Send the invoice to Bob"]
    assert texts(client.get("/v1/ideas", params={"q": "bob"}).json()) == [
        "Bob prefers PDF invoices"]


def test_pages_carry_the_total_and_the_next_offset(served) -> None:
    client, company = served
    seed(company)
    first = client.get("/v1/action-items?limit=2").json()
    assert len(first["items"]) == 2 and first["total"] == 3 and first["next_offset"] == 2
    second = client.get("/v1/action-items?limit=2&offset=2").json()
    assert texts(second) == ["Send the invoice to Bob"] and second["next_offset"] is None
    assert texts(first) + texts(second) == texts(client.get("/v1/action-items").json())
    past = client.get("/v1/action-items?offset=10").json()
    assert past["items"] == [] and past["total"] == 3


@pytest.mark.parametrize("query", ["status=kept", "status=bogus", "limit=0", "limit=501",
                                   "offset=-1", "q=" + "x" * 201, "limit=two"])
def test_bad_list_parameters_are_422_with_each_problem(served, query: str) -> None:
    client, _ = served
    resp = client.get(f"/v1/action-items?{query}")
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["detail"].startswith("invalid request: query.")
    assert body["errors"] and body["errors"][0]["loc"][0] == "query"


def test_a_tag_the_notebook_refuses_is_a_400(served) -> None:
    client, _ = served
    resp = client.get("/v1/ideas?tag=%23")
    assert resp.status_code == 400 and "tag" in resp.json()["detail"]
    assert client.get("/v1/ideas?status=open").status_code == 422  # items' status, not ideas'


# one item ------------------------------------------------------------------------------
def test_one_item_is_read_and_ideas_or_unknown_ids_are_404(served) -> None:
    client, company = served
    notes = seed(company)
    body = client.get(f"/v1/action-items/{notes['invoice'].id}").json()
    assert body["text"] == "Send the invoice to Bob" and body["status"] == "open"
    for note_id in (notes["pdf"].id, 999):
        for method in ("GET", "PATCH", "DELETE"):
            resp = client.request(method, f"/v1/action-items/{note_id}",
                                  json={"status": "done"} if method == "PATCH" else None)
            assert resp.status_code == 404, (method, note_id, resp.text)
            assert str(note_id) in resp.json()["detail"]
    assert Notebook(company.store).get(notes["pdf"].id).status == "kept"
    for bad in ("0", "abc", str(2**63)):
        assert client.get(f"/v1/action-items/{bad}").status_code == 422


def test_patch_ticks_reopens_and_edits_an_item(served) -> None:
    client, company = served
    notes = seed(company)
    book = Notebook(company.store)
    note_id = notes["invoice"].id
    resp = patch(client, note_id, {"status": "done"})
    assert resp.status_code == 200 and resp.json()["status"] == "done"
    assert book.get(note_id).status == "done"
    assert patch(client, note_id, {"status": "open"}).json()["status"] == "open"
    body = patch(client, note_id, {"text": "  Send the invoice to Bob by Monday ",
                                   "priority": "medium", "tags": ["#Billing", "bob"]}).json()
    assert (body["text"], body["priority"], body["tags"]) == (
        "Send the invoice to Bob by Monday", "medium", ["billing", "bob"])
    stored = book.get(note_id)
    assert (stored.text, stored.priority, stored.tags, stored.status) == (
        "Send the invoice to Bob by Monday", "medium", ["billing", "bob"], "open")
    assert texts(client.get("/v1/action-items?q=monday").json()) == [stored.text]


def test_a_dropped_item_is_409_until_reopened(served) -> None:
    client, company = served
    notes = seed(company)
    book = Notebook(company.store)
    note_id = notes["call"].id
    book.drop(note_id)
    before = book.get(note_id)
    for body in ({"text": "Call Alice today"}, {"status": "done"}, {"priority": "high"},
                 {"status": "dropped", "tags": ["x"]}):
        resp = patch(client, note_id, body)
        assert resp.status_code == 409, (body, resp.text)
        assert "dropped" in resp.json()["detail"]
    assert book.get(note_id) == before  # all or nothing
    body = patch(client, note_id, {"status": "open", "text": "Call Alice today"}).json()
    assert (body["status"], body["text"]) == ("open", "Call Alice today")


@pytest.mark.parametrize("body", [{}, {"status": None}, {"status": "kept"},
                                  {"status": "finished"}, {"priority": "urgent"},
                                  {"text": ""}, {"text": "   "}, {"text": "x" * 1001},
                                  {"tags": ["#"]}, {"tags": [f"t{i}" for i in range(11)]},
                                  {"tags": "billing"}, {"done": True}, [1], "done"])
def test_bad_patch_bodies_are_422_and_change_nothing(served, body: Any) -> None:
    client, company = served
    notes = seed(company)
    resp = patch(client, notes["invoice"].id, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"].startswith(("invalid request", "nothing to change"))
    assert Notebook(company.store).get(notes["invoice"].id) == notes["invoice"]


def test_delete_is_a_soft_drop(served) -> None:
    client, company = served
    notes = seed(company)
    note_id = notes["invoice"].id
    resp = client.request("DELETE", f"/v1/action-items/{note_id}")
    assert resp.status_code == 200 and resp.json()["status"] == "dropped"
    assert client.get(f"/v1/action-items/{note_id}").json()["status"] == "dropped"
    assert note_id not in [n["id"] for n in client.get("/v1/action-items?status=open").json()[
        "items"]]
    assert texts(client.get("/v1/action-items?status=dropped").json()) == [
        "Send the invoice to Bob"]
    again = client.request("DELETE", f"/v1/action-items/{note_id}")
    assert again.status_code == 200 and again.json() == resp.json()  # nothing changes
    assert patch(client, note_id, {"status": "open"}).json()["status"] == "open"


# export --------------------------------------------------------------------------------
def test_export_as_markdown_and_csv(served) -> None:
    client, company = served
    notes = seed(company)
    md = client.get("/v1/notebook/export")
    assert md.status_code == 200
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.headers["content-disposition"] == 'attachment; filename="notebook.md"'
    assert md.text.startswith("# Notebook\n")
    assert f"- [ ] Send the invoice to Bob (high) #billing [{notes['invoice'].id}]" in md.text
    assert "- [x] Buy milk" in md.text and "## Ideas" in md.text
    sheet = client.get("/v1/notebook/export?format=csv")
    assert sheet.headers["content-type"] == "text/csv; charset=utf-8"
    assert sheet.headers["content-disposition"] == 'attachment; filename="notebook.csv"'
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    by_update = sorted(notes.values(), key=lambda n: (n.updated_at, n.id))  # oldest first
    assert [r["text"] for r in rows] == [n.text for n in by_update]
    only = client.get("/v1/notebook/export?format=csv&kind=item&status=open&q=bob").text
    assert [r["text"] for r in csv.DictReader(io.StringIO(only))] == ["Send the invoice to Bob"]
    for bad in ("format=pdf", "kind=task", "status=bogus"):
        resp = client.get(f"/v1/notebook/export?{bad}")
        assert resp.status_code == 422 and resp.json()["errors"], bad


def test_an_empty_notebook_exports_and_lists_nothing(served) -> None:
    client, _ = served
    assert "Nothing noted yet." in client.get("/v1/notebook/export").text
    assert client.get("/v1/notebook/export?format=csv").text.startswith("id,kind,status,")
    assert client.get("/v1/ideas").json() == {"items": [], "total": 0, "limit": 50,
                                              "offset": 0, "next_offset": None}


# auth and docs -------------------------------------------------------------------------
ROUTES = [("GET", "/v1/ideas"), ("GET", "/v1/action-items"), ("GET", "/v1/action-items/1"),
          ("PATCH", "/v1/action-items/1"), ("DELETE", "/v1/action-items/1"),
          ("GET", "/v1/notebook/export")]


def test_every_route_needs_the_key_when_one_is_set(tmp_path: Path) -> None:
    with inproc_client(inproc_config(tmp_path, api_key=KEY)) as (client, company):
        note, _ = Notebook(company.store).add("item", "Water the plants")
        for method, path in ROUTES:
            body = {"json": {"status": "done"}} if method == "PATCH" else {}
            path = path.replace("/1", f"/{note.id}")
            resp = client.request(method, path, **body)
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
            wrong = client.request(method, path, headers={"Authorization": "Bearer nope"},
                                   **body)
            assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"
            assert client.request(method, path, params={"token": KEY}, **body).status_code \
                == 401  # ?token= is for the event stream only
        assert Notebook(company.store).get(note.id).status == "open"
        ok = {"Authorization": f"Bearer {KEY}"}
        for method, path in ROUTES:
            path = path.replace("/1", f"/{note.id}")
            body = {"json": {"status": "done"}} if method == "PATCH" else {}
            assert client.request(method, path, headers=ok, **body).status_code == 200


def test_openapi_documents_the_routes_with_examples(tmp_path: Path) -> None:
    with inproc_client(inproc_config(tmp_path, api_key=KEY)) as (client, _):
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/ideas", "/v1/action-items", "/v1/action-items/{note_id}",
            "/v1/notebook/export", "/v1/notebook/events"} <= set(paths)
    one = paths["/v1/action-items/{note_id}"]
    assert set(one) == {"get", "patch", "delete"}
    body = one["patch"]["requestBody"]["content"]["application/json"]
    assert {"done", "reopen", "edit"} <= set(body["examples"])
    assert body["examples"]["done"]["value"] == {"status": "done"}
    assert {"200", "400", "401", "404", "409", "422"} <= set(one["patch"]["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["NoteOut"]["examples"][0]["kind"] == "item"
    assert schemas["NotePage"]["examples"][0]["total"] == 12
    assert set(schemas["ItemPatch"]["properties"]) == {"status", "text", "priority", "tags"}
    listed = {p["name"]: p for p in paths["/v1/action-items"]["get"]["parameters"]}
    assert {"status", "q", "tag", "limit", "offset"} <= set(listed)
    assert listed["status"]["examples"]["open"]["value"] == "open"
    assert "examples" in listed["q"]
    export = paths["/v1/notebook/export"]["get"]
    assert {"text/markdown", "text/csv"} <= set(export["responses"]["200"]["content"])
    assert {p["name"] for p in export["parameters"]} >= {"format", "kind", "status", "q", "tag"}
    events = paths["/v1/notebook/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert events["security"] == [{"bearer": []}, {"token": []}]
    assert paths["/v1/ideas"]["get"]["security"] == [{"bearer": []}]
    assert {"notebook"} == {t for p in ("/v1/ideas", "/v1/notebook/export")
                            for t in paths[p]["get"]["tags"]}


# live ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    """A fake Ollama scripted for the analyst-only SOP, answering at once."""
    server = script(FakeOllama().start())
    yield server
    server.stop()


def notebook_frames(resp: httpx.Response) -> Iterator[dict[str, Any]]:
    """The data of each event of a notebook stream."""
    for frame in read_sse(resp.iter_lines()):
        if "data" in frame:
            yield frame["data"]


@pytest.mark.slow
def test_the_notebook_stream_tells_of_every_change(tmp_path: Path, fake: FakeOllama) -> None:
    config = api_config(tmp_path, fake, api_key=KEY)
    with live_server(config) as served, served.client() as client:
        assert client.get("/v1/notebook/events").status_code == 401
        book = Notebook(served.app.state.api.company.store)
        with client.stream("GET", "/v1/notebook/events", params={"token": KEY}) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            frames = notebook_frames(resp)
            first = next(frames)
            assert first["kind"] == "notebook"
            assert first["data"] == {"total": 0, "note_id": None, "updated_at": None}
            note, _ = book.add("item", "Water the plants")  # as a run elsewhere would
            added = next(frames)
            assert added["data"]["total"] == 1 and added["data"]["note_id"] == note.id
            assert added["seq"] == first["seq"] + 1
            client.request("PATCH", f"/v1/action-items/{note.id}", json={"status": "done"},
                           headers={"Authorization": f"Bearer {KEY}"})
            ticked = next(frames)
            assert ticked["data"]["total"] == 1
            assert ticked["data"]["updated_at"] > added["data"]["updated_at"]


def test_a_task_that_notes_items_says_so_on_its_stream(tmp_path: Path,
                                                       fake: FakeOllama) -> None:
    with live_server(api_config(tmp_path, fake)) as served, served.client() as client:
        task_id = client.post("/v1/tasks", json={"request": "Multiply 6 by 7"}).json()[
            "task_id"]
        assert wait_status(client, task_id)["status"] == "done"
        items = client.get("/v1/action-items").json()["items"]
        with client.stream("GET", f"/v1/tasks/{task_id}/events") as resp:
            frames = [f["data"] for f in read_sse(resp.iter_lines()) if f.get("data")]
    assert [(n["text"], n["status"], n["task_id"]) for n in items] == [
        ("Multiply 6 by 7", "open", task_id)]
    [noted] = [f for f in frames if f["kind"] == "notebook"]
    assert noted["task_id"] == task_id and noted["data"]["role"] == "Analyst"
    assert noted["data"]["notes"] == [{"id": items[0]["id"], "kind": "item",
                                       "status": "open", "text": "Multiply 6 by 7"}]
    kinds = [f["kind"] for f in frames]
    assert kinds.index("notebook") < kinds.index("task_finished")
