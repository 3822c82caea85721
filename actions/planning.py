"""Planning shared by WritePlan and a Planner-less RunGraphs: ask for a plan constrained by the
catalogue's plan schema, derive its dependencies, check what the schema cannot say, re-ask with
the problems until it is valid (bounded)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from actions.boss_words import budgeted_words, shorten
from actions.memory_queries import BROKEN, broken_steps, network_down
from company.action import Action, ActionFailed
from company.events import EventKind
from company.graphs.plan_schema import plan_schema
from company.message import Message
from company.payloads import Analysis, Plan, PlanStep, StepResult

STEP_REF = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")
"""An input that refers to an earlier step's output: ``{{ s1.result }}``."""
PLAN_PROMPT = "WritePlan"
"""The prompt a plan is asked with (and the action its LLM calls are booked to), whoever asks:
WritePlan, or RunGraphs when an SOP has no Planner."""
REQUEST_CHARS = 4000
"""The most of the Boss's newest request a plan prompt quotes."""
FEEDBACK_TOKENS = 400
"""Room a plan prompt keeps for a review's feedback and a re-ask's problems (the earlier turns
fit in the rest)."""
_STAND_IN = {"number": 0, "integer": 0, "boolean": False, "string": ""}

EXAMPLE_REQUEST = "What is 250 minus 12.5, divided by 5?"
EXAMPLE_PLAN = Plan.model_validate({"steps": [
    {"id": "s1", "purpose": "250 minus 12.5", "graph": "calculate",
     "inputs": {"a": 250, "b": 12.5, "operation": "Subtract"}},
    {"id": "s2", "purpose": "divide the difference by 5", "graph": "calculate",
     "inputs": {"a": "{{ s1.result }}", "b": 5, "operation": "Divide"}},
], "notes": ""})
"""One valid answer in the shipped catalogue's terms, shown to the model (omitted when the
loaded catalogue cannot run it)."""


def step_references(value: Any) -> list[tuple[str, str]]:
    """The ``(step id, output)`` pairs an input value refers to, in order (nested lists and
    objects included)."""
    if isinstance(value, str):
        return STEP_REF.findall(value)
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in step_references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in step_references(item)]
    return []


def derive_dependencies(plan: Plan) -> Plan:
    """The plan with each step's ``depends_on`` taken from the references in its inputs (the
    model is not asked for them; whatever it gave is replaced)."""
    steps = []
    for step in plan.steps:
        found = [ref for ref, _ in step_references(step.inputs)]
        steps.append(step.model_copy(update={"depends_on": list(dict.fromkeys(found))}))
    return plan.model_copy(update={"steps": steps})


