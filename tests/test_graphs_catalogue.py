"""The shipped graph catalogue: schemas, Planner-facing validation, and each graph running."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from company.graphs.blocks.registry import default_registry
from company.graphs.catalogue import Catalogue
from company.graphs.config import GraphSettings
from company.graphs.errors import GraphLoadError
from company.graphs.results import ExecutionStatus
from company.graphs.runner import GraphRunner
from company.graphs.validation import check_graph
from tests.fakes.graph_llm import ScriptedLLM

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE_DIR = ROOT / "config" / "graphs"
BLOCKS_JSON = ROOT.parent / "shared" / "autogpt" / "blocks_basic.json"
BLOCK_IDS_JSON = ROOT / "company" / "graphs" / "blocks" / "block_ids.json"
EXPECTED = {
    "answer_question",
    "calculate",
    "compare_values",
    "current_date_time",
    "extract_text",
    "read_web_page",
    "replace_text",
    "split_text",
    "summarize_web_page",
    "web_search",
    "wikipedia_lookup",
    "word_count",
    "youtube_transcript",
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(CATALOGUE_DIR)


def test_catalogue_lists_the_shipped_graphs(catalogue: Catalogue) -> None:
    assert set(catalogue.names()) == EXPECTED


def test_shipped_graphs_use_real_block_ids_and_all_run_locally(catalogue: Catalogue) -> None:
    real_ids = {b["id"] for b in json.loads(BLOCKS_JSON.read_text())} | set(
        json.loads(BLOCK_IDS_JSON.read_text())["blocks"])
    for name in catalogue.names():
        raw = json.loads((CATALOGUE_DIR / f"{name}.json").read_text())
        assert {"id", "version", "name", "description", "nodes", "links"} <= set(raw)
        assert {n["block_id"] for n in raw["nodes"]} <= real_ids, name
        check_graph(catalogue.get(name).graph, default_registry())


def test_input_and_output_schemas(catalogue: Catalogue) -> None:
    calc = catalogue.get("calculate")
    assert calc.input_schema() == {
        "type": "object",
        "properties": {
            "a": {"description": "First number.", "type": "number"},
            "b": {"description": "Second number.", "type": "number"},
            "operation": {
                "description": "Operation to apply to a and b.",
                "type": "string",
                "enum": ["Add", "Subtract", "Multiply", "Divide", "Power"],
                "default": "Add",
            },
        },
        "required": ["a", "b"],
    }
    assert calc.output_schema() == {
        "type": "object",
        "properties": {"result": {"type": "array", "description": "The result of the operation."}},
    }
    spec = {s.name: s for s in catalogue.get("summarize_web_page").inputs}
    assert spec["url"].required and not spec["focus"].required
    assert spec["focus"].default == "general information"


def test_validate_step_gives_correctable_messages(catalogue: Catalogue) -> None:
    assert catalogue.validate_step("calculate", {"a": 1, "b": "2", "operation": "Power"}) is None
    unknown = catalogue.validate_step("calculator", {})
    assert unknown.startswith(
        "Unknown graph 'calculator'. Known graphs: answer_question, calculate"
    )
    missing = catalogue.validate_step("calculate", {"a": 1})
    assert "missing required inputs: b" in missing
    assert "Expected: calculate(a: number, b: number" in missing
    wrong = catalogue.validate_step("calculate", {"a": "ten", "b": 1, "operation": "Mod", "c": 1})
    assert "unknown inputs: c" in wrong
    assert "a must be a number (got 'ten')" in wrong
    assert "operation must be one of Add, Subtract, Multiply, Divide, Power" in wrong
    with pytest.raises(KeyError, match="known graphs"):
        catalogue.get("nope")


def test_describe_is_compact_prompt_text(catalogue: Catalogue) -> None:
    """One line per graph: inputs with types, enums and defaults, outputs, description."""
    text = catalogue.describe()
    lines = text.splitlines()
    assert len(lines) == len(EXPECTED)
    assert any(line.startswith("- wikipedia_lookup(topic: string) -> summary: ") for line in lines)
    assert "- calculate(a: number, b: number, operation: Add|Subtract|Multiply|Divide|Power = " \
           "'Add') -> result: Applies an arithmetic operation to two numbers a and b." in lines
    assert "- word_count(text: string) -> word_count, character_count: Counts the words and " \
           "the characters (the length, spaces included) of a text." in lines
    # about 30 tokens a graph: the whole catalogue stays a small part of a small model's prompt
    assert len(text) < 170 * len(lines) and len(text.split()) < 22 * len(lines)


def test_missing_directory_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match="catalogue directory not found"):
        Catalogue.load(tmp_path / "missing")


async def test_calculate_word_count_replace_and_split_run(catalogue: Catalogue) -> None:
    runner = GraphRunner()
    run = await runner.run(
        catalogue.get("calculate").graph, {"a": "6", "b": 7, "operation": "Multiply"}
    )
    assert (run.status, run.outputs) == (ExecutionStatus.COMPLETED, {"result": [42.0]})
    run = await runner.run(catalogue.get("calculate").graph, {"a": 1.5, "b": 2})
    assert run.outputs == {"result": [3.5]}
    run = await runner.run(catalogue.get("word_count").graph, {"text": "one two  three"})
    assert run.outputs == {"word_count": [3], "character_count": [14]}
    run = await runner.run(catalogue.get("replace_text").graph,
                           {"text": "a-b-c", "old": "-", "new": ";"})
    assert run.outputs == {"replaced": ["a;b;c"]}
    run = await runner.run(catalogue.get("split_text").graph,
                           {"text": "a; b ;c", "delimiter": ";"})
    assert run.outputs == {"parts": [["a", "b", "c"]]}


async def test_answer_question_uses_the_llm(catalogue: Catalogue) -> None:
    llm = ScriptedLLM("Canberra.")
    run = await GraphRunner(llm=llm).run(
        catalogue.get("answer_question").graph,
        {"question": "Capital of Australia?", "context": "Geography quiz."},
    )
    assert run.outputs == {"answer": ["Canberra."]}
    system, user = llm.calls[0]["messages"]
    assert user["content"] == "Capital of Australia?"
    assert system["content"].endswith("Geography quiz.")


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path == "/page":
            body, kind, code = b"<html><p>Owls hunt at night.</p></html>", "text/html", 200
        elif self.path == "/api/rest_v1/page/summary/Owl":
            body, kind, code = b'{"extract": "Owls are birds."}', "application/json", 200
        else:
            body, kind, code = b"gone", "text/plain", 404
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_web_graphs_run_against_a_loopback_site(catalogue: Catalogue, site: str) -> None:
    settings = GraphSettings(allow_private_network=True, wikipedia_base_url=site)
    llm = ScriptedLLM('{"summary": "Owls hunt at night."}', '{"final_summary": "Nocturnal owls."}')
    runner = GraphRunner(settings, llm=llm)
    run = await runner.run(catalogue.get("summarize_web_page").graph, {"url": f"{site}/page"})
    assert run.outputs == {"summary": ["Nocturnal owls."]}
    assert "<p>Owls hunt at night.</p>" in llm.calls[0]["messages"][-1]["content"]
    run = await runner.run(catalogue.get("summarize_web_page").graph, {"url": f"{site}/gone"})
    assert run.outputs == {"fetch_error": ["gone"]}
    run = await runner.run(catalogue.get("wikipedia_lookup").graph, {"topic": "Owl"})
    assert run.outputs == {"summary": ["Owls are birds."]}


async def test_web_graph_refuses_private_urls_by_default(catalogue: Catalogue, site: str) -> None:
    run = await GraphRunner(llm=ScriptedLLM()).run(
        catalogue.get("summarize_web_page").graph, {"url": f"{site}/page"}
    )
    assert run.status == ExecutionStatus.COMPLETED
    (fetch,) = [n for n in run.nodes if n.block_name == "SendWebRequestBlock"]
    assert fetch.status == ExecutionStatus.FAILED and "refused to fetch" in fetch.error


# ----- L7: graphs.catalogue_dir reaches the Planner -----


def _one_graph_dir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    source = json.loads((CATALOGUE_DIR / "word_count.json").read_text())
    (folder / "only_mine.json").write_text(json.dumps(source))
    return folder


def test_services_use_a_custom_catalogue_dir(tmp_path: Path) -> None:
    from company.config import AppConfig
    from company.services import Services

    folder = _one_graph_dir(tmp_path / "mine")
    services = Services(AppConfig(graphs={"catalogue_dir": str(folder)}))
    assert services.catalogue().names() == ["only_mine"]


def test_relative_catalogue_dir_is_taken_from_the_project_root() -> None:
    from company.config import PROJECT_ROOT, AppConfig
    from company.services import Services

    assert GraphSettings().catalogue_path() == PROJECT_ROOT / "config" / "graphs"
    assert GraphSettings(catalogue_dir=Path("elsewhere/g")).catalogue_path() == (
        PROJECT_ROOT / "elsewhere" / "g"
    )
    services = Services(AppConfig(graphs={"catalogue_dir": "config/graphs"}))
    assert set(services.catalogue().names()) == EXPECTED


def test_graphs_that_fetch_from_the_network_are_known(catalogue: Catalogue) -> None:
    network = catalogue.network_graphs()
    assert {"wikipedia_lookup", "summarize_web_page"} <= network
    assert not network & {"calculate", "word_count", "replace_text", "split_text",
                       "answer_question"}
    assert catalogue.without(["wikipedia_lookup"]).network_graphs() == network - {
        "wikipedia_lookup"}


async def test_compare_values_compares_numbers_as_numbers_and_texts_as_texts(
        catalogue: Catalogue) -> None:
    runner = GraphRunner(GraphSettings())
    compare = catalogue.get("compare_values").graph
    for a, op, b, expected in [(579, ">", 500, True), ("9", ">", "10", False),
                               ("apple", "==", "apple", True), (2.5, "<=", 2, False)]:
        run = await runner.run(compare, {"a": a, "b": b, "operator": op})
        assert run.outputs == {"result": [expected]}, (a, op, b)


async def test_extract_text_finds_every_match_in_order(catalogue: Catalogue) -> None:
    run = await GraphRunner(GraphSettings()).run(
        catalogue.get("extract_text").graph,
        {"text": "Call 555-1234 or 555-9876.", "pattern": "[0-9]{3}-[0-9]{4}"})
    assert run.outputs == {"matches": [["555-1234", "555-9876"]]}


def test_outputs_a_model_writes_for_a_reader_are_prose(catalogue: Catalogue) -> None:
    prose = {(name, o.name) for name, e in catalogue.entries.items() for o in e.outputs
             if o.prose}
    assert prose == {("answer_question", "answer"), ("summarize_web_page", "summary")}
