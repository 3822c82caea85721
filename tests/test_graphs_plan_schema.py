"""The plan schema built from the shipped catalogue: a branch per graph, and what a
schema-following answer can and cannot say (checked with a real JSON-schema validator)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from actions.plan_examples import load_examples
from actions.planning import example_answers, shown_examples
from company.config import CONFIG_DIR
from company.graphs.catalogue import Catalogue
from company.graphs.plan_schema import MAX_STEPS, RequiredStep, plan_schema, reference_pattern

CATALOGUE = Catalogue.load(CONFIG_DIR / "graphs")
SCHEMA = plan_schema(CATALOGUE)
VALIDATOR = jsonschema_rs.validator_for(SCHEMA)


def branches() -> dict[str, dict[str, Any]]:
    """The step union's branches by the graph each one names."""
    found = SCHEMA["$defs"]["step"]["anyOf"]
    return {b["properties"]["graph"]["const"]: b for b in found}


def plan(*steps: dict[str, Any], notes: str = "") -> dict[str, Any]:
    return {"steps": list(steps), "notes": notes}


def step(graph: str, inputs: dict[str, Any], step_id: str = "s1") -> dict[str, Any]:
    return {"id": step_id, "purpose": "why", "graph": graph, "inputs": inputs}


def test_one_branch_per_catalogue_graph_with_a_constant_graph_name() -> None:
    assert sorted(branches()) == CATALOGUE.names()
    for name, branch in branches().items():
        assert branch["required"] == ["id", "purpose", "graph", "inputs"]
        assert branch["additionalProperties"] is False
        inputs = branch["properties"]["inputs"]
        assert inputs["additionalProperties"] is False
        assert list(inputs["properties"]) == [s.name for s in CATALOGUE.get(name).inputs]
    assert "depends_on" not in json.dumps(SCHEMA)  # derived, never asked for
    refs = {r for r in json.dumps(SCHEMA).split('"$ref": "')[1:]}
    assert {r.split('"')[0] for r in refs} == {"#/$defs/first_step", "#/$defs/step"}
    shapes = SCHEMA["properties"]["steps"]["anyOf"]
    assert [s["maxItems"] for s in shapes] == list(range(MAX_STEPS + 1))  # one per plan length
    assert all(s["prefixItems"][0] == {"$ref": "#/$defs/first_step"} for s in shapes[1:])


def test_inputs_carry_types_required_flags_and_enums() -> None:
    calc = branches()["calculate"]["properties"]["inputs"]
    assert calc["required"] == ["a", "b", "operation"]  # a choice is never left to its default
    number, ref = calc["properties"]["a"]["anyOf"]
    assert number == {"type": "number"} and ref["type"] == "string"
    outputs = [o.name for n in CATALOGUE.names() for o in CATALOGUE.get(n).outputs]
    assert ref == {"type": "string", "pattern": reference_pattern(outputs)}
    operation, ref = calc["properties"]["operation"]["anyOf"]
    assert operation == {"enum": ["Add", "Subtract", "Multiply", "Divide", "Power"]}
    assert ref["pattern"] == reference_pattern(outputs)
    text = branches()["replace_text"]["properties"]["inputs"]
    assert text["required"] == ["text", "old"]
    assert branches()["split_text"]["properties"]["inputs"]["required"] == ["text", "delimiter"]
    assert text["properties"]["text"]["type"] == "string"
    assert text["properties"]["text"]["maxLength"] > 100
    assert branches()["answer_question"]["properties"]["inputs"]["required"] == ["question"]


def test_a_valid_plan_with_references_is_accepted() -> None:
    answer = plan(
        step("calculate", {"a": 6, "b": 7, "operation": "Multiply"}),
        step("calculate", {"a": "{{ s1.result }}", "b": 2, "operation": "Add"}, "s2"),
        step("word_count", {"text": "the answer is {{s2.result}}"}, "s3"),
        notes="three steps",
    )
    assert VALIDATOR.is_valid(answer)
    assert VALIDATOR.is_valid(plan())  # no steps: nothing in the catalogue helps


