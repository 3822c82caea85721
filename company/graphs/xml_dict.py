"""XML to dict the way AutoGPT's XMLParserBlock does it (gravitasml 0.1.4 plus its checks).

AutoGPT tokenizes with gravitasml: tag names are stripped, lower-cased and have whitespace
runs turned into `_` (attributes become part of the name), text is stripped and kept as
written (no entities: `&amp;` stays `&amp;`, a bare `&` is fine), comments are dropped, a
backslash at the start of a token makes an escape token that the parser ignores, and a `<`
that starts no token is skipped. A node with children loses its text; children with unique
tags merge into one dict, repeated tags turn the children into a list of one-key dicts.

This is our own linear-time scanner with the same results: gravitasml's single `re`
alternation backtracks cubically on inputs like `"<" + " " * n`, and a stdlib `re` match
holds the GIL and cannot be stopped at a deadline. Nothing here ever expands an entity.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from company.graphs.errors import LimitError

MAX_XML_DEPTH = 100  # elements inside elements; deeper values break JSON serialization
OPEN, CLOSE, TEXT, ESCAPE = "TAG_OPEN", "TAG_CLOSE", "TEXT", "ESCAPE"
_DEADLINE_EVERY = 4096  # tokens between two deadline checks
_WHITESPACE_RUN = re.compile(r"\s+")


class _NextFinder:
    """The first index at or after a position where `needle` starts; positions only grow."""

    def __init__(self, text: str, needle: str):
        self.text = text
        self.needle = needle
        self.found = -2  # -2: not searched yet; -1: no occurrence after the last search start

    def at(self, start: int) -> int:
        """First occurrence at index >= start, or -1; amortised linear over rising starts."""
        if self.found == -2 or 0 <= self.found < start:
            self.found = self.text.find(self.needle, start)
        return self.found


def _tag_name(raw: str) -> str:
    return _WHITESPACE_RUN.sub("_", raw.strip()).lower()


def tokenize(markup: str) -> Iterator[tuple[str, str]]:
    """gravitasml's tokens as (type, value); empty values are left out as gravitasml does."""
    size = len(markup)
    next_gt = _NextFinder(markup, ">")
    next_slash = _NextFinder(markup, "/")
    comment_end = _NextFinder(markup, "-->")
    i = 0
    while i < size:
        char = markup[i]
        if char == "\\" and i + 1 < size:
            yield ESCAPE, markup[i : i + 2]
            i += 2
            continue
        if char != "<":
            end = markup.find("<", i)
            end = size if end == -1 else end
            text = markup[i:end].strip()
            if text:
                yield TEXT, text
            i = end
            continue
        if markup.startswith("<!--", i):
            end = comment_end.at(i + 4)
            if end != -1:
                i = end + 3
                continue
        gt = next_gt.at(i + 1)
        if gt > i + 1 and not 0 <= next_slash.at(i + 1) < gt:
            name = _tag_name(markup[i + 1 : gt])
            if name:
                yield OPEN, name
            i = gt + 1
        elif markup.startswith("</", i) and gt > i + 2:
            name = _tag_name(markup[i + 2 : gt])
            if name:
                yield CLOSE, name
            i = gt + 1
        else:
            i += 1  # a `<` that starts no token


class _Element:
    """An open element: its tag, its closed children as (tag, value), its text pieces."""

    __slots__ = ("tag", "children", "text")

    def __init__(self, tag: str):
        self.tag = tag
        self.children: list[tuple[str, Any]] = []
        self.text: list[str] = []

    def value(self) -> Any:
        """Text when childless, a dict when the child tags are unique, else a list of dicts."""
        if not self.children:
            return "".join(self.text)
        if len({tag for tag, _ in self.children}) == len(self.children):
            return dict(self.children)
        return [{tag: value} for tag, value in self.children]


def xml_to_dict(markup: str, deadline: float | None = None) -> dict[str, Any]:
    """The document as `{root_tag: value}`; ValueError or SyntaxError worded as AutoGPT's.

    Checks run in AutoGPT's order (whole-document structure first, then mismatched tags);
    LimitError past MAX_XML_DEPTH, TimeoutError past `deadline` (a `time.monotonic()` instant).
    """
    depth = 0
    root_seen = False
    empty = True
    names: list[str] = []  # open tags, as gravitasml's parser stacks them
    stack: list[_Element] = []  # the same elements while the dict is still being built
    mismatch: str | None = None
    too_deep = False
    result: dict[str, Any] = {}
    for count, (kind, value) in enumerate(tokenize(markup)):
        empty = False
        if deadline is not None and count % _DEADLINE_EVERY == 0 and time.monotonic() > deadline:
            raise TimeoutError("XML parsing ran past its deadline")
        if kind == OPEN:
            if depth == 0 and root_seen:
                raise ValueError("XML must have a single root element.")
            depth += 1
            root_seen = True
            if mismatch is None:
                names.append(value)
                if depth > MAX_XML_DEPTH and not too_deep:
                    too_deep = True
                    stack.clear()
                elif not too_deep:
                    stack.append(_Element(value))
        elif kind == CLOSE:
            depth -= 1
            if depth < 0:
                raise SyntaxError("Unexpected closing tag in XML input.")
            if mismatch is None:
                expected = names.pop()
                if value != expected:
                    mismatch = f"Mismatched tags: {expected} and {value}"
                elif not too_deep:
                    element = stack.pop()
                    if stack:
                        stack[-1].children.append((element.tag, element.value()))
                    else:
                        result = {element.tag: element.value()}
        else:
            if depth == 0:
                raise ValueError(
                    "XML contains text outside the root element; wrap content in a single root tag."
                )
            if kind == TEXT and mismatch is None and not too_deep:
                stack[-1].text.append(value)
    if empty:
        raise ValueError("XML input is empty.")
    if depth != 0:
        raise SyntaxError("Unclosed tag detected in XML input.")
    if not root_seen:
        raise ValueError("XML must include a root element.")
    if mismatch is not None:
        raise SyntaxError(mismatch)
    if too_deep:
        raise LimitError(f"XML nested too deeply: over {MAX_XML_DEPTH} levels of elements")
    return result
