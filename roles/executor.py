"""The Executor: runs the plan's AutoGPT graphs."""

from __future__ import annotations

from actions.run_graphs import RunGraphs
from actions.write_plan import WritePlan
from company.role import Role


class Executor(Role):
    """Runs each plan step's graph, in dependency order, independent steps concurrently."""

    profile = "a reliable operator of the company's agent graphs"
    goal = "Run every planned step and report exactly what came out."
    default_watch = (WritePlan,)
    default_actions = (RunGraphs,)
