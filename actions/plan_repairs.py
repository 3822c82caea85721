"""Plan repairs the code makes itself, where the request or the plan already decides the answer:
the order of a subtraction the request words as "A from B", a percentage added to an amount as
if it were one, a web address a step was given as a reference to another step's output, a web
search for an address the request asks to fetch, the whole of a text given after "this line:"
where a step took only a quoted part of it, and the request as the context of a question that
names none of the texts it quotes."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from actions.input_values import STEP_REF, holds_reference, step_reference
from actions.report_checks import QUOTED, numbers_in, quoted_spans
from actions.step_ids import renamed, renumbered
from company.grounding import as_number
from company.payloads import Plan, PlanStep

CALCULATE = "calculate"
"""The catalogue graph that calculates with two numbers (``a``, ``b``, an ``operation``)."""
CALCULATED = "result"
"""Its output."""
SUBTRACT = "Subtract"
PERCENT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s?(?:%|per ?cent\b)", re.IGNORECASE)
"""A percentage in the request: "18%", "8.25 %", "5 percent"."""
TAKEN_FROM = re.compile(r"(?P<taken>\S+)\s+(?:away\s+)?from\s+(?P<whole>\S+)", re.IGNORECASE)
""""45 from 30", "45 away from 30": 30 − 45 (the number after "from" is what is taken from);
both words must be numbers (``report_checks.numbers_in``)."""

ADDRESS_INPUT = "url"
"""The input name of a graph that fetches a web page (AutoGPT's blocks say ``url``)."""
WEB_ADDRESS = re.compile(r"https?://\S+", re.IGNORECASE)
"""A web address, written whole."""


def subtraction_order(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with each subtraction the request words as "A from B" computed as B − A, and
    what was changed. Small models write the operands in the order they read them: "Take 45
    away from 30" planned as 45 − 30."""
    said = _taken_from(request)
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        a, b = step.inputs.get("a"), step.inputs.get("b")
        pair = (as_number(a), as_number(b))
        if step.inputs.get("operation") == SUBTRACT and pair in said and pair[0] != pair[1]:
            changes.append(f"{step.id}: {a} − {b} -> {b} − {a} (the request says {a} from {b})")
            step = step.model_copy(update={"inputs": {**step.inputs, "a": b, "b": a}})
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


def percent_amounts(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with each calculation that adds a percentage of the request to an amount, or
    takes it off, as if it were an amount ("Take 15% off 80" planned as 80 − 15; "add 8.25% tax
    to 249.99" as 249.99 + 0.0825) split in two: that share of the amount (80 × 0.15) and the
    amount less (or plus) the share; and what was changed. Later steps that used the step use
    its new total.

    Left alone: a percentage added to another percentage ("3% up by 2%"), and a number the
    request also writes without a percent sign ("15% of 80, plus 15")."""
    shares = _percent_shares(request)
    steps: list[PlanStep] = []
    changes: list[str] = []
    for step in plan.steps:
        operation = step.inputs.get("operation")
        operands = {name: step.inputs.get(name) for name in ("a", "b")}
        share = {name: shares.get(_rounded(as_number(value))) for name, value in operands.items()}
        if step.graph != CALCULATE or operation not in ("Add", SUBTRACT) or (
                (share["a"] is None) == (share["b"] is None)):
            steps.append(step)
            continue
        percent_at = "a" if share["a"] is not None else "b"
        amount = operands["b" if percent_at == "a" else "a"]
        part = step.model_copy(update={
            "id": f"{step.id}share", "purpose": f"{share[percent_at]:g}% of the amount",
            "inputs": {"a": amount, "b": share[percent_at] / 100, "operation": "Multiply"}})
        total = {"a": amount, "b": step_reference(part.id, CALCULATED), "operation": operation}
        steps += [part, step.model_copy(update={"inputs": {**step.inputs, **total}})]
        changes.append(f"{step.id}: {operation} {share[percent_at]:g}% of {amount}")
    if not changes:
        return plan, []
    return renumbered(steps, plan.notes), changes


def percent_factors(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with a percentage of the request that a calculation multiplies by as a whole
    number ("18% of 67.40" planned as 18 × 67.40) given as its factor (0.18), and what was
    changed. Left alone: a plan with a step that divides by 100 (it makes the factor itself),
    and a number the request also writes without a percent sign."""
    shares = _percent_shares(request)
    if divides_by_100(plan):
        return plan, []
    steps: list[PlanStep] = []
    changes: list[str] = []
    for step in plan.steps:
        if step.graph == CALCULATE and step.inputs.get("operation") == "Multiply":
            inputs = dict(step.inputs)
            for name in ("a", "b"):
                number = _rounded(as_number(inputs.get(name)))
                if number is not None and shares.get(number) == number:
                    inputs[name] = round(number / 100, 9)
                    changes.append(f"{step.id}: {name} {number:g}% as {inputs[name]:g}")
            step = step.model_copy(update={"inputs": inputs})
        steps.append(step)
    return (plan.model_copy(update={"steps": steps}), changes) if changes else (plan, [])


def divides_by_100(plan: Plan) -> bool:
    """True when a calculation of the plan divides by 100: it makes a percentage's factor."""
    return any(step.graph == CALCULATE and step.inputs.get("operation") == "Divide"
               and as_number(step.inputs.get("b")) == 100 for step in plan.steps)


def repeated_steps(plan: Plan) -> tuple[Plan, list[str]]:
    """The plan without each step that runs the same graph on the same inputs as an earlier
    step (references to it follow the earlier one), and what was dropped. Told that its
    calculation used numbers the request never says, the 1.5B model planned one question six
    times, and each ran."""
    first: dict[str, str] = {}  # the step's graph and inputs -> the first such step's id
    same: dict[str, str] = {}
    for step in plan.steps:
        key = json.dumps([step.graph, renamed(step, same).inputs], sort_keys=True, default=str)
        if key in first:
            same[step.id] = first[key]
        else:
            first[key] = step.id
    if not same:
        return plan, []
    steps = [renamed(step, same) for step in plan.steps if step.id not in same]
    return (renumbered(steps, plan.notes),
            [f"{step_id}: the same as {earlier}" for step_id, earlier in same.items()])


def _percent_shares(request: str) -> dict[float, float]:
    """The percentages the request writes only as percentages, by each value a step may give
    them as (18 or 0.18 for "18%") -> the percentage."""
    written = [round(float(n), 9) for n in PERCENT.findall(request)]
    plain = [round(float(n.value), 9) for n in numbers_in(PERCENT.sub(" ", request))]
    shares: dict[float, float] = {}
    for percent in written:
        if percent != 100 and percent not in plain:
            shares[percent] = shares[round(percent / 100, 9)] = percent
    return shares


def _rounded(number: float | None) -> float | None:
    return None if number is None else round(number, 9)


def fetched_addresses(plan: Plan) -> tuple[Plan, list[str]]:
    """The plan with each web-address input that refers to an earlier step's output given the
    address that step fetched, and what was changed. No graph outputs an address: the 1.5B
    model read a page and then summarized ``{{ s1.text }}``, the page's text, as its address."""
    fetched: dict[str, str] = {}
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        value = step.inputs.get(ADDRESS_INPUT)
        whole = STEP_REF.fullmatch(value.strip()) if isinstance(value, str) else None
        if whole and whole.group(1) in fetched:
            address = fetched[whole.group(1)]
            changes.append(f"{step.id}.{ADDRESS_INPUT}: {value.strip()} -> {address}")
            step = step.model_copy(update={"inputs": {**step.inputs, ADDRESS_INPUT: address}})
        address = step.inputs.get(ADDRESS_INPUT)
        if isinstance(address, str) and WEB_ADDRESS.fullmatch(address.strip()):
            fetched[step.id] = address.strip()
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


WEB_SEARCH = "web_search"
"""The graph that searches the web for a query (AutoGPT's ``SearchTheWebBlock``)."""


def searched_address(step: PlanStep) -> str | None:
    """The web address a web-search step searches for, when its query is one; else None."""
    query = step.inputs.get("query")
    if step.graph == WEB_SEARCH and isinstance(query, str) and WEB_ADDRESS.fullmatch(
            query.strip()):
        return query.strip()
    return None


def searched_addresses(plan: Plan, fetchers_asked: Collection[str]) -> tuple[Plan, list[str]]:
    """The plan with each web search for a web address run instead by the one graph that
    fetches a page from its address (``url``) that the request asks for in words
    (``fetchers_asked``: "summarize … http://…" asks for ``summarize_web_page``), and what was
    changed; left alone when the request asks for none or several. A search engine does not
    fetch an address: the 0.5B model searched for ``http://10.0.4.12/wiki/Onboarding`` to
    summarize it, and, doubted, answered that no graph could."""
    if len(fetchers_asked) != 1:
        return plan, []
    [fetcher] = fetchers_asked
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        address = searched_address(step)
        if address is not None:
            changes.append(f"{step.id}: {WEB_SEARCH} for {address} -> {fetcher}")
            step = step.model_copy(update={"graph": fetcher, "inputs": {ADDRESS_INPUT: address}})
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


GIVEN_TEXT = re.compile(r"\b(?P<intro>this|the following)\b(?P<noun>[^:\n]{0,40}):[ \t]*"
                        r"(?P<text>\S.*?)\s*$", re.IGNORECASE | re.DOTALL)
"""A text the request gives after a colon, to its end ("for this line: ...")."""


def given_text(request: str) -> str | None:
    """The text a request gives after "this line:" (or "the following:"), when quotes inside
    it do not wrap all of it (``"Don't panic," she said. "It's only a 3.5% dip."``): the whole
    text is what is asked about, not its quoted parts. None otherwise."""
    match = GIVEN_TEXT.search(request)
    if not match:
        return None
    text = match.group("text")
    if not quoted_spans(text) or QUOTED.fullmatch(text):
        return None
    return text


def whole_given_text(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with each input that is one quoted part of the request's ``given_text`` given
    the whole text, when no step has it already, and what was changed. Both models counted
    ``Don't panic,`` for "the word count … for this line: "Don't panic," she said. "It's only
    a 3.5% dip."", also after the doubt named the whole line."""
    whole = given_text(request)
    if whole is None:
        return plan, []
    if any(whole in str(value) for step in plan.steps for value in step.inputs.values()):
        return plan, []
    parts = set(quoted_spans(whole))
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        inputs = dict(step.inputs)
        for name, value in step.inputs.items():
            if isinstance(value, str) and _unwrapped(value) in parts:
                inputs[name] = whole
                changes.append(f"{step.id}.{name}")
        steps.append(step.model_copy(update={"inputs": inputs}))
    return plan.model_copy(update={"steps": steps}), changes


def _unwrapped(value: str) -> str:
    """A text without the one pair of quote marks around all of it, if it has them."""
    text = value.strip()
    match = QUOTED.fullmatch(text)
    return next((group for group in match.groups() if group is not None), text) if match else text


ANSWER = ("answer_question", "question", "context")
"""The graph that answers a question, its question input and its context input."""


REFERRING = re.compile(r"\b(?:it|its|this|that|these|those|they|them)\b", re.IGNORECASE)
"""Words a question uses for something it does not name ("what does it mean?")."""


def asked_context(request: str) -> str:
    """The Boss's request as an ``answer_question`` context."""
    return f"The Boss asked: {request.strip()}"


def question_context(plan: Plan, request: str) -> tuple[Plan, list[str]]:
    """The plan with each question that names none of the texts the request quotes but refers
    to something ("it", "this": ``REFERRING``), and has no context, given the request as its
    context, and the step ids changed. Asked "what does it mean?" alone, the 0.5B model's step
    answered about nothing: 'carpe diem' was in the request, not in the question."""
    graph, question_input, context_input = ANSWER
    quoted = [text.casefold() for text in quoted_spans(request)]
    if not quoted:
        return plan, []
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        question = step.inputs.get(question_input)
        if (step.graph == graph and isinstance(question, str) and not holds_reference(question)
                and not str(step.inputs.get(context_input) or "").strip()
                and REFERRING.search(question)
                and not any(text in question.casefold() for text in quoted)):
            step = step.model_copy(update={"inputs": {
                **step.inputs, context_input: asked_context(request)}})
            changes.append(step.id)
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


def _taken_from(request: str) -> list[tuple[float, float]]:
    """The (taken, whole) number pairs the request words as "taken from whole"."""
    pairs = []
    for match in TAKEN_FROM.finditer(request):
        taken, whole = numbers_in(match["taken"]), numbers_in(match["whole"])
        if len(taken) == 1 and len(whole) == 1:
            pairs.append((float(taken[0].value), float(whole[0].value)))
    return pairs
