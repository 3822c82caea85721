from actions.planning import plan_problems
from company.config import CONFIG_DIR
from company.graphs.catalogue import Catalogue
from company.payloads import Plan

CATALOGUE = Catalogue.load(CONFIG_DIR / "graphs")


def problems(*steps):
    return plan_problems(Plan.model_validate({"steps": list(steps)}), CATALOGUE)


def test_a_valid_plan_with_references_has_no_problems():
    assert problems(
        {"id": "s1", "graph": "calculate", "inputs": {"a": 1, "b": 2, "operation": "Add"}},
        {"id": "s2", "graph": "word_count", "inputs": {"text": "n={{ s1.result }}"},
         "depends_on": ["s1"]},
    ) == []


def test_unknown_graph_missing_input_and_bad_references_are_named():
    found = problems(
        {"id": "s1", "graph": "teleport", "inputs": {}},
        {"id": "s2", "graph": "calculate", "inputs": {"a": 1}},
        {"id": "s3", "graph": "word_count", "inputs": {"text": "{{ s2.result }}"}},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "{{ s2.nope }}"},
         "depends_on": ["s2"]},
        {"id": "s4", "graph": "word_count", "inputs": {"text": "x"}, "depends_on": ["s9"]},
    )
    text = "\n".join(found)
    assert "teleport" in text and "calculate" in text  # unknown graph lists the known ones
    assert "step s2" in text and "b" in text            # missing required input
    assert "list s2 (an earlier step) in depends_on" in text
    assert "calculate has outputs result" in text
    assert "used twice" in text and "'s9', which is not an earlier step" in text
