"""SmartDecisionMakerBlock in the local runner, its model scripted through the company's LLM
layer: the tools offered (built from the linked blocks' input schemas), tool calls routed along
the tool links, `finished`, invalid calls asked again then failing, and the agent loop."""

from __future__ import annotations

from typing import Any

import pytest

from company.graphs.blocks.decision import (
    MAIN_OBJECTIVE_PREFIX,
    SmartDecisionMakerBlock,
    pending_tool_calls,
    tool_response,
)
from company.graphs.model import Graph, parse_graph
from company.graphs.pins import base_pin, is_tool_pin, tool_pin
from company.graphs.results import ExecutionStatus, GraphRun, NodeExecution
from company.graphs.runner import GraphRunner
from company.llm import LLM
from company.llm.base import ChatRequest, ToolCall
from company.llm.scripted import Script, ScriptedProvider, tool_answer
from company.llm.usage import CostManager

S = ExecutionStatus
B = {
    "input": "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b",
    "output": "363ae599-353e-4804-937e-b2ee3cef3da4",
    "calc": "b1ab9b19-67a6-406d-abf5-2dba76d00c79",
    "template": "db7d8f02-2f44-4c55-ab7a-eae0941f0c30",
    "store": "1ff065e9-88e8-4358-9d82-8dc91f622ba9",
    "sdm": SmartDecisionMakerBlock.id,
    "agent": "e189baac-8c20-45a1-94a7-55177ea42565",
}
CALC, FILL = "calculatorblock", "filltexttemplateblock"


def build(nodes: dict[str, tuple[str, dict[str, Any]]],
          links: list[tuple[str, str, str, str]], static: set[int] | None = None,
          **extra: Any) -> Graph:
    """A graph from `{node_id: (block key, input_default)}` and `(src, pin, sink, pin)` links."""
    return parse_graph({**extra,
        "id": "g-sdm", "version": 1, "name": "decision graph",
        "nodes": [{"id": nid, "block_id": B[block], "input_default": defaults}
                  for nid, (block, defaults) in nodes.items()],
        "links": [{"id": f"l{i}", "source_id": src, "source_name": src_pin, "sink_id": sink,
                   "sink_name": sink_pin, "is_static": i in (static or set())}
                  for i, (src, src_pin, sink, sink_pin) in enumerate(links)],
    })


def tool_graph(sdm: dict[str, Any] | None = None, *, loop: bool = False,
               extra: list[tuple[str, str, str, str]] | None = None) -> Graph:
    """A decision node with two tools: a calculator (legacy `tools_^_{tool}_~_{pin}` links)
    and a text template (new-style `tools` links, one to a dynamic dict pin)."""
    links = [
        ("question", "result", "sdm", "prompt"),
        ("sdm", "tools_^_calculatorblock_~_a", "calc", "a"),
        ("sdm", "tools_^_calculatorblock_~_b", "calc", "b"),
        ("sdm", "tools_^_calculatorblock_~_operation", "calc", "operation"),
        ("sdm", "tools", "fill", "values_#_name"),
        ("calc", "result", "calc_out", "value"),
        ("fill", "output", "text_out", "value"),
        ("sdm", "finished", "done_out", "value"),
        *(extra or []),
    ]
    if loop:
        links += [("calc", "result", "sdm", "last_tool_output"),
                  ("fill", "output", "sdm", "last_tool_output"),
                  ("sdm", "conversations", "sdm", "conversation_history")]
    return build({
        "question": ("input", {"name": "question"}),
        "sdm": ("sdm", {"sys_prompt": "Use a tool.", **(sdm or {})}),
        "calc": ("calc", {}),
        "fill": ("template", {"format": "Hello {{ name }}!"}),
        "calc_out": ("output", {"name": "calc_result"}),
        "text_out": ("output", {"name": "text"}),
        "done_out": ("output", {"name": "done"}),
    }, links)


