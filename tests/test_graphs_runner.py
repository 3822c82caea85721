"""The local graph runner: real AutoGPT exports and hand-written graphs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.blocks.registry import default_registry
from company.graphs.config import GraphSettings
from company.graphs.errors import GraphValidationError, UnsupportedBlocksError
from company.graphs.model import Graph, load_graph, parse_graph
from company.graphs.results import ExecutionStatus, NodeExecution
from company.graphs.runner import GraphRunner, run_graph
from tests.fakes.graph_llm import ScriptedLLM

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "autogpt"
GRAPHS = SHARED / "graphs"
S = ExecutionStatus

B = {
    "input": "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b",
    "number": "96dae2bb-97a2-41c2-bd2f-13a3b5a8ea98",
    "dropdown": "655d6fdf-a334-421c-b733-520549c07cd1",
    "output": "363ae599-353e-4804-937e-b2ee3cef3da4",
    "store": "1ff065e9-88e8-4358-9d82-8dc91f622ba9",
    "calc": "b1ab9b19-67a6-406d-abf5-2dba76d00c79",
    "step": "f66a3543-28d3-4ab5-8945-9b336371e2ce",
    "condition": "715696a0-e1da-45c8-b209-c2fa9c3b0be6",
    "agent": "e189baac-8c20-45a1-94a7-55177ea42565",
    "get_item": "262ca24c-1025-43cf-a578-534e23234e97",
    "split": "d5ea33c8-a575-477a-b42f-2fe3be5055ec",
    "create_dict": "b924ddf4-de4f-4b56-9a85-358930dcbc91",
    "create_list": "a912d5c7-6e00-4542-b2a9-8034136930e4",
    "template": "db7d8f02-2f44-4c55-ab7a-eae0941f0c30",
    "note": "cc10ff7b-7753-4ff2-9af6-9399b1a7eddc",
}


def build(
    nodes: dict[str, tuple[str, dict[str, Any]]],
    links: list[tuple[str, str, str, str]],
    static: set[int] | None = None,
    **extra: Any,
) -> Graph:
    """A graph from `{node_id: (block key, input_default)}` and `(src, pin, sink, pin)` links."""
    return parse_graph(
        {
            "id": extra.pop("id", "g-test"),
            "version": extra.pop("version", 1),
            "name": extra.pop("name", "test graph"),
            "nodes": [
                {"id": nid, "block_id": B.get(block, block), "input_default": defaults}
                for nid, (block, defaults) in nodes.items()
            ],
            "links": [
                {
                    "id": f"l{i}",
                    "source_id": src,
                    "source_name": src_pin,
                    "sink_id": sink,
                    "sink_name": sink_pin,
                    "is_static": i in (static or set()),
                }
                for i, (src, src_pin, sink, sink_pin) in enumerate(links)
            ],
            **extra,
        }
    )


def by_block(run: Any, name: str) -> list[NodeExecution]:
    return [n for n in run.nodes if n.block_name == name]


# ----- real AutoGPT exports -----


async def test_ai_function_export_runs_to_completed_with_llm_answer() -> None:
    llm = ScriptedLLM('[{"name": "Ada", "age": 36}]')
    graph = load_graph(GRAPHS / "ai_function__agent_516d813b.json")
    run = await GraphRunner(GraphSettings(model_map={"default": "llama3.2:3b"}), llm=llm).run(
        graph, {"Arguments": "1"}
    )
    assert run.status == S.COMPLETED
    assert run.outputs == {"return": ['[{"name": "Ada", "age": 36}]']}
    assert {n.status for n in run.nodes} == {S.COMPLETED}
    assert len(by_block(run, "AITextGeneratorBlock")) == 1  # static links: one LLM call
    call = llm.calls[0]
    assert call["model"] == "llama3.2:3b"  # "o3-mini" mapped through model_map["default"]
    system, user = call["messages"]
    assert system["role"] == "system"
    assert "def fake_people(n: int) -> list[dict]:" in system["content"]
    assert "# Generates n examples of fake data" in system["content"]
    assert user == {"role": "user", "content": "1"}


async def test_email_finder_export_runs_when_its_search_block_is_provided() -> None:
    class FakeSearchTheWebBlock(Block):
        id = "87840993-2053-44b7-8da4-187ad4ee518c"

        class Input(BlockSchema):
            query: str

        class Output(BlockSchema):
            results: str

        async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
            yield "results", f"results for: {input_data.query}"

    registry = default_registry().copy()
    registry.register(FakeSearchTheWebBlock)
    llm = ScriptedLLM("<thoughts>found</thoughts>\n<email>ceo@example.com</email>")
    graph = load_graph(GRAPHS / "email_address_finder__agent_fc2c9976.json")
    run = await GraphRunner(llm=llm, registry=registry).run(graph, {"Business Name": "Acme"})
    assert run.status == S.COMPLETED
    assert run.outputs == {"Email": ["ceo@example.com"]}
    prompt = llm.calls[0]["messages"][-1]["content"]
    assert "results for: Email Address of Acme, USA" in prompt
    assert "Extract the Contact Email of Acme." in prompt


def test_email_finder_export_runs_here_now_that_web_search_does() -> None:
    from company.graphs.dispatch import place

    graph = load_graph(GRAPHS / "email_address_finder__agent_fc2c9976.json")
    GraphRunner().check(graph, {})  # SearchTheWebBlock no longer refuses it
    assert place(graph, default_registry(), GraphSettings()).where == "local"


async def test_discord_template_is_refused_with_its_unsupported_blocks() -> None:
    graph = load_graph(GRAPHS / "discord_bot_chat_to_llm__template_v5.json")
    with pytest.raises(UnsupportedBlocksError) as info:
        await run_graph(graph, {})
    assert info.value.blocks == {
        "df06086a-d5ac-4abb-9996-2ad0acb2eff7": "ReadDiscordMessagesBlock",
        "d0822ab5-9f8a-44a3-8971-531dd0178b6b": "SendDiscordMessageBlock",
    }
    message = str(info.value)
    assert "ReadDiscordMessagesBlock (df06086a-d5ac-4abb-9996-2ad0acb2eff7" in message
    assert "SendDiscordMessageBlock (d0822ab5-9f8a-44a3-8971-531dd0178b6b" in message


async def test_calculator_test_agent_is_refused_before_it_starts() -> None:
    started: list[NodeExecution] = []

    async def on_done(node: NodeExecution) -> None:
        started.append(node)

    graph = load_graph(GRAPHS / "testing_agent_calculator.json")
    with pytest.raises(GraphValidationError) as info:
        await GraphRunner(on_node_done=on_done).run(graph, {})
    node_id = "c5e2d556-80e7-4fa6-841f-fe6cdfc75004"
    assert info.value.node_errors == {
        node_id: {
            "operation": "This field is required",
            "a": "This field is required",
            "b": "This field is required",
        }
    }
    assert node_id in str(info.value) and "CalculatorBlock" in str(info.value)
    assert "missing required inputs operation, a, b" in str(info.value)
    assert started == []


# ----- hand-written graphs -----


async def test_fan_out_over_three_items_runs_one_execution_per_item() -> None:
    graph = build(
        {
            "items": ("input", {"name": "items"}),
            "step": ("step", {}),
            "double": ("calc", {"operation": "Multiply", "b": 2}),
            "out": ("output", {"name": "doubled"}),
            "keys": ("output", {"name": "keys"}),
        },
        [
            ("items", "result", "step", "items"),
            ("step", "item", "double", "a"),
            ("double", "result", "out", "value"),
            ("step", "key", "keys", "value"),
        ],
    )
    run = await run_graph(graph, {"items": [1, 2, 3]})
    assert run.status == S.COMPLETED
    assert sorted(run.outputs["doubled"]) == [2.0, 4.0, 6.0]
    assert sorted(run.outputs["keys"]) == [0, 1, 2]
    assert len(by_block(run, "CalculatorBlock")) == 3
    assert len(by_block(run, "StepThroughItemsBlock")) == 1


async def test_static_link_value_is_reused_by_every_later_execution() -> None:
    graph = build(
        {
            "items": ("input", {"name": "items"}),
            "factor": ("input", {"name": "factor"}),
            "keep": ("store", {}),
            "step": ("step", {}),
            "mul": ("calc", {"operation": "Multiply"}),
            "out": ("output", {"name": "products"}),
        },
        [
            ("items", "result", "step", "items"),
            ("factor", "result", "keep", "input"),
            ("keep", "output", "mul", "b"),  # StoreValueBlock output is static
            ("step", "item", "mul", "a"),
            ("mul", "result", "out", "value"),
        ],
    )
    run = await run_graph(graph, {"items": [1, 2, 3], "factor": 10})
    assert run.status == S.COMPLETED
    assert sorted(run.outputs["products"]) == [10.0, 20.0, 30.0]
    assert [n.input["b"] for n in by_block(run, "CalculatorBlock")] == [10.0, 10.0, 10.0]
    assert len(by_block(run, "StoreValueBlock")) == 1


async def test_non_static_link_value_is_consumed_once() -> None:
    graph = build(
        {
            "items": ("input", {"name": "items"}),
            "step": ("step", {}),
            "keep": ("calc", {"operation": "Add", "a": 5, "b": 5}),
            "mul": ("calc", {"operation": "Multiply"}),
            "out": ("output", {"name": "products"}),
        },
        [
            ("items", "result", "step", "items"),
            ("keep", "result", "mul", "b"),  # a plain (non-static) link
            ("step", "item", "mul", "a"),
            ("mul", "result", "out", "value"),
        ],
    )
    run = await run_graph(graph, {"items": [1, 2, 3]})
    assert run.status == S.COMPLETED
    assert len(run.outputs["products"]) == 1  # b arrived once: one execution completes
    muls = by_block(run, "CalculatorBlock")
    assert sorted(n.status for n in muls).count(S.INCOMPLETE) == 2


async def test_condition_sends_items_down_both_branches() -> None:
    graph = build(
        {
            "items": ("input", {"name": "items"}),
            "step": ("step", {}),
            "cond": ("condition", {"operator": ">", "value2": 2}),
            "big": ("output", {"name": "big"}),
            "small": ("output", {"name": "small"}),
        },
        [
            ("items", "result", "step", "items"),
            ("step", "item", "cond", "value1"),
            ("cond", "yes_output", "big", "value"),
            ("cond", "no_output", "small", "value"),
        ],
    )
    run = await run_graph(graph, {"items": [1, 5, 3]})
    assert run.status == S.COMPLETED
    assert sorted(run.outputs["big"]) == [3, 5]
    assert run.outputs["small"] == [2]  # no_value defaults to value2, as in AutoGPT
    results = sorted(v for n in by_block(run, "ConditionBlock") for v in n.output["result"])
    assert results == [False, True, True]


async def test_condition_branch_not_taken_does_not_run() -> None:
    graph = build(
        {
            "x": ("number", {"name": "x"}),
            "cond": ("condition", {"operator": "==", "value2": 1, "yes_value": "one"}),
            "yes": ("output", {"name": "yes"}),
            "no": ("output", {"name": "no"}),
        },
        [
            ("x", "result", "cond", "value1"),
            ("cond", "yes_output", "yes", "value"),
            ("cond", "no_output", "no", "value"),
        ],
    )
    yes_run = await run_graph(graph, {"x": 1})
    assert yes_run.outputs == {"yes": ["one"]}
    no_run = await run_graph(graph, {"x": 7})
    assert no_run.outputs == {"no": [1]}
    assert [n.status for n in no_run.nodes if n.node_id == "yes"] == []


def _sub_graph() -> dict[str, Any]:
    return {
        "id": "sub-1",
        "version": 2,
        "name": "doubler",
        "nodes": [
            {"id": "sx", "block_id": B["input"], "input_default": {"name": "x"}},
            {"id": "sc", "block_id": B["calc"], "input_default": {"operation": "Multiply", "b": 2}},
            {"id": "so", "block_id": B["output"], "input_default": {"name": "doubled"}},
        ],
        "links": [
            {"source_id": "sx", "source_name": "result", "sink_id": "sc", "sink_name": "a"},
            {"source_id": "sc", "source_name": "result", "sink_id": "so", "sink_name": "value"},
        ],
    }


def _agent_node_defaults(**overrides: Any) -> dict[str, Any]:
    return {
        "graph_id": "sub-1",
        "graph_version": 2,
        "user_id": "",
        "inputs": {},
        "input_schema": {"type": "object", "properties": {"x": {}}, "required": ["x"]},
        "output_schema": {"type": "object", "properties": {"doubled": {}}},
        **overrides,
    }


async def test_sub_graph_runs_through_agent_executor_block() -> None:
    graph = build(
        {
            "n": ("input", {"name": "n"}),
            "agent": ("agent", _agent_node_defaults()),
            "out": ("output", {"name": "result"}),
        },
        [("n", "result", "agent", "x"), ("agent", "doubled", "out", "value")],
        sub_graphs=[_sub_graph()],
    )
    run = await run_graph(graph, {"n": 21})
    assert run.status == S.COMPLETED
    assert run.outputs == {"result": [42.0]}
    (agent,) = by_block(run, "AgentExecutorBlock")
    assert agent.status == S.COMPLETED
    assert agent.output == {"doubled": [42.0]}
    assert agent.input["x"] == 21


async def test_sub_graph_refused_when_missing_from_sub_graphs() -> None:
    graph = build(
        {"n": ("input", {"name": "n"}), "agent": ("agent", _agent_node_defaults(graph_id="nope"))},
        [("n", "result", "agent", "x")],
    )
    with pytest.raises(GraphValidationError, match="sub-graph nope v2 is not in sub_graphs"):
        await run_graph(graph, {"n": 1})


async def test_failing_node_reports_error_pin_and_graph_still_completes() -> None:
    graph = build(
        {
            "lst": ("input", {"name": "list"}),
            "get": ("get_item", {"index": 5}),
            "item": ("output", {"name": "item"}),
            "err": ("output", {"name": "error"}),
        },
        [
            ("lst", "result", "get", "list"),
            ("get", "item", "item", "value"),
            ("get", "error", "err", "value"),
        ],
    )
    run = await run_graph(graph, {"list": [1, 2]})
    assert run.status == S.COMPLETED
    (get,) = by_block(run, "GetListItemBlock")
    assert get.status == S.FAILED
    assert get.error == "Index 5 out of range (list has 2)"
    assert get.output["error"] == [get.error]
    assert run.outputs == {"error": [get.error]}
    assert run.failed_nodes == [get]


async def test_block_exception_fails_only_that_node() -> None:
    graph = build(
        {
            "t": ("input", {"name": "t"}),
            "split": ("split", {"delimiter": ""}),
            "out": ("output", {"name": "parts"}),
        },
        [("t", "result", "split", "text"), ("split", "texts", "out", "value")],
    )
    run = await run_graph(graph, {"t": "a,b"})
    assert run.status == S.COMPLETED
    (split,) = by_block(run, "TextSplitBlock")
    assert split.status == S.FAILED and split.error == "delimiter must not be empty"
    assert run.outputs == {}


async def test_dynamic_pins_build_dicts_and_lists_and_read_them_back() -> None:
    graph = build(
        {
            "name": ("input", {"name": "name"}),
            "age": ("input", {"name": "age"}),
            "dict": ("create_dict", {"values": {"fixed": True}}),
            "list": ("create_list", {}),
            "tpl": ("template", {"format": "{{ person.name }} is {{ person.age }}"}),
            "o_dict": ("output", {"name": "dict"}),
            "o_list": ("output", {"name": "list"}),
            "o_name": ("output", {"name": "name_from_dict"}),
            "o_text": ("output", {"name": "text"}),
        },
        [
            ("name", "result", "dict", "values_#_name"),
            ("age", "result", "dict", "values_#_age"),
            ("name", "result", "list", "values_$_1"),
            ("age", "result", "list", "values_$_0"),
            ("dict", "dictionary", "o_dict", "value"),
            ("dict", "dictionary_#_name", "o_name", "value"),
            ("list", "list", "o_list", "value"),
            ("dict", "dictionary", "tpl", "values_#_person"),
            ("tpl", "output", "o_text", "value"),
        ],
    )
    run = await run_graph(graph, {"name": "Ada", "age": 36})
    assert run.status == S.COMPLETED, run.nodes
    assert run.outputs["dict"] == [{"fixed": True, "name": "Ada", "age": 36}]
    assert run.outputs["list"] == [[36, "Ada"]]
    assert run.outputs["name_from_dict"] == ["Ada"]
    assert run.outputs["text"] == ["Ada is 36"]
    assert graph.node("dict").input_default == {"values": {"fixed": True}}  # not mutated


async def test_pin_values_are_coerced_to_annotated_types() -> None:
    graph = build(
        {
            "a": ("input", {"name": "a"}),
            "calc": ("calc", {"operation": "Add", "b": "2.5"}),
            "out": ("output", {"name": "sum"}),
        },
        [("a", "result", "calc", "a"), ("calc", "result", "out", "value")],
    )
    run = await run_graph(graph, {"a": "1.5"})
    assert run.outputs == {"sum": [4.0]}
    bad = await run_graph(graph, {"a": "one"})
    assert bad.status == S.COMPLETED
    (calc,) = by_block(bad, "CalculatorBlock")
    assert calc.status == S.FAILED
    assert "invalid input for CalculatorBlock" in calc.error and "'one'" in calc.error


async def test_invalid_dropdown_value_fails_the_input_node() -> None:
    graph = build(
        {
            "op": ("dropdown", {"name": "op", "placeholder_values": ["Add", "Subtract"]}),
            "out": ("output", {"name": "op"}),
        },
        [("op", "result", "out", "value")],
    )
    run = await run_graph(graph, {"op": "Modulo"})
    (node,) = by_block(run, "AgentDropdownInputBlock")
    assert node.status == S.FAILED and "not an option" in node.error
    assert run.outputs == {}


async def test_missing_required_graph_input_is_refused() -> None:
    graph = build(
        {"x": ("number", {"name": "x"}), "out": ("output", {"name": "x"})},
        [("x", "result", "out", "value")],
    )
    with pytest.raises(GraphValidationError, match="missing required inputs: x"):
        await run_graph(graph, {})


async def test_link_to_unknown_pin_is_refused() -> None:
    graph = build(
        {"x": ("input", {"name": "x"}), "out": ("output", {"name": "x"})},
        [("x", "result", "out", "valeu")],
    )
    with pytest.raises(GraphValidationError, match="valeu: input pin does not exist"):
        await run_graph(graph, {"x": 1})


async def test_note_nodes_never_run() -> None:
    graph = build(
        {
            "note": ("note", {"text": "hello"}),
            "x": ("input", {"name": "x"}),
            "out": ("output", {"name": "x"}),
        },
        [("x", "result", "out", "value")],
    )
    run = await run_graph(graph, {"x": 1})
    assert by_block(run, "NoteBlock") == []


# ----- guard rails, concurrency, progress -----


class SleepBlock(Block):
    """Test block: sleeps `seconds` then yields `done`."""

    id = "test-sleep-block"

    class Input(BlockSchema):
        seconds: float = 0.2

    class Output(BlockSchema):
        done: bool

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        await asyncio.sleep(input_data.seconds)
        yield "done", True


def _sleep_registry() -> Any:
    registry = default_registry().copy()
    registry.register(SleepBlock)
    return registry


async def test_independent_nodes_run_concurrently() -> None:
    graph = build({f"s{i}": ("test-sleep-block", {"seconds": 0.2}) for i in range(4)}, [])
    begin = time.perf_counter()
    run = await GraphRunner(registry=_sleep_registry()).run(graph)
    assert run.status == S.COMPLETED
    assert time.perf_counter() - begin < 0.5  # 4 x 0.2 s in parallel


async def test_timeout_fails_the_run_and_terminates_running_nodes() -> None:
    graph = build({"s": ("test-sleep-block", {"seconds": 5})}, [])
    settings = GraphSettings(timeout_s=0.1)
    run = await GraphRunner(settings, registry=_sleep_registry()).run(graph)
    assert run.status == S.FAILED
    assert run.error == "the run timed out after 0.1s"
    assert [n.status for n in run.nodes] == [S.TERMINATED]


async def test_cancel_event_terminates_the_run() -> None:
    graph = build({"s": ("test-sleep-block", {"seconds": 5})}, [])
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, cancel.set)
    run = await GraphRunner(registry=_sleep_registry()).run(graph, cancel=cancel)
    assert run.status == S.TERMINATED
    assert [n.status for n in run.nodes] == [S.TERMINATED]


async def test_max_node_executions_stops_the_run() -> None:
    graph = build(
        {
            "items": ("input", {"name": "items"}),
            "step": ("step", {}),
            "out": ("output", {"name": "item"}),
        },
        [("items", "result", "step", "items"), ("step", "item", "out", "value")],
    )
    run = await run_graph(
        graph, {"items": list(range(50))}, settings=GraphSettings(max_node_executions=10)
    )
    assert run.status == S.FAILED
    assert run.error == "stopped: the run reached max_node_executions (10)"
    assert sum(n.status == S.COMPLETED for n in run.nodes) == 10


async def test_on_node_done_reports_each_finished_node() -> None:
    seen: list[NodeExecution] = []

    async def on_done(node: NodeExecution) -> None:
        seen.append(node)

    graph = build(
        {"x": ("input", {"name": "x"}), "out": ("output", {"name": "x"})},
        [("x", "result", "out", "value")],
    )
    run = await GraphRunner(on_node_done=on_done).run(graph, {"x": 3})
    assert [(n.block_name, n.status) for n in seen] == [
        ("AgentInputBlock", S.COMPLETED),
        ("AgentOutputBlock", S.COMPLETED),
    ]
    assert all(n.started_at and n.ended_at and n.duration_s is not None for n in run.nodes)
    assert run.to_jsonable()["outputs"] == {"x": [3]}
