"""Text blocks: templates, combine/replace/split, regex matching and extraction, counting."""

from __future__ import annotations

import json
import re
from typing import Any

import regex

from company.graphs import safe_regex
from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.errors import LimitError
from company.graphs.offload import run_cpu_bound
from company.graphs.template_sizes import join_size, replace_size
from company.graphs.templating import render_for_block


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _flags(case_sensitive: bool, dot_all: bool) -> int:
    flags = 0 if case_sensitive else re.IGNORECASE
    return flags | re.DOTALL if dot_all else flags


def _check_size(ctx: BlockContext, size: int, what: str) -> None:
    limit = ctx.settings.max_value_bytes
    if size > limit:
        raise LimitError(f"{what} would be {size:,} characters, over max_value_bytes ({limit:,})")


class FillTextTemplateBlock(Block):
    """Renders a Jinja2 template (sandboxed) with `values`."""

    id = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"

    class Input(BlockSchema):
        """Input pins."""

        values: dict[str, Any]
        format: str
        escape_html: bool = False

    class Output(BlockSchema):
        """Output pins."""

        output: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the rendered text."""
        yield (
            "output",
            await render_for_block(
                ctx, input_data.format, input_data.values, autoescape=input_data.escape_html
            ),
        )


class CombineTextsBlock(Block):
    """Joins texts with a delimiter."""

    id = "e30a4d42-7b7d-4e6a-b36e-1f9b8e3b7d85"

    class Input(BlockSchema):
        """Input pins."""

        input: list[str]
        delimiter: str = ""

    class Output(BlockSchema):
        """Output pins."""

        output: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the joined text."""
        limit = ctx.settings.max_value_bytes
        _check_size(ctx, join_size(input_data.delimiter, input_data.input, limit), "the text")
        yield "output", input_data.delimiter.join(input_data.input)


class TextSplitBlock(Block):
    """Splits a text on a delimiter."""

    id = "d5ea33c8-a575-477a-b42f-2fe3be5055ec"

    class Input(BlockSchema):
        """Input pins."""

        text: str
        delimiter: str
        strip: bool = True

    class Output(BlockSchema):
        """Output pins."""

        texts: list[str]

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the parts (an empty text gives an empty list)."""
        if not input_data.text:
            yield "texts", []
            return
        if not input_data.delimiter:
            raise ValueError("delimiter must not be empty")
        texts = input_data.text.split(input_data.delimiter)
        yield "texts", [t.strip() for t in texts] if input_data.strip else texts


class TextReplaceBlock(Block):
    """Replaces every occurrence of `old` with `new`."""

    id = "7e7c87ab-3469-4bcc-9abe-67705091b713"

    class Input(BlockSchema):
        """Input pins."""

        text: str
        old: str
        new: str

    class Output(BlockSchema):
        """Output pins."""

        output: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the text with replacements."""
        text, old, new = input_data.text, input_data.old, input_data.new
        _check_size(ctx, replace_size(text, old, new), "the replaced text")
        yield "output", text.replace(old, new)


class MatchTextPatternBlock(Block):
    """Forwards `data` (or the text) to `positive` or `negative` depending on a regex match."""

    id = "3060088f-6ed9-4928-9ba7-9c92823a7ccd"

    class Input(BlockSchema):
        """Input pins."""

        text: Any
        match: str
        data: Any
        case_sensitive: bool = True
        dot_all: bool = True

    class Output(BlockSchema):
        """Output pins."""

        positive: Any
        negative: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield on `positive` when the pattern matches, else on `negative`."""
        output = input_data.data or input_data.text
        flags = _flags(input_data.case_sensitive, input_data.dot_all)
        max_size = ctx.settings.max_regex_size

        def work(deadline: float) -> bool:
            pattern = safe_regex.compile_pattern(input_data.match, flags, max_size=max_size)
            return safe_regex.search(pattern, _as_text(input_data.text), deadline) is not None

        if await run_cpu_bound(ctx, "regex match", work):
            yield "positive", output
        else:
            yield "negative", output


class ExtractTextInformationBlock(Block):
    """Extracts a regex group from a text (first match, or all matches)."""

    id = "3146e4fe-2cdd-4f29-bd12-0c9d5bb4deb0"

    class Input(BlockSchema):
        """Input pins."""

        text: Any
        pattern: str
        group: int = 0
        case_sensitive: bool = True
        dot_all: bool = True
        find_all: bool = False

    class Output(BlockSchema):
        """Output pins."""

        positive: str
        negative: str
        matched_results: list[str]
        matched_count: int

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield each match on `positive` (or the text on `negative`), then the summary."""
        flags = _flags(input_data.case_sensitive, input_data.dot_all)
        max_size = ctx.settings.max_regex_size
        group, find_all = input_data.group, input_data.find_all

        def work(deadline: float) -> list[str]:
            pattern = safe_regex.compile_pattern(input_data.pattern, flags, max_size=max_size)
            if group > pattern.groups:
                return []
            found, size = [], 0
            for match in safe_regex.finditer(pattern, _as_text(input_data.text), deadline):
                found.append(match.group(group))
                size += len(found[-1] or "") + 4
                _check_size(ctx, size, "the matched results")
                if not find_all:
                    break
            return found

        matches = await run_cpu_bound(ctx, "regex extraction", work)
        for match in matches:
            yield "positive", match
        if not matches:
            yield "negative", input_data.text
        yield "matched_results", matches
        yield "matched_count", len(matches)


