"""The company: a MetaGPT-style multi-agent role framework.

The public API, imported lazily (``import company.cli`` stays light)::

    from company import Action, ActionOutput, Company, Message, Role, RunOptions
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Action": "company.action",
    "ActionContext": "company.action",
    "ActionFailed": "company.action",
    "ActionOutput": "company.action",
    "Company": "company.company",
    "Environment": "company.environment",
    "Message": "company.message",
    "ReactMode": "company.role",
    "Role": "company.role",
    "RunOptions": "company.run_options",
    "TaskOutcome": "company.run",
    "TaskStatus": "company.status",
    "UserRequirement": "company.boss",
    "VoiceRequest": "company.boss",
}
__all__ = [
    "Action", "ActionContext", "ActionFailed", "ActionOutput", "Company", "Environment",
    "Message", "ReactMode", "Role", "RunOptions", "TaskOutcome", "TaskStatus",
    "UserRequirement", "VoiceRequest",
]

if TYPE_CHECKING:
    from company.action import Action, ActionContext, ActionFailed, ActionOutput
    from company.boss import UserRequirement, VoiceRequest
    from company.company import Company
    from company.environment import Environment
    from company.message import Message
    from company.role import ReactMode, Role
    from company.run import TaskOutcome
    from company.run_options import RunOptions
    from company.status import TaskStatus


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'company' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
