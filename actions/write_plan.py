"""WritePlan: ordered steps, each running a catalogue graph with inputs (asked with the
catalogue's plan schema; the dependencies follow from the inputs' references)."""

from __future__ import annotations

from actions.analyze_request import AnalyzeRequest
from actions.boss_words import boss_words
from actions.memory_queries import (
    broken_steps,
    failure_feedback,
    latest_payload,
    replan_requests,
)
from actions.planning import OFFLINE_FALLBACK, draft_plan, offline_plan, replan_exclusions
from company.action import Action, ActionFailed, ActionOutput
from company.events import EventKind
from company.message import Message
from company.payloads import Analysis, Plan


class WritePlan(Action):
    """Writes the plan for the newest analysis, or re-plans after a review or after the
    Executor sent back results with failed steps."""

    # by name: ReviewResults and RunGraphs import this module
    triggers = (AnalyzeRequest, "ReviewResults", "RunGraphs")
    payload = Plan
    description = "turn the Boss's request into steps that run catalogue graphs"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Write a plan for the newest analysis (or re-plan after a review or failed steps)."""
        failures = failure_feedback(news)
        if not failures and all(m.cause_by == "RunGraphs" for m in news):
            return None  # results that need no re-plan
        analysis: Analysis | None = latest_payload(self.ctx.memory, news, AnalyzeRequest)
        if analysis is None:
            raise ActionFailed("there is no analysis to plan from")
        feedback = "\n".join([*(f"- reviewer: {r.feedback}" for r in replan_requests(news)),
                              *(f"- {line}" for line in failures)])
        catalogue = self.ctx.services.catalogue()
        if failures and not replan_requests(news):
            previous: Plan | None = latest_payload(self.ctx.memory, [], WritePlan)
            fallback = offline_plan(previous, broken_steps(news), catalogue,
                                    boss_words(self.ctx.memory, recent=0).request)
            if fallback is not None:  # no model call: the code knows what the steps wanted
                self.ctx.event(EventKind.PROGRESS, what=OFFLINE_FALLBACK,
                               steps=[s.step_id for s in broken_steps(news)])
                return ActionOutput(content=describe_plan(fallback), payload=fallback)
        try:
            exclude = replan_exclusions(news, catalogue)
            plan = await draft_plan(self, analysis, feedback, exclude=exclude)
        except ActionFailed as exc:
            if not failures:
                raise
            # a re-plan after failed steps that cannot be made valid: an empty plan, so the
            # Executor reports the failure instead of the task ending without a report
            plan = Plan(steps=[], notes=f"No other plan could be made after the failure: {exc}")
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