@pytest.mark.parametrize("answer, why", [
    (plan(step("teleport", {})), "unknown graph"),
    (plan(step("calculate(12, 9, 'Add')", {"a": 12, "b": 9})), "a call, not a graph name"),
    (plan(step("calculate", {"a": 1, "operation": "Add"})), "missing required input b"),
    (plan(step("calculate", {"a": 79, "b": 2})), "the operation left to its default"),
    (plan(step("calculate", {"a": "ten", "b": 1, "operation": "Add"})), "ill-typed number"),
    (plan(step("calculate", {"a": 1, "b": 2, "operation": "Modulo"})), "not in the enum"),
    (plan(step("calculate", {"a": "{{ s1.nope }}", "b": 2, "operation": "Add"})),
     "reference to no output"),
    (plan(step("calculate", {"a": "x {{ s1.result }}", "b": 2, "operation": "Add"})),
     "number as text"),
    (plan(step("word_count", {"text": "x"}, "<earlier step id>")), "a placeholder id"),
    (plan(step("word_count", {"text": "x"}, "s0")), "step s0"),
    (plan(step("word_count", {"text": "x", "language": "en"})), "unknown input"),
    (plan({**step("word_count", {"text": "x"}), "depends_on": ["s2"]}), "depends_on asked"),
    (plan(*[step("word_count", {"text": "x"}, f"s{n}") for n in range(1, MAX_STEPS + 2)]),
     "too many steps"),
    (plan(step("word_count", {"text": "x" * 5000})), "a runaway text"),
    ({"steps": []}, "notes missing"),
])
def test_what_a_schema_following_answer_cannot_say(answer: dict[str, Any], why: str) -> None:
    assert not VALIDATOR.is_valid(answer), why


def test_the_reference_pattern_names_only_catalogue_outputs() -> None:
    pattern = reference_pattern(["result", "word_count"])
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    assert validator.is_valid("{{ s1.result }}") and validator.is_valid("{{s12.word_count}}")
    assert not validator.is_valid("{{ s1.output }}")
    assert not validator.is_valid("{{ s0.result }}")
    assert not validator.is_valid("{{ s1.result }} and more")
    assert "[A-Za-z_]" in reference_pattern(["odd name"])  # not a plain name: any name


def test_the_prompt_examples_follow_the_schema() -> None:
    examples = example_answers(shown_examples(CATALOGUE))
    assert len(examples) == len(load_examples()) == 3
    assert all(VALIDATOR.is_valid(json.loads(e["answer"])) for e in examples)
    assert json.loads(examples[0]["answer"])["steps"][1]["inputs"]["a"] == "{{ s1.result }}"
    for example in load_examples():  # quoted text is copied without its quote marks
        for step in example.plan.steps:
            for value in step.inputs.values():
                if isinstance(value, str) and f"'{value}'" in example.request:
                    assert not value.startswith("'")


def test_an_empty_or_custom_catalogue(tmp_path: Path) -> None:
    empty = plan_schema(Catalogue({}))
    assert empty["properties"]["steps"]["maxItems"] == 0
    assert jsonschema_rs.validator_for(empty).is_valid(plan())
    folder = tmp_path / "mine"
    folder.mkdir()
    source = (CONFIG_DIR / "graphs" / "word_count.json").read_text()
    (folder / "only_mine.json").write_text(source)
    mine = Catalogue.load(folder)
    schema = plan_schema(mine)
    assert jsonschema_rs.validator_for(schema).is_valid(plan(step("only_mine", {"text": "x"})))
    [no_steps] = example_answers(shown_examples(mine))  # neither worked plan would run there
    assert json.loads(no_steps["answer"]) == {"steps": [], "notes": "No graph can send email."}
    assert shown_examples(Catalogue({})) == []  # nothing to choose from: no example needed
    mailer = json.loads(source)
    mailer["description"] = "Sends an email to a colleague."
    (folder / "only_mine.json").write_text(json.dumps(mailer))
    assert shown_examples(Catalogue.load(folder)) == []  # "no graph can send email" is false


def test_the_first_step_is_s1_and_refers_to_no_step() -> None:
    """What a 1.5B model wrote in the eval: a first step reading ``{{ s0.result }}``."""
    assert VALIDATOR.is_valid(plan(step("word_count", {"text": "Hello team"})))
    assert not VALIDATOR.is_valid(plan(step("word_count", {"text": "{{ s0.result }}"})))
    assert not VALIDATOR.is_valid(plan(step("word_count", {"text": "x"}, step_id="s2")))
    assert not VALIDATOR.is_valid(plan(step("calculate", {"a": "{{ s1.result }}", "b": 2,
                                                         "operation": "Add"})))
    later = step("word_count", {"text": "the answer is {{ s1.result }}"}, step_id="s2")
    first = step("calculate", {"a": 6, "b": 7, "operation": "Multiply"})
    assert VALIDATOR.is_valid(plan(first, later))