async def run(graph: Graph, script: Script, question: str = "What is 6 times 7?",
              ) -> tuple[GraphRun, ScriptedProvider]:
    """Run the graph with the decision node's model answering from the script."""
    provider = ScriptedProvider({"Executor": script})
    llm = LLM(provider, model="scripted-model", cost=CostManager()).for_role("Executor")
    result = await GraphRunner(llm=llm).run(graph, {"question": question})
    return result, provider


def nodes(result: GraphRun, name: str) -> list[NodeExecution]:
    return [n for n in result.nodes if n.block_name == name]


def calc_call(**arguments: Any) -> ToolCall:
    return ToolCall(id="call_calc", name=CALC, arguments=arguments)


def tools_by_name(request: ChatRequest) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in request.tools or []}


# ----- tool pins -----

def test_tool_pin_names_follow_autogpt() -> None:
    assert tool_pin("node-1", "values_#_name") == "tools_^_node-1_~_values_#_name"
    assert is_tool_pin("tools") and is_tool_pin("tools_^_calc_~_a")
    assert not is_tool_pin("toolsy") and not is_tool_pin("finished")
    assert base_pin("tools_^_x_$_1_~_values_#_k") == "tools"  # validation checks `tools`


# ----- one turn -----

async def test_a_tool_call_reaches_the_calculator_with_its_arguments() -> None:
    result, provider = await run(tool_graph(), calc_call(a=6, b=7, operation="Multiply"))
    assert result.status == S.COMPLETED
    assert result.outputs["calc_result"] == [42.0]
    assert "text" not in result.outputs and "done" not in result.outputs
    [calc] = nodes(result, "CalculatorBlock")
    assert calc.status == S.COMPLETED
    assert (calc.input["a"], calc.input["b"], calc.input["operation"]) == (6, 7, "Multiply")
    assert nodes(result, "FillTextTemplateBlock") == []  # the other tool got nothing
    [sdm] = nodes(result, "SmartDecisionMakerBlock")
    [conversation] = sdm.output["conversations"]
    assert conversation[-1]["tool_calls"][0]["function"]["name"] == CALC
    assert sdm.output[tool_pin("calc", "a")] == [6]

    [request] = provider.calls
    assert request.messages[-2:] == [
        {"role": "system", "content": MAIN_OBJECTIVE_PREFIX + "Use a tool."},
        {"role": "user", "content": MAIN_OBJECTIVE_PREFIX + "What is 6 times 7?"}]
    assert request.parallel_tool_calls is False
    tools = tools_by_name(request)
    assert set(tools) == {CALC, FILL}
    calc_params = tools[CALC]["parameters"]
    assert calc_params["required"] == ["a", "b", "operation"]
    assert calc_params["additionalProperties"] is False
    assert calc_params["properties"]["a"]["type"] == "number"
    assert calc_params["properties"]["operation"]["enum"] == [
        "Add", "Subtract", "Multiply", "Divide", "Power"]  # the enum's $ref is inlined
    assert "arithmetic" in tools[CALC]["description"]
    assert list(tools[FILL]["parameters"]["properties"]) == ["values___name"]
    assert tools[FILL]["parameters"]["required"] == ["values___name"]


async def test_a_call_to_the_text_tool_fills_its_dynamic_pin() -> None:
    call = ToolCall(name=FILL, arguments={"values___name": "Ada"})
    result, _ = await run(tool_graph(), call)
    assert result.outputs["text"] == ["Hello Ada!"]
    assert nodes(result, "CalculatorBlock") == []


async def test_several_calls_in_one_turn_reach_both_tools() -> None:
    answer = tool_answer(calc_call(a=2, b=3, operation="Add"),
                         ToolCall(name=FILL, arguments={"values___name": "Bo"}))
    result, provider = await run(tool_graph({"multiple_tool_calls": True}), answer)
    assert result.outputs["calc_result"] == [5.0] and result.outputs["text"] == ["Hello Bo!"]
    assert provider.calls[0].parallel_tool_calls is True


async def test_an_answer_without_a_tool_call_is_finished() -> None:
    result, _ = await run(tool_graph(), "Nothing to compute: 42.")
    assert result.status == S.COMPLETED
    assert result.outputs["done"] == ["Nothing to compute: 42."]
    assert nodes(result, "CalculatorBlock") == []
    [sdm] = nodes(result, "SmartDecisionMakerBlock")
    assert "conversations" not in sdm.output  # AutoGPT yields none when it finishes


