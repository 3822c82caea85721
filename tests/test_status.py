"""Task and plan-step statuses: the enums, the task transitions table, and their round trips
through the store, the payloads and the API schema."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from company.graphs.results import FINAL_STATUSES, ExecutionStatus
from company.payloads import GraphResults, StepResult
from company.status import (
    RUNNABLE,
    TERMINAL,
    TRANSITIONS,
    StepStatus,
    TaskStatus,
    check_transition,
)
from company.store import Store

Q, R, D, F, C = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.DONE, TaskStatus.FAILED,
                 TaskStatus.CANCELLED)

CODE_MOVES = [
    (Q, R, "Company.run_task starts a queued task"),
    (R, D, "a run ends idle"),
    (R, F, "a run ends with errors, out of rounds or budget"),
    (R, C, "a run is cancelled (the pool, or another process's watcher)"),
    (R, Q, "a server shutting down interrupts a run (INTERRUPT): it resumes later"),
    (R, R, "a task left running by a killed server is resumed"),
    (Q, C, "RunPool.cancel takes a task out of the queue"),
    (Q, F, "a run raises before it marks the task running"),
    (Q, Q, "a follow-up to a task still waiting in the queue"),
    (D, Q, "a follow-up queues a done task again"),
    (F, Q, "a follow-up queues a failed task again"),
    (C, Q, "a follow-up queues a cancelled task again"),
    (C, R, "run_task resumes a cancelled task directly from its log"),
    (D, R, "run_task resumes a finished task directly"),
    (C, D, "a run in another process ends before it sees the cancel"),
    (C, F, "the same, ending in failure"),
    (C, C, "a run cancelled by another process records its cancel again"),
]


def test_the_values_are_the_stored_strings() -> None:
    assert [s.value for s in TaskStatus] == ["queued", "running", "done", "failed", "cancelled"]
    assert TaskStatus.DONE == "done" and f"{TaskStatus.CANCELLED}" == "cancelled"
    assert json.dumps({"status": TaskStatus.FAILED}) == '{"status": "failed"}'
    assert RUNNABLE == {Q, R} and TERMINAL == {D, F, C}
    assert RUNNABLE.isdisjoint(TERMINAL) and RUNNABLE | TERMINAL == set(TaskStatus)
    assert [s.terminal for s in TaskStatus] == [False, False, True, True, True]


def test_the_table_covers_every_status_and_allows_staying_put() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)
    for status, targets in TRANSITIONS.items():
        assert status in targets
        assert targets <= set(TaskStatus)


@pytest.mark.parametrize(("old", "new", "why"), CODE_MOVES, ids=[m[2] for m in CODE_MOVES])
def test_every_move_the_runtime_makes_is_allowed(old: TaskStatus, new: TaskStatus,
                                                 why: str) -> None:
    assert old.can_become(new), why
    assert check_transition(old, new) is new
    assert check_transition(old.value, new.value) is new  # stored strings work too


def test_every_status_can_be_queued_again_by_a_follow_up() -> None:
    assert all(s.can_become(Q) for s in TaskStatus)


@pytest.mark.parametrize(("old", "new"), [(Q, D), (D, F), (D, C), (F, D), (F, C)])
def test_illegal_moves_are_refused_with_a_clear_message(old: TaskStatus, new: TaskStatus
                                                        ) -> None:
    assert not old.can_become(new)
    with pytest.raises(ValueError) as caught:
        check_transition(old, new)
    message = str(caught.value)
    assert message.startswith(f"a {old.value} task cannot become {new.value}")
    for allowed in TRANSITIONS[old]:
        assert allowed.value in message


def test_unknown_statuses_are_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'finished' is not a task status \(one of: queued, "
                                         r"running, done, failed, cancelled\)"):
        check_transition("queued", "finished")
    with pytest.raises(ValueError, match="'RUNNING' is not a task status"):
        TaskStatus.parse("RUNNING")


def test_task_statuses_round_trip_through_the_store(tmp_path: Path) -> None:
    path = tmp_path / "company.db"
    store = Store(path)
    for i, status in enumerate(TaskStatus):
        store.create_task(f"t{i}", "r", "default", "s", status=status)
    store.update_task("t0", status="running")  # type: ignore[arg-type]  # a plain value works
    store.close()
    with sqlite3.connect(path) as raw:  # stored as the plain strings
        stored = dict(raw.execute("SELECT id, status FROM tasks").fetchall())
    assert stored == {"t0": "running", "t1": "running", "t2": "done", "t3": "failed",
                      "t4": "cancelled"}
    again = Store(path)
    loaded = {t.id: t.status for t in again.list_tasks()}
    assert loaded == {"t0": R, "t1": R, "t2": D, "t3": F, "t4": C}
    assert all(type(s) is TaskStatus for s in loaded.values())
    assert {t.id for t in again.list_tasks(status=R)} == {"t0", "t1"}
    record = again.get_task("t2")
    assert record is not None and record.model_dump(mode="json")["status"] == "done"
    again.close()


def test_the_api_schema_shows_the_task_status_enum() -> None:
    from fastapi.openapi.utils import get_openapi

    from company.api.routes import tasks

    spec = get_openapi(title="t", version="0", routes=tasks.router.routes)
    assert spec["components"]["schemas"]["TaskStatus"]["enum"] == [s.value for s in TaskStatus]
    for model in ("TaskAccepted", "TaskSummary", "TaskDetail", "CancelResult"):
        status = spec["components"]["schemas"][model]["properties"]["status"]
        assert status == {"$ref": "#/components/schemas/TaskStatus"}, model


def test_step_statuses_cover_every_execution_status_and_the_plan_only_ones() -> None:
    for status in ExecutionStatus:
        assert StepStatus(status.value).value == status.value
    assert {StepStatus(s.value) for s in FINAL_STATUSES} <= set(StepStatus)
    assert StepStatus.SKIPPED == "SKIPPED"
    assert StepStatus.PLANNED == "planned, not executed"
    assert not StepStatus.SKIPPED.ran and not StepStatus.PLANNED.ran
    assert StepStatus.FAILED.ran and StepStatus.COMPLETED.ran


def test_step_results_read_statuses_case_insensitively_and_refuse_unknown_ones() -> None:
    assert StepResult(step_id="s", graph="g", status="completed").status is StepStatus.COMPLETED
    assert StepStatus(" Planned, Not Executed ") is StepStatus.PLANNED
    with pytest.raises(ValueError, match="status"):
        StepResult(step_id="s", graph="g", status="DONE-ISH")


def test_stored_step_results_keep_their_strings() -> None:
    stored = {"steps": [
        {"step_id": "s1", "graph": "calc", "status": "COMPLETED", "outputs": {"result": [42]}},
        {"step_id": "s2", "graph": "calc", "status": "SKIPPED", "error": "skipped"},
        {"step_id": "s3", "graph": "calc", "status": "planned, not executed"},
    ]}
    results = GraphResults.model_validate(stored)
    assert [s.status for s in results.steps] == [
        StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.PLANNED]
    dumped = results.model_dump(mode="json")
    assert [s["status"] for s in dumped["steps"]] == ["COMPLETED", "SKIPPED",
                                                      "planned, not executed"]


def test_reports_show_the_step_statuses_as_before() -> None:
    from actions.run_graphs import describe_results
    from actions.summarize_results import results_section

    steps = [StepResult(step_id="s1", graph="calc", status=StepStatus.COMPLETED),
             StepResult(step_id="s2", graph="calc", status=StepStatus.SKIPPED, error="why")]
    assert describe_results(GraphResults(steps=steps)) == (
        "s1 calc: COMPLETED\ns2 calc: SKIPPED (error: why)")
    planned = [StepResult(step_id="s1", graph="calc", status=StepStatus.PLANNED)]
    assert "| s1 | calc | planned, not executed |" in results_section(planned, executed=False)
