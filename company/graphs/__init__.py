"""The AutoGPT graph engine: load exported graphs, run them in-process or on an AutoGPT server.

Importing this package is light: the runner, blocks, catalogue and remote client load on
first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from company.graphs.config import GraphSettings, RemoteSettings
from company.graphs.errors import (
    GraphError,
    GraphLoadError,
    GraphValidationError,
    LimitError,
    RemoteError,
    UnsupportedBlocksError,
)
from company.graphs.llm_port import GraphLLM, resolve_model
from company.graphs.model import Graph, Link, Node, load_graph, parse_graph
from company.graphs.results import ExecutionStatus, GraphRun, NodeExecution

_LAZY = {
    "GraphRunner": "company.graphs.runner",
    "run_graph": "company.graphs.runner",
    "Catalogue": "company.graphs.catalogue",
    "AutoGPTClient": "company.graphs.remote",
    "graphs_command": "company.graphs.cli",
}

__all__ = [
    "AutoGPTClient",
    "Catalogue",
    "ExecutionStatus",
    "Graph",
    "GraphError",
    "GraphLLM",
    "GraphLoadError",
    "GraphRun",
    "GraphRunner",
    "GraphSettings",
    "GraphValidationError",
    "LimitError",
    "Link",
    "Node",
    "NodeExecution",
    "RemoteError",
    "RemoteSettings",
    "UnsupportedBlocksError",
    "graphs_command",
    "load_graph",
    "parse_graph",
    "resolve_model",
    "run_graph",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'company.graphs' has no attribute {name!r}")
