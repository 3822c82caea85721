"""The Analyst: reads requests into ideas and action items, and writes the final report."""

from __future__ import annotations

from actions.analyze_request import AnalyzeRequest
from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from company.boss import UserRequirement
from company.role import Role


class Analyst(Role):
    """Turns a request (typed or transcribed) into an analysis; reports the results."""

    profile = "a sharp business analyst"
    goal = "Understand what the Boss wants, remember the ideas, list the action items, and report."
    default_watch = (UserRequirement, Transcribe, RunGraphs)
    default_actions = (AnalyzeRequest, SummarizeResults)
