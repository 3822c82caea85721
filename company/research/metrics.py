"""One row of metrics per run, computed from the run's outcome and its message log."""

from __future__ import annotations

from pydantic import BaseModel, Field

from company.message import Message
from company.payloads import GraphResults, StepResult
from company.research.expectations import check, completed
from company.research.plan import RunSpec
from company.research.requests import Expect
from company.run import TaskOutcome

RUN_GRAPHS = "RunGraphs"


class RunRow(BaseModel):
    """Metrics of one run (one line of ``runs.jsonl``)."""

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


def graph_steps(messages: list[Message]) -> list[StepResult]:
    """Every graph execution reported in the run's RunGraphs payloads."""
    steps: list[StepResult] = []
    for message in messages:
        if message.cause_by == RUN_GRAPHS and message.payload is not None:
            steps.extend(GraphResults.model_validate(message.payload).steps)
    return steps


def build_row(spec: RunSpec, outcome: TaskOutcome, messages: list[Message], expect: Expect, *,
              wall_s: float, resumed: bool) -> RunRow:
    """The run's metrics row (the judge's score is added later)."""
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
    )


def crashed_row(spec: RunSpec, error: BaseException, wall_s: float) -> RunRow:
    """A row for a run that could not even run (the sweep goes on)."""
    return RunRow(
        run_id=spec.run_id, sop=spec.sop, sop_digest=spec.sop_digest, model=spec.model,
        request_id=spec.request_id, repeat=spec.repeat, status="error",
        error=f"{type(error).__name__}: {error}", success=False,
        failed=[f"status error: {error}"], wall_s=round(wall_s, 4),
    )
