"""WritePlan: ordered steps, each running a catalogue graph with inputs and dependencies."""

from __future__ import annotations

from actions.analyze_request import AnalyzeRequest
from actions.memory_queries import latest_payload, replan_requests
from actions.planning import draft_plan
from company.action import Action, ActionFailed, ActionOutput
from company.message import Message
from company.payloads import Analysis, Plan


class WritePlan(Action):
    """Writes the plan for the newest analysis, or re-plans after a review."""

    triggers = (AnalyzeRequest, "ReviewResults")  # by name: ReviewResults imports this module
    payload = Plan
    description = "turn the action items into steps that run catalogue graphs"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Write a plan for the newest analysis (or re-plan after a review)."""
        analysis: Analysis | None = latest_payload(self.ctx.memory, news, AnalyzeRequest)
        if analysis is None:
            raise ActionFailed("there is no analysis to plan from")
        feedback = "\n".join(f"- reviewer: {r.feedback}" for r in replan_requests(news))
        plan = await draft_plan(self, analysis, feedback)
        return ActionOutput(content=describe_plan(plan), payload=plan)


def describe_plan(plan: Plan) -> str:
    """The plan as readable text."""
    if not plan.steps:
        return f"No steps. {plan.notes}".strip()
    lines = []
    for n, step in enumerate(plan.steps, 1):
        after = f" after {', '.join(step.depends_on)}" if step.depends_on else ""
        lines.append(f"{n}. {step.id}: run {step.graph} with {step.inputs}{after}. {step.purpose}")
    if plan.notes:
        lines.append(plan.notes)
    return "\n".join(line.strip() for line in lines)
