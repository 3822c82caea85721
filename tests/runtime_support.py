"""Runtime tests drive the company with the in-process scripted provider, keyed by action."""

from __future__ import annotations

from typing import Any

from company.company import Company
from company.config import AppConfig
from company.llm.scripted import ScriptedProvider
from company.store import Store
from tests.conftest import ANALYSIS, PLAN, REPORT


def standard_script(**answers: Any) -> ScriptedProvider:
    """The standard SOP's answers (analysis, plan, report), with any action's replaced."""
    return ScriptedProvider({"AnalyzeRequest": ANALYSIS, "WritePlan": PLAN,
                             "SummarizeResults": REPORT, **answers})


def scripted_company(config: AppConfig, store: Store,
                     provider: ScriptedProvider | None = None) -> tuple[Company, ScriptedProvider]:
    """A company on the scripted provider (the standard script unless one is given)."""
    provider = provider or standard_script()
    return Company(config, store=store, provider=provider), provider


def last_prompt(provider: ScriptedProvider, action: str, n: int = -1) -> str:
    """The user prompt of an action's ``n``-th call."""
    return provider.calls_for(action)[n].messages[-1]["content"]
