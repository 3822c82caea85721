"""Checks of a run against a request's expectations (no LLM judge involved)."""

from __future__ import annotations

import math
from typing import Any

from company.grounding import as_number
from company.payloads import StepResult
from company.research.requests import Expect
from company.status import StepStatus, TaskStatus


def completed(step: StepResult) -> bool:
    """True when a graph execution finished cleanly: COMPLETED and no node failed.

    RunGraphs now marks a step FAILED when a node failed and the graph gave no output, but a
    step that gave some output while a node failed stays COMPLETED (partial): for the
    evaluation that is still not a clean success, as before (so old and new runs score alike:
    an old COMPLETED-with-error step with no output now reads FAILED, and fails either way).
    A failed node is known by the step's error or its recorded node statuses."""
    return (step.status is StepStatus.COMPLETED and not step.error
            and not any(n.status == StepStatus.FAILED for n in step.nodes))


def ran(step: StepResult) -> bool:
    """True when the step's graph was started (a SKIPPED or only planned step never was)."""
    return step.status.ran


def _why_not(graph: str, steps: list[StepResult]) -> str:
    mine = [s for s in steps if s.graph == graph]
    if not mine:
        return f"graph {graph} not executed (COMPLETED)"
    last = mine[-1]
    why = f"{last.status}: {last.error}" if last.error else last.status
    return f"graph {graph} did not complete ({why[:160]})"


def same_value(expected: Any, actual: Any) -> bool:
    """Equal as numbers (42 == 42.0 == "42"), else as stripped text, else structurally."""
    a, b = as_number(expected), as_number(actual)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip() == actual.strip()
    return bool(expected == actual)


def output_values(steps: list[StepResult]) -> list[Any]:
    """Every value any completed step produced, on any output pin."""
    return [v for s in steps if completed(s) for values in s.outputs.values() for v in values]


def check(expect: Expect, *, status: str, error: str | None, report: str | None,
          steps: list[StepResult], rounds: int) -> list[str]:
    """The expectations a run failed, as readable lines (empty: success)."""
    failed: list[str] = []
    if status != TaskStatus.DONE:
        failed.append(f"status {status}: {error or 'no error given'}")
    succeeded = {s.graph for s in steps if completed(s)}
    for graph in expect.graphs:
        if graph not in succeeded:
            failed.append(_why_not(graph, steps))
    broken = {s.graph for s in steps if ran(s) and not completed(s)}
    for graph in expect.failed_graphs:
        if graph not in broken:
            failed.append(f"graph {graph} did not run and fail"
                          + (" (it succeeded)" if graph in succeeded else ""))
    started = sorted({s.graph for s in steps if ran(s)})
    if expect.graphs_none and started:
        failed.append(f"graphs ran though none should: {', '.join(started)}")
    text = (report or "").casefold()
    for needle in expect.report_contains:
        if needle.casefold() not in text:
            failed.append(f"report lacks {needle!r}")
    if expect.report_contains_any and not any(n.casefold() in text
                                              for n in expect.report_contains_any):
        failed.append(f"report has none of {', '.join(map(repr, expect.report_contains_any))}")
    values = output_values(steps)
    for wanted in expect.outputs_contain:
        if not any(same_value(wanted, v) for v in values):
            failed.append(f"no graph output equals {wanted!r}")
    if expect.max_rounds is not None and rounds > expect.max_rounds:
        failed.append(f"took {rounds} rounds (max {expect.max_rounds})")
    return failed
