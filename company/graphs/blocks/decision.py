"""SmartDecisionMakerBlock: the model chooses a tool (a block or agent linked from the node's
`tools` pins) and each argument of its call leaves on `tools_^_{sink node id}_~_{sink pin}`.

AutoGPT's traditional mode: one model turn per execution; the tool's output comes back on
`last_tool_output` with the turn on `conversation_history` (both linked, or neither), and the
node runs again. Tool calls the tools do not fit are asked again with the errors, `retry` times.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.blocks.llm import DEFAULT_MODEL, fill_prompt
from company.graphs.llm_port import GraphLLM, GraphToolAnswer, resolve_model
from company.graphs.pins import tool_pin
from company.graphs.tool_specs import ToolSpec, call_errors, spec_for, tool_specs

log = logging.getLogger(__name__)

MAIN_OBJECTIVE_PREFIX = "[Main Objective Prompt]: "
DEFAULT_SYS_PROMPT = (
    "Thinking carefully step by step decide which function to call. Always choose a function "
    "call from the list of function signatures, and always provide the complete argument "
    "provided with the type matching the required jsonschema signature, no missing argument is "
    "allowed. If you have already completed the task objective, you can end the task by "
    "providing the end result of your work as a finish message. Function parameters that has no "
    "default value and not optional typed has to be provided. "
)
LOOP_PINS = frozenset({"conversation_history", "last_tool_output"})


# ----- the conversation (OpenAI's shape; Anthropic's tool_use/tool_result is read too) -----

def _requests(entry: Any) -> list[str]:
    """The tool-call ids an assistant entry asks for."""
    if not isinstance(entry, dict) or entry.get("role") != "assistant":
        return []
    ids = [str(c["id"]) for c in entry.get("tool_calls") or []
           if isinstance(c, dict) and c.get("id")]
    content = entry.get("content")
    if isinstance(content, list):
        ids += [str(i["id"]) for i in content
                if isinstance(i, dict) and i.get("type") == "tool_use" and i.get("id")]
    return ids


def _responses(entry: Any) -> list[str]:
    """The tool-call ids an entry answers."""
    if not isinstance(entry, dict):
        return []
    if entry.get("role") == "tool" and entry.get("tool_call_id"):
        return [str(entry["tool_call_id"])]
    content = entry.get("content")
    if entry.get("role") == "user" and isinstance(content, list):
        return [str(i["tool_use_id"]) for i in content
                if isinstance(i, dict) and i.get("type") == "tool_result" and i.get("tool_use_id")]
    return []


def pending_tool_calls(history: Any) -> dict[str, int]:
    """Tool calls of the conversation still waiting for their output, by id."""
    pending: Counter[str] = Counter()
    for entry in history if isinstance(history, list) else []:
        pending.update(_requests(entry))
        pending.subtract(_responses(entry))
    return {call_id: n for call_id, n in pending.items() if n > 0}


def tool_response(call_id: str, output: Any) -> dict[str, Any]:
    """The message giving a tool's output to the call that asked for it."""
    content = output if isinstance(output, str) else json.dumps(output, default=str)
    if call_id.startswith("toolu_"):  # Anthropic's ids
        return {"role": "user", "type": "message", "content": [
            {"tool_use_id": call_id, "type": "tool_result", "content": content}]}
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def assistant_message(answer: GraphToolAnswer) -> dict[str, Any]:
    """The model's turn as an OpenAI assistant message (for `conversations`)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content or None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
            for call in answer.tool_calls
        ]
    return message


def _has_objective(prompt: list[dict[str, Any]], role: str) -> bool:
    return any(p.get("role") == role and isinstance(p.get("content"), str)
               and p["content"].startswith(MAIN_OBJECTIVE_PREFIX) for p in prompt)


def _check_loop_links(ctx: BlockContext) -> None:
    """AutoGPT's wiring rules for the loop pins (`conversation_history`, `last_tool_output`)."""
    links = [link for link in ctx.graph.links if link.sink_id == ctx.node_id]
    history = any(link.sink_name == "conversation_history" for link in links)
    output = [link for link in links if link.sink_name == "last_tool_output"]
    if history and any(link.is_static for link in output):
        raise ValueError("Last Tool Output can't be connected to a static (dashed line) link "
                         "like the output of `StoreValue` or `AgentInput` block")
    if history != bool(output):
        raise ValueError("Last Tool Output is needed when Conversation History is used, and vice "
                         "versa. Please connect both inputs together.")


