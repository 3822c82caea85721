"""Bounds of one LLM call: how many answer tokens each action may get, and how long a call may
take (``llm.max_answer_tokens`` and ``llm.call_deadline_s`` in the config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_KEY = "default"
"""The ``max_answer_tokens`` entry for actions without their own (graph LLM blocks, the judge)."""

DEFAULT_ANSWER_TOKENS: dict[str, int] = {
    "AnalyzeRequest": 400,  # a one-sentence summary and a few short ideas / action items
    "WritePlan": 600,       # 3-5 steps of ~80 tokens, with quoted text copied into inputs
    "SummarizeResults": 500,  # the answer first, then what was done and what failed
    "ReviewResults": 200,   # a verdict and a sentence or two of feedback
    "RoleReact": 128,       # one action name and a short reason
    "RolePlan": 192,        # a few action names and a short reason
    "SummarizeHistory": 300,  # the earlier turns of a long conversation in a paragraph
    DEFAULT_KEY: 512,
}
"""Answer-token bounds sized to each action's answer (see config/config.yaml)."""

DEFAULT_CALL_DEADLINE_S = 300.0
"""One call, one attempt: a 1.5B model's bounded answer on a slow CPU, with some queueing."""

MIN_ANSWER_TOKENS = 16


class CallBounds(BaseModel):
    """The answer-token bound per action and the deadline of one call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_answer_tokens: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_ANSWER_TOKENS))
    call_deadline_s: float = Field(default=DEFAULT_CALL_DEADLINE_S, gt=0)

    @field_validator("max_answer_tokens", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """Entries given replace the shipped ones; the rest (and ``default``) stay."""
        return merge_answer_tokens(value)

    def answer_tokens(self, action: str) -> int:
        """The bound for this action's answers: its own entry, else ``default``."""
        return self.max_answer_tokens.get(action) or self.max_answer_tokens[DEFAULT_KEY]

    def setting_for(self, action: str) -> str:
        """The config key that bounds this action's answers (where to raise it)."""
        key = action if action and action in self.max_answer_tokens else DEFAULT_KEY
        return f"llm.max_answer_tokens.{key}"


def merge_answer_tokens(value: Any) -> Any:
    """The shipped bounds updated with ``value`` (a mapping; anything else is left to fail
    validation); every bound must be at least 16 tokens."""
    if value is None:
        return dict(DEFAULT_ANSWER_TOKENS)
    if not isinstance(value, Mapping):
        return value
    for name, tokens in value.items():
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < MIN_ANSWER_TOKENS:
            raise ValueError(f"llm.max_answer_tokens.{name} must be a whole number of at least "
                             f"{MIN_ANSWER_TOKENS} tokens, not {tokens!r}")
    return {**DEFAULT_ANSWER_TOKENS, **value}
