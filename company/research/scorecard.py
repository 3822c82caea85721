"""The eval's scorecard: per model, every request's outcome and the totals, as Markdown."""

from __future__ import annotations

from collections.abc import Sequence

from company.research.aggregate import Aggregate, aggregate
from company.research.metrics import RunRow
from company.research.summary import runs_table

EVAL_MD = "eval.md"


def totals_table(groups: Sequence[Aggregate], rows: Sequence[RunRow]) -> list[str]:
    """One row per SOP and model: success rate, mean LLM calls and tokens, mean/total wall."""
    lines = ["| SOP | model | requests | success | mean LLM calls | mean tokens | mean wall s |"
             " total wall s |", "|---|---|---|---|---|---|---|---|"]
    for g in groups:
        total = sum(r.wall_s for r in rows if r.sop == g.sop and r.model == g.model)
        m = g.metrics
        lines.append(
            f"| {g.sop} | {g.model} | {g.runs} | {g.success_rate:.0%} ({g.successes}/{g.runs}) |"
            f" {m['llm_calls'].mean:.1f} | {m['tokens'].mean:.0f} | {m['wall_s'].mean:.1f} |"
            f" {total:.1f} |"
        )
    return lines


def render_scorecard(header: Sequence[str], rows: Sequence[RunRow]) -> str:
    """The whole ``eval.md``: the header lines, the totals, then one table per SOP and model."""
    groups = aggregate(rows)
    lines = [*header, "", "## Totals", "", *totals_table(groups, rows), ""]
    for g in groups:
        mine = [r for r in rows if r.sop == g.sop and r.model == g.model]
        lines += [f"## {g.model} · SOP {g.sop}", "", *runs_table(mine), ""]
    return "\n".join(lines)
