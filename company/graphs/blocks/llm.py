"""LLM blocks, answered by the company's LLM layer through the `GraphLLM` protocol.

Calls to the LLM layer are not retried here (the layer owns transport retries); answers
that do not fit the expected JSON format are retried with feedback, as AutoGPT does.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.blocks.logic import BranchOutput
from company.graphs.llm_port import GraphLLM, resolve_model
from company.graphs.templating import render_for_block

DEFAULT_MODEL = "gpt-4o"
Messages = list[dict[str, str]]


def _llm(ctx: BlockContext) -> GraphLLM:
    if ctx.llm is None:
        raise RuntimeError("no LLM is configured for this graph run")
    return ctx.llm


def _model(ctx: BlockContext, name: str | None) -> str | None:
    return resolve_model(name, ctx.settings.model_map)


async def fill_prompt(ctx: BlockContext, template: str, values: dict[str, Any]) -> str:
    """Fill `{{KEY}}` placeholders from `prompt_values` (Jinja2, sandboxed, no escaping)."""
    return await render_for_block(ctx, template, values) if values else template


def response_schema(expected: dict[str, str], list_result: bool = False) -> dict[str, Any]:
    """JSON schema for an object with the expected keys (or `{"results": [objects]}`)."""
    obj = {
        "type": "object",
        "properties": {key: {"description": desc} for key, desc in expected.items()},
        "required": list(expected),
    }
    if not list_result:
        return obj
    return {
        "type": "object",
        "properties": {"results": {"type": "array", "items": obj}},
        "required": ["results"],
    }


def _format_instructions(expected: dict[str, str], list_result: bool) -> str:
    shape = json.dumps(expected, indent=2)
    if list_result:
        shape = '{\n  "results": [\n    ' + shape.replace("\n", "\n    ") + ",\n    ...\n  ]\n}"
    return (
        "Respond with a valid JSON object strictly following this format:\n"
        f"{shape}\n\n"
        "If you cannot provide all the keys, provide an empty string for the values you "
        "cannot answer. Respond with the JSON only."
    )


def parse_json_answer(text: str) -> Any:
    """Parse a JSON answer, tolerating code fences and prose around one JSON object."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as first_error:
        fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
        candidates = [fenced.group(1)] if fenced else []
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
        for candidate in candidates:
            try:
                return json.loads(candidate)
            except json.JSONDecodeError:
                continue
        raise ValueError(f"answer is not valid JSON: {first_error}") from None


def _check_items(obj: Any, expected: dict[str, str]) -> str | None:
    for item in obj if isinstance(obj, list) else [obj]:
        if not isinstance(item, dict):
            return f"expected a JSON object, got {type(item).__name__}"
        if missing := [key for key in expected if key not in item]:
            return f"missing keys: {', '.join(missing)}"
    return None


async def structured_call(
    ctx: BlockContext,
    messages: Messages,
    expected: dict[str, str],
    *,
    model: str | None,
    list_result: bool = False,
    retry: int = 3,
) -> tuple[Any, Messages]:
    """Ask for JSON with the expected keys; re-ask with feedback up to `retry` times."""
    llm = _llm(ctx)
    schema = response_schema(expected, list_result)
    prompt = list(messages)
    problem = "no attempt made"
    for _ in range(max(1, retry)):
        answer = await llm.ask(prompt, model=model, json_schema=schema)
        try:
            obj = parse_json_answer(answer)
            if list_result:
                if isinstance(obj, dict) and isinstance(obj.get("results"), list):
                    obj = obj["results"]
                elif not isinstance(obj, list):
                    raise ValueError("expected an array of objects in the 'results' key")
            if (error := _check_items(obj, expected)) is None:
                return obj, prompt
            problem = error
        except ValueError as err:
            problem = str(err)
        prompt = prompt + [
            {"role": "assistant", "content": answer},
            {
                "role": "user",
                "content": f"Your previous response did not match the expected format: "
                f"{problem}. Respond again with valid JSON in the expected format.",
            },
        ]
    raise ValueError(
        f"LLM answer did not match the expected format after {retry} attempts: {problem}"
    )


