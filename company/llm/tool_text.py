"""Tool calls a model wrote as text: small local models often answer a tool request with the
call's JSON (`{"name": ..., "arguments": {...}}`, bare, fenced or in `<tool_call>` tags)
instead of the chat template's tool-call syntax, so the server reports no tool call."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from company.llm.base import ChatResult, ToolCall, parse_tool_arguments

_WRAPPERS = re.compile(r"</?tool_call>|^\s*```(?:json)?\s*$", re.MULTILINE)


def _objects(text: str) -> list[Any] | None:
    """The JSON values the text is made of (one, a list, or one per line), else None."""
    body = _WRAPPERS.sub("\n", text).strip()
    if not body:
        return None
    try:
        value = json.loads(body)
        return value if isinstance(value, list) else [value]
    except ValueError:
        pass
    values = []
    for line in filter(None, (part.strip() for part in body.splitlines())):
        try:
            values.append(json.loads(line))
        except ValueError:
            return None
    return values


def text_tool_calls(content: str, tool_names: Iterable[str]) -> list[ToolCall]:
    """The tool calls written as the whole of `content`, when every one names an offered tool;
    else none (a JSON answer that is not a call stays an answer)."""
    names = set(tool_names)
    if not content or "{" not in content or not names:
        return []
    values = _objects(content)
    if not values:
        return []
    calls: list[ToolCall] = []
    for value in values:
        if not isinstance(value, dict) or value.get("name") not in names:
            return []
        raw = value.get("arguments", value.get("parameters"))
        arguments, error = parse_tool_arguments(raw)
        calls.append(ToolCall(name=value["name"], arguments=arguments, arguments_error=error))
    return calls


def with_text_tool_calls(result: ChatResult, tools: list[dict[str, Any]]) -> ChatResult:
    """The result with the tool calls its text holds, when the server found none."""
    if result.tool_calls:
        return result
    names = [(t.get("function") or {}).get("name") for t in tools if isinstance(t, dict)]
    calls = text_tool_calls(result.content, [n for n in names if isinstance(n, str)])
    if not calls:
        return result
    return result.model_copy(update={"content": "", "tool_calls": calls,
                                     "finish_reason": "tool_calls"})
