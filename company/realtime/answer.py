"""The report's lead answer as plain sentences, for speaking."""

from __future__ import annotations

import re

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`#>|]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def lead_answer(report: str, max_chars: int = 600) -> str:
    """The first paragraph of prose in ``report`` (headings, warnings, tables and lists
    skipped), without Markdown, cut at a sentence end within ``max_chars``."""
    paragraph: list[str] = []
    for raw in report.splitlines():
        line = raw.strip()
        skipped = (line.startswith(("#", "|", "> ⚠", "```", "---", "- ", "* "))
                   or re.match(r"\d+\. ", line) is not None)
        if not line or skipped:
            if paragraph:
                break
            continue
        paragraph.append(line)
    text = _MARKUP.sub("", _LINK.sub(r"\1", " ".join(paragraph)))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= max_chars:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        if len(kept) + len(sentence) + 1 > max_chars:
            break
        kept = f"{kept} {sentence}".strip()
    return kept or text[:max_chars].rsplit(" ", 1)[0]