class _LLMInput(BlockSchema):
    model: str = DEFAULT_MODEL
    credentials: Any = None
    ollama_host: str = "localhost:11434"


class AITextGeneratorBlock(Block):
    """Answers a prompt (with `{{KEY}}` placeholders filled from `prompt_values`)."""

    id = "1f292d4a-41a4-4977-9684-7c8d560b9f91"
    prose_outputs = frozenset({"response"})

    class Input(_LLMInput):
        """Input pins."""

        prompt: str
        sys_prompt: str = ""
        retry: int = 3
        prompt_values: dict[str, str] = {}
        max_tokens: int | None = None

    class Output(BlockSchema):
        """Output pins."""

        response: str
        prompt: list

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the model's answer and the messages sent."""
        values = input_data.prompt_values
        messages: Messages = []
        if input_data.sys_prompt:
            system = await fill_prompt(ctx, input_data.sys_prompt, values)
            messages.append({"role": "system", "content": system})
        prompt = await fill_prompt(ctx, input_data.prompt, values)
        messages.append({"role": "user", "content": prompt})
        answer = await _llm(ctx).ask(messages, model=_model(ctx, input_data.model))
        yield "response", answer
        yield "prompt", messages


class AIStructuredResponseGeneratorBlock(Block):
    """Answers a prompt with a JSON object (or list of objects) having the expected keys."""

    id = "ed55ac19-356e-4243-a6cb-bc599e9b716f"

    class Input(_LLMInput):
        """Input pins."""

        prompt: str
        expected_format: dict[str, str]
        list_result: bool = False
        force_json_output: bool = False
        sys_prompt: str = ""
        conversation_history: list[dict] | None = []
        retry: int = 3
        prompt_values: dict[str, str] = {}
        max_tokens: int | None = None
        compress_prompt_to_fit: bool = True

    class Output(BlockSchema):
        """Output pins."""

        response: dict[str, Any] | list[dict[str, Any]]
        prompt: list

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the parsed object (`{"response": text}` when no format is expected)."""
        values = input_data.prompt_values
        messages: Messages = [
            {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in input_data.conversation_history or []
            if m
        ]
        if input_data.sys_prompt:
            system = await fill_prompt(ctx, input_data.sys_prompt, values)
            messages.append({"role": "system", "content": system})
        if input_data.expected_format:
            messages.append(
                {
                    "role": "system",
                    "content": _format_instructions(
                        input_data.expected_format, input_data.list_result
                    ),
                }
            )
        if input_data.prompt:  # AutoGPT adds no user turn for an empty prompt
            prompt = await fill_prompt(ctx, input_data.prompt, values)
            messages.append({"role": "user", "content": prompt})
        model = _model(ctx, input_data.model)
        if not input_data.expected_format:
            answer = await _llm(ctx).ask(messages, model=model)
            yield "response", {"response": answer}
            yield "prompt", messages
            return
        obj, sent = await structured_call(
            ctx,
            messages,
            input_data.expected_format,
            model=model,
            list_result=input_data.list_result,
            retry=input_data.retry,
        )
        yield "response", obj
        yield "prompt", sent


class AIConversationBlock(Block):
    """Continues a conversation given as a list of `{role, content}` messages."""

    id = "32a87eab-381e-4dd4-bdb8-4c47151be35a"
    prose_outputs = frozenset({"response"})

    class Input(_LLMInput):
        """Input pins."""

        prompt: str = ""
        messages: list[Any]
        max_tokens: int | None = None

    class Output(BlockSchema):
        """Output pins."""

        response: str
        prompt: list

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the model's next message."""
        messages: Messages = []
        for item in input_data.messages or []:
            if not isinstance(item, dict) or "content" not in item:
                raise ValueError(f"each message must be an object with role and content: {item!r}")
            messages.append(
                {"role": str(item.get("role", "user")), "content": str(item["content"])}
            )
        if input_data.prompt.strip():
            messages.append({"role": "user", "content": input_data.prompt})
        if not any(m["content"].strip() for m in messages):
            raise ValueError(
                "Cannot call LLM with no messages and no prompt. "
                "Provide at least one message or a non-empty prompt."
            )
        answer = await _llm(ctx).ask(messages, model=_model(ctx, input_data.model))
        yield "response", answer
        yield "prompt", messages


