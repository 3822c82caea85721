"""Facts the code knows about a request and a small model does not supply, shown to the
Planner under "Facts for this request:" (prompts/request_notes.yaml): how the units it names
convert ("to turn days into hours, multiply by 24"), what a word such as "square" means as an
operation, and that no graph can do the action it asks ("restart the server"). A plan with
steps for such an action is doubted, and so is a plan in which no step runs the graph the
request asks for in words ("how many characters" and no ``word_count``)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel, Field

from actions.plan_doubts import neutral_steps
from actions.report_checks import QUOTED
from company.payloads import Plan
from company.prompts import PROMPT_DIR, load_data_file

FACTS_FILE = PROMPT_DIR / "request_notes.yaml"
"""The shipped units, operation words and world actions."""
_RATE = r"\s+(?:a|an|per|each|every)\s+|\s*/\s*"
"""What joins two units into a rate ("40 hours a week", "km/h"), which converts nothing."""
_CLAUSE_START = (r"(?:^|[.!?;]\s+|,\s*(?:and\s+)?(?:then\s+)?|\band\s+(?:then\s+)?|\bthen\s+)"
                 r"(?:please\s+|kindly\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?"
                 r"|i\s+(?:need|want|would like|'d like)\s+(?:you\s+)?to\s+"
                 r"|go ahead and\s+|help me\s+)?")
"""Where an imperative verb starts: a sentence or clause, after a polite opening."""


class Unit(BaseModel):
    """A unit: its names (singular first, then plural), its symbols (counted only right after a
    number: "5 km", "e.g." names no gram) and its size in its kind's first unit."""

    names: list[str] = Field(min_length=1)
    symbols: list[str] = []
    size: float = Field(gt=0)


class Operation(BaseModel):
    """A calculation's operation and its operand ``b`` (square: Power 2)."""

    operation: str
    b: float


class MathWord(BaseModel):
    """Words that mean an operation with a number the request does not write ("square")."""

    words: list[str] = Field(min_length=1)
    not_before: list[str] = []
    operation: Operation | None = None
    note: str


class WorldActions(BaseModel):
    """Verbs of actions in the world, and what is said when no graph can do one."""

    verbs: list[str] = []
    note: str
    doubt: str


class TextChange(BaseModel):
    """A graph that changes a text it is given: the input holding the text, the output holding
    the changed text, the input naming what it takes out and the one naming what it puts in
    (``added``: empty when it puts nothing in)."""

    text: str
    changed: str
    removed: str
    added: str = ""


class RequestFacts(BaseModel):
    """The contents of the facts file."""

    units: dict[str, dict[str, Unit]] = {}
    math_words: list[MathWord] = []
    actions: WorldActions
    graph_cues: dict[str, list[str]] = {}
    text_changes: dict[str, TextChange] = {}


def load_facts(path: Path = FACTS_FILE) -> RequestFacts:
    """The facts in a file (read again when the file changes)."""
    return load_data_file(path, _facts)


def _facts(data: object) -> RequestFacts:
    return RequestFacts.model_validate(data or {})


def unquoted(request: str) -> str:
    """The request with its quoted texts blanked out: what it asks, not the text it gives."""
    return QUOTED.sub(" ", request)


def _named_at(text: str, unit: Unit) -> list[tuple[int, int]]:
    """The spans where ``text`` names ``unit`` (a symbol only right after a number)."""
    spans = []
    for names, before in ((unit.names, r"\b"), (unit.symbols, r"(?<=\d)\s*")):
        for name in names:
            spans += [m.span() for m in re.finditer(rf"{before}{re.escape(name)}\b", text, re.I)]
    return spans


def conversions(request: str, facts: RequestFacts | None = None
                ) -> list[tuple[Unit, Unit, float]]:
    """Each two units of one kind that the request names, as (larger, smaller, how many of the
    smaller make one larger); none for two units named as a rate ("40 hours a week")."""
    facts = facts or load_facts()
    text = unquoted(request)
    found = []
    for units in facts.units.values():
        named = {key: spans for key, unit in units.items() if (spans := _named_at(text, unit))}
        for small, large in itertools.combinations(sorted(named, key=lambda k: units[k].size), 2):
            if not _as_rate(text, named[small], named[large]):
                found.append((units[large], units[small], units[large].size / units[small].size))
    return found


