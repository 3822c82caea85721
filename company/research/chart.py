"""A PNG chart: success rate against mean tokens, one point per SOP and model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from company.research.aggregate import Aggregate


def write_chart(path: Path, groups: Sequence[Aggregate], metric: str = "tokens") -> Path:
    """Draw the chart with matplotlib (Agg backend, imported only here) and save it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    stacked: dict[tuple[float, float], int] = {}
    try:
        for group in groups:
            spread = group.metrics[metric]
            ax.errorbar(spread.mean, group.success_rate * 100,
                        xerr=[[spread.mean - spread.min], [spread.max - spread.mean]],
                        fmt="*" if group.best else "o", markersize=14 if group.best else 8,
                        capsize=3, color="tab:red" if group.best else "tab:blue")
            label = group.sop if len({g.model for g in groups}) == 1 else \
                f"{group.sop} ({group.model})"
            point = (round(spread.mean, 6), round(group.success_rate, 6))
            stacked[point] = stacked.get(point, -1) + 1
            ax.annotate(label + (" (best)" if group.best else ""),
                        (spread.mean, group.success_rate * 100), textcoords="offset points",
                        xytext=(8, 6 - 12 * stacked[point]), fontsize=9)
        ax.set_xlabel(f"mean {metric} per run (bars: min to max)")
        ax.set_ylabel("success rate (%)")
        ax.set_ylim(-5, 110)
        ax.set_title("SOP variants: success rate against cost in tokens")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