class SmartDecisionMakerBlock(Block):
    """Uses AI to intelligently decide what tool to use."""

    id = "3b191d9f-356f-482d-8238-ba04b6d18381"
    description = "Uses AI to intelligently decide what tool to use."
    loose_pins = LOOP_PINS  # the runner need not wait for these links (see `input_ready`)

    class Input(BlockSchema):
        """Input pins."""

        prompt: str
        model: str = DEFAULT_MODEL
        credentials: Any = None
        multiple_tool_calls: bool = False
        sys_prompt: str = DEFAULT_SYS_PROMPT
        conversation_history: list[dict[str, Any]] | None = Field(default_factory=list)
        last_tool_output: Any = None
        retry: int = 3
        prompt_values: dict[str, str] = Field(default_factory=dict)
        max_tokens: int | None = None
        ollama_host: str = "localhost:11434"
        agent_mode_max_iterations: int = 0
        conversation_compaction: bool = True

    class Output(BlockSchema):
        """Output pins (tool calls leave on `tools_^_{node}_~_{pin}` pins)."""

        tools: Any = None
        finished: str = ""
        conversations: list[Any] = Field(default_factory=list)

    def input_ready(self, data: dict[str, Any]) -> bool:
        """AutoGPT's readiness rule: a pending tool call waits for `last_tool_output`, a tool
        output waits for the `conversation_history` holding its call."""
        pending = pending_tool_calls(data.get("conversation_history"))
        output = data.get("last_tool_output")
        if output is None:
            return not pending
        return bool(pending)

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Ask the model once with the linked tools; yield its call's arguments on the tool
        pins and the conversation, or `finished` when it answers without a tool."""
        if input_data.agent_mode_max_iterations != 0:
            raise ValueError("agent mode (agent_mode_max_iterations != 0) is not supported by "
                             "the local runner; set it to 0 to route tool calls along links")
        _check_loop_links(ctx)
        specs = tool_specs(ctx.graph, ctx.node_id, _registry(ctx))
        definitions = [spec.definition for spec in specs]
        yield "tool_functions", json.dumps(definitions)

        history = input_data.conversation_history or []
        prompt = [dict(entry) for entry in history if entry]
        pending = pending_tool_calls(prompt)
        if pending and input_data.last_tool_output is None:
            raise ValueError(f"Tool call requires an output for {pending}")
        if pending:
            prompt.append(tool_response(next(iter(pending)), input_data.last_tool_output))
            if pending_tool_calls(prompt):  # more calls of that turn still wait for outputs
                yield "conversations", prompt
                return
        elif input_data.last_tool_output:
            log.warning("SmartDecisionMakerBlock %s got a tool output with no pending tool call",
                        ctx.node_exec_id)
            prompt.append({"role": "user", "content": "Last tool output: "
                           + json.dumps(input_data.last_tool_output, default=str)})

        values = input_data.prompt_values
        sys_prompt = await fill_prompt(ctx, input_data.sys_prompt, values)
        user_prompt = await fill_prompt(ctx, input_data.prompt, values)
        if sys_prompt and not _has_objective(prompt, "system"):
            prompt.append({"role": "system", "content": MAIN_OBJECTIVE_PREFIX + sys_prompt})
        if user_prompt and not _has_objective(prompt, "user"):
            prompt.append({"role": "user", "content": MAIN_OBJECTIVE_PREFIX + user_prompt})

        answer = await _decide(ctx, input_data, prompt, specs)
        if not answer.tool_calls:
            yield "finished", answer.content
            return
        for call in answer.tool_calls:
            spec = spec_for(call.name, specs)
            if spec is None:
                continue
            for argument, pin in spec.field_mapping.items():
                yield tool_pin(spec.sink_node_id, pin), call.arguments.get(argument)
        prompt.append(assistant_message(answer))
        yield "conversations", prompt


def _registry(ctx: BlockContext) -> Any:
    """The run's block registry (the default one where the context carries none)."""
    from company.graphs.blocks.registry import default_registry

    return ctx.registry or default_registry()


def _tool_llm(ctx: BlockContext) -> GraphLLM:
    if ctx.llm is None:
        raise RuntimeError("no LLM is configured for this graph run")
    if not callable(getattr(ctx.llm, "ask_tools", None)):
        raise RuntimeError("the graph's LLM cannot call tools (it has no ask_tools)")
    return ctx.llm


async def _decide(ctx: BlockContext, input_data: Any, prompt: list[dict[str, Any]],
                  specs: Sequence[ToolSpec]) -> GraphToolAnswer:
    """One model turn whose tool calls fit the tools; invalid calls are asked again with the
    errors, `retry` attempts in all, then the node fails naming the last errors."""
    llm = _tool_llm(ctx)
    model = resolve_model(input_data.model, ctx.settings.model_map)
    definitions = [spec.definition for spec in specs]
    attempts = max(1, int(input_data.retry))
    conversation = list(prompt)
    problem = ""
    for _ in range(attempts):
        answer = await llm.ask_tools(
            conversation, definitions, model=model, max_tokens=input_data.max_tokens,
            parallel_tool_calls=input_data.multiple_tool_calls,
        )
        errors = call_errors(answer.tool_calls, specs)
        if not errors:
            return answer
        problem = "; ".join(errors)
        conversation = [*conversation, {"role": "user", "content": (
            "Your tool call had errors. Please fix the following issues and try again:\n"
            f"- {problem}\n\nPlease make sure to use the exact tool and parameter names as "
            "specified in the function schema.")}]
    raise ValueError(f"the model made no valid tool call in {attempts} attempt"
                     f"{'s' if attempts != 1 else ''}: {problem}")


BLOCKS: list[type[Block]] = [SmartDecisionMakerBlock]