def unit_facts(request: str, facts: RequestFacts | None = None) -> list[str]:
    """How each two units of one kind that the request names convert, as what to multiply or
    divide by ("To turn days into hours, multiply by 24 ..."). Not "1 day = 24 hours": a 1.5B
    model copied its 1 into 3.5 × 1 for "minutes in 3.5 hours"."""
    found = []
    for large, small, ratio in conversions(request, facts):
        larges, smalls = _plural(large), _plural(small)
        found.append(f"To turn {larges} into {smalls}, multiply by {_number(ratio)} (to turn "
                     f"{smalls} into {larges}, divide by {_number(ratio)}).")
    return found


def _plural(unit: Unit) -> str:
    """A unit's plural name (its second name; its only one where it has one)."""
    return unit.names[min(1, len(unit.names) - 1)]


def _number(value: float) -> str:
    """A number as a prompt writes it: 24, 1.609344 (ten significant digits at most)."""
    return f"{value:.10g}"


def _as_rate(text: str, first: list[tuple[int, int]], second: list[tuple[int, int]]) -> bool:
    """True when a naming of one unit is joined to a naming of the other as a rate."""
    for (_, end), (start, _) in [*itertools.product(first, second),
                                 *itertools.product(second, first)]:
        if end <= start and re.fullmatch(_RATE, text[end:start]):
            return True
    return False


def math_words_used(request: str, facts: RequestFacts | None = None) -> list[MathWord]:
    """The operation words the request uses ("square the result"), each once; a longer phrase
    ("square root") takes its words from a shorter one's."""
    facts = facts or load_facts()
    text = unquoted(request).lower()
    found = []
    for entry in facts.math_words:
        exempt = "|".join(re.escape(word) for word in entry.not_before)
        after = rf"(?!\s+(?:{exempt})\b)" if exempt else ""
        pattern = "|".join(re.escape(word) for word in entry.words)
        match = re.search(rf"\b(?:{pattern})\b{after}", text)
        if match:
            found.append(entry)
            text = text[:match.start()] + " " * (match.end() - match.start()) + text[match.end():]
    return found


def math_word_facts(request: str, facts: RequestFacts | None = None) -> list[str]:
    """The notes of the operation words the request uses."""
    return list(dict.fromkeys(entry.note for entry in math_words_used(request, facts)))


def implied_operands(plan: Plan, request: str, facts: RequestFacts | None = None
                     ) -> tuple[Plan, list[str]]:
    """The plan with each calculation that changes nothing (``plan_doubts.neutral_steps``:
    365 × 1 for "hours in 365 days") given the number the request implies, and what was
    changed: a request that names one pair of units gives their factor to a multiplication
    or division; else one with one operation word ("square") gives its operation. Any other
    neutral step is left to its doubt."""
    facts = facts or load_facts()
    neutral = neutral_steps(plan, request)
    if not neutral:
        return plan, []
    pairs = conversions(request, facts)
    operations = [w.operation for w in math_words_used(request, facts) if w.operation]
    changes: list[str] = []
    steps = []
    for step in plan.steps:
        if step.id in neutral:
            kept = neutral[step.id][1]
            operation = step.inputs.get("operation")
            if len(pairs) == 1 and operation in ("Multiply", "Divide"):
                inputs = {"a": kept, "b": pairs[0][2], "operation": operation}
            elif not pairs and len(operations) == 1:
                implied = operations[0]
                inputs = {"a": kept, "b": implied.b, "operation": implied.operation}
            else:
                inputs = None
            if inputs is not None:
                inputs = {**step.inputs, **{k: _whole(v) for k, v in inputs.items()}}
                changes.append(f"{step.id}: {inputs['operation']} {_number(inputs['b'])}")
                step = step.model_copy(update={"inputs": inputs})
        steps.append(step)
    return plan.model_copy(update={"steps": steps}), changes


