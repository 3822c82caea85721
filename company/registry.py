"""Names of the roles and actions an SOP may use, imported lazily."""

from __future__ import annotations

import importlib
from typing import Any

ROLE_CLASSES: dict[str, str] = {
    "Transcriber": "roles.transcriber:Transcriber",
    "Analyst": "roles.analyst:Analyst",
    "Planner": "roles.planner:Planner",
    "Executor": "roles.executor:Executor",
}

ACTION_CLASSES: dict[str, str] = {
    "Transcribe": "actions.transcribe:Transcribe",
    "AnalyzeRequest": "actions.analyze_request:AnalyzeRequest",
    "WritePlan": "actions.write_plan:WritePlan",
    "RunGraphs": "actions.run_graphs:RunGraphs",
    "SummarizeResults": "actions.summarize_results:SummarizeResults",
    "ReviewResults": "actions.review_results:ReviewResults",
}

BOSS_CAUSES = ("UserRequirement", "VoiceRequest")


def known_causes() -> set[str]:
    """Every name a role may watch: the Boss's message kinds and every action."""
    return set(BOSS_CAUSES) | set(ACTION_CLASSES)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def role_class(name: str) -> Any:
    """The Role subclass registered under this name."""
    return _load(ROLE_CLASSES[name])


def action_class(name: str) -> Any:
    """The Action subclass registered under this name."""
    return _load(ACTION_CLASSES[name])


def register_role(name: str, path: str) -> None:
    """Register a custom role as ``module:Class``."""
    ROLE_CLASSES[name] = path


def register_action(name: str, path: str) -> None:
    """Register a custom action as ``module:Class``."""
    ACTION_CLASSES[name] = path
