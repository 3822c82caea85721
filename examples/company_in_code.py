"""A company built in code, MetaGPT style: hire roles, choose the run's options, run a request.

    python -m examples.company_in_code "What is 12 times 12?"
"""

from __future__ import annotations

import asyncio
import sys

from company import Company, RunOptions
from company.config import AppConfig, load_config
from company.llm.base import Provider
from roles.analyst import Analyst
from roles.executor import Executor
from roles.planner import Planner


def build_company(config: AppConfig, provider: Provider | None = None) -> Company:
    """Analyst, Planner and Executor (no Transcriber: text requests only)."""
    return Company(config, provider=provider).hire([Analyst, Planner, Executor])


async def main(request: str) -> int:
    """Run one request with at most 6 rounds and 10 LLM calls; print the report."""
    company = build_company(load_config())
    outcome = await company.run(request, RunOptions(n_round=6, max_llm_calls=10))
    print(outcome.report or f"{outcome.status}: {outcome.error}")
    print(f"{outcome.rounds} rounds, {outcome.usage.calls} LLM calls, "
          f"workspace {outcome.workspace}")
    return 0 if outcome.status == "done" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(" ".join(sys.argv[1:]) or "What is 12 times 12?")))
