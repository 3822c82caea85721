"""The store, on both backends (SQLite and a real PostgreSQL): tasks, the message log, role
state, events, usage, ideas, recorded calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from company.events import Event, EventKind
from company.message import Message
from company.status import TaskStatus
from company.store import Store, StoredCall
from tests.pg_support import pg_server, store_location  # noqa: F401  (fixtures)


@pytest.fixture
def db(store_location: str | Path) -> Iterator[Store]:  # noqa: F811
    """A fresh store: a SQLite file under tmp_path (its parent folder made on open), then a
    fresh PostgreSQL database."""
    store = Store(store_location)
    yield store
    store.close()


def message(task_id: str, seq: int, content: str, **kw: object) -> Message:
    """A message of ``task_id`` at ``seq``."""
    return Message(id=f"{task_id}-{seq:05d}", task_id=task_id, seq=seq, content=content,
                   **kw)  # type: ignore[arg-type]


def test_a_new_task_is_queued_with_its_options(db: Store) -> None:
    task = db.create_task("t1", "add 1 and 2", "default", "roles: []", llm_spec="ollama:m",
                          options={"n_round": 3})
    assert task.status is TaskStatus.QUEUED
    assert (task.request, task.sop_name, task.sop_text, task.llm_spec) == (
        "add 1 and 2", "default", "roles: []", "ollama:m")
    assert task.options == {"n_round": 3} and task.rounds == 0 and task.error is None
    assert db.get_task("t1") == task
    assert db.get_task("nope") is None
    assert db.count_tasks() == 1


def test_update_task_changes_only_the_named_columns(db: Store) -> None:
    before = db.create_task("t1", "r", "default", "s")
    db.update_task("t1", status=TaskStatus.RUNNING, error=None)
    db.update_task("t1", status=TaskStatus.DONE, report="# Report", rounds=2,
                   options={"k": "v"})
    after = db.get_task("t1")
    assert after is not None
    assert after.status is TaskStatus.DONE and after.report == "# Report" and after.rounds == 2
    assert after.options == {"k": "v"} and after.request == "r"
    assert after.created_at == before.created_at and after.updated_at >= before.updated_at


def test_update_task_refuses_an_unknown_status_and_keeps_the_row(db: Store) -> None:
    db.create_task("t1", "r", "default", "s")
    with pytest.raises(ValueError, match="'finished' is not a task status"):
        db.update_task("t1", status="finished")  # type: ignore[arg-type]
    task = db.get_task("t1")
    assert task is not None and task.status is TaskStatus.QUEUED


def test_list_tasks_newest_first_by_status_paged_and_brief(db: Store) -> None:
    for i in range(5):
        db.create_task(f"t{i}", f"request {i}", "default", "sop text")
    db.update_task("t1", status=TaskStatus.RUNNING)
    db.update_task("t3", status=TaskStatus.RUNNING)
    assert [t.id for t in db.list_tasks()] == ["t4", "t3", "t2", "t1", "t0"]
    assert [t.id for t in db.list_tasks(limit=2, offset=1)] == ["t3", "t2"]
    assert [t.id for t in db.list_tasks(status=TaskStatus.RUNNING)] == ["t3", "t1"]
    assert [t.id for t in db.list_tasks(status=TaskStatus.QUEUED)] == ["t4", "t2", "t0"]
    assert db.list_tasks(status=TaskStatus.DONE) == []
    brief = db.list_tasks(brief=True, limit=1)[0]
    assert brief.sop_text == "" and brief.report is None and brief.request == "request 4"


def test_the_message_log_appends_and_reads_in_order(db: Store) -> None:
    db.create_task("t1", "r", "default", "s")
    db.append_message(message("t1", 1, "first"))
    db.append_message(message("t1", 2, "second", cause_by="WritePlan", sent_from="Planner",
                              payload={"steps": []}))
    db.append_message(message("t2", 1, "another task"))
    assert [m.content for m in db.messages("t1")] == ["first", "second"]
    assert [m.seq for m in db.messages("t1", after_seq=1)] == [2]
    second = db.message("t1", 2)
    assert second is not None and second.payload == {"steps": []}
    assert second.cause_by == "WritePlan" and second.sent_from == "Planner"
    assert db.message("t1", 3) is None
    assert db.last_message_seq("t1") == 2 and db.last_message_seq("none") == 0
    with pytest.raises(db.errors):  # the log is append-only: a seq is written once
        db.append_message(message("t1", 2, "again"))


def test_message_heads_cut_the_content_and_drop_big_payloads(db: Store) -> None:
    db.append_message(message("t1", 1, "x" * 50, payload={"small": 1}))
    db.append_message(message("t1", 2, "short", payload={"big": "y" * 500}))
    first, second = db.message_heads("t1", max_chars=10, max_payload_chars=100)
    assert first.content == "x" * 10 and first.content_chars == 50
    assert first.payload == {"small": 1}
    assert second.content == "short" and second.payload is None
    assert second.payload_chars is not None and second.payload_chars > 500


def test_role_state_saves_and_overwrites(db: Store) -> None:
    db.save_role_state("t1", "Planner", ["b", "a"], 3)
    db.save_role_state("t1", "Executor", ["WritePlan"], 1)
    db.save_role_state("t1", "Planner", ["c"], 7)
    assert db.role_states("t1") == {"Planner": (["c"], 7), "Executor": (["WritePlan"], 1)}
    assert db.role_states("t2") == {}


def test_events_append_and_read_after_a_seq(db: Store) -> None:
    for seq, kind in enumerate((EventKind.TASK_STARTED, EventKind.ROUND_STARTED,
                                EventKind.TASK_FINISHED), start=1):
        db.append_event(Event(seq=seq, task_id="t1", kind=kind, data={"n": seq}))
    db.append_event(Event(seq=1, task_id="t2", kind=EventKind.TASK_STARTED))
    events = db.events("t1")
    assert [(e.seq, e.kind) for e in events] == [
        (1, EventKind.TASK_STARTED), (2, EventKind.ROUND_STARTED), (3, EventKind.TASK_FINISHED)]
    assert events[2].data == {"n": 3}
    assert [e.seq for e in db.events("t1", after_seq=2)] == [3]
    assert db.last_event_seq("t1") == 3 and db.last_event_seq("none") == 0


def test_usage_adds_up_per_role_and_model(db: Store) -> None:
    db.add_usage("t1", "Planner", "m", 10, 5, 0.01)
    db.add_usage("t1", "Planner", "m", 20, 1, 0.02)
    db.add_usage("t1", "Analyst", "m", 1, 1, 0.0)
    rows = db.usage("t1")
    assert [(r.role, r.calls, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("Analyst", 1, 1, 1), ("Planner", 2, 30, 6)]
    assert rows[1].cost == pytest.approx(0.03)
    assert db.usage("t2") == []


def test_ideas_are_kept_once_per_message_and_text(db: Store) -> None:
    db.add_idea("t1", "m1", "cache results", "high")
    db.add_idea("t1", "m1", "cache results", "low")  # the same idea again: ignored
    db.add_idea("t1", "m2", "cache results", "low")
    db.add_idea("t2", "m3", "other", "medium")
    mine = db.ideas("t1")
    assert [(i["message_id"], i["text"], i["priority"]) for i in mine] == [
        ("m1", "cache results", "high"), ("m2", "cache results", "low")]
    assert [i["task_id"] for i in db.ideas()] == ["t1", "t1", "t2"]


def test_recorded_calls_and_executions(db: Store) -> None:
    call = StoredCall(content="answer", prompt_tokens=3, completion_tokens=4, model="m")
    db.put_call("run-1/t1", "key", 0, call)
    db.put_call("run-1/t1", "key", 1, call.model_copy(update={"content": "second"}))
    db.put_call("run-2/t1", "key", 0, call)
    assert db.get_call("run-1/t1", "key", 0) == call
    assert db.get_call("run-1/t1", "key", 2) is None
    assert [(ns, occ, c.content) for ns, _, occ, c in db.calls("run-1/")] == [
        ("run-1/t1", 0, "answer"), ("run-1/t1", 1, "second")]
    assert db.count_calls("run-") == 3
    db.record_execution("t1", "plan:s1", "remote", "g", "exec-1")
    assert db.recorded_execution("t1", "plan:s1") == "exec-1"
    assert db.recorded_execution("t1", "plan:s2") is None


def test_a_transaction_rolls_back_every_write_on_error(db: Store) -> None:
    db.create_task("t1", "r", "default", "s")
    with pytest.raises(RuntimeError), db.transaction():
        db.update_task("t1", status=TaskStatus.RUNNING)
        db.append_message(message("t1", 1, "lost"))
        raise RuntimeError("boom")
    task = db.get_task("t1")
    assert task is not None and task.status is TaskStatus.QUEUED
    assert db.messages("t1") == []


def test_the_store_reopens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "company.db"
    first = Store(path)
    first.create_task("t1", "r", "default", "s")
    first.update_task("t1", status=TaskStatus.FAILED, error="no model")
    first.close()
    again = Store(path)
    task = again.get_task("t1")
    assert task is not None and task.status is TaskStatus.FAILED and task.error == "no model"
    assert again.integrity() == "ok" and again.writable()
    again.close()