class SummaryStyle(Enum):
    """Styles of AITextSummarizerBlock."""

    CONCISE = "concise"
    DETAILED = "detailed"
    BULLET_POINTS = "bullet points"
    NUMBERED_LIST = "numbered list"


MAX_SUMMARY_TEXT = 1_000_000
MAX_SUMMARY_CHUNKS = 100
MAX_SUMMARY_ROUNDS = 4


def split_words(text: str, max_tokens: int, overlap: int) -> list[str]:
    """Split text into chunks of `max_tokens` words that overlap by `overlap` words."""
    words = text[:MAX_SUMMARY_TEXT].split()
    overlap = min(overlap, max(0, max_tokens - 1))
    step = max(1, max_tokens - overlap)
    return [" ".join(words[i : i + max_tokens]) for i in range(0, len(words), step)][
        :MAX_SUMMARY_CHUNKS
    ]


class AITextSummarizerBlock(Block):
    """Summarises long text: summarise chunks, then combine (recursively when still long)."""

    id = "a0a69be1-4528-491c-a85a-a4ab6873e3f0"
    prose_outputs = frozenset({"summary"})

    class Input(_LLMInput):
        """Input pins."""

        text: str
        focus: str = "general information"
        style: SummaryStyle = SummaryStyle.CONCISE
        max_tokens: int = 4096
        chunk_overlap: int = 100

    class Output(BlockSchema):
        """Output pins."""

        summary: str
        prompt: list

    async def _ask(
        self, ctx: BlockContext, model: str | None, prompt: str, key: str, desc: str
    ) -> tuple[str, Messages]:
        obj, sent = await structured_call(
            ctx, [{"role": "user", "content": prompt}], {key: desc}, model=model
        )
        if not isinstance(obj[key], str):
            raise ValueError(
                f"LLM returned a {type(obj[key]).__name__} instead of a string for '{key}'"
            )
        return obj[key], sent

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the final summary and the last messages sent."""
        if input_data.max_tokens < 1 or input_data.chunk_overlap < 0:
            raise ValueError("max_tokens must be >= 1 and chunk_overlap >= 0")
        model = _model(ctx, input_data.model)
        style, focus = input_data.style.value, input_data.focus
        text = input_data.text
        sent: Messages = []
        for _ in range(MAX_SUMMARY_ROUNDS):
            summaries = []
            for chunk in split_words(text, input_data.max_tokens, input_data.chunk_overlap):
                summary, sent = await self._ask(
                    ctx,
                    model,
                    f"Summarize the following text in a {style} form. Focus your summary on the "
                    f"topic of `{focus}` if present, otherwise just provide a general summary:"
                    f"\n\n```{chunk}```",
                    "summary",
                    "The summary of the given text.",
                )
                summaries.append(summary)
            combined = "\n\n".join(summaries)
            if len(combined.split()) <= input_data.max_tokens:
                final, sent = await self._ask(
                    ctx,
                    model,
                    f"Provide a final summary of the following section summaries in a {style} "
                    f"form, focus your summary on the topic of `{focus}` if present:\n\n "
                    f"```{combined}```\n\n Just respond with the final_summary in the format "
                    "specified.",
                    "final_summary",
                    "The final summary of all provided summaries.",
                )
                yield "summary", final
                yield "prompt", sent
                return
            text = combined
        raise ValueError(f"summaries stayed longer than {input_data.max_tokens} words")


class AIListGeneratorBlock(Block):
    """Generates a list of strings about a focus, optionally from source data."""

    id = "9c0b0450-d199-458b-a731-072189dd6593"
    SYSTEM_PROMPT = (
        "You are a JSON array generator. Your task is to generate a JSON array of string "
        "values based on the user's prompt.\n\nThe 'list' field should contain a JSON array "
        "with the generated string values.\nThe array can contain ONLY strings."
    )

    class Input(_LLMInput):
        """Input pins."""

        focus: str | None = None
        source_data: str | None = None
        max_retries: int = 3
        force_json_output: bool = False
        max_tokens: int | None = None

    class Output(BlockSchema):
        """Output pins."""

        generated_list: list[str]
        list_item: str
        prompt: list

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the list, the messages sent, then each item on `list_item`."""
        if input_data.focus:
            prompt = (
                f"Generate a list with the following focus:\n<focus>\n\n{input_data.focus}</focus>"
            )
        elif input_data.source_data:
            prompt = (
                "Extract the main focus of the source data to a list.\ni.e if the source data "
                "is a news website, the focus would be the news stories rather than the social "
                "links in the footer."
            )
        else:
            prompt = "Generate a random list."
        if input_data.source_data:
            prompt += (
                "\n\nUse the following source data to generate the list from:\n\n<source_data>"
                f"\n\n{input_data.source_data}</source_data>\n\nDo not invent fictional data "
                "that is not present in the source data."
            )
        else:
            prompt += "\n\nInvent the data to generate the list from."
        messages: Messages = [
            {"role": "system", "content": self.SYSTEM_PROMPT},
            {"role": "system", "content": _format_instructions(_LIST_FORMAT, False)},
            {"role": "user", "content": prompt},
        ]
        obj, sent = await structured_call(
            ctx,
            messages,
            _LIST_FORMAT,
            model=_model(ctx, input_data.model),
            retry=input_data.max_retries,
        )
        items = obj["list"]
        if not isinstance(items, list):
            raise ValueError(f"Expected a list, but got {type(items).__name__}: {items}")
        items = [item if isinstance(item, str) else json.dumps(item) for item in items]
        yield "generated_list", items
        yield "prompt", sent
        for item in items:
            yield "list_item", item


