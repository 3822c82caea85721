"""Helpers actions share to read the conversation from memory."""

from __future__ import annotations

from company.memory import Memory
from company.message import USER_REQUIREMENT, Message
from company.payloads import Analysis, GraphResults, Plan


def boss_requests(memory: Memory) -> list[Message]:
    """Every request the Boss made (typed, or transcribed voice), oldest first."""
    found = [*memory.by_cause(USER_REQUIREMENT), *memory.by_cause("Transcribe")]
    return sorted(found, key=lambda m: m.seq)


def latest_payload(memory: Memory, news: list[Message], cause_by: str, model: type) -> object:
    """The newest payload of a kind, from the news first, then from memory."""
    for message in reversed(news):
        if message.cause_by == cause_by and message.payload is not None:
            return model.model_validate(message.payload)
    message = memory.latest(cause_by)
    if message is None or message.payload is None:
        return None
    return model.model_validate(message.payload)


def latest_analysis(memory: Memory, news: list[Message]) -> Analysis | None:
    """The Analyst's newest analysis."""
    found = latest_payload(memory, news, "AnalyzeRequest", Analysis)
    return found if isinstance(found, Analysis) else None


def latest_plan(memory: Memory, news: list[Message]) -> Plan | None:
    """The Planner's newest plan."""
    found = latest_payload(memory, news, "WritePlan", Plan)
    return found if isinstance(found, Plan) else None


def latest_results(memory: Memory, news: list[Message]) -> GraphResults | None:
    """The Executor's newest results."""
    found = latest_payload(memory, news, "RunGraphs", GraphResults)
    return found if isinstance(found, GraphResults) else None