class WordCharacterCountBlock(Block):
    """Counts words and characters."""

    id = "ab2a782d-22cf-4587-8a70-55b59b3f9f90"

    class Input(BlockSchema):
        """Input pins."""

        text: str

    class Output(BlockSchema):
        """Output pins."""

        word_count: int
        character_count: int

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the word count (whitespace separated) and the character count."""
        yield "word_count", len(input_data.text.split())
        yield "character_count", len(input_data.text)


_LANGUAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "html": ("html", "htm"),
    "css": ("css",),
    "javascript": ("javascript", "js"),
    "python": ("python", "py"),
    "sql": ("sql",),
    "java": ("java",),
    "cpp": ("cpp", "c++"),
    "csharp": ("csharp", "c#", "cs"),
    "json_code": ("json",),
    "bash": ("bash", "shell", "sh"),
    "php": ("php",),
    "ruby": ("ruby", "rb"),
    "yaml": ("yaml", "yml"),
    "markdown": ("markdown", "md"),
    "typescript": ("typescript", "ts"),
    "xml": ("xml",),
}
_FENCE_RE = {
    alias: regex.compile(
        rf"```{re.escape(alias)}[ \t]*\n(.*?)\n```", regex.DOTALL | regex.IGNORECASE
    )
    for aliases in _LANGUAGE_ALIASES.values()
    for alias in aliases
}
_ANY_FENCE_RE = regex.compile(
    r"```(?:"
    + "|".join(re.escape(a) for aliases in _LANGUAGE_ALIASES.values() for a in aliases)
    + r")[ \t]*\n[\s\S]*?```",
    regex.IGNORECASE,
)
_BLANK_LINES_RE = regex.compile(r"\n\s*\n")


def extract_code(text: str, deadline: float) -> dict[str, str]:
    """Each language's fenced code (joined by blank lines) and the `remaining_text`."""
    found: dict[str, str] = {}
    for pin, aliases in _LANGUAGE_ALIASES.items():
        blocks = [
            m.group(1).strip()
            for alias in aliases
            for m in safe_regex.finditer(_FENCE_RE[alias], text, deadline)
        ]
        if blocks:
            found[pin] = "\n\n".join(blocks)
    remaining = safe_regex.sub(_ANY_FENCE_RE, "", text, deadline).strip()
    remaining = safe_regex.sub(_BLANK_LINES_RE, "\n", remaining, deadline)
    if remaining:
        found["remaining_text"] = remaining
    return found


class CodeExtractionBlock(Block):
    """Extracts fenced code blocks by language; the rest of the text goes to `remaining_text`."""

    id = "d3a7d896-3b78-4f44-8b4b-48fbf4f0bcd8"

    class Input(BlockSchema):
        """Input pins."""

        text: str

    class Output(BlockSchema):
        """Output pins."""

        html: str
        css: str
        javascript: str
        python: str
        sql: str
        java: str
        cpp: str
        csharp: str
        json_code: str
        bash: str
        php: str
        ruby: str
        yaml: str
        markdown: str
        typescript: str
        xml: str
        remaining_text: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield each language's code (joined by blank lines), then the remaining text."""
        text = input_data.text
        found = await run_cpu_bound(ctx, "code extraction", lambda d: extract_code(text, d))
        for pin, value in found.items():
            yield pin, value


BLOCKS: list[type[Block]] = [
    FillTextTemplateBlock,
    CombineTextsBlock,
    TextSplitBlock,
    TextReplaceBlock,
    MatchTextPatternBlock,
    ExtractTextInformationBlock,
    WordCharacterCountBlock,
    CodeExtractionBlock,
]
