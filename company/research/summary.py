"""The sweep's readable outputs: ``summary.md``, ``summary.csv`` and the chart."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from company.research.aggregate import METRICS, Aggregate, Spread, aggregate
from company.research.chart import write_chart
from company.research.metrics import RunRow
from company.research.plan import SweepPlan

EVENT_METRICS = ("plans_rejected", "reasks", "replans_after_failure", "reports_reasked")
"""Counts from the runs' events, aggregated here (after the older columns of summary.csv)."""
SUMMARY_MD = "summary.md"
SUMMARY_CSV = "summary.csv"
CHART_PNG = "summary.png"


def _num(value: float, digits: int = 1) -> str:
    if value == int(value) and digits <= 1:
        return str(int(value))
    return f"{value:.{digits}f}"


def _spread(spread: Spread, digits: int = 1) -> str:
    if spread.stdev == 0:
        return _num(spread.mean, digits)
    return f"{_num(spread.mean, digits)} ± {_num(spread.stdev, digits)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def event_spreads(group: Aggregate, rows: Sequence[RunRow]) -> dict[str, Spread]:
    """The spreads of the event counts over a group's runs (empty without rows)."""
    mine = [r for r in rows if r.sop == group.sop and r.model == group.model]
    if not mine:
        return {}
    return {m: Spread.of([float(getattr(r, m)) for r in mine]) for m in EVENT_METRICS}


def comparison_table(groups: Sequence[Aggregate], rows: Sequence[RunRow] = ()) -> list[str]:
    """One row per SOP and model: success, then mean ± stdev of the costs."""
    lines = ["| best | SOP | model | runs | success | tokens | cost (USD) | LLM calls |"
             " plans rejected | re-asks | rounds | messages | wall s | graph runs |"
             " graph failures | judge |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        m = g.metrics
        e = event_spreads(g, rows)
        judge = _spread(g.judge_score) if g.judge_score else "-"
        rejected, reasks = (_spread(e[k]) if e else "-" for k in ("plans_rejected", "reasks"))
        lines.append(
            f"| {'★' if g.best else ''} | {g.sop} | {g.model} | {g.runs} |"
            f" {g.success_rate:.0%} ({g.successes}/{g.runs}) | {_spread(m['tokens'])} |"
            f" {_spread(m['cost'], 6)} | {_spread(m['llm_calls'])} | {rejected} | {reasks} |"
            f" {_spread(m['rounds'])} |"
            f" {_spread(m['messages'])} | {_spread(m['wall_s'], 2)} |"
            f" {_spread(m['graph_runs'])} | {_spread(m['graph_failures'])} | {judge} |"
        )
    return lines


def runs_table(rows: Sequence[RunRow]) -> list[str]:
    """One row per run of one SOP."""
    lines = ["| request | model | repeat | status | success | tokens | LLM calls |"
             " plans rejected | re-asks | failure re-plans | rounds | wall s | graphs (failed) |"
             " judge | failed expectations |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        judge = "-" if r.judge_score is None else str(r.judge_score)
        lines.append(
            f"| {r.request_id} | {r.model} | {r.repeat} | {r.status} |"
            f" {'yes' if r.success else 'no'} | {r.tokens} | {r.llm_calls} |"
            f" {r.plans_rejected} | {r.reasks} | {r.replans_after_failure} | {r.rounds} |"
            f" {r.wall_s:.1f} | {r.graph_runs} ({r.graph_failures}) | {judge} |"
            f" {_cell('; '.join(r.failed))} |"
        )
    return lines


def render_markdown(plan: SweepPlan, rows: Sequence[RunRow], groups: Sequence[Aggregate]) -> str:
    """The whole ``summary.md``."""
    s = plan.settings
    best = next((g for g in groups if g.best), None)
    lines = [
        "# Research sweep", "",
        f"- requests: `{s.requests}` ({len(plan.requests.requests)} requests,"
        f" digest {plan.requests.digest})",
        f"- SOPs: {', '.join(f'{n} ({sop.digest})' for n, sop in plan.sops.items())}",
        f"- models: {', '.join(plan.models)} · repeats: {s.repeat} · runs: {len(rows)} ·"
        f" cache: {s.cache_mode}" + (f" · judge: {plan.judge.label}" if plan.judge else ""),
        "",
    ]
    if best is not None:
        lines += [f"**Best: {best.sop}** ({best.model}): success {best.success_rate:.0%},"
                  f" mean {best.metrics['tokens'].mean:.0f} tokens,"
                  f" ${best.metrics['cost'].mean:.6f} per run. Ranked by success rate; ties"
                  " go to lower mean cost, then tokens, LLM calls and rounds.", ""]
    lines += ["## Comparison", "", "Mean ± sample standard deviation over runs.", "",
              *comparison_table(groups, rows), "", f"![success against tokens]({CHART_PNG})", ""]
    for name, sop in plan.sops.items():
        mine = [r for r in rows if r.sop == name]
        lines += [f"## SOP {name}", "", f"`{sop.source}` · digest {sop.digest} ·"
                  f" {sop.description or 'no description'}", "", *runs_table(mine), ""]
    return "\n".join(lines)


def write_csv(path: Path, groups: Sequence[Aggregate], rows: Sequence[RunRow] = ()) -> None:
    """One row per SOP and model with every aggregate as mean/stdev/min/max columns (the event
    counts last, empty without ``rows``)."""
    header = ["sop", "sop_digest", "model", "runs", "successes", "success_rate", "best"]
    for metric in (*METRICS, "judge_score", *EVENT_METRICS):
        header += [f"{metric}_{stat}" for stat in ("mean", "stdev", "min", "max")]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for g in groups:
            row: list[object] = [g.sop, g.sop_digest, g.model, g.runs, g.successes,
                                 round(g.success_rate, 6), int(g.best)]
            events = event_spreads(g, rows)
            for spread in (*(g.metrics[m] for m in METRICS), g.judge_score,
                           *(events.get(m) for m in EVENT_METRICS)):
                row += ([round(v, 8) for v in (spread.mean, spread.stdev, spread.min, spread.max)]
                        if spread else ["", "", "", ""])
            writer.writerow(row)


def write_summary(out: Path, plan: SweepPlan, rows: Sequence[RunRow]) -> list[Aggregate]:
    """Write summary.md, summary.csv and summary.png; return the aggregates."""
    groups = aggregate(rows)
    (out / SUMMARY_MD).write_text(render_markdown(plan, rows, groups) + "\n", encoding="utf-8")
    write_csv(out / SUMMARY_CSV, groups, rows)
    write_chart(out / CHART_PNG, groups)
    return groups
