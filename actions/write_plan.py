"""WritePlan: ordered steps, each running a catalogue graph with inputs and dependencies."""

from __future__ import annotations

import re
from typing import Any

from actions.context import latest_analysis
from company.action import Action, ActionFailed, ActionOutput
from company.message import Message
from company.payloads import Analysis, Plan, PlanStep, Review

_REF = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")
_STAND_IN = {"number": 0, "integer": 0, "boolean": False, "string": ""}


def plan_problems(plan: Plan, catalogue: Any) -> list[str]:
    """What is wrong with a plan: unknown graphs, missing or ill-typed inputs, bad references
    and dependencies. Inputs that refer to earlier outputs are checked as references."""
    problems: list[str] = []
    graph_of: dict[str, str] = {}
    for step in plan.steps:
        if step.id in graph_of:
            problems.append(f"step id {step.id!r} is used twice")
        for dep in step.depends_on:
            if dep not in graph_of:
                problems.append(f"step {step.id} depends on {dep!r}, which is not an earlier step")
        inputs = dict(step.inputs)
        if step.graph in catalogue:
            types = {spec.name: spec.type for spec in catalogue.get(step.graph).inputs}
            for name, value in step.inputs.items():
                refs = _REF.findall(value) if isinstance(value, str) else []
                for ref_step, output in refs:
                    problems += _reference_problems(step, ref_step, output, graph_of, catalogue)
                if refs:
                    inputs[name] = _STAND_IN.get(types.get(name, "string"), "")
        problem = catalogue.validate_step(step.graph, inputs)
        if problem:
            problems.append(f"step {step.id}: {problem}")
        graph_of[step.id] = step.graph
    return problems


def _reference_problems(step: PlanStep, ref_step: str, output: str, graph_of: dict[str, str],
                        catalogue: Any) -> list[str]:
    if ref_step not in step.depends_on or ref_step not in graph_of:
        return [f"step {step.id} uses {ref_step}.{output}; list {ref_step} (an earlier step) "
                "in depends_on"]
    graph = graph_of[ref_step]
    outputs = [o.name for o in catalogue.get(graph).outputs] if graph in catalogue else []
    if graph in catalogue and output not in outputs:
        return [f"step {step.id} uses {ref_step}.{output}, but {graph} has outputs "
                f"{', '.join(outputs) or '(none)'}"]
    return []


async def draft_plan(action: Action, analysis: Analysis, feedback: str = "") -> Plan:
    """Ask for a plan and re-ask with its problems until it is valid (bounded)."""
    catalogue = action.ctx.services.catalogue()
    attempts = int(action.ctx.options.get("max_plan_fixes", 2)) + 1
    problems: list[str] = []
    for _ in range(attempts):
        prompt = action.ctx.prompts.render(
            "WritePlan", analysis=analysis, catalogue=catalogue.describe(),
            feedback="\n".join([feedback, *problems]).strip(),
        )
        plan = await action.ctx.llm.ask_model([{"role": "user", "content": prompt}], Plan)
        problems = [f"- {p}" for p in plan_problems(plan, catalogue)]
        if not problems:
            return plan
    raise ActionFailed(
        f"the plan was still invalid after {attempts} attempts: " + " ".join(problems)
    )


class WritePlan(Action):
    """Writes the plan for the newest analysis, or re-plans after a review."""

    name = "WritePlan"
    triggers = ("AnalyzeRequest", "ReviewResults")
    description = "turn the action items into steps that run catalogue graphs"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Write a plan for the newest analysis (or re-plan after a review)."""
        analysis = latest_analysis(self.ctx.memory, news)
        if analysis is None:
            raise ActionFailed("there is no analysis to plan from")
        feedback = "\n".join(
            f"- reviewer: {Review.model_validate(m.payload).feedback}"
            for m in news if m.cause_by == "ReviewResults" and m.payload
        )
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
