"""The JSON schema of a plan, built from the graph catalogue: what a model may answer when it is
asked for a plan (Ollama's ``format``, llama.cpp's ``response_format``).

Each step is a union over the catalogue's graphs: ``graph`` a constant per branch, ``inputs``
exactly that graph's inputs with their types, required flags and enums (a choice is always
required: its default would decide for the model). A number, boolean or
enum input may instead refer to an earlier step's output (``{{ s1.result }}``) only through an
explicit pattern; a text input of a later step may embed references anywhere (the first
step's may not: ``NO_REFERENCE_TEXT``). Dependencies are not asked for: they follow from the
references (``actions.planning.derive_dependencies``).

The schema keeps to what llama.cpp's JSON-schema converters (the GBNF one Ollama uses and
llguidance) accept: ``anyOf``, ``const``, ``enum``, ``pattern``, ``required``,
``additionalProperties: false``, ``maxItems`` and ``maxLength``, ``prefixItems`` tuples and local
``$ref``s to ``$defs``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from company.graphs.interface import InputSpec

MAX_STEPS = 6
"""The most steps a plan may have."""
MAX_INPUT_CHARS = 1500
"""The longest text input a step may carry (a quoted text is copied into it)."""
MAX_PURPOSE_CHARS = 120
MAX_NOTES_CHARS = 300
STEP_ID_PATTERN = r"^s[1-9][0-9]?$"
"""Step ids: s1, s2, … (never s0)."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _reference(output_names: list[str]) -> str:
    names = sorted(set(output_names))
    if names and all(_NAME.match(n) for n in names):
        output = "(" + "|".join(names) + ")"
    else:
        output = "[A-Za-z_][A-Za-z0-9_]*"
    return r"\{\{ ?s[1-9][0-9]?\." + output + r" ?\}\}"


def reference_pattern(output_names: list[str]) -> str:
    """The pattern of a whole-value reference to a step's output: ``{{ s1.result }}`` (the
    output one of ``output_names`` when they are plain names)."""
    return f"^{_reference(output_names)}$"


NO_REFERENCE_TEXT = r'^([^{"\\]|\\.|\{[^{"\\])*$'
"""A text input of the first step: it cannot refer to an earlier step (there is none), so it
holds no ``{{``; single braces ("Dear {name}") are fine.

Constrained decoders (llama.cpp's converters, which Ollama uses too) match a pattern against
the JSON text of the string, escapes included, so quotes and backslashes come as escapes
(``\\.``) and no character class may hold a bare quote: under ``^[^{]*$`` llama.cpp's chat parser
(its "peg-native" format) refused valid answers with HTTP 500 (6 of 50 eval requests with the
0.5B model). Without any pattern the 1.5B model wrote ``{{ s0.result }}`` into a first step
three times running. Later steps' text stays free: the plan checks catch a bad reference."""


def input_schema(spec: InputSpec, reference: str | None, text: str | None) -> dict[str, Any]:
    """The schema of one input's value; ``reference`` is the pattern a non-text value may
    take instead (None in the first step), ``text`` the pattern of a text value (if any)."""
    if spec.options:
        choice: dict[str, Any] = {"enum": list(spec.options)}
        return {"anyOf": [choice, {"type": "string", "pattern": reference}]} if reference else (
            choice)
    if spec.type in ("number", "integer", "boolean"):
        plain: dict[str, Any] = {"type": spec.type}
        return {"anyOf": [plain, {"type": "string", "pattern": reference}]} if reference else (
            plain)
    if spec.type == "string":
        value: dict[str, Any] = {"type": "string", "maxLength": MAX_INPUT_CHARS}
        return {**value, "pattern": text} if text else value
    if spec.type == "array":
        return {"type": "array", "maxItems": 50}
    if spec.type == "object":
        return {"type": "object"}
    return {"anyOf": [{"type": "string", "maxLength": MAX_INPUT_CHARS}, {"type": "number"},
                      {"type": "boolean"}]}


def must_choose(spec: InputSpec) -> bool:
    """Whether a step must give this input: a required one, or a choice (an enum). A choice's
    default decides what the step means (``calculate`` without an operation adds): the 0.5B model
    left it out for "79 times 2" and got 81."""
    return spec.required or bool(spec.options)


