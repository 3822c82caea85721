"""Aggregates per SOP and model over runs (mean and spread), and the best SOP."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel

from company.research.metrics import RunRow

METRICS = ("tokens", "prompt_tokens", "completion_tokens", "cost", "llm_calls", "rounds",
           "messages", "wall_s", "graph_runs", "graph_failures")


class Spread(BaseModel):
    """Mean, sample standard deviation (0 for one value), min and max of a metric."""

    mean: float
    stdev: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of some values (at least one)."""
        return cls(mean=statistics.fmean(values),
                   stdev=statistics.stdev(values) if len(values) > 1 else 0.0,
                   min=min(values), max=max(values))


class Aggregate(BaseModel):
    """One SOP with one model, over all its runs."""

    sop: str
    sop_digest: str
    model: str
    runs: int
    successes: int
    success_rate: float
    metrics: dict[str, Spread]
    judge_score: Spread | None = None
    best: bool = False


def aggregate(rows: Sequence[RunRow]) -> list[Aggregate]:
    """Group rows by (SOP, model), in first-seen order, and mark the best group."""
    groups: dict[tuple[str, str], list[RunRow]] = {}
    for row in rows:
        groups.setdefault((row.sop, row.model), []).append(row)
    result = []
    for (sop, model), runs in groups.items():
        scores = [r.judge_score for r in runs if r.judge_score is not None]
        successes = sum(1 for r in runs if r.success)
        result.append(Aggregate(
            sop=sop, sop_digest=runs[0].sop_digest, model=model, runs=len(runs),
            successes=successes, success_rate=successes / len(runs),
            metrics={m: Spread.of([float(getattr(r, m)) for r in runs]) for m in METRICS},
            judge_score=Spread.of(scores) if scores else None,
        ))
    if result:
        best = min(result, key=rank_key)
        best.best = True
    return result


def rank_key(agg: Aggregate) -> tuple[float, float, float, float, float, str, str]:
    """Higher success rate first; ties go to lower mean cost, tokens, LLM calls, then rounds."""
    m = agg.metrics
    return (-agg.success_rate, m["cost"].mean, m["tokens"].mean, m["llm_calls"].mean,
            m["rounds"].mean, agg.sop, agg.model)