def repair_references(plan: Plan, catalogue: Any) -> tuple[Plan, list[str]]:
    """The plan with each reference to an output its step's graph lacks (``{{ s1.result }}``
    on a graph whose outputs are ``replaced, parts``) pointed at that graph's first output, and
    what was changed. The model chose the step; the output name is the code's to get right."""
    graph_of = {step.id: step.graph for step in plan.steps}
    changes: list[str] = []

    def fix(match: re.Match[str]) -> str:
        ref_step, output = match.group(1), match.group(2)
        graph = graph_of.get(ref_step)
        if graph not in catalogue:
            return match.group(0)
        outputs = [o.name for o in catalogue.get(graph).outputs]
        if not outputs or output in outputs:
            return match.group(0)
        changes.append(f"{ref_step}.{output} -> {ref_step}.{outputs[0]}")
        return "{{ " + f"{ref_step}.{outputs[0]}" + " }}"

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return STEP_REF.sub(fix, value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    steps = [step.model_copy(update={"inputs": walk(step.inputs)}) for step in plan.steps]
    return plan.model_copy(update={"steps": steps}), list(dict.fromkeys(changes))


def replan_exclusions(news: list[Message], catalogue: Any) -> set[str]:
    """The graphs a re-plan after the failed steps in the news is not offered (a small model
    re-chose a failing graph otherwise)."""
    return excluded_after(broken_steps(news), catalogue)


def excluded_after(steps: list[StepResult], catalogue: Any) -> set[str]:
    """The graphs of the broken steps, and every graph that fetches from the network when a
    step failed because a host could not be resolved or reached."""
    broken = [step for step in steps if step.status in BROKEN]
    excluded = {step.graph for step in broken}
    if network_down(broken):
        excluded |= catalogue.network_graphs()
    return excluded


def plan_problems(plan: Plan, catalogue: Any) -> list[str]:
    """What is wrong with a plan: unknown graphs, missing or ill-typed inputs, bad references
    and dependencies. Inputs that refer to earlier outputs are checked as references."""
    problems: list[str] = []
    graph_of: dict[str, str] = {}
    for step in plan.steps:
        if step.id in graph_of:
            problems.append(f"step id {step.id!r} is used twice")
        referenced = {ref for ref, _ in step_references(step.inputs)}
        for dep in step.depends_on:
            if dep not in graph_of and dep not in referenced:  # a reference says it itself
                problems.append(f"step {step.id} depends on {dep!r}, which is not an earlier step")
        inputs = dict(step.inputs)
        if step.graph in catalogue:
            types = {spec.name: spec.type for spec in catalogue.get(step.graph).inputs}
            for name, value in step.inputs.items():
                refs = step_references(value)
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
    if ref_step not in graph_of:
        return [f"step {step.id} uses {ref_step}.{output}, but {ref_step} is not an earlier "
                "step: a step can only use the outputs of the steps before it"]
    if ref_step not in step.depends_on:
        return [f"step {step.id} uses {ref_step}.{output}; list {ref_step} (an earlier step) "
                "in depends_on"]
    graph = graph_of[ref_step]
    outputs = [o.name for o in catalogue.get(graph).outputs] if graph in catalogue else []
    if graph in catalogue and output not in outputs:
        return [f"step {step.id} uses {ref_step}.{output}, but {graph} has outputs "
                f"{', '.join(outputs) or '(none)'}"]
    return []


def example_answer(catalogue: Any) -> dict[str, str] | None:
    """The worked example for the prompt (a request and its answer as compact JSON), or None
    when the loaded catalogue cannot run it."""
    if plan_problems(derive_dependencies(EXAMPLE_PLAN), catalogue):
        return None
    steps = [{"id": s.id, "purpose": s.purpose, "graph": s.graph, "inputs": s.inputs}
             for s in EXAMPLE_PLAN.steps]  # the schema's order
    answer = json.dumps({"steps": steps, "notes": EXAMPLE_PLAN.notes}, ensure_ascii=False)
    return {"request": EXAMPLE_REQUEST, "answer": answer}


async def request_context(action: Action, analysis: Analysis, catalogue: Any,
                          example: dict[str, str] | None) -> tuple[str, list[str]]:
    """The Boss's own words from memory: this turn's request (typed, or a voice note's
    transcript and typed text; the quoted text a step needs stays verbatim up to
    ``REQUEST_CHARS``) and the conversation before it that the plan prompt holds (the newest
    turns verbatim, older ones summarized: actions/conversation.py), with room kept for a
    re-ask's problems."""
    described = catalogue.describe()
    words = await budgeted_words(action, lambda request, earlier: action.ctx.prompts.render(
        PLAN_PROMPT, analysis=analysis, catalogue=described,
        request=shorten(request, REQUEST_CHARS), earlier=earlier, example=example,
        feedback=""), reserve=FEEDBACK_TOKENS, answer_action=PLAN_PROMPT)
    return shorten(words.request, REQUEST_CHARS), words.earlier


async def draft_plan(action: Action, analysis: Analysis, feedback: str = "",
                     exclude: Collection[str] = ()) -> Plan:
    """Ask for a plan (constrained by the catalogue's plan schema, minus the ``exclude``d
    graphs), derive its dependencies and re-ask with its problems until it is valid (bounded);
    each rejected plan is an event."""
    catalogue = action.ctx.services.catalogue().without(exclude)
    attempts = int(action.ctx.options.get("max_plan_fixes", 2)) + 1
    schema, example = plan_schema(catalogue), example_answer(catalogue)
    request, earlier = await request_context(action, analysis, catalogue, example)
    llm = action.ctx.llm.for_action(PLAN_PROMPT)
    problems: list[str] = []
    for _ in range(attempts):
        prompt = action.ctx.prompts.render(
            PLAN_PROMPT, analysis=analysis, catalogue=catalogue.describe(), request=request,
            earlier=earlier, example=example,
            feedback="\n".join([feedback, *problems]).strip(),
        )
        messages = [{"role": "user", "content": prompt}]
        plan = derive_dependencies(await llm.ask_model(messages, Plan, schema=schema))
        plan, repaired = repair_references(plan, catalogue)
        if repaired:
            action.ctx.event(EventKind.PROGRESS, what="plan_references_repaired",
                             changes=repaired)
        found = plan_problems(plan, catalogue)
        if not found:
            return plan
        action.ctx.event(EventKind.PROGRESS, what="plan_rejected", problems=found)
        problems = [f"- {p}" for p in found]
    raise ActionFailed(
        f"the plan was still invalid after {attempts} attempts: " + " ".join(problems)
    )

