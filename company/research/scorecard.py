"""The eval's scorecard: per model, every request's outcome and the totals, as Markdown."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from company.research.aggregate import Aggregate, aggregate
from company.research.metrics import RunRow, prompt_size_per_action, reask_reasons
from company.research.summary import runs_table

EVAL_MD = "eval.md"
ACTION_ORDER = ("Transcribe", "AnalyzeRequest", "WritePlan", "RunGraphs", "ReviewResults",
                "SummarizeResults")
"""The pipeline's order of actions in the prompt-size table (others follow, by name)."""


def group_rows(group: Aggregate, rows: Sequence[RunRow]) -> list[RunRow]:
    """The rows of one SOP and model."""
    return [r for r in rows if r.sop == group.sop and r.model == group.model]


def reasks_cell(rows: Sequence[RunRow]) -> str:
    """Re-asks in total, with their reasons: ``3 (invalid 2, truncated 1)``."""
    reasons = reask_reasons(rows)
    total = sum(r.reasks for r in rows)
    if not reasons:
        return str(total)
    return f"{total} ({', '.join(f'{k} {v}' for k, v in reasons.items())})"


def rejected_cell(rows: Sequence[RunRow]) -> str:
    """Rejected plans in total and per request: ``28 (0.56/req)``."""
    total = sum(r.plans_rejected for r in rows)
    return f"{total} ({total / len(rows):.2f}/req)" if rows else "0"


def fallback_note(rows: Sequence[RunRow]) -> list[str]:
    """A note when some counts came from events recorded before they were named."""
    if not any(r.counted_by_fallback for r in rows):
        return []
    runs = sum(1 for r in rows if r.counted_by_fallback)
    return [f"{runs} of {len(rows)} runs were recorded before LLM calls named their action and"
            " re-ask; for them, rejected plans are a WritePlan turn's calls beyond the first (all"
            " when the plan was still invalid), re-asks other actions' extra calls in one turn,"
            " and an action is the one its role's turn published (company/research/metrics.py)."]