async def test_prompt_values_fill_both_prompts() -> None:
    graph = tool_graph({"prompt_values": {"who": "Ada"}, "sys_prompt": "Help {{who}}."})
    _, provider = await run(graph, "ok", question="Greet {{who}}")
    assert provider.calls[0].messages[-2:] == [
        {"role": "system", "content": MAIN_OBJECTIVE_PREFIX + "Help Ada."},
        {"role": "user", "content": MAIN_OBJECTIVE_PREFIX + "Greet Ada"}]


async def test_an_argument_left_out_is_not_sent_along_its_link() -> None:
    result, _ = await run(tool_graph(), calc_call(a=6, operation="Add", b=None))
    [calc] = [n for n in result.nodes if n.block_name == "CalculatorBlock"]
    assert calc.status == S.INCOMPLETE and "b" not in calc.input  # AutoGPT sends no None
    assert "calc_result" not in result.outputs


# ----- invalid calls -----

async def test_invalid_calls_are_asked_again_with_the_errors_then_succeed() -> None:
    script = [ToolCall(name="weather", arguments={"city": "Oslo"}),
              ToolCall(name=CALC, arguments={}, arguments_error="not valid JSON: '{a'"),
              calc_call(a=1, b=2, operation="Add")]
    result, provider = await run(tool_graph(), script)
    assert result.outputs["calc_result"] == [3.0]
    assert len(provider.calls) == 3
    second, third = provider.calls[1].messages, provider.calls[2].messages
    assert "'weather' does not match any known tool" in second[-1]["content"]
    assert "invalid JSON arguments" in third[-1]["content"]
    assert second[:-1] == provider.calls[0].messages  # the feedback is added, nothing else


async def test_invalid_calls_fail_the_node_after_retry_attempts() -> None:
    bad = calc_call(a=1, c=2)  # an unknown parameter and two missing required ones
    result, provider = await run(tool_graph({"retry": 2}), [bad, bad])
    [sdm] = nodes(result, "SmartDecisionMakerBlock")
    assert sdm.status == S.FAILED and len(provider.calls) == 2
    assert "no valid tool call in 2 attempts" in (sdm.error or "")
    assert "Unknown parameters: ['c']" in (sdm.error or "")
    assert "Missing required parameters: ['b', 'operation']" in (sdm.error or "")
    assert nodes(result, "CalculatorBlock") == []


async def test_with_one_tool_any_name_means_that_tool() -> None:
    graph = build({
        "question": ("input", {"name": "question"}),
        "sdm": ("sdm", {}),
        "calc": ("calc", {"operation": "Add"}),
        "calc_out": ("output", {"name": "calc_result"}),
    }, [("question", "result", "sdm", "prompt"),
        ("sdm", "tools", "calc", "a"), ("sdm", "tools", "calc", "b"),
        ("calc", "result", "calc_out", "value")])
    result, _ = await run(graph, ToolCall(name="add", arguments={"a": 1, "b": 1}))
    assert result.outputs["calc_result"] == [2.0]


