"""Doubts about a valid plan: signs that it does not do what the Boss asked, though every step
can run. A doubted plan is re-asked once with its doubts; the answer runs when it has fewer
doubts, else the first plan does (a doubt is a hint, never a reason to fail the task)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from actions.input_values import holds_reference, strings_in
from actions.plan_repairs import (
    CALCULATE,
    PERCENT,
    divides_by_100,
    given_text,
    searched_address,
)
from actions.report_checks import (
    KnownNumbers,
    Number,
    listed,
    number_words,
    numbers_in,
    quoted_spans,
)
from company.grounding import as_number
from company.payloads import Plan

NEUTRAL = {"Add": (0, "adds 0"), "Subtract": (0, "subtracts 0"), "Multiply": (1, "multiplies by 1"),
           "Divide": (1, "divides by 1"), "Power": (1, "raises to the power 1")}
"""Per operation: the operand ``b`` that leaves ``a`` unchanged, and how to say so."""
NEUTRAL_NUMBER = {says: number for number, says in NEUTRAL.values()}
"""The neutral number of each way of saying it ("multiplies by 1" -> 1)."""
COMMUTATIVE = {"Add", "Multiply"}
"""Operations where a neutral ``a`` changes nothing either."""

def mentions_number(request: str, number: int) -> bool:
    """True when the request says ``number`` (as digits or a word), so using it is asked for;
    not as part of a name ("v1", "Q1")."""
    if re.search(rf"(?<![\w.]){number}(?![\d]|\.\d)", request):
        return True
    return number in number_words(request)


def neutral_steps(plan: Plan, request: str) -> dict[str, tuple[str, Any]]:
    """The calculations that return an operand unchanged (365 × 1 for "hours in 365 days",
    ``^ 1`` for "square it") when the request never says that neutral number: step id ->
    (how it is neutral, the operand it passes through)."""
    found: dict[str, tuple[str, Any]] = {}
    for step in plan.steps:
        if step.graph != CALCULATE:
            continue
        operation = step.inputs.get("operation", "Add")
        if operation not in NEUTRAL:
            continue
        neutral, says = NEUTRAL[operation]
        a, b = step.inputs.get("a"), step.inputs.get("b")
        if mentions_number(request, neutral):
            continue
        if _is_number(b, neutral):
            found[step.id] = (says, a)
        elif operation in COMMUTATIVE and _is_number(a, neutral):
            found[step.id] = (says, b)
    return found


def neutral_operand_doubts(plan: Plan, request: str) -> list[str]:
    """Doubts about the ``neutral_steps``: they change nothing. Each names what the step is
    for, since the number that does it may be one the request never writes (24 hours a day)."""
    purposes = {step.id: f" ({step.purpose.strip()})" if step.purpose.strip() else ""
                for step in plan.steps}
    return [f"step {step_id} {says}, which changes nothing, and the request never says "
            f"{NEUTRAL_NUMBER[says]}: give it the number (or earlier step's output) that does "
            f"what it is for{purposes[step_id]}, or answer with no steps if no graph can do "
            "what is asked"
            for step_id, (says, _) in neutral_steps(plan, request).items()]


def percent_doubts(plan: Plan, request: str) -> list[str]:
    """A percentage of the request multiplied as a whole number (18 × 67.40 for "18% of
    67.40"), when no step divides by 100."""
    percents = {float(number) for number in PERCENT.findall(request)}
    calculations = [step for step in plan.steps if step.graph == CALCULATE]
    if not percents or divides_by_100(plan):
        return []
    doubts = []
    for step in calculations:
        if step.inputs.get("operation") != "Multiply":
            continue
        for value in (step.inputs.get("a"), step.inputs.get("b")):
            number = as_number(value)
            if number is not None and number in percents and number != 100:
                doubts.append(f"step {step.id} multiplies by {number:g}, but the request says "
                              f"{number:g}%, which is {number / 100:g} as a factor")
                break
    return doubts


def unused_quote_doubts(plan: Plan, request: str) -> list[str]:
    """Quoted texts of the request that no step's inputs contain (one of two slogans counted,
    the other forgotten), when the plan has steps at all. A ``given_text`` with quotes inside
    is one text: its quoted parts counted apart were not what was asked."""
    if not plan.steps:
        return []
    inputs = " ".join(text for step in plan.steps for text in strings_in(step.inputs))
    whole = given_text(request)
    if whole is not None:
        return [] if whole in inputs else [
            f"no step uses the whole text the request gives after its colon: {whole} -- copy "
            "all of it, quote marks included, into the step that needs it"]
    return [f"the request quotes \"{text}\", but no step uses it: copy it into the step that "
            "needs it" for text in quoted_spans(request) if text not in inputs]


def unused_number_doubts(plan: Plan, request: str) -> list[str]:
    """The numbers the request writes in digits that no step's inputs hold (as a number, in a
    text, a percentage also as its fraction), when the plan has steps: a step left out (the
    division of "spread it over the 4 remaining months") or a number made up in its place.
    Numbers inside a quoted text no step uses are left to ``unused_quote_doubts``."""
    unused = [number.text for number in unused_numbers(plan, request)]
    if not unused:
        return []
    them = "them" if len(unused) > 1 else "it"
    return [f"the request says {listed(unused)}, but no step uses {them}:"
            " add the step that needs it, or answer with no steps if no graph can do what is "
            "asked"]


def unused_numbers(plan: Plan, request: str) -> list[Number]:
    """The numbers of ``unused_number_doubts``, each once (none for a plan with no steps)."""
    if not plan.steps:
        return []
    held = KnownNumbers()
    held.add_values(step.inputs for step in plan.steps)
    inputs = " ".join(text for step in plan.steps for text in strings_in(step.inputs))
    said = request
    for quoted in quoted_spans(request):
        if quoted not in inputs:
            said = said.replace(quoted, " ")
    unused: list[Number] = []
    for number in numbers_in(said):
        if not held.knows(number) and number.text not in [n.text for n in unused]:
            unused.append(number)
    return unused


def made_up_calculation_doubts(plan: Plan, request: str,
                               earlier: Sequence[str] = ()) -> list[str]:
    """Calculations whose operands all come from nowhere: neither number is written in the
    request or the ``earlier`` turns of the conversation (in digits or words, a percentage
    also as its fraction) nor an earlier step's output (``1 + 1`` to "restart the server",
    ``0 + 100`` for "where does water boil")."""
    said = KnownNumbers()
    for text in (request, *earlier):
        said.add_text(text)
    doubts = []
    for step in plan.steps:
        if step.graph != CALCULATE:
            continue
        operands = [step.inputs.get("a"), step.inputs.get("b")]
        if any(_from_request_or_step(value, said) for value in operands):
            continue
        shown = " and ".join(f"{value:g}" if isinstance(value, float) else str(value)
                             for value in operands)
        doubts.append(f"step {step.id} calculates with {shown}, and the request says neither: "
                      "use the request's numbers, or answer with no steps if no graph can do "
                      "what is asked")
    return doubts


def address_search_doubts(plan: Plan) -> list[str]:
    """A web search for a web address: the page at an address is read or summarised (the 0.5B
    model searched for ``http://10.0.4.12/wiki/Onboarding`` to summarize it)."""
    return [f"step {step.id} searches the web for the address {address}: a page is read "
            "or summarised from its address, not searched for"
            for step in plan.steps if (address := searched_address(step)) is not None]


EXTRACT = ("extract_text", "text", "pattern")
"""The graph that finds the parts of a text a pattern matches, and its two inputs."""


def literal_extract_doubts(plan: Plan) -> list[str]:
    """An extraction whose pattern matches only itself in a text that holds it word for word:
    it finds nothing the step was not given (a 1.5B model "extracted" '1.5 vacation days per
    month' from the policy it was asked a question about)."""
    graph, text_input, pattern_input = EXTRACT
    doubts = []
    for step in plan.steps:
        text, pattern = step.inputs.get(text_input), step.inputs.get(pattern_input)
        if step.graph != graph or not isinstance(text, str) or not isinstance(pattern, str):
            continue
        if not pattern or holds_reference(text) or holds_reference(pattern):
            continue
        try:
            found = re.findall(pattern, text)
        except re.error:
            continue
        if found and all(match == pattern for match in found):
            doubts.append(f"step {step.id} extracts {pattern!r} from a text that holds it word "
                          "for word: it finds only what it was given. To answer a question "
                          "about a given text, use answer_question with the text as its "
                          "context")
    return doubts


def plan_doubts(plan: Plan, request: str, earlier: Sequence[str] = (),
                fetches: bool = True) -> list[str]:
    """Everything doubtful about a valid plan for ``request`` (empty when it looks right);
    numbers of the ``earlier`` turns may be calculated with as the request's own. A search for
    an address is doubted only where a graph that ``fetches`` a page is offered (a re-plan
    after they failed is not offered them)."""
    if not request.strip():
        return []
    return (neutral_operand_doubts(plan, request) + percent_doubts(plan, request)
            + unused_quote_doubts(plan, request) + unused_number_doubts(plan, request)
            + made_up_calculation_doubts(plan, request, earlier)
            + (address_search_doubts(plan) if fetches else [])
            + literal_extract_doubts(plan))


def _is_number(value: Any, number: float) -> bool:
    return as_number(value) == number


def _from_request_or_step(value: Any, said: KnownNumbers) -> bool:
    """True when an operand refers to an earlier step or is a number the request says."""
    if holds_reference(value):
        return True
    numbers = numbers_in(value if isinstance(value, str) else repr(value))
    return bool(numbers) and all(said.knows(number) for number in numbers)
