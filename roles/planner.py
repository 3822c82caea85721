"""The Planner: turns action items into steps that run graphs from the catalogue."""

from __future__ import annotations

from actions.analyze_request import AnalyzeRequest
from actions.write_plan import WritePlan
from company.role import Role


class Planner(Role):
    """Writes an ordered plan of graph runs with inputs and dependencies."""

    profile = "a careful planner who knows the company's agent graphs"
    goal = "Turn action items into the fewest graph runs that get them done."
    default_watch = (AnalyzeRequest,)
    default_actions = (WritePlan,)
