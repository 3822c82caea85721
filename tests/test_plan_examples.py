"""The Planner's worked examples: the shipped library (valid, covering the catalogue, not
written after the evaluation's requests) and the choice of the examples closest to a request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from actions.plan_examples import (
    PlanExample,
    closest,
    copied_from_examples,
    load_examples,
    request_terms,
)
from actions.planning import derive_dependencies, plan_problems
from actions.transcribe import merge_text
from company.config import CONFIG_DIR, PROJECT_ROOT
from company.graphs.catalogue import Catalogue
from company.payloads import Plan

CATALOGUE = Catalogue.load(CONFIG_DIR / "graphs")
LIBRARY = load_examples()
EVAL_SETS = sorted((PROJECT_ROOT / "config" / "eval").glob("*.jsonl"))
TOO_CLOSE = 0.45
"""The share of words an example may have in common with an evaluation request (Jaccard)."""


def example(request: str, graph: str = "") -> PlanExample:
    steps = [{"id": "s1", "purpose": "p", "graph": graph, "inputs": {}}] if graph else []
    return PlanExample(request=request, plan=Plan.model_validate({"steps": steps}))


def eval_requests() -> list[str]:
    found = []
    for path in EVAL_SETS:
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("//"):
                item = json.loads(line)
                found.append(" ".join(filter(None, [item.get("speak"), item.get("request")])))
    return found


def test_every_shipped_example_is_a_valid_plan_and_every_graph_has_one() -> None:
    assert len(LIBRARY) >= len(CATALOGUE.names())
    for entry in LIBRARY:
        assert plan_problems(derive_dependencies(entry.plan), CATALOGUE) == [], entry.request
    shown = {step.graph for entry in LIBRARY for step in entry.plan.steps}
    assert shown == set(CATALOGUE.names())
    assert 1 <= sum(not entry.plan.steps for entry in LIBRARY) < len(LIBRARY) // 4


def test_no_example_is_written_after_an_evaluation_request() -> None:
    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z0-9]+", text.lower()))

    requests = eval_requests()
    assert len(requests) > 50
    for entry in LIBRARY:
        for request in requests:
            mine, theirs = words(entry.request), words(request)
            assert len(mine & theirs) / len(mine | theirs) < TOO_CLOSE, (entry.request, request)


def test_the_terms_of_a_request() -> None:
    terms = request_terms("Multiply 'the quick fox' by 3.5 at https://x.org/a, twelve times!")
    assert terms.count("multiply") == 2  # "times" asks for the same thing
    assert "quick" not in terms and "fox" not in terms  # a quote's contents do not count
    assert terms.count("<number>") == 2 and "<quote>" in terms and "<url>" in terms
    assert "the" not in terms and "at" not in terms
    assert request_terms("Counting the characters") == ["count", "character"]
    typed = merge_text("Count the words I typed", "Quarterly numbers are in")
    assert request_terms(typed) == ["said", "aloud", "count", "word", "typed", "<quote>"]


def test_the_closest_examples_come_last_with_one_that_has_no_steps() -> None:
    library = [example("What is 30% of 90?", "calculate"),
               example("Change Monday to Friday in 'see you Monday'", "replace_text"),
               example("Count the words of 'see you'", "word_count"),
               example("Email the slides to Priya."),
               example("Turn on the lights.")]
    chosen = closest(library, "Swap cat for dog in 'the cat sat'", 3)
    assert chosen[-1] is library[1]
    assert [e for e in chosen if not e.plan.steps] == [library[3]]  # one, never more
    assert closest(library, "Turn the heating on", 3)[-1] is library[4]
    assert closest(library, "Take 15% off 80", 1) == [library[0]]
    assert closest(library, "", 0) == [] and closest([], "x", 3) == []


def test_a_request_like_none_gets_the_first_examples_of_the_library() -> None:
    library = [example("Who wrote Hamlet?", "answer_question"),
               example("What is 30% of 90?", "calculate"),
               example("Count the words of 'see you'", "word_count"),
               example("Email the slides to Priya.")]
    assert closest(library, "Zzz qqq", 3) == [library[3], library[1], library[0]]


@pytest.mark.parametrize(("request_text", "graph"), [
    ("Replace every 'colour' with 'color' in this line: colour me happy", "replace_text"),
    ("What's 12.5% of 640?", "calculate"),
    ("How many characters are in 'good night'?", "word_count"),
    ("Break 'a,b,c' apart at the commas", "split_text"),
    ("What does https://example.net/news say about the merger?", "summarize_web_page"),
    (merge_text("Break what I typed apart at the dashes", "a-b-c"), "split_text"),
])
def test_the_shipped_library_answers_a_request_with_a_plan_of_its_kind(
        request_text: str, graph: str) -> None:
    nearest = closest(LIBRARY, request_text, 3)[-1]
    assert graph in {step.graph for step in nearest.plan.steps}, nearest.request


def test_a_library_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "examples.yaml"
    bad.write_text("request: x\n")
    with pytest.raises(ValueError, match="a list of examples"):
        load_examples(bad)
    bad.write_text("- request: Who wrote Hamlet?\n  plan: {steps: [], notes: none}\n")
    assert load_examples(bad)[0].plan.notes == "none"


def test_a_plan_copying_an_example_phrase_the_request_lacks_is_a_problem() -> None:
    answers = [{"request": "r", "answer": json.dumps({"steps": [
        {"id": "s1", "purpose": "p", "graph": "answer_question",
         "inputs": {"question": "What language is spoken in Brazil?"}},
        {"id": "s2", "purpose": "p", "graph": "calculate",
         "inputs": {"a": 2, "b": 3, "operation": "Multiply"}}], "notes": ""})}]

    def plan(**inputs: object) -> Plan:
        return Plan.model_validate({"steps": [
            {"id": "s1", "purpose": "p", "graph": "g", "inputs": inputs}]})

    [problem] = copied_from_examples(
        plan(question="what language is spoken in Brazil? "), answers, "What is 6 times 7?")
    assert problem.startswith("step s1 copies 'what language is spoken in Brazil?' from an ex")
    asked = "Tell me: what language is spoken in Brazil?"
    assert copied_from_examples(plan(question="What language is spoken in Brazil?"),
                                answers, asked) == []  # the request asks it too
    assert copied_from_examples(plan(operation="Multiply"), answers, "6 times 7") == []
    answers[0]["answer"] = answers[0]["answer"].replace('"b": 3', '"b": "{{ s1.answer }}"')
    assert copied_from_examples(plan(b="{{ s1.answer }}"), answers, "6 times 7") == []
