"""The LLM layer: providers, structured output, usage and cost, record/replay."""

from company.llm.base import (
    BudgetExceeded,
    ChatRequest,
    ChatResult,
    LLMError,
    LLMInvalidOutput,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
    ReplayMiss,
)
from company.llm.client import LLM, RoleLLM

__all__ = [
    "LLM",
    "BudgetExceeded",
    "ChatRequest",
    "ChatResult",
    "LLMError",
    "LLMInvalidOutput",
    "LLMServerError",
    "LLMTimeout",
    "LLMUnavailable",
    "ReplayMiss",
    "RoleLLM",
]
