"""Planning shared by WritePlan and a Planner-less RunGraphs: ask for a plan, check it against
the catalogue, re-ask with its problems until it is valid (bounded)."""

from __future__ import annotations

import re
from typing import Any

from company.action import Action, ActionFailed
from company.payloads import Analysis, Plan, PlanStep

STEP_REF = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")
"""An input that refers to an earlier step's output: ``{{ s1.result }}``."""
PLAN_PROMPT = "WritePlan"
"""The prompt a plan is asked with (and the action its LLM calls are booked to), whoever asks:
WritePlan, or RunGraphs when an SOP has no Planner."""
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
                refs = STEP_REF.findall(value) if isinstance(value, str) else []
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
            PLAN_PROMPT, analysis=analysis, catalogue=catalogue.describe(),
            feedback="\n".join([feedback, *problems]).strip(),
        )
        llm = action.ctx.llm.for_action(PLAN_PROMPT)
        plan = await llm.ask_model([{"role": "user", "content": prompt}], Plan)
        problems = [f"- {p}" for p in plan_problems(plan, catalogue)]
        if not problems:
            return plan
    raise ActionFailed(
        f"the plan was still invalid after {attempts} attempts: " + " ".join(problems)
    )
