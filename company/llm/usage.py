"""Token usage, cost from a price table, and the task budget."""

from __future__ import annotations

from pydantic import BaseModel

from company.llm.base import BudgetExceeded


class Price(BaseModel):
    """USD per million prompt and completion tokens."""

    prompt: float = 0.0
    completion: float = 0.0


class Budget(BaseModel):
    """Limits on a task's spending; None means unlimited."""

    max_cost: float | None = None
    max_tokens: int | None = None
    max_llm_calls: int | None = None


class UsageTotals(BaseModel):
    """Calls, tokens and cost summed."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class CostManager:
    """Adds up a task's usage and enforces the budget before each call (the store keeps the
    per-role rows)."""

    def __init__(self, prices: dict[str, Price] | None = None, budget: Budget | None = None):
        self.prices = prices or {}
        self.budget = budget or Budget()
        self.total = UsageTotals()

    def price_of(self, model: str) -> Price:
        """The price of a model: exact name, then name without tag, else free (local)."""
        return self.prices.get(model) or self.prices.get(model.split(":")[0]) or Price()

    def cost_of(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """What a call costs in USD."""
        price = self.price_of(model)
        return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1e6

    def check(self) -> None:
        """Raise BudgetExceeded when the next call would go past a limit."""
        b, t = self.budget, self.total
        if b.max_cost is not None and t.cost >= b.max_cost:
            raise BudgetExceeded(
                f"budget exhausted: spent ${t.cost:.4f} of the ${b.max_cost:.4f} invested"
            )
        if b.max_tokens is not None and t.tokens >= b.max_tokens:
            raise BudgetExceeded(
                f"token budget exhausted: used {t.tokens} of {b.max_tokens} tokens"
            )
        if b.max_llm_calls is not None and t.calls >= b.max_llm_calls:
            raise BudgetExceeded(
                f"LLM call budget exhausted: made {t.calls} of {b.max_llm_calls} calls"
            )

    def add(self, role: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Count one call; return its cost."""
        cost = self.cost_of(model, prompt_tokens, completion_tokens)
        totals = self.total
        totals.calls += 1
        totals.prompt_tokens += prompt_tokens
        totals.completion_tokens += completion_tokens
        totals.cost += cost
        return cost