DOUBLER = {
    "id": "sub-1", "version": 2, "name": "Doubler Agent", "description": "Doubles a number.",
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


async def test_an_agent_is_a_tool_named_and_described_by_its_sub_graph() -> None:
    agent = {"graph_id": "sub-1", "graph_version": 2, "inputs": {},
             "input_schema": {"type": "object", "required": ["x"], "properties": {
                 "x": {"type": "number", "description": "The number to double"}}},
             "output_schema": {"type": "object", "properties": {"doubled": {}}}}
    graph = build({
        "question": ("input", {"name": "question"}),
        "sdm": ("sdm", {}),
        "agent": ("agent", agent),
        "out": ("output", {"name": "doubled"}),
    }, [("question", "result", "sdm", "prompt"), ("sdm", "tools", "agent", "x"),
        ("agent", "doubled", "out", "value")], sub_graphs=[DOUBLER])
    result, provider = await run(graph, ToolCall(name="doubler_agent", arguments={"x": 21}))
    assert result.outputs["doubled"] == [42.0]
    [tool] = tools_by_name(provider.calls[0]).values()
    assert (tool["name"], tool["description"]) == ("doubler_agent", "Doubles a number.")
    assert tool["parameters"]["properties"] == {
        "x": {"type": "number", "description": "The number to double"}}


async def test_two_nodes_of_one_block_are_two_tools_with_distinct_names() -> None:
    graph = parse_graph({
        "id": "g", "name": "two calculators",
        "nodes": [
            {"id": "question", "block_id": B["input"], "input_default": {"name": "question"}},
            {"id": "sdm", "block_id": B["sdm"], "input_default": {}},
            {"id": "c1", "block_id": B["calc"], "input_default": {"operation": "Add"}},
            {"id": "c2", "block_id": B["calc"], "input_default": {"operation": "Add"},
             "metadata": {"customized_name": "Adder Two"}},
            {"id": "c3", "block_id": B["calc"], "input_default": {"operation": "Add"}},
            {"id": "out", "block_id": B["output"], "input_default": {"name": "sum"}},
        ],
        "links": [
            {"source_id": "question", "source_name": "result", "sink_id": "sdm",
             "sink_name": "prompt"},
            *({"source_id": "sdm", "source_name": "tools", "sink_id": c, "sink_name": pin}
              for c in ("c1", "c2", "c3") for pin in ("a", "b")),
            *({"source_id": c, "source_name": "result", "sink_id": "out", "sink_name": "value"}
              for c in ("c1", "c2", "c3")),
        ],
    })
    call = ToolCall(name=f"{CALC}_2", arguments={"a": 1, "b": 2})
    result, provider = await run(graph, call)
    assert list(tools_by_name(provider.calls[0])) == [CALC, "adder_two", f"{CALC}_2"]
    assert result.outputs["sum"] == [3.0]
    assert [n.node_id for n in nodes(result, "CalculatorBlock")] == ["c3"]


async def test_a_decision_node_without_tools_fails_clearly() -> None:
    graph = build({"question": ("input", {"name": "question"}), "sdm": ("sdm", {})},
                  [("question", "result", "sdm", "prompt")])
    result, provider = await run(graph, "unused")
    [sdm] = nodes(result, "SmartDecisionMakerBlock")
    assert sdm.status == S.FAILED and "no next node to execute" in (sdm.error or "")
    assert provider.calls == []


async def test_agent_mode_is_refused_clearly() -> None:
    result, _ = await run(tool_graph({"agent_mode_max_iterations": 3}), "unused")
    [sdm] = nodes(result, "SmartDecisionMakerBlock")
    assert sdm.status == S.FAILED and "agent mode" in (sdm.error or "")


# ----- the agent loop: tool output and conversation come back -----

async def test_the_tool_output_comes_back_and_the_model_finishes() -> None:
    script = [calc_call(a=6, b=7, operation="Multiply"), "6 times 7 is 42."]
    result, provider = await run(tool_graph(loop=True), script)
    assert result.status == S.COMPLETED
    assert result.outputs["calc_result"] == [42.0]
    assert result.outputs["done"] == ["6 times 7 is 42."]
    assert [n.status for n in nodes(result, "SmartDecisionMakerBlock")] == [S.COMPLETED] * 2
    second = provider.calls[1].messages
    assert second[-2]["tool_calls"][0]["id"] == "call_calc"
    assert second[-1] == {"role": "tool", "tool_call_id": "call_calc", "content": "42.0"}
    assert sum(m["role"] == "user" for m in second) == 1  # the objective is not repeated


async def test_two_calls_in_one_turn_wait_for_both_outputs() -> None:
    answer = tool_answer(calc_call(a=2, b=3, operation="Add"),
                         ToolCall(id="call_fill", name=FILL, arguments={"values___name": "Bo"}))
    script = [answer, "Both done."]
    result, provider = await run(tool_graph({"multiple_tool_calls": True}, loop=True), script)
    assert result.outputs["done"] == ["Both done."]
    assert len(provider.calls) == 2
    answers = [m for m in provider.calls[1].messages if m["role"] == "tool"]
    assert {m["tool_call_id"] for m in answers} == {"call_calc", "call_fill"}
    assert sorted(m["content"] for m in answers) == ["5.0", "Hello Bo!"]
    sdm_runs = nodes(result, "SmartDecisionMakerBlock")
    assert len(sdm_runs) == 3  # the first output only answers its call, the second asks again


def loop_graph(output_from: str, *, history: bool, static: bool) -> Graph:
    """A decision node with one calculator tool whose `last_tool_output` comes from
    `output_from` (optionally static) and whose `conversation_history` maybe loops back."""
    links = [("question", "result", "sdm", "prompt"),
             ("sdm", "tools", "calc", "a"), ("sdm", "tools", "calc", "b"),
             (output_from, "output" if output_from == "store" else "result",
              "sdm", "last_tool_output")]
    if history:
        links.append(("sdm", "conversations", "sdm", "conversation_history"))
    return build({
        "question": ("input", {"name": "question"}),
        "sdm": ("sdm", {}),
        "calc": ("calc", {"operation": "Add"}),
        "store": ("store", {"input": "x"}),
    }, links, static={3} if static else set())


@pytest.mark.parametrize(("graph", "message"), [
    (loop_graph("calc", history=False, static=False), "Conversation History is used"),
    (loop_graph("store", history=True, static=True), "can't be connected to a static"),
])
async def test_loop_pins_must_be_wired_together_and_not_static(graph: Graph,
                                                                message: str) -> None:
    result, provider = await run(graph, ToolCall(name=CALC, arguments={"a": 1, "b": 1}))
    failed = [n for n in nodes(result, "SmartDecisionMakerBlock") if n.status == S.FAILED]
    assert failed and message in (failed[0].error or "")
    assert provider.calls == []


# ----- the conversation helpers -----

def test_pending_calls_count_requests_against_answers() -> None:
    history = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "x", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "y", "arguments": "{}"}}]},
        tool_response("a", {"out": 1}),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1"}]}]
    assert pending_tool_calls(history) == {"b": 1, "toolu_1": 1}
    assert tool_response("a", {"out": 1})["content"] == '{"out": 1}'
    assert tool_response("toolu_1", "ok")["content"][0]["tool_use_id"] == "toolu_1"
    assert pending_tool_calls([*history, tool_response("b", "x"),
                               tool_response("toolu_1", "y")]) == {}
    assert pending_tool_calls(None) == {} and pending_tool_calls("junk") == {}


