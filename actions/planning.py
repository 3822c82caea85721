"""Planning shared by WritePlan and a Planner-less RunGraphs: ask for a plan constrained by the
catalogue's plan schema, derive its dependencies, check what the schema cannot say, re-ask with
the problems until it is valid (bounded)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from actions.boss_words import budgeted_words, shorten
from actions.input_values import (
    STEP_REF,
    map_strings,
    step_reference,
    step_references,
)
from actions.memory_queries import BROKEN, broken_steps, network_down
from actions.plan_doubts import (
    literal_extract_doubts,
    neutral_steps,
    plan_doubts,
    unused_numbers,
)
from actions.plan_examples import SHOWN, PlanExample, copied_from_examples, load_examples
from actions.plan_merge import (
    chained_texts,
    extended_plan,
    followed_replacements,
    merged_plan,
)
from actions.plan_repairs import (
    ADDRESS_INPUT,
    ANSWER,
    CALCULATE,
    asked_context,
    fetched_addresses,
    percent_amounts,
    percent_factors,
    question_context,
    repeated_steps,
    searched_addresses,
    subtraction_order,
    whole_given_text,
)
from actions.request_notes import (
    action_doubts,
    cue_positions,
    implied_operands,
    missing_graph_doubts,
    missing_graphs,
    request_notes,
)
from company.action import Action, ActionFailed
from company.events import EventKind
from company.graphs.plan_schema import MAX_STEPS, RequiredStep, must_choose, plan_schema
from company.llm.client import Reask
from company.message import Message
from company.payloads import Analysis, Plan, PlanStep, StepResult

PLAN_PROMPT = "WritePlan"
"""The prompt a plan is asked with (and the action its LLM calls are booked to), whoever asks:
WritePlan, or RunGraphs when an SOP has no Planner."""
PLAN_MERGED = "plan_merged"
"""The PROGRESS event's ``what`` when a re-asked plan that swapped a step for the one its doubt
asked for, or added one after steps like the doubted plan's, runs joined with the doubted plan
(``plan_merge.merged_plan``, ``extended_plan``)."""
DOUBTS_UNRESOLVED = "plan_doubts_unresolved"
"""The PROGRESS event's ``what`` when a doubted plan's re-ask is no less doubtful: the first
plan runs (a 0.5B answered "use the 4" by dropping the 12000 as well)."""
REQUEST_CHARS = 4000
"""The most of the Boss's newest request a plan prompt quotes."""
FEEDBACK_TOKENS = 400
"""Room a plan prompt keeps for a review's feedback and a re-ask's problems (the earlier turns
fit in the rest)."""
_STAND_IN = {"number": 0, "integer": 0, "boolean": False, "string": ""}


def _plain(value: Decimal) -> int | float:
    """A number as JSON writes it: 9, not 9.0; 4750.8."""
    return int(value) if value == value.to_integral_value() else float(value)


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
        return step_reference(ref_step, outputs[0])

    steps = [step.model_copy(update={"inputs": map_strings(
        step.inputs, lambda text: STEP_REF.sub(fix, text))}) for step in plan.steps]
    return plan.model_copy(update={"steps": steps}), list(dict.fromkeys(changes))


QUOTE_PAIRS = {"'": "'", '"': '"', "\u2018": "\u2019", "\u201c": "\u201d", "\u00ab": "\u00bb"}
"""Opening quote marks and their closing ones."""


