"""Queries actions make of the task's memory: the Boss's own words, the newest payloads."""

from __future__ import annotations

from typing import Any

from actions.transcribe import Transcribe
from company.action import Action
from company.boss import UserRequirement
from company.memory import Memory
from company.message import Message
from company.payloads import Review


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
