"""Tool calling in the LLM layer: the request bodies each provider sends (to loopback
stand-ins), how their tool-call answers are read, the scripted provider's tool calls, and the
LLM facade's ask_tools (budgeted, never cached, a rejected answer drawn again)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from company.llm import LLM, LLMServerError
from company.llm.base import ChatRequest, LLMAnswerRejected, ToolCall, parse_tool_arguments
from company.llm.cache import CacheMode
from company.llm.embedded import EmbeddedServer, EmbeddedSettings
from company.llm.ollama_provider import OllamaProvider, ollama_messages
from company.llm.openai_provider import OpenAICompatProvider
from company.llm.scripted import ScriptedProvider, tool_answer
from company.llm.tool_text import text_tool_calls
from company.llm.usage import CostManager
from company.store import Store
from tests.fakes.tool_chat_server import Reply, tool_chat_server

CALC_TOOL = {"type": "function", "function": {
    "name": "calculatorblock",
    "description": "Applies an arithmetic operation to `a` and `b`.",
    "parameters": {"type": "object", "additionalProperties": False,
                   "required": ["a", "b"],
                   "properties": {"a": {"type": "number", "description": "first"},
                                  "b": {"type": "number", "description": "second"}}},
}}
# A conversation after one tool call and its answer, in OpenAI's shape.
HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "What is 6 times 7?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function",
         "function": {"name": "calculatorblock", "arguments": '{"a": 6, "b": 7}'}}]},
    {"role": "tool", "tool_call_id": "call_abc", "content": "42.0"},
]


def openai_reply(message: dict[str, Any], finish: str = "tool_calls") -> Reply:
    """A /chat/completions answer with this message."""
    return Reply({"id": "c1", "object": "chat.completion", "model": "m",
                  "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                  "usage": {"prompt_tokens": 30, "completion_tokens": 9}})


def ollama_reply(message: dict[str, Any]) -> Reply:
    """An /api/chat answer with this message."""
    return Reply({"model": "qwen2.5:latest", "created_at": "2026-01-01T00:00:00Z",
                  "message": message, "done": True, "done_reason": "stop",
                  "prompt_eval_count": 30, "eval_count": 9})


# ----- arguments -----

@pytest.mark.parametrize(("raw", "arguments", "error"), [
    ('{"a": 1}', {"a": 1}, None),
    ({"a": 1}, {"a": 1}, None),
    ("", {}, None),
    (None, {}, None),
    ('{"a": 1', {}, "not valid JSON"),
    ("[1, 2]", {}, "not an object"),
    (7, {}, "not a JSON object"),
])
def test_tool_arguments_are_read_from_json_or_objects(raw: Any, arguments: dict[str, Any],
                                                      error: str | None) -> None:
    parsed, problem = parse_tool_arguments(raw)
    assert parsed == arguments
    assert (problem is None) if error is None else (error in (problem or ""))


# ----- OpenAI-compatible -----

async def test_openai_sends_tools_choice_and_parallel_flag_and_reads_the_calls() -> None:
    answer = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "calculatorblock", "arguments": '{"a": 6, "b": 7}'}},
        {"id": "call_2", "type": "function",
         "function": {"name": "calculatorblock", "arguments": {"a": 1, "b": 2}}}]}
    with tool_chat_server(openai_reply(answer)) as server:
        provider = OpenAICompatProvider(f"{server.host}/v1")
        result = await provider.chat(ChatRequest(
            model="m", messages=HISTORY, tools=[CALC_TOOL], tool_choice="auto",
            parallel_tool_calls=False, max_tokens=64))
        body = server.bodies("/v1/chat/completions")[0]
    assert body["tools"] == [CALC_TOOL]
    assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is False
    assert body["messages"] == HISTORY  # OpenAI's own shape goes as it is
    assert result.content == "" and result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments, c.arguments_error) for c in result.tool_calls] == [
        ("call_1", "calculatorblock", {"a": 6, "b": 7}, None),
        ("call_2", "calculatorblock", {"a": 1, "b": 2}, None)]


async def test_openai_keeps_unreadable_arguments_as_an_error_and_text_answers_plain() -> None:
    bad = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_9", "type": "function",
         "function": {"name": "calculatorblock", "arguments": '{"a": 6,'}}]}
    text = {"role": "assistant", "content": "42"}
    with tool_chat_server(openai_reply(bad), openai_reply(text, "stop")) as server:
        provider = OpenAICompatProvider(f"{server.host}/v1")
        first = await provider.chat(ChatRequest(model="m", messages=HISTORY, tools=[CALC_TOOL]))
        second = await provider.chat(ChatRequest(model="m", messages=HISTORY[:1]))
        plain = server.bodies("/v1/chat/completions")[1]
    call = first.tool_calls[0]
    assert call.arguments == {} and "not valid JSON" in (call.arguments_error or "")
    assert second.content == "42" and second.tool_calls == []
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(plain)


async def test_openai_names_jinja_when_the_server_cannot_template_tools() -> None:
    refusal = Reply({"error": {"code": 500, "message": "tools param requires --jinja flag"}},
                    status=500)
    with tool_chat_server(refusal) as server:
        provider = OpenAICompatProvider(f"{server.host}/v1")
        with pytest.raises(LLMServerError, match="cannot call tools.*--jinja"):
            await provider.chat(ChatRequest(model="m", messages=HISTORY, tools=[CALC_TOOL]))


# ----- Ollama -----

def test_openai_messages_become_ollama_messages() -> None:
    converted = ollama_messages(HISTORY)
    assert converted[0] is HISTORY[0]  # plain messages are not copied
    assert converted[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "calculatorblock", "arguments": {"a": 6, "b": 7}}}]}
    assert converted[2] == {"role": "tool", "content": "42.0", "tool_name": "calculatorblock"}


async def test_ollama_sends_tools_and_converted_messages_and_reads_the_calls() -> None:
    answer = {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "calculatorblock", "arguments": {"a": 2, "b": 3}}}]}
    with tool_chat_server(ollama_reply(answer),
                          ollama_reply({"role": "assistant", "content": "done"})) as server:
        provider = OllamaProvider(server.host, timeout_s=5)
        result = await provider.chat(ChatRequest(model="qwen2.5:latest", messages=HISTORY,
                                                 tools=[CALC_TOOL]))
        plain = await provider.chat(ChatRequest(model="qwen2.5:latest", messages=HISTORY[:1]))
        with_tools, without = server.bodies("/api/chat")
    sent = with_tools["tools"][0]["function"]
    assert sent["name"] == "calculatorblock" and sent["parameters"]["required"] == ["a", "b"]
    assert sent["parameters"]["properties"]["a"] == {"type": "number", "description": "first"}
    assert with_tools["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"a": 6, "b": 7}
    assert with_tools["messages"][2]["tool_name"] == "calculatorblock"
    assert "tool_call_id" not in with_tools["messages"][2]
    [call] = result.tool_calls
    assert (call.name, call.arguments, call.arguments_error) == ("calculatorblock",
                                                                 {"a": 2, "b": 3}, None)
    assert call.id.startswith("call_")  # Ollama gives none: a fresh one
    assert plain.content == "done" and plain.tool_calls == []
    assert not without.get("tools")


# ----- embedded llama.cpp -----

def test_the_embedded_server_starts_with_the_jinja_chat_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xllamacpp

    seen: list[Any] = []

    class FakeServer:
        listening_address = "http://127.0.0.1:1"

        def __init__(self, params: Any) -> None:
            seen.append(params)

    monkeypatch.setattr(xllamacpp, "Server", FakeServer)
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + bytes(16))
    server = EmbeddedServer(path, "tiny", EmbeddedSettings(ctx_size=1024, threads=1, parallel=1))
    assert server.start() == "http://127.0.0.1:1"
    assert seen[0].use_jinja is True  # llama.cpp applies tool templates only with --jinja


# ----- the scripted provider and the LLM facade -----

def user(text: str) -> list[dict[str, Any]]:
    """One user message."""
    return [{"role": "user", "content": text}]


async def test_scripted_tool_calls_reach_the_caller_with_the_request_recorded() -> None:
    two = tool_answer(ToolCall(id="call_a", name="calculatorblock", arguments={"a": 1}),
                      ToolCall(id="call_b", name="other", arguments={}), content="thinking")
    provider = ScriptedProvider({"Decide": [
        ToolCall(id="call_1", name="calculatorblock", arguments={"a": 6, "b": 7}), two, "done"]})
    llm = LLM(provider, model="m", cost=CostManager())
    decide = llm.for_role("Executor").for_action("Decide")
    first = await decide.ask_tools(user("6*7?"), [CALC_TOOL], parallel_tool_calls=True)
    second = await decide.ask_tools(user("again"), [CALC_TOOL])
    third = await decide.ask_tools(user("and now"), [CALC_TOOL])
    assert [(c.id, c.arguments) for c in first.tool_calls] == [("call_1", {"a": 6, "b": 7})]
    assert second.content == "thinking" and [c.name for c in second.tool_calls] == [
        "calculatorblock", "other"]
    assert third.content == "done" and third.tool_calls == []
    request = provider.calls[0]
    assert request.tools == [CALC_TOOL] and request.parallel_tool_calls is True
    assert (request.role, request.action) == ("Executor", "Decide")
    assert llm.cost.total.calls == 3


async def test_tool_calls_are_never_served_from_the_cache(tmp_path: Path) -> None:
    store = Store(tmp_path / "calls.db")
    try:
        provider = ScriptedProvider({"R": [ToolCall(name="calculatorblock", arguments={"a": 1}),
                                           ToolCall(name="calculatorblock", arguments={"a": 2})]})
        llm = LLM(provider, model="m", cost=CostManager(), store=store, task_id="t1",
                  cache_mode=CacheMode.AUTO)
        role = llm.for_role("R")
        first = await role.ask_tools(user("same"), [CALC_TOOL])
        second = await role.ask_tools(user("same"), [CALC_TOOL])
    finally:
        store.close()
    assert [first.tool_calls[0].arguments, second.tool_calls[0].arguments] == [{"a": 1},
                                                                               {"a": 2}]
    assert len(provider.calls) == 2


async def test_an_answer_the_server_rejects_is_drawn_once_more_then_fails() -> None:
    rejected = LLMAnswerRejected("the model produced output that does not match the expected")
    provider = ScriptedProvider({"R": [rejected, ToolCall(name="calculatorblock",
                                                           arguments={"a": 1, "b": 2})]})
    llm = LLM(provider, model="m", cost=CostManager())
    answer = await llm.for_role("R").ask_tools(user("x"), [CALC_TOOL])
    assert answer.tool_calls[0].arguments == {"a": 1, "b": 2}
    assert provider.calls[1].options.get("temperature") != provider.calls[0].options.get(
        "temperature")  # drawn again with other sampling
    always = ScriptedProvider({"R": rejected})
    with pytest.raises(LLMAnswerRejected):
        await LLM(always, model="m", cost=CostManager()).for_role("R").ask_tools(
            user("x"), [CALC_TOOL])
    assert len(always.calls) == 2


def test_a_tool_call_is_written_back_in_openai_shape() -> None:
    call = ToolCall(id="call_7", name="calculatorblock", arguments={"a": 1})
    assert call.openai() == {"id": "call_7", "type": "function", "function": {
        "name": "calculatorblock", "arguments": json.dumps({"a": 1})}}
    assert ToolCall(name="x").id != ToolCall(name="x").id


# ----- tool calls written as text -----

@pytest.mark.parametrize("content", [
    '{"name": "calculatorblock", "arguments": {"a": 6, "b": 7}}',
    '```json\n{"name": "calculatorblock", "arguments": {"a": 6, "b": 7}}\n```',
    '<tool_call>\n{"name": "calculatorblock", "arguments": "{\\"a\\": 6, \\"b\\": 7}"}\n'
    '</tool_call>',
    '{"name": "calculatorblock", "parameters": {"a": 6, "b": 7}}',
])
def test_a_call_written_as_text_is_read_as_a_call(content: str) -> None:
    [call] = text_tool_calls(content, ["calculatorblock"])
    assert (call.name, call.arguments, call.arguments_error) == ("calculatorblock",
                                                                 {"a": 6, "b": 7}, None)


@pytest.mark.parametrize("content", [
    "The answer is 42.",
    '{"answer": 42}',  # JSON, but not a call
    '{"name": "weather", "arguments": {}}',  # a tool nobody offered
    'Sure! {"name": "calculatorblock", "arguments": {}}',  # prose around it: not the whole text
    "",
])
def test_text_that_is_not_a_call_stays_text(content: str) -> None:
    assert text_tool_calls(content, ["calculatorblock"]) == []


async def test_ask_tools_reads_a_call_the_model_wrote_as_text() -> None:
    text = ('<tool_call>{"name": "calculatorblock", "arguments": {"a": 1, "b": 2}}</tool_call>\n'
            '<tool_call>{"name": "calculatorblock", "arguments": {"a": 3, "b": 4}}</tool_call>')
    provider = ScriptedProvider({"R": [text, '{"answer": 42}']})
    role = LLM(provider, model="m", cost=CostManager()).for_role("R")
    calls = await role.ask_tools(user("x"), [CALC_TOOL])
    assert calls.content == "" and [c.arguments for c in calls.tool_calls] == [
        {"a": 1, "b": 2}, {"a": 3, "b": 4}]
    plain = await role.ask_tools(user("y"), [CALC_TOOL])
    assert plain.content == '{"answer": 42}' and plain.tool_calls == []