def step_schema(entry: Any, output_names: list[str], *, first: bool = False) -> dict[str, Any]:
    """One branch of the step union: a step that runs this catalogue entry's graph (the first
    step is ``s1`` and refers to no other step)."""
    reference = None if first else reference_pattern(output_names)
    text = NO_REFERENCE_TEXT if first else None
    inputs = {spec.name: input_schema(spec, reference, text) for spec in entry.inputs}
    step_id = {"const": "s1"} if first else {"type": "string", "pattern": STEP_ID_PATTERN}
    return {
        "type": "object",
        "properties": {
            "id": step_id,
            "purpose": {"type": "string", "maxLength": MAX_PURPOSE_CHARS},
            "graph": {"const": entry.name},
            "inputs": {
                "type": "object",
                "properties": inputs,
                "required": [spec.name for spec in entry.inputs if must_choose(spec)],
                "additionalProperties": False,
            },
        },
        "required": ["id", "purpose", "graph", "inputs"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class RequiredStep:
    """A step a plan must have: one that runs ``graph``, given ``value`` as its input
    ``input`` when one is named (``calculate`` with 9 as its ``b``)."""

    graph: str
    input: str | None = None
    value: Any = None

    def __str__(self) -> str:
        return self.graph if self.input is None else f"{self.graph} with {self.input} {self.value}"


def plan_schema(catalogue: Any, require: Sequence[str | RequiredStep] = (),
                required_first: bool = False, max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """The schema of a plan whose steps can only run the catalogue's graphs with their inputs
    (``{"steps": [...], "notes": "..."}``; an empty catalogue allows no steps).

    ``require``: steps (or graph names) of which the plan must have at least one (so no empty
    plan), as its first step when ``required_first``, else at any position; those of graphs the
    catalogue lacks are ignored. A re-ask for a graph the request asks for and the plan left
    out asks with it: told "add the word_count step", the 0.5B model answered "No graph can
    count words" with no steps (9 of 15 such re-asks in one eval changed nothing). Anywhere, a
    model that would rather plan nothing puts it off: it wrote five steps of anything before
    the required one, which the sixth and last must be. ``max_steps`` (at most ``MAX_STEPS``)
    bounds the plan's length."""
    names = catalogue.names()
    required = [need if isinstance(need, RequiredStep) else RequiredStep(need)
                for need in require]
    required = [need for need in required if need.graph in names]
    outputs = [o.name for name in names for o in catalogue.get(name).outputs]
    branches = [step_schema(catalogue.get(name), outputs) for name in names]
    firsts = [step_schema(catalogue.get(name), outputs, first=True) for name in names]
    if not branches:
        steps: dict[str, Any] = {"type": "array", "items": {"type": "object"}, "maxItems": 0}
        defs: dict[str, Any] = {}
    else:
        # one array shape per plan length, as a tuple (prefixItems, no "items"): llama.cpp's
        # server and Ollama build their grammar with llama.cpp's converter, which ignores
        # prefixItems when "items" is also given, so position 1 could not differ otherwise
        first, later = {"$ref": "#/$defs/first_step"}, {"$ref": "#/$defs/step"}
        defs = {"first_step": {"anyOf": firsts}, "step": {"anyOf": branches}}
        if required:
            shapes = _shapes_with_required(first, later, required_first,
                                           max(1, min(max_steps, MAX_STEPS)))
            defs |= {"required_first_step": {"anyOf": [
                         _required_schema(catalogue, need, outputs, first=True)
                         for need in required]},
                     "required_step": {"anyOf": [_required_schema(catalogue, need, outputs)
                                                 for need in required]}}
        else:
            shapes = [{"type": "array", "maxItems": 0}] + [
                _tuple([first] + [later] * (n - 1))
                for n in range(1, min(max_steps, MAX_STEPS) + 1)]
        steps = {"anyOf": shapes}
    return {
        "type": "object",
        "properties": {
            "steps": steps,
            "notes": {"type": "string", "maxLength": MAX_NOTES_CHARS},
        },
        "required": ["steps", "notes"],
        "additionalProperties": False,
        **({"$defs": defs} if defs else {}),
    }


def _required_schema(catalogue: Any, need: RequiredStep, outputs: list[str], *,
                     first: bool = False) -> dict[str, Any]:
    """The branch of a required step: its graph's, with the required input fixed."""
    branch = step_schema(catalogue.get(need.graph), outputs, first=first)
    if need.input is not None:
        inputs = branch["properties"]["inputs"]
        inputs["properties"][need.input] = {"const": need.value}
        inputs["required"] = list(dict.fromkeys([*inputs["required"], need.input]))
    return branch


def _tuple(items: list[dict[str, Any]]) -> dict[str, Any]:
    """An array of exactly these items, in order."""
    return {"type": "array", "prefixItems": items, "minItems": len(items),
            "maxItems": len(items)}


def _shapes_with_required(first: dict[str, Any], later: dict[str, Any],
                          at_first: bool, longest: int) -> list[dict[str, Any]]:
    """Every plan shape (length up to ``longest``, and position) with a required step in it:
    first, or anywhere."""
    required_first, required = ({"$ref": "#/$defs/required_first_step"},
                                {"$ref": "#/$defs/required_step"})
    shapes = []
    for n in range(1, longest + 1):
        for at in range(1 if at_first else n):
            items = [first] + [later] * (n - 1)
            items[at] = required_first if at == 0 else required
            shapes.append(_tuple(items))
    return shapes
