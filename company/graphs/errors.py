"""Exceptions raised by the graph engine; every message is meant for people."""

from __future__ import annotations


class GraphError(Exception):
    """Base of every graph engine failure."""


class GraphLoadError(GraphError):
    """A graph file cannot be read or does not follow AutoGPT's graph format."""


class UnsupportedBlocksError(GraphError):
    """The graph uses blocks this runner does not implement.

    `blocks` maps each such block id to its AutoGPT class name (None when AutoGPT's block list
    lacks the id), `infos` to its `BlockInfo` (module and the service it needs), `nodes` to the
    ids of the nodes that use it.
    """

    def __init__(self, graph_name: str, blocks: dict[str, str | None], nodes: dict[str, list[str]],
                 hint: str = ""):
        from company.graphs.blocks.names import block_info

        self.graph_name = graph_name
        self.blocks = blocks
        self.nodes = nodes
        self.infos = {block_id: block_info(block_id) for block_id in blocks}
        parts = []
        for block_id, name in blocks.items():
            used_by = "used by node " + ", ".join(n[:8] for n in nodes.get(block_id, []))
            info = self.infos[block_id]
            if info is not None:
                parts.append(f"{info.name} ({block_id}, {info.module}: {info.needs}; {used_by})")
            elif name:
                parts.append(f"{name} ({block_id}; {used_by})")
            else:
                parts.append(f"unknown block {block_id} (not in AutoGPT's block list; {used_by})")
        message = f"graph '{graph_name}' uses {len(blocks)} unsupported block(s): " + "; ".join(
            parts)
        super().__init__(f"{message}. {hint}" if hint else message)

    def labels(self) -> list[str]:
        """Each unsupported block for people: `GmailSendBlock (google.gmail: needs a Google
        account)`, or `unknown block <id> (not in AutoGPT's block list)`."""
        from company.graphs.blocks.names import describe_block

        return [describe_block(block_id) for block_id in self.blocks]


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