_LIST_FORMAT = {"list": "A JSON array containing the generated string values"}


def parse_boolean_answer(text: str) -> bool | None:
    """`true`/`false` (or an unambiguous yes/no/1/0) from an answer; None when unclear."""
    answer = text.strip().lower()
    if answer in ("true", "false"):
        return answer == "true"
    tokens = set(re.findall(r"\b(true|false|yes|no|1|0)\b", answer))
    if tokens and tokens <= {"true", "yes", "1"} and len(tokens) == 1:
        return True
    if tokens and tokens <= {"false", "no", "0"} and len(tokens) == 1:
        return False
    return None


class AIConditionBlock(Block):
    """Asks the LLM whether `input_value` meets a condition written in plain English."""

    id = "553ec5b8-6c45-4299-8d75-b394d05f72ff"

    class Input(_LLMInput):
        """Input pins."""

        input_value: Any
        condition: str
        yes_value: Any = None
        no_value: Any = None

    Output = BranchOutput

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `result` and the yes/no value (defaulting to the input value)."""
        messages: Messages = [
            {
                "role": "system",
                "content": "You are an AI assistant that evaluates conditions based on input "
                "data. You must respond with only 'true' or 'false' (lowercase) to indicate "
                "whether the given condition is met by the input value. Be accurate and consider "
                "the context and meaning of both the input and the condition.",
            },
            {
                "role": "user",
                "content": f"Input value: {input_data.input_value}\n"
                f"Condition to evaluate: {input_data.condition}\n\n"
                "Does the input value satisfy the condition? Respond with only 'true' or 'false'.",
            },
        ]
        answer = await _llm(ctx).ask(messages, model=_model(ctx, input_data.model))
        result = parse_boolean_answer(answer)
        if result is None:
            yield "error", f"Unclear AI response: '{answer}'"
            return
        yield "result", result
        if result:
            yes = input_data.yes_value
            yield "yes_output", yes if yes is not None else input_data.input_value
        else:
            no = input_data.no_value
            yield "no_output", no if no is not None else input_data.input_value


BLOCKS: list[type[Block]] = [
    AITextGeneratorBlock,
    AIStructuredResponseGeneratorBlock,
    AIConversationBlock,
    AITextSummarizerBlock,
    AIListGeneratorBlock,
    AIConditionBlock,
]