def unquote_copied_inputs(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with the quote marks a model copied around a quoted phrase taken off its
    inputs (``'carpe diem'`` counted 12 characters instead of 10), and what was changed.

    Only a whole string input wrapped in one pair of quotes, found so in the request, with no
    such quote inside (``"Don't panic," she said. "It's only…"`` keeps its quotes: they are
    part of the line)."""
    changes: list[str] = []

    def fix(step_id: str, name: str, value: Any) -> Any:
        if not isinstance(value, str) or len(value) < 3 or value not in request:
            return value
        closing = QUOTE_PAIRS.get(value[0])
        inner = value[1:-1]
        if closing is None or value[-1] != closing or value[0] in inner or closing in inner:
            return value
        if not inner.strip() or step_references(value):
            return value
        changes.append(f"{step_id}.{name}")
        return inner

    steps = [step.model_copy(update={"inputs": {name: fix(step.id, name, value)
                                                for name, value in step.inputs.items()}})
             for step in plan.steps]
    return plan.model_copy(update={"steps": steps}), changes


def drop_neutral_steps(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan without its calculations that change nothing (``plan_doubts.neutral_steps``,
    kept by the model after their doubt was said), each reference to one replaced by the
    operand it passed through, and the ids dropped. A plan of nothing but such steps has no
    steps: "order 20 markers" planned as 20 × 1 did nothing the Boss asked."""
    neutral = neutral_steps(plan, request)
    if not neutral:
        return plan, []
    through: dict[str, Any] = {}

    def resolve(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        whole = STEP_REF.fullmatch(value.strip())
        if whole and whole.group(1) in through:
            return through[whole.group(1)]
        return STEP_REF.sub(lambda m: str(through[m.group(1)]) if m.group(1) in through
                            else m.group(0), value)

    steps = []
    for step in plan.steps:
        inputs = {name: resolve(value) for name, value in step.inputs.items()}
        if step.id in neutral:
            through[step.id] = resolve(neutral[step.id][1])
            continue
        steps.append(step.model_copy(update={"inputs": inputs}))
    dropped = list(neutral)
    note = (f"Dropped {', '.join(dropped)}: a calculation that changes nothing "
            f"({'; '.join(says for says, _ in neutral.values())}).")
    notes = " ".join(part for part in (plan.notes.strip(), note) if part)
    return derive_dependencies(Plan(steps=steps, notes=notes)), dropped


def _without_neutral_steps(action: Action, plan: Plan, request: str) -> Plan:
    """``drop_neutral_steps``, said as an event when it dropped any."""
    plan, dropped = drop_neutral_steps(plan, request)
    if dropped:
        action.ctx.event(EventKind.PROGRESS, what="plan_steps_dropped", steps=dropped)
    return plan


def _references_repaired(action: Action, plan: Plan, catalogue: Any) -> Plan:
    """``repair_references``, its changes said as an event."""
    plan, repaired = repair_references(plan, catalogue)
    if repaired:
        action.ctx.event(EventKind.PROGRESS, what="plan_references_repaired", changes=repaired)
    return plan


def _repaired(action: Action, plan: Plan, request: str, scope: RepairScope) -> Plan:
    """``plan_repairs_made``, each repair said as an event."""
    plan, made = plan_repairs_made(plan, request, scope)
    for what, data in made:
        action.ctx.event(EventKind.PROGRESS, what=what, **data)
    return plan


@dataclass(frozen=True)
class RepairScope:
    """What the catalogue offers the repairs: whether its question-answering graph takes a
    context, and its graphs that fetch a page from an address (an input ``url`` and no
    other required one)."""

    takes_context: bool = True
    fetchers: frozenset[str] = frozenset()

    @classmethod
    def of(cls, catalogue: Any) -> RepairScope:
        """The scope of a loaded catalogue."""
        graph, _, context = ANSWER
        takes_context = graph in catalogue and any(
            spec.name == context for spec in catalogue.get(graph).inputs)
        fetchers = frozenset(
            name for name in catalogue.names()
            if any(spec.name == ADDRESS_INPUT for spec in catalogue.get(name).inputs)
            and all(spec.name == ADDRESS_INPUT or not spec.required
                    for spec in catalogue.get(name).inputs))
        return cls(takes_context, fetchers)


def plan_repairs_made(plan: Plan, request: str, scope: RepairScope = RepairScope()
                      ) -> tuple[Plan, list[tuple[str, dict[str, list[str]]]]]:
    """The plan after the repairs the request or the plan decide (``plan_repairs``,
    ``request_notes.implied_operands``, ``plan_merge``), and the events that say them: a step
    that repeats an earlier one, a subtraction's operand order, a percentage added to an amount
    as if it were one (its share of the amount first), a percentage multiplied by as a whole
    number (its factor instead), a web address given as a reference, the number a
    calculation that changes nothing is missing (24 hours a day, squaring's 2), the changed
    text a step asked for after a change gets (the words of the line after the replacement),
    the whole of a text given after "this line:" that a step took a quoted part of, the
    request as the context of a question that names none of its quoted texts (where the
    graph takes one), the page-fetching graph the request asks for in place of a web search
    for an address, and what a replacement put in where a step looks in its result for what
    it took out."""
    repairs: list[tuple[str, str, Callable[[Plan], tuple[Plan, list[str]]]]] = [
        ("plan_repeats_dropped", "changes", repeated_steps),
        ("plan_given_text_restored", "inputs", lambda p: whole_given_text(p, request)),
        ("plan_operands_reordered", "changes", lambda p: subtraction_order(p, request)),
        ("plan_percent_shares", "changes", lambda p: percent_amounts(p, request)),
        ("plan_percent_factors", "changes", lambda p: percent_factors(p, request)),
        ("plan_addresses_repaired", "changes", fetched_addresses),
        ("plan_search_fetches_address", "changes",
         lambda p: searched_addresses(p, cue_positions(request, scope.fetchers))),
        ("plan_operands_implied", "changes", lambda p: implied_operands(p, request)),
        ("plan_question_context", "steps",
         lambda p: question_context(p, request) if scope.takes_context else (p, [])),
        ("plan_texts_chained", "changes", lambda p: chained_texts(p, request)),
        ("plan_replacement_followed", "changes", followed_replacements),
    ]
    made: list[tuple[str, dict[str, list[str]]]] = []
    for what, key, repair in repairs:  # (the event, its data's key, the repair)
        plan, changes = repair(plan)
        if changes:
            made.append((what, {key: changes}))
            plan = derive_dependencies(plan)
    return plan, made


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


OFFLINE_ANSWER = ANSWER[:2]
"""The graph (and its question input) that answers from the model's own knowledge when the
network graphs a plan chose cannot reach their hosts."""
OFFLINE_CONTEXT = ANSWER[2]
"""The input of ``OFFLINE_ANSWER`` that gets the Boss's request, when it has one."""
OFFLINE_FALLBACK = "offline_fallback"
"""The progress event of a re-plan made by ``offline_plan`` (no model call)."""


def offline_plan(previous: Plan | None, broken: list[StepResult], catalogue: Any,
                 request: str = "") -> Plan | None:
    """When every broken step is a network graph that could not reach its host: the previous
    plan with those steps answered by ``OFFLINE_ANSWER`` from the model's own knowledge (their
    purpose and the values they were given as the question, the Boss's ``request`` as its
    context), said in the notes. None otherwise (a model re-plans).

    A small model re-planned such steps into anything that runs (``word_count`` of the
    question); the code knows what the step wanted and what can still answer it."""
    graph, question = OFFLINE_ANSWER
    network = catalogue.network_graphs()
    if (previous is None or not broken or graph not in catalogue or graph in network
            or not all(step.graph in network and network_down([step]) for step in broken)):
        return None
    failed = {step.step_id: step for step in broken}
    steps = []
    for step in previous.steps:
        if step.id in failed:
            inputs = {question: offline_question(step) or request.strip()}
            if request.strip() and any(spec.name == OFFLINE_CONTEXT
                                       for spec in catalogue.get(graph).inputs):
                inputs[OFFLINE_CONTEXT] = asked_context(request)
            step = step.model_copy(update={"graph": graph, "inputs": inputs})
        steps.append(step)
    names = ", ".join(f"{s.step_id} ({s.graph})" for s in broken)
    notes = (f"The network could not be reached for {names}: answered from the model's own "
             "knowledge instead, not looked up.")
    plan, _ = repair_references(
        derive_dependencies(Plan(steps=steps, notes=notes)), catalogue)
    return None if plan_problems(plan, catalogue) else plan


def offline_question(step: PlanStep) -> str:
    """What a lookup step wanted, as a question: its purpose, with the literal values it was
    given ("identify the book (Pride and Prejudice)"); a purpose alone lost the topic."""
    given = [str(value).strip() for value in step.inputs.values()
             if isinstance(value, str | int | float) and not isinstance(value, bool)
             and str(value).strip() and not step_references(value)]
    purpose = step.purpose.strip()
    if purpose and given:
        return f"{purpose} ({'; '.join(given)})"
    return purpose or "; ".join(given)


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
        problems += _unchosen(step, catalogue)
        graph_of[step.id] = step.graph
    return problems


def _unchosen(step: PlanStep, catalogue: Any) -> list[str]:
    """A choice the step leaves to its default (the schema requires it; a server that does not
    enforce the schema may still leave it out)."""
    if step.graph not in catalogue:
        return []
    return [f"step {step.id} gives no {spec.name}: choose one of {', '.join(spec.options)}"
            for spec in catalogue.get(step.graph).inputs
            if must_choose(spec) and not spec.required and spec.name not in step.inputs]


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


def shown_examples(catalogue: Any, count: int = SHOWN) -> list[PlanExample]:
    """The worked examples a plan prompt shows: the first ``count`` of the library's that the
    loaded catalogue can run and does not make false (an example's ``unless`` word in its
    descriptions)."""
    described = catalogue.describe().lower()
    return [e for e in load_examples() if _shows(e, catalogue, described)][:max(count, 0)]


def example_answers(examples: list[PlanExample]) -> list[dict[str, str]]:
    """The examples as the prompt shows them: each a request and its answer as compact JSON."""
    found = []
    for example in examples:
        steps = [{"id": s.id, "purpose": s.purpose, "graph": s.graph, "inputs": s.inputs}
                 for s in example.plan.steps]  # the schema's order
        answer = json.dumps({"steps": steps, "notes": example.plan.notes}, ensure_ascii=False)
        found.append({"request": example.request, "answer": answer})
    return found


def _shows(example: PlanExample, catalogue: Any, described: str) -> bool:
    """Whether a worked example may be shown with this catalogue: not made false by it (its
    ``unless`` word in the descriptions), and runnable (one with no steps: where any graph
    could have been chosen)."""
    if example.unless and example.unless.lower() in described:
        return False
    if not example.plan.steps:
        return bool(catalogue.names())
    return not plan_problems(derive_dependencies(example.plan), catalogue)


async def request_context(action: Action, analysis: Analysis, catalogue: Any,
                          examples: list[dict[str, str]]) -> tuple[str, list[str]]:
    """The Boss's own words from memory: this turn's request (typed, or a voice note's
    transcript and typed text; the quoted text a step needs stays verbatim up to
    ``REQUEST_CHARS``) and the conversation before it that the plan prompt holds (the newest
    turns verbatim, older ones summarized: actions/conversation.py), with room kept for a
    re-ask's problems."""
    described = catalogue.describe()
    words = await budgeted_words(action, lambda request, earlier: action.ctx.prompts.render(
        PLAN_PROMPT, analysis=analysis, catalogue=described,
        request=shorten(request, REQUEST_CHARS), earlier=earlier, examples=examples,
        notes=[], feedback=""), reserve=FEEDBACK_TOKENS, answer_action=PLAN_PROMPT)
    return shorten(words.request, REQUEST_CHARS), words.earlier


def analysis_text(analysis: Analysis) -> str:
    """The Analyst's words for a request (its summary and action items): what a plan is
    checked against when there are no Boss words."""
    return "\n".join([analysis.summary, *(item.text for item in analysis.action_items)])


@dataclass
class PlanChecks:
    """What a valid plan is checked against: the catalogue it runs on (and what it offers the
    repairs), the examples its prompt showed, and the Boss's words (else the Analyst's)."""

    catalogue: Any
    shown: list[PlanExample]
    request: str
    earlier: Sequence[str]
    analysis: str
    scope: RepairScope = field(init=False)

    def __post_init__(self) -> None:
        self.scope = RepairScope.of(self.catalogue)

    def problems(self, plan: Plan) -> list[str]:
        """What makes the plan invalid: ``plan_problems``, and an example copied as it was."""
        return plan_problems(plan, self.catalogue) + copied_from_examples(
            plan, self.shown, self.request or self.analysis)

    def required(self, plan: Plan) -> list[RequiredStep]:
        """What a re-ask for the plan's doubts must have one of: a step of a graph the request
        asks for in words that the plan leaves out (``missing_graphs``), or of the graph that
        answers a question about a given text where a step extracts what it was given
        (``literal_extract_doubts``); else, for a plan with
        no steps, any step (its doubts say a graph can do some of what is asked); else, for a
        plan that calculates, a calculation with a number of the request no step uses (as
        either operand: ``unused_numbers``; not a percentage, which may come as a fraction)."""
        graphs = self.catalogue.names()
        planned = {step.graph for step in plan.steps}
        missing = list(missing_graphs(plan, self.request, graphs))
        if literal_extract_doubts(plan) and ANSWER[0] in graphs and ANSWER[0] not in planned:
            missing.append(ANSWER[0])  # the doubt's advice: a question about a given text
        if missing or not plan.steps:
            return [RequiredStep(graph) for graph in missing or graphs]
        if CALCULATE not in planned:
            return []
        return [RequiredStep(CALCULATE, operand, _plain(number.value))
                for number in unused_numbers(plan, self.request) if not number.percent
                for operand in ("a", "b")]

    def doubts(self, plan: Plan) -> list[str]:
        """What a valid plan seems to get wrong (``plan_doubts``, ``request_notes``)."""
        described, graphs = self.catalogue.describe(), self.catalogue.names()
        return (plan_doubts(plan, self.request, self.earlier, bool(self.scope.fetchers))
                + action_doubts(plan, self.request, described, graphs)
                + missing_graph_doubts(plan, self.request, graphs))


def _merged(doubted: Plan, reasked: Plan, request: str, checks: PlanChecks
            ) -> tuple[Plan, list[str], list[tuple[str, dict[str, list[str]]]]] | None:
    """The doubted plan joined with the steps its re-ask added, repaired, with its doubts and
    the repairs' events (said only if it runs): the steps of graphs it lacked
    (``plan_merge.merged_plan``), or the steps after a run of the same graphs
    (``extended_plan``), whichever is less doubtful; None when there is nothing to join or
    the joined plan is invalid."""
    found = []
    for joined in (merged_plan(doubted, reasked), extended_plan(doubted, reasked)):
        if joined is None:
            continue
        joined, made = plan_repairs_made(derive_dependencies(joined), request, checks.scope)
        if not checks.problems(joined):
            found.append((joined, checks.doubts(joined), made))
    return min(found, key=lambda candidate: len(candidate[1]), default=None)


async def draft_plan(action: Action, analysis: Analysis, feedback: str = "",
                     exclude: Collection[str] = ()) -> Plan:
    """Ask for a plan (constrained by the catalogue's plan schema, minus the ``exclude``d
    graphs), derive its dependencies and re-ask with its problems until it is valid (bounded);
    each rejected plan is an event. A valid plan with doubts is re-asked once; the re-asked
    plan runs only when it has fewer doubts, else the first one does, unless the two merged
    (the first with the steps of graphs it lacked that the re-ask added) have fewer still."""
    catalogue = action.ctx.services.catalogue().without(exclude)
    attempts = int(action.ctx.options.get("max_plan_fixes", 2)) + 1
    schema = plan_schema(catalogue)
    shown = shown_examples(catalogue, int(action.ctx.options.get("plan_examples", SHOWN)))
    examples = example_answers(shown)
    request, earlier = await request_context(action, analysis, catalogue, examples)
    described = catalogue.describe()
    # the notes are short (a line each): the budget's reserve for feedback holds them
    notes = request_notes(request or analysis_text(analysis), described)
    llm = action.ctx.llm.for_action(PLAN_PROMPT)
    checks = PlanChecks(catalogue, shown, request, earlier, analysis_text(analysis))
    problems: list[str] = []
    doubted: Plan | None = None  # a valid plan re-asked once for its doubts (plan_doubts.py)
    first_doubts: list[str] = []
    for _ in range(attempts):
        prompt = action.ctx.prompts.render(
            PLAN_PROMPT, analysis=analysis, catalogue=described, request=request,
            earlier=earlier, examples=examples, notes=notes,
            feedback="\n".join([feedback, *problems]).strip(),
        )
        # asked anew with the problems, not shown its own plan: so shown, the 0.5B model
        # repeated it (3 of 19 doubted plans resolved, against 6 of 15 asked anew)
        messages = [{"role": "user", "content": prompt}]
        plan = derive_dependencies(await llm.ask_model(
            messages, Plan, schema=schema, reask=Reask.DOUBTED if doubted is not None else None))
        plan = _references_repaired(action, plan, catalogue)
        plan, unquoted = unquote_copied_inputs(plan, request)
        if unquoted:
            action.ctx.event(EventKind.PROGRESS, what="plan_quotes_removed", inputs=unquoted)
        plan = _repaired(action, plan, request, checks.scope)
        # again: a repair that changed a step's graph leaves references to the old one's outputs
        plan = _references_repaired(action, plan, catalogue)
        found = checks.problems(plan)
        if not found:
            doubts = checks.doubts(plan)
            if doubted is not None:
                merged = _merged(doubted, plan, request, checks)
                if merged is not None and len(merged[1]) < min(len(doubts), len(first_doubts)):
                    for what, data in merged[2]:
                        action.ctx.event(EventKind.PROGRESS, what=what, **data)
                    action.ctx.event(EventKind.PROGRESS, what=PLAN_MERGED,
                                     steps=[step.graph for step in merged[0].steps])
                    return _without_neutral_steps(action, merged[0], request)
            if doubted is not None and len(doubts) >= len(first_doubts):
                action.ctx.event(EventKind.PROGRESS, what=DOUBTS_UNRESOLVED, doubts=doubts)
                return _without_neutral_steps(action, doubted, request)
            if doubted is not None or not doubts:
                return _without_neutral_steps(action, plan, request)
            doubted, first_doubts = plan, doubts
            required = checks.required(plan)
            # the re-ask (and any re-ask of its problems) must have a step the doubts ask for:
            # a graph as its first step (the merge puts it in its place), a number anywhere (a
            # step that uses it often uses an earlier step's output) in one step more at most
            graphs_only = all(need.input is None for need in required)
            schema = plan_schema(catalogue, require=required, required_first=graphs_only,
                                 max_steps=MAX_STEPS if graphs_only else len(plan.steps) + 1)
            action.ctx.event(EventKind.PROGRESS, what="plan_doubted", doubts=doubts,
                             required=[str(need) for need in required])
            problems = [f"- {d}" for d in doubts]
            continue
        action.ctx.event(EventKind.PROGRESS, what="plan_rejected", problems=found)
        problems = [f"- {p}" for p in found]
    if doubted is not None:  # the re-asked plans were invalid: the doubted one still runs
        return _without_neutral_steps(action, doubted, request)
    raise ActionFailed(
        f"the plan was still invalid after {attempts} attempts: " + " ".join(problems)
    )

