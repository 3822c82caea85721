"""The notebook: records of their own in the store, near-duplicates merged across tasks,
filters and literal searches, changes with their conflicts, Markdown and CSV exports, and the
grounding rules that keep the model's own claims out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from company import grounding
from company.notebook import Notebook, NotebookConflict, NotebookError, NoteNotFound
from company.payloads import ActionItem, Analysis, Idea
from company.store import Store
from tests.pg_support import pg_server, store_location  # noqa: F401  (fixtures)


@pytest.fixture
def db(store_location: str | Path) -> Iterator[Store]:  # noqa: F811
    store = Store(store_location)  # SQLite, then PostgreSQL
    yield store
    store.close()


@pytest.fixture
def nb(db: Store) -> Notebook:
    return Notebook(db)


def test_a_note_is_a_record_with_its_origin(nb: Notebook, db: Store) -> None:
    note, created = nb.add("item", "  Send the  invoice to Bob ", priority="high",
                           source="send the invoice to Bob by Friday", tags=["Money", "#bob"],
                           task_id="t1", message_id="t1-00001")
    assert created and note.id > 0
    assert (note.kind, note.text, note.priority, note.status) == (
        "item", "Send the invoice to Bob", "high", "open")
    assert note.tags == ["money", "bob"] and note.source == "send the invoice to Bob by Friday"
    assert (note.task_id, note.message_id, note.mentions) == ("t1", "t1-00001", 1)
    assert note.created_at == note.updated_at
    db.close()
    again = Notebook(Store(db.target))  # it is in the database
    assert again.get(note.id) == note
    again.store.close()


def test_an_idea_is_kept_until_dropped(nb: Notebook) -> None:
    idea, created = nb.add("ideas", "Maria prefers email", source="she prefers email")
    assert created and (idea.kind, idea.status) == ("idea", "kept")
    with pytest.raises(NotebookError, match="kind must be idea or item"):
        nb.add("wish", "anything")


def test_the_old_ideas_table_stays_readable(db: Store) -> None:
    db.add_idea("t1", "m1", "an old idea", "low")
    assert [i["text"] for i in db.ideas("t1")] == ["an old idea"]
    assert Notebook(db).list_notes() == []  # not imported: it has no source


def test_a_restated_note_is_one_record_across_tasks(nb: Notebook) -> None:
    first, _ = nb.add("item", "Send the report to finance", priority="low", task_id="t1",
                      message_id="m1")
    same, created = nb.add("item", "send report to Finance!", priority="high",
                           source="send report to finance", task_id="t2", message_id="m2")
    assert not created and same.id == first.id
    assert same.text == "Send the report to finance"  # the kept text stays
    assert (same.priority, same.mentions, same.task_id, same.message_id) == ("high", 2, "t2",
                                                                             "m2")
    assert same.updated_at >= first.updated_at and same.created_at == first.created_at
    assert len(nb.list_notes()) == 1


def test_different_notes_stay_apart(nb: Notebook) -> None:
    texts = ["Buy milk", "Buy milk and eggs", "Pay 50 to Bob", "Pay 500 to Bob",
             "Call Anna on Friday", "Call Anna on Monday"]
    for text in texts:
        nb.add("item", text)
    nb.add("idea", "Buy milk")  # another kind: its own record
    assert len(nb.list_notes(kind="item")) == len(texts)
    assert len(nb.list_notes(kind="idea")) == 1


def test_a_done_or_dropped_note_said_again_comes_back_but_not_by_the_same_message(
        nb: Notebook) -> None:
    item, _ = nb.add("item", "Water the plants", message_id="m1")
    nb.mark_done(item.id)
    assert nb.add("item", "water the plants", message_id="m1")[0].status == "done"  # re-read
    back, created = nb.add("item", "Water the plants.", message_id="m2")
    assert not created and back.id == item.id and back.status == "open"
    idea, _ = nb.add("idea", "Maria prefers email", message_id="m1")
    nb.drop(idea.id)
    assert nb.add("idea", "maria prefers email", message_id="m3")[0].status == "kept"


def test_filters_by_kind_status_tag_and_pages(nb: Notebook) -> None:
    a = nb.add("item", "Book the flight", tags=["travel"])[0]
    b = nb.add("item", "Renew the passport", tags=["travel"])[0]
    c = nb.add("idea", "Likes window seats")[0]
    nb.mark_done(a.id)
    assert [n.id for n in nb.list_notes()] == [a.id, c.id, b.id]  # most recently updated first
    assert [n.id for n in nb.list_notes(kind="item", status="open")] == [b.id]
    assert [n.id for n in nb.list_notes(status=("open", "kept"))] == [c.id, b.id]
    assert [n.id for n in nb.list_notes(tag="#Travel")] == [a.id, b.id]
    assert [n.id for n in nb.list_notes(limit=1, offset=1)] == [c.id]
    assert nb.count_notes(kind="item") == 2 and nb.count_notes(status="dropped") == 0
    for bad in ({"status": "finished"}, {"kind": "thing"}, {"limit": 0}, {"offset": -1},
                {"q": "x" * 201}):
        with pytest.raises(NotebookError):
            nb.list_notes(**bad)


def test_search_is_literal_text_never_sql(nb: Notebook, db: Store) -> None:
    fifty = nb.add("item", "Offer 50% off to Bob's team")[0]
    under = nb.add("item", "Rename file_a.txt")[0]
    nb.add("item", "Offer 500 chairs")
    nb.add("item", "Rename fileXa.txt")
    quote = nb.add("idea", 'He said "never on Sunday"', source="O'Brien's rule")[0]
    assert [n.id for n in nb.list_notes(q="50%")] == [fifty.id]
    assert [n.id for n in nb.list_notes(q="file_a")] == [under.id]
    assert [n.id for n in nb.list_notes(q="bob's")] == [fifty.id]
    assert [n.id for n in nb.list_notes(q='"never on')] == [quote.id]
    assert [n.id for n in nb.list_notes(q="o'brien")] == [quote.id]  # the source is searched
    assert [n.id for n in nb.list_notes(q="OFFER team")] == [fifty.id]  # every word, any case
    assert nb.list_notes(q="%") and nb.list_notes(q="\\") == []
    for hostile in ("'; DROP TABLE notebook; --", "%' OR 1=1 --", "\\%"):
        assert nb.list_notes(q=hostile) == []
    assert db.count_notes() == 5


def test_changes_and_their_conflicts(nb: Notebook) -> None:
    item = nb.add("item", "Draft the memo")[0]
    idea = nb.add("idea", "Prefers short memos")[0]
    edited = nb.edit(item.id, text="Draft the memo for Tuesday", priority="high", tags=["work"])
    assert (edited.text, edited.priority, edited.tags) == ("Draft the memo for Tuesday", "high",
                                                           ["work"])
    assert nb.list_notes(q="tuesday") == [edited]
    assert nb.mark_done(item.id).status == "done"
    assert nb.mark_done(item.id).status == "done"  # again: nothing changes
    with pytest.raises(NotebookError, match="ideas are kept or dropped"):
        nb.mark_done(idea.id)
    dropped = nb.drop(item.id)
    assert dropped.status == "dropped"
    with pytest.raises(NotebookConflict, match="dropped"):
        nb.edit(item.id, text="anything")
    with pytest.raises(NotebookConflict):
        nb.mark_done(item.id)
    assert nb.reopen(item.id).status == "open"
    for bad in ({"text": "   "}, {"text": "x" * 1001}, {"priority": "urgent"},
                {"tags": [f"t{i}" for i in range(11)]}):
        with pytest.raises(NotebookError):
            nb.edit(item.id, **bad)


def test_unknown_ids_are_not_found(nb: Notebook) -> None:
    for note_id in (1, 0, -3, 2**70):
        for change in (nb.get, nb.mark_done, nb.drop, nb.reopen):
            with pytest.raises(NoteNotFound, match=f"no note {note_id}"):
                change(note_id)
        with pytest.raises(NoteNotFound):
            nb.edit(note_id, text="x")


def test_markdown_export_groups_the_notes(nb: Notebook) -> None:
    open_item = nb.add("item", "Send the\ninvoice", priority="high", tags=["money"])[0]
    done = nb.add("item", "Book the room")[0]
    nb.mark_done(done.id)
    idea = nb.add("idea", "Likes window seats", priority="low")[0]
    gone = nb.add("item", "Call the plumber")[0]
    nb.drop(gone.id)
    text = nb.export("md")
    assert text == (
        "# Notebook\n\n## Open items\n\n"
        f"- [ ] Send the invoice (high) #money [{open_item.id}]\n\n"
        f"## Done items\n\n- [x] Book the room (medium) [{done.id}]\n\n"
        f"## Ideas\n\n- Likes window seats (low) [{idea.id}]\n\n"
        f"## Dropped\n\n- ~~Call the plumber~~ (medium, item) [{gone.id}]\n")
    assert "Dropped" not in nb.export("md", status=("open", "kept"))
    assert Notebook(nb.store).export("md", kind="idea", status="dropped") == (
        "# Notebook\n\nNothing noted yet.\n")


def test_csv_export_round_trips_and_defuses_formulas(nb: Notebook) -> None:
    nb.add("item", '=HYPERLINK("http://x")', source='said, "quoted"', tags=["a", "b"])
    nb.add("idea", "Plain, with a comma")
    rows = list(csv.DictReader(io.StringIO(nb.export("csv"))))
    assert [r["text"] for r in rows] == ["'=HYPERLINK(\"http://x\")", "Plain, with a comma"]
    assert rows[0]["source"] == 'said, "quoted"' and rows[0]["tags"] == "a;b"
    assert rows[0]["status"] == "open" and rows[1]["kind"] == "idea"
    with pytest.raises(NotebookError, match="md or csv"):
        nb.export("pdf")


def test_record_analysis_keeps_only_what_the_boss_said(nb: Notebook) -> None:
    said = ("Book a table for 4 at Luigi's on Friday. I'm vegetarian. "
            "The word 'extraordinary' is long.")
    analysis = Analysis(summary="s", ideas=[
        Idea(text="The Boss is vegetarian", source="I'm vegetarian"),
        Idea(text="The word 'extraordinary' has 10 characters",
             source="The word 'extraordinary'"),  # the number is the model's own
        Idea(text="The Boss likes Italian food"),  # no source
        Idea(text="Luigi's is the best", source="Luigi's is the best restaurant"),  # not said
    ], action_items=[
        ActionItem(text="Book a table for 4 at Luigi's on Friday", priority="high",
                   source="Book a table for 4 at Luigi's on Friday"),
        ActionItem(text="Reserve table at Luigi's Friday"),  # no source: the closest sentence
        ActionItem(text="Book a table for 6 at Luigi's"),  # a number the Boss never said
        ActionItem(text="Research restaurant reviews online"),  # the model's own plan
    ])
    kept = nb.record_analysis(analysis, said, task_id="t1", message_id="m1")
    assert [(n.kind, n.text, n.source) for n in kept] == [
        ("idea", "The Boss is vegetarian", "I'm vegetarian"),
        ("item", "Book a table for 4 at Luigi's on Friday",
         "Book a table for 4 at Luigi's on Friday"),
        ("item", "Reserve table at Luigi's Friday",
         "Book a table for 4 at Luigi's on Friday."),
    ]
    assert all(n.task_id == "t1" and n.message_id == "m1" for n in kept)


def test_relevant_notes_come_first_then_the_recent_ones(nb: Notebook) -> None:
    friday = nb.add("item", "Send the invoice to Bob by Friday")[0]
    nb.add("item", "Renew the passport")
    idea = nb.add("idea", "Likes Friday lunches at Luigi's")[0]
    done = nb.add("item", "Book Friday's room")[0]
    nb.mark_done(done.id)
    for i in range(10):
        nb.add("item", f"Unrelated chore number {i}")
    got = nb.relevant("What is still due for Friday?")
    assert [n.id for n in got[:2]] == [idea.id, friday.id] and len(got) == 8
    assert done.id not in [n.id for n in got]
    assert [n.id for n in nb.relevant("Friday", min_overlap=1)] == [idea.id, friday.id]
    assert nb.relevant("Friday", exclude_message_ids={""}, min_overlap=1) == []
    open_ones = nb.relevant("what is still open?", min_overlap=1)
    assert idea.id not in [n.id for n in open_ones] and len(open_ones) == 8


def test_grounding_rules() -> None:
    said = "Email   Ana the “Q3 plan” — she's away until 5 May."
    assert grounding.found_in('ana the "Q3 PLAN"', said)
    assert grounding.found_in("she's away", said) and not grounding.found_in("away", said)
    assert not grounding.found_in("Ana the plan", said) and not grounding.found_in("", said)
    assert grounding.numbers(said) == {"q3", "5"}
    assert grounding.same_note("Send the report", "send  THE report.")
    assert not grounding.same_note("Book 3 rooms", "Book 4 rooms")
