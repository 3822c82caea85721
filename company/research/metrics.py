"""One row of metrics per run, computed from the run's outcome, its message log and its events."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from company.events import Event, EventKind
from company.message import Message
from company.payloads import GraphResults, StepResult
from company.research.expectations import check, completed
from company.research.plan import RunSpec
from company.research.requests import Expect
from company.run import TaskOutcome

RUN_GRAPHS = "RunGraphs"
WRITE_PLAN = "WritePlan"
PLAN_REJECTED = "plan_rejected"
PLAN_DOUBTED = "plan_doubted"
REPLAN_AFTER_FAILURE = "replan_after_failure"
REPORT_REASKED = "report_reasked"
LEGACY_REASK = "invalid"
"""The only re-ask older code made: an answer that did not validate."""
LEGACY_ROLE_ACTIONS = {"Transcriber": "Transcribe", "Planner": WRITE_PLAN, "Executor": RUN_GRAPHS}
"""The action of a role's LLM call in events that do not name it, when the turn published
nothing to tell (the Analyst's is AnalyzeRequest before any RunGraphs result, then
SummarizeResults)."""
STILL_INVALID = "plan was still invalid"
"""How older code said every plan of a failed WritePlan turn was rejected."""


class EventCounts(BaseModel):
    """What a run's events say about its LLM calls: rejected plans, re-asks, re-plans, and the
    calls and mean prompt tokens per action."""

    plans_rejected: int = 0
    plans_doubted: int = 0
    reasks: int = 0
    reask_reasons: dict[str, int] = Field(default_factory=dict)
    replans_after_failure: int = 0
    reports_reasked: int = 0
    action_calls: dict[str, int] = Field(default_factory=dict)
    action_prompt_tokens: dict[str, float] = Field(default_factory=dict)
    counted_by_fallback: bool = False


class RunRow(EventCounts):
    """Metrics of one run (one line of ``runs.jsonl``); every field added later has a default,
    so older lines load. It carries its :class:`EventCounts` (inherited)."""

    run_id: str
    sop: str
    sop_digest: str
    model: str
    request_id: str
    repeat: int
    status: str
    error: str | None = None
    success: bool
    failed: list[str] = Field(default_factory=list)
    rounds: int = 0
    messages: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0
    cost: float = 0.0
    wall_s: float = 0.0
    graph_runs: int = 0
    graph_failures: int = 0
    judge_score: int | None = None
    judge_reason: str | None = None
    resumed: bool = False


class _Call(BaseModel):
    """One counted LLM call: who asked, its turn, its prompt size, why it re-asks."""

    role: str
    turn: int
    action: str = ""
    prompt_tokens: int = 0
    reask: str | None = None


def _calls(events: Sequence[Event]) -> tuple[list[_Call], dict[tuple[str, int], str]]:
    """The run's LLM calls (journal replays of a resumed run left out), each with its action:
    the event's ``action``, else the ``cause_by`` of the message its role's turn published, else
    the role's usual action. Also the error of each failed turn, by (role, turn)."""
    calls: list[_Call] = []
    turns: Counter[str] = Counter()
    pending: dict[str, list[_Call]] = {}
    errors: dict[tuple[str, int], str] = {}
    results_seen = False
    for event in events:
        data = event.data
        role = str(data.get("role") or data.get("sent_from") or "")
        if event.kind is EventKind.ROLE_STARTED:
            turns[role] += 1
        elif event.kind is EventKind.LLM_CALL and data.get("source") != "journal":
            call = _Call(role=role, turn=turns[role], action=str(data.get("action") or ""),
                         prompt_tokens=int(data.get("prompt_tokens") or 0),
                         reask=data.get("reask") or None)
            calls.append(call)
            if not call.action:
                pending.setdefault(role, []).append(call)
        elif event.kind is EventKind.ERROR:
            errors[(role, turns[role])] = str(data.get("error") or "")
        elif event.kind is EventKind.MESSAGE:
            cause = str(data.get("cause_by") or "")
            for call in pending.pop(role, []):
                call.action = cause
            results_seen = results_seen or cause == RUN_GRAPHS
        if event.kind is EventKind.ROLE_FINISHED and not (data.get("ok") and data.get("outputs")):
            for call in pending.pop(role, []):
                call.action = _usual_action(role, results_seen)
    for role, left in pending.items():
        for call in left:
            call.action = _usual_action(role, results_seen)
    return calls, errors


def _usual_action(role: str, results_seen: bool) -> str:
    if role == "Analyst":
        return "SummarizeResults" if results_seen else "AnalyzeRequest"
    return LEGACY_ROLE_ACTIONS.get(role, role)


def _progress(events: Sequence[Event], what: str) -> int:
    return sum(1 for e in events if e.kind is EventKind.PROGRESS and e.data.get("what") == what)


