"""The Planner's worked examples: the shipped library (valid, not written after the
evaluation's requests) and the check that a plan did not copy them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from actions.plan_examples import PlanExample, copied_from_examples, load_examples
from actions.planning import derive_dependencies, plan_problems
from company.config import CONFIG_DIR, PROJECT_ROOT
from company.graphs.catalogue import Catalogue
from company.payloads import Plan

CATALOGUE = Catalogue.load(CONFIG_DIR / "graphs")
LIBRARY = load_examples()
EVAL_SETS = sorted((PROJECT_ROOT / "config" / "eval").glob("*.jsonl"))
TOO_CLOSE = 0.45
"""The share of words an example may have in common with an evaluation request (Jaccard)."""


def eval_requests() -> list[str]:
    found = []
    for path in EVAL_SETS:
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("//"):
                item = json.loads(line)
                found.append(" ".join(filter(None, [item.get("speak"), item.get("request")])))
    return found


def test_every_shipped_example_is_a_valid_plan_and_one_has_no_steps() -> None:
    assert len(LIBRARY) >= 2
    for entry in LIBRARY:
        assert plan_problems(derive_dependencies(entry.plan), CATALOGUE) == [], entry.request
    assert sum(not entry.plan.steps for entry in LIBRARY) == 1


def test_no_example_is_written_after_an_evaluation_request() -> None:
    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z0-9]+", text.lower()))

    requests = eval_requests()
    assert len(requests) > 50
    for entry in LIBRARY:
        for request in requests:
            mine, theirs = words(entry.request), words(request)
            assert len(mine & theirs) / len(mine | theirs) < TOO_CLOSE, (entry.request, request)


def test_a_library_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "examples.yaml"
    bad.write_text("request: x\n")
    with pytest.raises(ValueError, match="a list of examples"):
        load_examples(bad)
    bad.write_text("- request: Who wrote Hamlet?\n  plan: {steps: [], notes: none}\n")
    assert load_examples(bad)[0].plan.notes == "none"


def test_a_plan_copying_an_example_phrase_the_request_lacks_is_a_problem() -> None:
    shown = [PlanExample.model_validate({"request": "r", "plan": {"steps": [
        {"id": "s1", "purpose": "p", "graph": "answer_question",
         "inputs": {"question": "What language is spoken in Brazil?"}},
        {"id": "s2", "purpose": "p", "graph": "calculate",
         "inputs": {"a": 2, "b": 3, "operation": "Multiply"}}]}})]

    def plan(**inputs: object) -> Plan:
        return Plan.model_validate({"steps": [
            {"id": "s1", "purpose": "p", "graph": "g", "inputs": inputs}]})

    [problem] = copied_from_examples(
        plan(question="what language is spoken in Brazil? "), shown, "What is 6 times 7?")
    assert problem.startswith("step s1 copies 'what language is spoken in Brazil?' from an ex")
    asked = "Tell me: what language is spoken in Brazil?"
    assert copied_from_examples(plan(question="What language is spoken in Brazil?"),
                                shown, asked) == []  # the request asks it too
    assert copied_from_examples(plan(operation="Multiply"), shown, "6 times 7") == []
    shown[0].plan.steps[1].inputs["b"] = "{{ s1.answer }}"
    assert copied_from_examples(plan(b="{{ s1.answer }}"), shown, "6 times 7") == []