def totals_table(groups: Sequence[Aggregate], rows: Sequence[RunRow]) -> list[str]:
    """One row per SOP and model: success, mean LLM calls, rejected plans, re-asks, failure
    re-plans, mean prompt and completion tokens, mean and total wall time."""
    lines = ["| SOP | model | requests | success | mean LLM calls | plans rejected | re-asks |"
             " failure re-plans | mean prompt tokens | mean completion tokens | mean wall s |"
             " total wall s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        mine = group_rows(g, rows)
        m = g.metrics
        lines.append(
            f"| {g.sop} | {g.model} | {g.runs} | {g.success_rate:.0%} ({g.successes}/{g.runs}) |"
            f" {m['llm_calls'].mean:.1f} | {rejected_cell(mine)} | {reasks_cell(mine)} |"
            f" {sum(r.replans_after_failure for r in mine)} |"
            f" {m['prompt_tokens'].mean:.0f} | {m['completion_tokens'].mean:.0f} |"
            f" {m['wall_s'].mean:.1f} | {sum(r.wall_s for r in mine):.1f} |"
        )
    return lines


def action_names(rows: Sequence[RunRow]) -> list[str]:
    """Every action that made an LLM call, in pipeline order."""
    seen = {a for r in rows for a in r.action_calls}
    return [a for a in ACTION_ORDER if a in seen] + sorted(seen - set(ACTION_ORDER))


def prompt_size_table(groups: Sequence[Aggregate], rows: Sequence[RunRow]) -> list[str]:
    """One row per SOP and model: mean prompt tokens per LLM call of each action (and calls)."""
    actions = action_names(rows)
    if not actions:
        return ["No LLM call named by the runs' events."]
    lines = ["| SOP | model | " + " | ".join(actions) + " |",
             "|---|---|" + "---|" * len(actions)]
    for g in groups:
        mine = group_rows(g, rows)
        sizes = prompt_size_per_action(mine)
        calls = {a: sum(r.action_calls.get(a, 0) for r in mine) for a in actions}
        cells = [f"{sizes[a]:.0f} ({calls[a]})" if a in sizes else "-" for a in actions]
        lines.append(f"| {g.sop} | {g.model} | " + " | ".join(cells) + " |")
    return lines


def render_scorecard(header: Sequence[str], rows: Sequence[RunRow]) -> str:
    """The whole ``eval.md``: the header lines, the totals, the prompt size per action, then one
    table per SOP and model."""
    groups = aggregate(rows)
    lines = [*header, "", "## Totals", "", *totals_table(groups, rows), "",
             "## Prompt size per action (mean prompt tokens)", "",
             "Mean prompt tokens per LLM call of each action, with the number of calls.", "",
             *prompt_size_table(groups, rows), ""]
    note = fallback_note(rows)
    if note:
        lines += [*note, ""]
    for g in groups:
        lines += [f"## {g.model} · SOP {g.sop}", "", *runs_table(group_rows(g, rows)), ""]
    return "\n".join(lines)


def mean_of(rows: Sequence[RunRow], field: str) -> float:
    """The mean of a row field (0 without rows)."""
    return statistics.fmean(float(getattr(r, field)) for r in rows) if rows else 0.0


COMPARED = (("LLM calls", "llm_calls", 1), ("plans rejected", "plans_rejected", 2),
            ("plans doubted", "plans_doubted", 2),
            ("re-asks", "reasks", 2), ("failure re-plans", "replans_after_failure", 2),
            ("prompt tokens", "prompt_tokens", 0), ("completion tokens", "completion_tokens", 0),
            ("wall s", "wall_s", 1))
"""The per-request means a comparison shows: heading, row field, decimals."""
Side = tuple[str, Sequence[RunRow]]
"""One eval in a comparison: its label and its rows."""


def _keys(sides: Sequence[Side]) -> list[tuple[str, str]]:
    keys: dict[tuple[str, str], None] = {}
    for _, rows in sides:
        keys.update({(r.model, r.sop): None for r in rows})
    return list(keys)


def _success(rows: Sequence[RunRow]) -> float:
    return sum(r.success for r in rows) / len(rows)


def compare_table(sides: Sequence[Side]) -> list[str]:
    """One row per model, SOP and eval: success and the per-request means of LLM calls, rejected
    plans, re-asks, failure re-plans, tokens and wall time; with two evals, a change row."""
    heads = " | ".join(f"{h}/req" for h, _, _ in COMPARED)
    lines = [f"| model | SOP | eval | requests | success | {heads} |",
             "|---|---|---|---|---|" + "---|" * len(COMPARED)]
    for model, sop in _keys(sides):
        present = [(label, mine) for label, rows in sides
                   if (mine := [r for r in rows if r.model == model and r.sop == sop])]
        for label, mine in present:
            wins = sum(r.success for r in mine)
            cells = " | ".join(f"{mean_of(mine, f):.{d}f}" for _, f, d in COMPARED)
            lines.append(f"| {model} | {sop} | {label} | {len(mine)} |"
                         f" {wins / len(mine):.0%} ({wins}/{len(mine)}) | {cells} |")
        if len(sides) == 2 and len(present) == 2:
            (_, old), (_, new) = present
            cells = " | ".join(f"{mean_of(new, f) - mean_of(old, f):+.{d}f}"
                               for _, f, d in COMPARED)
            points = (_success(new) - _success(old)) * 100
            lines.append(f"| {model} | {sop} | change | {len(new) - len(old):+d} |"
                         f" {points:+.0f} pp | {cells} |")
    return lines


def compare_prompt_sizes(sides: Sequence[Side]) -> list[str]:
    """One row per model, SOP and eval: mean prompt tokens per LLM call of each action."""
    every = [r for _, rows in sides for r in rows]
    actions = action_names(every)
    if not actions:
        return ["No LLM call named by the runs' events."]
    lines = ["| model | SOP | eval | " + " | ".join(actions) + " |",
             "|---|---|---|" + "---|" * len(actions)]
    for model, sop in _keys(sides):
        for label, rows in sides:
            mine = [r for r in rows if r.model == model and r.sop == sop]
            if not mine:
                continue
            sizes = prompt_size_per_action(mine)
            cells = [f"{sizes[a]:.0f}" if a in sizes else "-" for a in actions]
            lines.append(f"| {model} | {sop} | {label} | " + " | ".join(cells) + " |")
    return lines


def render_comparison(header: Sequence[str], sides: Sequence[Side]) -> str:
    """Two (or more) evals side by side: the measures per request, then prompt sizes."""
    every = [r for _, rows in sides for r in rows]
    lines = [*header, "", *compare_table(sides), "",
             "Prompt size per action (mean prompt tokens per LLM call):", "",
             *compare_prompt_sizes(sides)]
    note = fallback_note(every)
    return "\n".join([*lines, "", *note] if note else lines)