@pytest.mark.parametrize("text, allowed", [
    ("Dear {name}, your order {id} has shipped", True),
    ('"Don\'t panic," she said. "It\'s only a 3.5% dip."', True),
    ("C:\\Users\\dana\\Reports\\summary.xlsx", True),
    ("", True),
    ("{{ s0.result }}", False),
    ("the total: {{s1.result}}", False),
])
def test_a_first_step_text_is_matched_as_its_json_text(text: str, allowed: bool) -> None:
    """Decoders match the pattern against the string's JSON text (escapes included): quotes,
    backslashes and single braces can be copied; a reference cannot. No character class holds a
    bare quote (llama.cpp's chat parser failed valid answers under ``[^{]``)."""
    [pattern] = {b["properties"]["inputs"]["properties"]["text"]["pattern"]
                 for b in SCHEMA["$defs"]["first_step"]["anyOf"]
                 if b["properties"]["graph"]["const"] == "replace_text"}
    assert bool(re.fullmatch(pattern, json.dumps(text)[1:-1])) is allowed
    assert all('"' in cls for cls in re.findall(r"\[\^[^\]]*\]", pattern))


def test_a_required_graph_must_run_at_some_step() -> None:
    validator = jsonschema_rs.validator_for(plan_schema(CATALOGUE, require=["word_count"]))
    count = step("word_count", {"text": "Think different"})
    compare = step("compare_values", {"a": "{{ s1.word_count }}", "b": 10, "operator": ">"},
                   "s2")
    assert validator.is_valid(plan(count)) and validator.is_valid(plan(count, compare))
    assert validator.is_valid(plan(step("calculate", {"a": 1, "b": 2, "operation": "Add"}),
                                   {**count, "id": "s2"}))
    assert not validator.is_valid(plan())  # no steps
    assert not validator.is_valid(plan(step("compare_values", {"a": 1, "b": 2, "operator": ">"})))
    assert not validator.is_valid(plan(*(step("word_count", {"text": "x"}, f"s{n}")
                                         for n in range(1, MAX_STEPS + 2))))
    first = jsonschema_rs.validator_for(plan_schema(CATALOGUE, require=["word_count"],
                                                    required_first=True))
    assert first.is_valid(plan(count, compare))
    assert not first.is_valid(plan(step("calculate", {"a": 1, "b": 2, "operation": "Add"}),
                                   {**count, "id": "s2"}))


def test_requiring_no_catalogue_graph_is_the_plain_schema() -> None:
    assert plan_schema(CATALOGUE, require=["teleport"]) == SCHEMA


def test_a_required_step_may_fix_one_input() -> None:
    """A plan that leaves out the request's 9: the re-ask must divide (or whatever it chooses)
    with 9 as an operand."""
    nine = [RequiredStep("calculate", "a", 9), RequiredStep("calculate", "b", 9)]
    validator = jsonschema_rs.validator_for(plan_schema(CATALOGUE, require=nine))
    subtract = step("calculate", {"a": 98.6, "b": 32, "operation": "Subtract"})
    divide = step("calculate", {"a": "{{ s1.result }}", "b": 9, "operation": "Divide"}, "s2")
    assert validator.is_valid(plan(subtract, divide))
    assert validator.is_valid(plan(step("calculate", {"a": 9, "b": 5, "operation": "Divide"})))
    assert not validator.is_valid(plan(subtract))
    assert not validator.is_valid(plan(subtract, {**divide, "inputs": {**divide["inputs"],
                                                                       "b": 5}}))
    assert [str(need) for need in nine] == ["calculate with a 9", "calculate with b 9"]
    shorter = jsonschema_rs.validator_for(plan_schema(CATALOGUE, require=nine, max_steps=2))
    assert shorter.is_valid(plan(subtract, divide))
    assert not shorter.is_valid(plan(subtract, {**subtract, "id": "s2"}, {**divide, "id": "s3"}))
