"""A scripted stand-in for the GraphLLM protocol, for graph tests that need no HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ScriptedLLM:
    """Answers from a list in turn (or with a function of the messages); records each call."""

    def __init__(self, *answers: str,
                 answer_fn: Callable[[list[dict[str, str]]], str] | None = None) -> None:
        self.answers = list(answers)
        self.answer_fn = answer_fn
        self.calls: list[dict[str, Any]] = []

    async def ask(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        json_schema: dict | None = None,
    ) -> str:
        """Record the call and give the next scripted answer."""
        self.calls.append({"messages": messages, "model": model, "json_schema": json_schema})
        if self.answer_fn is not None:
            return self.answer_fn(messages)
        return self.answers.pop(0)
