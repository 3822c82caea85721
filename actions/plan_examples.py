"""The Planner's worked examples: a library of valid plans (prompts/plan_examples.yaml), of
which a prompt shows the few closest in wording to the Boss's request.

A small model copies the shape of the examples it is shown: one fixed set taught it to answer
every request with those graphs. Shown plans of the same kind as the request (a percentage, a
replace-then-count, a question no graph can do), it plans that kind."""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel

from actions.input_values import strings_in
from actions.plan_doubts import QUOTED
from actions.transcribe import TYPED
from company.payloads import Plan
from company.prompts import PROMPT_DIR

EXAMPLES_FILE = PROMPT_DIR / "plan_examples.yaml"
"""The shipped library of worked plans."""
SHOWN = 3
"""How many examples a plan prompt shows by default (the option ``plan_examples``)."""

_URL = re.compile(r"https?://\S+")
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[a-z]{2,}|%")
_STOP = frozenset(
    "a all also am an and any are as at be been by can could did do does every for from get give "
    "has have how i in into is it its just know many me much my need now of on or our please so "
    "some tell than that the them then there they this to up us want was we were what what's "
    "whats will with would you your".split()
)
_SAME_AS = {
    "multiply": "times multiplied product",
    "add": "plus added sum total",
    "subtract": "minus subtracted difference less",
    "divide": "divided over",
    "power": "squared square cubed cube raised",
    "percent": "% percentage",
    "word": "words",
    "character": "characters letter letters length long",
    "replace": "change changed swap substitute",
    "remove": "strip delete drop",
    "split": "break apart separate list",
    "mean": "meaning means",
}
"""Words that ask for the same thing, matched as one (the key), and weighed ``ASKING`` times
as much as other words: they say what is to be done."""
ASKING = 2.0
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion half quarter"
)
"""Numbers as a voice note's transcript says them: each one is ``<number>``."""
_CONCEPT = {word: key for key, words in _SAME_AS.items() for word in [key, *words.split()]}
_CONCEPT |= {word: "<number>" for word in _NUMBER_WORDS.split()}


class PlanExample(BaseModel):
    """A request and a valid plan for it; ``unless``: left out where a graph's description
    holds that word (the example would be false there)."""

    request: str
    plan: Plan
    unless: str = ""


def load_examples(path: Path = EXAMPLES_FILE) -> tuple[PlanExample, ...]:
    """The examples in a library file (read again when the file changes)."""
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int, size: int) -> tuple[PlanExample, ...]:
    entries = yaml.safe_load(path.read_text()) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of examples")
    return tuple(PlanExample.model_validate(entry) for entry in entries)


def request_terms(text: str) -> list[str]:
    """What a request's wording is made of, for matching: its words (lower case, a plural or
    -ing/-ed ending taken off, filler words left out, words that ask for the same thing as
    one: ``_SAME_AS``), and ``<quote>``, ``<url>``, ``<number>``
    for each quoted text, address and number, whose contents do not count (nor do those of a
    voice note's typed text: it is a ``<quote>``)."""
    text, typed_label, typed = text.partition(f"\n\n{TYPED}")
    marks: list[str] = ["<quote>"] if typed_label and typed.strip() else []
    for pattern, mark in ((_URL, "<url>"), (QUOTED, "<quote>"), (_NUMBER, "<number>")):
        marks += [mark] * len(pattern.findall(text))
        text = pattern.sub(" ", text)
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
    return [_CONCEPT.get(w) or _CONCEPT.get(_stem(w)) or _stem(w) for w in words] + marks


def _stem(word: str) -> str:
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def closest(examples: Sequence[PlanExample], request: str, count: int) -> list[PlanExample]:
    """The ``count`` examples whose requests share the most telling terms with ``request``
    (each term weighted by how rare it is among the examples), one of them, and never more, the
    closest plan with no steps when there is one (a model sees that "nothing" is an answer, not
    that it is the usual one); the closest last (nearest the request in the prompt), ties in
    the library's order."""
    if count <= 0 or not examples:
        return []
    scores = similarities(examples, request)
    ranked = sorted(range(len(examples)), key=lambda i: (-scores[i], i))
    if count == 1:
        return [examples[ranked[0]]]
    empty = [i for i in ranked if not examples[i].plan.steps][:1]
    chosen = [i for i in ranked if examples[i].plan.steps][: count - len(empty)] + empty
    chosen.sort(key=lambda i: (-scores[i], i))
    return [examples[i] for i in reversed(chosen)]


def similarities(examples: Sequence[PlanExample], request: str) -> list[float]:
    """How close each example's request is to ``request``: the shared terms, each weighted by
    its rarity among the examples (and what it asks for: ``ASKING``), over the square root of
    the example's length."""
    documents = [Counter(request_terms(e.request)) for e in examples]
    seen_in = Counter(term for document in documents for term in document)
    weight = {term: math.log(1 + len(examples) / n) * (ASKING if term in _SAME_AS else 1.0)
              for term, n in seen_in.items()}
    wanted = Counter(request_terms(request))
    return [sum(weight[t] * min(n, wanted[t]) for t, n in doc.items() if t in wanted)
            / math.sqrt(1 + sum(doc.values())) for doc in documents]


COPY_MIN_CHARS = 8
"""The shortest phrase (of two words or more) whose copy from an example into a plan counts."""


def copied_from_examples(plan: Plan, answers: Sequence[dict[str, str]],
                         request: str) -> list[str]:
    """The problems of a plan that copied a phrase of a shown example's inputs that the request
    does not hold (a 1.5B model answered "What is 6 times 7, and how many words are in ...?"
    with the example's own step "What language is spoken in Brazil?")."""
    phrases = {text.strip().lower()
               for answer in answers for step in json.loads(answer["answer"])["steps"]
               for text in strings_in(step["inputs"])}
    wanted = request.lower()
    found = []
    for step in plan.steps:
        for text in strings_in(step.inputs):
            phrase = text.strip().lower()
            if (phrase in phrases and len(phrase) >= COPY_MIN_CHARS and " " in phrase
                    and "{{" not in phrase and phrase not in wanted):  # a reference is no copy
                found.append(f"step {step.id} copies {text.strip()!r} from an example: the "
                             "examples only show the form of an answer; plan the Boss's request")
    return found
