"""The Boss's own words for a prompt, read from memory: the newest turn's requests (typed, or a
voice note's transcript with its typed text) and the earlier turns of a follow-up, each the
Boss's requests and the opening of the report that answered them. ``budgeted_words`` fits the
earlier turns to an action's prompt (actions/conversation.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actions.memory_queries import boss_requests
from company.memory import Memory
from company.message import Message

if TYPE_CHECKING:
    from company.action import Action

REPORT = "SummarizeResults"
"""The report action by name (it imports this module); a report closes a turn."""
REQUEST_LINE_CHARS = 2000
"""The most of an earlier request one history line quotes (a summary carries the rest)."""
REPORT_LINE_CHARS = 300
"""The most of an earlier report's opening one history line quotes."""
RECENT_TURNS = 4
"""The earlier turns ``boss_words`` gives without a budget; an action that renders a prompt
asks ``budgeted_words`` for as many as its prompt holds."""


@dataclass(frozen=True)
class Turn:
    """One earlier turn of the conversation: the Boss's requests (oldest first) and the report
    that closed it ("" when none came), numbered from 1; ``last_seq`` is its last message."""

    number: int
    requests: tuple[str, ...] = ()
    report: str = ""
    last_seq: int = 0

    def lines(self, request_chars: int = REQUEST_LINE_CHARS,
              report_chars: int = REPORT_LINE_CHARS) -> list[str]:
        """The turn as history lines: ``Boss: …`` per request, then ``Report: …`` (its
        opening), each cut to its limit."""
        found = [f"Boss: {shorten(text, request_chars)}" for text in self.requests]
        if self.report:
            found.append(f"Report: {shorten(report_opening(self.report), report_chars)}")
        return found


@dataclass(frozen=True)
class BossWords:
    """What the Boss said in this turn, and the conversation before it (oldest first)."""

    request: str = ""
    earlier: list[str] = field(default_factory=list)


def current_requests(memory: Memory) -> list[Message]:
    """This turn's requests: those since the last report, else the newest request."""
    requests = boss_requests(memory)
    reports = memory.by_cause(REPORT)
    last_report = reports[-1].seq if reports else 0
    return [m for m in requests if m.seq > last_report] or requests[-1:]


def earlier_turns(memory: Memory, before_seq: int) -> list[Turn]:
    """The turns before message ``before_seq``, oldest first: each report closes the requests
    before it; requests no report answered yet make the last turn."""
    requests = [m for m in boss_requests(memory) if m.seq < before_seq]
    reports = [m for m in memory.by_cause(REPORT) if m.seq < before_seq]
    turns: list[Turn] = []
    asked: list[Message] = []
    for message in sorted([*requests, *reports], key=lambda m: m.seq):
        if message.cause_by != REPORT:
            asked.append(message)
            continue
        turns.append(Turn(len(turns) + 1, tuple(m.content.strip() for m in asked),
                          message.content, message.seq))
        asked = []
    if asked:
        turns.append(Turn(len(turns) + 1, tuple(m.content.strip() for m in asked), "",
                          asked[-1].seq))
    return turns


def boss_words(memory: Memory, recent: int = RECENT_TURNS) -> BossWords:
    """This turn's requests as its words, and the last ``recent`` turns before them as the
    conversation (no budget: ``budgeted_words`` fits every turn that a prompt holds)."""
    current = current_requests(memory)
    first = current[0].seq if current else memory.last_seq + 1
    turns = earlier_turns(memory, first)[-recent:] if recent > 0 else []
    request = "\n\n".join(m.content.strip() for m in current)
    return BossWords(request=request, earlier=[line for t in turns for line in t.lines()])


async def budgeted_words(action: Action, prompt: Callable[[str, list[str]], str], *,
                         reserve: int = 0, answer_action: str | None = None) -> BossWords:
    """This turn's words, and the conversation before them fitted to the action's prompt:
    ``prompt(request, earlier)`` renders it; ``reserve`` tokens stay free (a re-ask's text);
    the answer of ``answer_action`` (default: the action's own) is kept room for."""
    from actions.conversation import fit_history

    request = boss_words(action.ctx.memory, recent=0).request
    history = await fit_history(action, lambda earlier: prompt(request, earlier),
                                reserve=reserve, answer_action=answer_action)
    return BossWords(request=request, earlier=history.earlier)


def report_opening(markdown: str) -> str:
    """A report's opening sentences (its whole text when it has none)."""
    from actions.report_checks import opening

    return opening(markdown) or markdown.strip()


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