def _whole(value: object) -> object:
    """A float that is a whole number as an int (24.0 -> 24), anything else as it is."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def unsupported_actions(request: str, described: str, facts: RequestFacts | None = None
                        ) -> list[str]:
    """The world actions the request asks for (a clause that starts with the verb) that no graph
    of ``described`` (the catalogue's text) does: none has the verb in its name, and no
    description says it does it ("Books a flight"; "in dictionary order" orders nothing)."""
    facts = facts or load_facts()
    text = unquoted(request).lower()
    names = " ".join(re.findall(r"^-\s*(\w+)", described, re.M)).lower().replace("_", " ")
    found = []
    for verb in facts.actions.verbs:
        first, *rest = [re.escape(word) for word in verb.lower().split()]
        words = r"\s+".join([first, *rest])
        if not re.search(rf"{_CLAUSE_START}{words}\b", text):
            continue
        does = r"\s+".join([first + "(?:e?s)", *rest])  # "Books a flight", "Shuts down"
        if not re.search(rf"\b{words}\b", names) and not re.search(
                rf"\b{does}\b", described, re.I):
            found.append(verb)
    return found


def request_notes(request: str, described: str, facts: RequestFacts | None = None) -> list[str]:
    """Every fact for the Planner about ``request`` with the catalogue ``described`` (empty for
    most requests)."""
    facts = facts or load_facts()
    if not request.strip():
        return []
    actions = [facts.actions.note.format(verb=verb)
               for verb in unsupported_actions(request, described, facts)]
    return unit_facts(request, facts) + math_word_facts(request, facts) + actions


def _cue_matches(request: str, graphs: Collection[str], facts: RequestFacts | None = None
                 ) -> dict[str, re.Match[str]]:
    """Per graph of ``graphs`` that the request asks for in words, the first cue that matches
    (in the request lower-cased, its quoted texts blanked and its spaces collapsed)."""
    facts = facts or load_facts()
    text = " ".join(unquoted(request).lower().split())
    found = {}
    for graph, patterns in facts.graph_cues.items():
        if graph not in graphs:
            continue
        for pattern in patterns:
            if match := re.search(pattern, text):
                found[graph] = match
                break
    return found


def asked_graphs(request: str, graphs: Collection[str], facts: RequestFacts | None = None
                 ) -> dict[str, str]:
    """The graphs of ``graphs`` that the request asks for in words (``graph_cues``): graph ->
    the words that ask for it ("how many characters")."""
    return {graph: match.group(0)
            for graph, match in _cue_matches(request, graphs, facts).items()}


def cue_positions(request: str, graphs: Collection[str], facts: RequestFacts | None = None
                  ) -> dict[str, int]:
    """Where the request first asks for each graph of ``graphs`` in words: graph -> position,
    to tell what it asks for first ("replace …, then count the words")."""
    return {graph: match.start()
            for graph, match in _cue_matches(request, graphs, facts).items()}


def missing_graph_doubts(plan: Plan, request: str, graphs: Collection[str],
                         facts: RequestFacts | None = None) -> list[str]:
    """What the request asks for in words that no step of the plan runs the graph for (one of
    ``graphs``, the catalogue's)."""
    return [f"the request asks \"{words}\", and no step runs {graph}: add the {graph} step "
            "that does it" for graph, words in missing_graphs(plan, request, graphs, facts).items()]


def missing_graphs(plan: Plan, request: str, graphs: Collection[str],
                   facts: RequestFacts | None = None) -> dict[str, str]:
    """The graphs of ``graphs`` the request asks for in words that no step of the plan runs:
    graph -> the words that ask for it."""
    planned = {step.graph for step in plan.steps}
    return {graph: words for graph, words in asked_graphs(request, graphs, facts).items()
            if graph not in planned}


_SENTENCE_END = re.compile(r"(?<=[.?!;])\s+")
"""Where a request's sentences part: a closing mark and a space (not a decimal point)."""


def other_asks(request: str, described: str, graphs: Collection[str],
               facts: RequestFacts | None = None) -> list[str]:
    """The sentences of a request that asks a world action no graph can do which ask something
    else a graph can do: no such action in them, and a number or a ``graph_cues`` phrase
    ("Also, how many minutes are in 2.5 hours?"). Empty when the request asks no such action."""
    facts = facts or load_facts()
    if not unsupported_actions(request, described, facts):
        return []
    found = []
    for sentence in _SENTENCE_END.split(request.strip()):
        if unsupported_actions(sentence, described, facts) or not sentence.strip():
            continue
        if re.search(r"\d", unquoted(sentence)) or asked_graphs(sentence, graphs, facts):
            found.append(sentence.strip())
    return found


def action_doubts(plan: Plan, request: str, described: str,
                  graphs: Collection[str] = (), facts: RequestFacts | None = None) -> list[str]:
    """A plan with steps for a request that asks nothing but a world action no graph can do;
    a plan with no steps for one that also asks something a graph can do (``other_asks``: a
    1.5B model told "No graph can restart anything" dropped the "how many minutes are in 2.5
    hours?" of the same request)."""
    facts = facts or load_facts()
    others = other_asks(request, described, graphs, facts)
    if not plan.steps:
        return [f"the request also asks \"{sentence}\", which a graph can do: plan the steps "
                "for it (and none for what no graph can do)" for sentence in others]
    if others:
        return []
    return [facts.actions.doubt.format(verb=verb)
            for verb in unsupported_actions(request, described, facts)]