def test_the_node_waits_as_autogpt_does() -> None:
    block = SmartDecisionMakerBlock()
    asked = [{"role": "assistant", "tool_calls": [{"id": "c1"}]}]
    assert block.input_ready({"prompt": "p"})  # a first turn
    assert not block.input_ready({"conversation_history": asked})  # waits for the output
    assert block.input_ready({"conversation_history": asked, "last_tool_output": 0})
    assert not block.input_ready({"last_tool_output": "x"})  # waits for the conversation


# ----- a real model (the 0.5B embedded GGUF) -----

@pytest.mark.real_model
@pytest.mark.slow
async def test_the_embedded_model_calls_the_calculator_tool() -> None:
    from company.llm.embedded import EmbeddedProvider, EmbeddedSettings
    from tests.real_models import SMALL_LLM, require_model

    require_model(SMALL_LLM)
    # the settings of tests/test_llm_embedded_real.py: one shared server per test session
    provider = EmbeddedProvider(SMALL_LLM, EmbeddedSettings(ctx_size=4096, parallel=2,
                                                            max_tokens=512))
    llm = LLM(provider, model=SMALL_LLM, cost=CostManager(),
              options={"temperature": 0}).for_role("Executor")
    result = await GraphRunner(llm=llm).run(
        tool_graph(), {"question": "What is 6 times 7? Use the calculator."})
    [calc] = nodes(result, "CalculatorBlock")
    assert calc.status == S.COMPLETED, result.nodes
    assert {calc.input["a"], calc.input["b"]} == {6, 7}
