"""Exceptions raised by the graph engine; every message is meant for people."""

from __future__ import annotations


class GraphError(Exception):
    """Base of every graph engine failure."""


class GraphLoadError(GraphError):
    """A graph file cannot be read or does not follow AutoGPT's graph format."""


class UnsupportedBlocksError(GraphError):
    """The graph uses blocks this runner does not implement."""

    def __init__(self, graph_name: str, blocks: dict[str, str | None], nodes: dict[str, list[str]]):
        self.graph_name = graph_name
        self.blocks = blocks
        self.nodes = nodes
        parts = []
        for block_id, name in blocks.items():
            used_by = ", ".join(n[:8] for n in nodes.get(block_id, []))
            parts.append(f"{name or 'unknown block'} ({block_id}, used by node {used_by})")
        super().__init__(
            f"graph '{graph_name}' uses {len(blocks)} unsupported block(s): " + "; ".join(parts)
        )


class GraphValidationError(GraphError):
    """The graph or its inputs fail validation before the run starts (AutoGPT's 400)."""

    def __init__(self, message: str, node_errors: dict[str, dict[str, str]] | None = None):
        self.node_errors = node_errors or {}
        super().__init__(message)


class InputValidationError(GraphError):
    """A node execution's input data does not fit its block's input schema."""


class LimitError(GraphError):
    """A block, a template or a value went over a configured size, count or time limit."""


class BlockTimeoutError(LimitError):
    """CPU-heavy block work (a regex, a template) ran past its time limit."""

    def __init__(self, message: str, *, run_deadline: bool = False):
        self.run_deadline = run_deadline  # the limit was the run's own timeout_s
        super().__init__(message)


class RemoteError(GraphError):
    """A call to a real AutoGPT server failed."""

    def __init__(self, message: str, *, status_code: int | None = None):
        self.status_code = status_code
        super().__init__(message)


class RemoteValidationError(RemoteError):
    """The server refused the inputs or the graph (HTTP 400/422)."""

    def __init__(self, message: str, *, status_code: int = 400, node_errors: dict | None = None):
        self.node_errors = node_errors or {}
        super().__init__(message, status_code=status_code)


class RemoteAuthError(RemoteError):
    """The API key or token was refused (HTTP 401/403)."""


class RemoteCreditsError(RemoteError):
    """The AutoGPT account is out of credits (HTTP 402)."""


class RemoteNotFoundError(RemoteError):
    """The graph, version or execution does not exist on the server (HTTP 404)."""


class RemoteServerError(RemoteError):
    """The server failed (HTTP 5xx) or answered with something unexpected."""


class RemoteConnectionError(RemoteError):
    """The server could not be reached."""


class RemoteTimeoutError(RemoteError):
    """The execution did not reach a final status in time."""

    def __init__(self, message: str, *, execution_id: str, last_status: str | None):
        self.execution_id = execution_id
        self.last_status = last_status
        super().__init__(message)