def event_counts(events: Sequence[Event]) -> EventCounts:
    """Count a run's events. LLM calls are LLM_CALL events (journal replays of a resumed run are
    not calls); rejected plans are PROGRESS ``plan_rejected`` (valid plans re-asked for their
    doubts ``plan_doubted``), re-asks LLM_CALL events with a
    ``reask`` reason, failure re-plans PROGRESS ``replan_after_failure``, re-asked reports PROGRESS
    ``report_reasked``.

    Fallbacks for runs recorded before those fields (no LLM_CALL names its ``action`` and no plan
    was rejected by event): a call's action is the ``cause_by`` of the message its role's turn
    published (else the role's usual action: Planner WritePlan, Executor RunGraphs, Analyst
    AnalyzeRequest, or SummarizeResults once graphs ran); rejected plans are a WritePlan turn's
    calls beyond the first (all of them when the turn failed with "plan was still invalid");
    re-asks ("invalid", the only kind then) are other actions' calls beyond the first in one turn,
    RunGraphs excepted (its graphs' own LLM calls). A react-mode choice call counts with the action
    it chose, so there it reads as a re-ask."""
    calls, errors = _calls(events)
    legacy = bool(calls) and not any(e.kind is EventKind.LLM_CALL and e.data.get("action")
                                     for e in events) and not _progress(events, PLAN_REJECTED)
    counts = EventCounts(replans_after_failure=_progress(events, REPLAN_AFTER_FAILURE),
                         plans_doubted=_progress(events, PLAN_DOUBTED),
                         reports_reasked=_progress(events, REPORT_REASKED),
                         counted_by_fallback=legacy)
    reasons: Counter[str] = Counter()
    if legacy:
        per_turn = Counter((c.role, c.turn, c.action) for c in calls)
        for (role, turn, action), n in per_turn.items():
            if action == WRITE_PLAN:
                failed = STILL_INVALID in errors.get((role, turn), "")
                counts.plans_rejected += n if failed else n - 1
            elif action != RUN_GRAPHS and n > 1:
                reasons[LEGACY_REASK] += n - 1
    else:
        counts.plans_rejected = _progress(events, PLAN_REJECTED)
        reasons.update(str(c.reask) for c in calls if c.reask)
    counts.reasks = sum(reasons.values())
    counts.reask_reasons = dict(sorted(reasons.items()))
    by_action: dict[str, list[int]] = {}
    for call in calls:
        by_action.setdefault(call.action, []).append(call.prompt_tokens)
    counts.action_calls = {a: len(v) for a, v in sorted(by_action.items())}
    counts.action_prompt_tokens = {a: round(statistics.fmean(v), 1)
                                   for a, v in sorted(by_action.items())}
    return counts


def with_event_counts(row: RunRow, events: Sequence[Event]) -> RunRow:
    """The row with its event counts (re)computed from the run's events."""
    return row.model_copy(update=event_counts(events).model_dump())


def graph_steps(messages: list[Message]) -> list[StepResult]:
    """Every graph execution reported in the run's RunGraphs payloads."""
    steps: list[StepResult] = []
    for message in messages:
        if message.cause_by == RUN_GRAPHS and message.payload is not None:
            steps.extend(GraphResults.model_validate(message.payload).steps)
    return steps


def build_row(spec: RunSpec, outcome: TaskOutcome, messages: list[Message], expect: Expect, *,
              wall_s: float, resumed: bool, events: Sequence[Event] = ()) -> RunRow:
    """The run's metrics row (the judge's score is added later); ``events`` give the counts of
    rejected plans, re-asks and prompt sizes per action (zero without them)."""
    steps = graph_steps(messages)
    failed = check(expect, status=outcome.status, error=outcome.error, report=outcome.report,
                   steps=steps, rounds=outcome.rounds)
    usage = outcome.usage
    return RunRow(
        run_id=spec.run_id, sop=spec.sop, sop_digest=spec.sop_digest, model=spec.model,
        request_id=spec.request_id, repeat=spec.repeat, status=outcome.status,
        error=outcome.error, success=not failed, failed=failed, rounds=outcome.rounds,
        messages=len(messages), llm_calls=usage.calls, prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens, tokens=usage.tokens,
        cost=round(usage.cost, 8), wall_s=round(wall_s, 4), graph_runs=len(steps),
        graph_failures=sum(1 for s in steps if not completed(s)), resumed=resumed,
        **event_counts(events).model_dump(),
    )


def crashed_row(spec: RunSpec, error: BaseException, wall_s: float) -> RunRow:
    """A row for a run that could not even run (the sweep goes on)."""
    return RunRow(
        run_id=spec.run_id, sop=spec.sop, sop_digest=spec.sop_digest, model=spec.model,
        request_id=spec.request_id, repeat=spec.repeat, status="error",
        error=f"{type(error).__name__}: {error}", success=False,
        failed=[f"status error: {error}"], wall_s=round(wall_s, 4),
    )


def prompt_size_per_action(rows: Iterable[RunRow]) -> dict[str, float]:
    """Mean prompt tokens per LLM call of each action over the rows (weighted by calls)."""
    tokens: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for row in rows:
        for action, n in row.action_calls.items():
            calls[action] += n
            tokens[action] += n * row.action_prompt_tokens.get(action, 0.0)
    return {a: tokens[a] / calls[a] for a in sorted(calls) if calls[a]}


def reask_reasons(rows: Iterable[RunRow]) -> dict[str, int]:
    """Re-asks summed over the rows, by reason."""
    total: Counter[str] = Counter()
    for row in rows:
        total.update(row.reask_reasons)
    return dict(sorted(total.items()))
