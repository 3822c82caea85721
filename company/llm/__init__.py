"""The LLM layer: providers, structured output, usage and cost, record/replay."""

from company.llm.base import (
    BudgetExceeded,
    ChatRequest,
    ChatResult,
    LLMError,
    LLMInvalidOutput,
    LLMOutputTruncated,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
    ReplayMiss,
)
from company.llm.bounds import CallBounds
from company.llm.client import LLM, Reask, RoleLLM

__all__ = [
    "LLM",
    "BudgetExceeded",
    "CallBounds",
    "ChatRequest",
    "ChatResult",
    "LLMError",
    "LLMInvalidOutput",
    "LLMOutputTruncated",
    "LLMServerError",
    "LLMTimeout",
    "LLMUnavailable",
    "Reask",
    "ReplayMiss",
    "RoleLLM",
]
