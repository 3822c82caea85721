"""The Boss's own words for a prompt, read from memory: the newest turn's requests (typed, or a
voice note's transcript with its typed text) and the earlier turns of a follow-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from actions.memory_queries import boss_requests
from company.memory import Memory

REPORT = "SummarizeResults"
"""The report action by name (it imports this module); a report closes a turn."""
EARLIER_REPORT_CHARS = 200


@dataclass(frozen=True)
class BossWords:
    """What the Boss said in this turn, and the conversation before it (oldest first)."""

    request: str = ""
    earlier: list[str] = field(default_factory=list)


def boss_words(memory: Memory) -> BossWords:
    """The requests since the last report (else the newest request) as this turn's words; the
    earlier requests and the openings of the earlier reports, in order, as the conversation."""
    requests = boss_requests(memory)
    reports = memory.by_cause(REPORT)
    last_report = reports[-1].seq if reports else 0
    current = [m for m in requests if m.seq > last_report] or requests[-1:]
    first = current[0].seq if current else 0
    history = sorted([*(m for m in requests if m.seq < first),
                      *(m for m in reports if m.seq < first)], key=lambda m: m.seq)
    earlier = [f"Boss: {m.content.strip()}" if m.cause_by != REPORT
               else f"Report: {_report_opening(m.content)}" for m in history]
    request = "\n\n".join(m.content.strip() for m in current)
    return BossWords(request=request, earlier=earlier)


def _report_opening(markdown: str) -> str:
    from actions.report_checks import opening

    text = opening(markdown) or markdown.strip()
    return text if len(text) <= EARLIER_REPORT_CHARS else text[:EARLIER_REPORT_CHARS - 1] + "…"
