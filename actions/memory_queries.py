"""Queries actions make of the task's memory: the Boss's own words, the newest payloads, the
failed steps a re-plan must avoid."""

from __future__ import annotations

import re
from typing import Any

from actions.transcribe import Transcribe
from company.action import Action
from company.boss import UserRequirement
from company.graphs.safe_http import is_network_failure
from company.memory import Memory
from company.message import EVERYONE, Message
from company.payloads import GraphResults, Review, StepResult
from company.status import StepStatus

RUN_GRAPHS = "RunGraphs"
"""RunGraphs by name (it imports this module)."""
BROKEN = frozenset({StepStatus.FAILED, StepStatus.TERMINATED})
"""Statuses of a step whose graph ran and gave nothing usable: a re-plan may replace it."""
FEEDBACK_ERROR_CHARS = 160
REPLAN_ADVICE = "use another graph from the catalogue, or answer with no steps and say why in notes"


def boss_requests(memory: Memory) -> list[Message]:
    """Every request the Boss made (typed, or transcribed voice), oldest first."""
    found = [*memory.by_cause(UserRequirement), *memory.by_cause(Transcribe)]
    return sorted(found, key=lambda m: m.seq)


def latest_payload(memory: Memory, news: list[Message], action: type[Action]) -> Any:
    """The newest payload an action published, parsed into its payload model: from the news
    first, then from memory; None when there is none."""
    model = action.payload
    assert model is not None, f"{action.name} declares no payload model"
    for message in reversed(news):
        if message.cause_by == action.name and message.payload is not None:
            return model.model_validate(message.payload)
    message = memory.latest(action)
    if message is None or message.payload is None:
        return None
    return model.model_validate(message.payload)


def replan_requests(news: list[Message]) -> list[Review]:
    """The news that send a plan back (a ``Review`` payload with verdict ``replan``), from
    any reviewer: ReviewResults, or a researcher's own critic."""
    found = []
    for message in news:
        payload = message.payload
        if isinstance(payload, dict) and payload.get("verdict") == "replan":
            found.append(Review.model_validate(payload))
    return found


def step_feedback(steps: list[StepResult]) -> list[str]:
    """One short line per failed or skipped step, for a model writing the next plan."""
    lines: list[str] = []
    for step in steps:
        if step.status in BROKEN:
            why = _short(step.error or str(step.status))
            line = f"step {step.step_id} ({step.graph}) failed: {why}; {REPLAN_ADVICE}"
        elif step.status is StepStatus.SKIPPED:
            why = _short((step.error or "").removeprefix("skipped:").strip() or "not run")
            line = f"step {step.step_id} ({step.graph}) was skipped: {why}"
        else:
            continue
        if line not in lines:
            lines.append(line)
    return lines


def failure_feedback(news: list[Message]) -> list[str]:
    """One line per FAILED (or timed-out) and SKIPPED step of the RunGraphs results in the
    news, oldest first: what a re-plan must avoid, short enough for a small model."""
    lines: list[str] = []
    for message in news:
        if message.cause_by != RUN_GRAPHS or message.payload is None:
            continue
        for line in step_feedback(GraphResults.model_validate(message.payload).steps):
            if line not in lines:
                lines.append(line)
    return lines


def broken_steps(news: list[Message]) -> list[StepResult]:
    """The steps that FAILED (or timed out) in the RunGraphs results in the news."""
    return [step for message in news
            if message.cause_by == RUN_GRAPHS and message.payload is not None
            for step in GraphResults.model_validate(message.payload).steps
            if step.status in BROKEN]


def network_down(steps: list[StepResult]) -> bool:
    """Whether a broken step failed because a host could not be resolved or reached (then no
    graph that fetches from the network is worth offering to a re-plan)."""
    return any(is_network_failure(step.error) or any(is_network_failure(node.error)
                                                      for node in step.nodes)
               for step in steps if step.status in BROKEN)


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= FEEDBACK_ERROR_CHARS:
        return text
    return text[: FEEDBACK_ERROR_CHARS - 1].rstrip() + "…"


def this_request(memory: Memory, messages: list[Message]) -> list[Message]:
    """The messages that came after the Boss's newest request (a follow-up starts anew)."""
    requests = boss_requests(memory)
    since = requests[-1].seq if requests else 0
    return [m for m in messages if m.seq > since]


def replan_requests_sent(memory: Memory) -> list[Message]:
    """This request's RunGraphs results sent to a Planner only (each asked for a re-plan)."""
    return [m for m in this_request(memory, memory.by_cause(RUN_GRAPHS))
            if EVERYONE not in m.send_to]


def replans_after_failure(memory: Memory) -> int:
    """How many re-plans after failed steps this request has had: results sent back to a
    Planner, plus re-plans RunGraphs made itself (an SOP with no Planner)."""
    own = sum(GraphResults.model_validate(m.payload).replans
              for m in this_request(memory, memory.by_cause(RUN_GRAPHS)) if m.payload)
    return len(replan_requests_sent(memory)) + own
