"""A researcher's own role, run beside the shipped ones without editing the package.

The Critic watches the Planner's plans (``WritePlan``). It asks the LLM whether the plan does
what the Boss asked; a plan that falls short goes back to the Planner (addressed to it alone),
a good one is approved for everyone, and the Executor runs only approved plans.

    python -m examples.custom_role "Multiply 6 by 7 and count the words of 'to be or not'"

The same roles can be named in an SOP by import path: see examples/critic.yaml.
"""

from __future__ import annotations

import asyncio
import sys

from actions.analyze_request import AnalyzeRequest
from actions.memory_queries import boss_requests, latest_payload
from actions.write_plan import WritePlan, describe_plan
from company import Action, ActionOutput, Company, Message, Role
from company.config import AppConfig, load_config
from company.llm.base import Provider
from company.payloads import Plan, Review
from roles.analyst import Analyst
from roles.executor import Executor
from roles.planner import Planner


class CritiquePlan(Action):
    """Checks the newest plan against the Boss's words; sends it back at most ``max_critiques``
    times (the role's option), then approves."""

    triggers = (WritePlan,)
    payload = Review
    description = "check the plan against the request; approve it or send it back"
    prompt = """You review a plan before it runs. The Boss asked:
{{ request }}

The plan:
{{ plan }}

Answer "accept" when the plan's steps do what the Boss asked, else "replan" with one sentence
of feedback saying what is missing or wrong."""

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Review the plan in the news."""
        plan: Plan | None = latest_payload(self.ctx.memory, news, WritePlan)
        if plan is None:
            return None
        sent_back = sum(1 for m in self.ctx.memory.by_cause(CritiquePlan)
                        if m.payload and m.payload.get("verdict") == "replan")
        review = Review(verdict="accept", feedback="approved without review: critiques used up")
        if sent_back < int(self.ctx.options.get("max_critiques", 1)):
            requests = boss_requests(self.ctx.memory)
            prompt = self.render(request=requests[-1].content if requests else "",
                                 plan=describe_plan(plan))
            review = await self.llm.ask_model([{"role": "user", "content": prompt}], Review)
        if review.verdict == "replan":
            return ActionOutput(content=f"Plan sent back: {review.feedback}", payload=review,
                                send_to=["Planner"])
        return ActionOutput(content=f"Plan approved. {review.feedback}".strip(), payload=review)


class Critic(Role):
    """Reviews every plan before the Executor may run it."""

    profile = "a demanding reviewer of plans"
    goal = "Let only plans that do what the Boss asked reach the Executor."
    default_watch = (WritePlan,)
    default_actions = (CritiquePlan,)


def build_company(config: AppConfig, provider: Provider | None = None) -> Company:
    """The shipped roles with a Critic between the Planner and the Executor, hired in code."""
    return Company(config, provider=provider).hire([
        Analyst(),
        # a rejected plan comes back addressed to the Planner; let it re-plan on one
        Planner(triggers={WritePlan: [AnalyzeRequest, CritiquePlan]}),
        Critic(),
        Executor(watch=[CritiquePlan], triggers={"RunGraphs": [CritiquePlan]}),
    ])


async def main(request: str) -> int:
    """Run one request through the company with a Critic and print the report."""
    company = build_company(load_config())
    outcome = await company.run(request)
    print(outcome.report or f"{outcome.status}: {outcome.error}")
    return 0 if outcome.status == "done" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(" ".join(sys.argv[1:]) or "Multiply 6 by 7")))
