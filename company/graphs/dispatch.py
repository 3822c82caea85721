"""Where a graph runs: in-process when every block runs here, else on the configured AutoGPT
server (hybrid dispatch), else nowhere, with the blocks named and the setting that would help.

Credentials for a remote run are the server's own: nothing of ours is sent with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from company.graphs.blocks.registry import BlockRegistry
from company.graphs.config import GraphSettings
from company.graphs.errors import UnsupportedBlocksError
from company.graphs.model import Graph
from company.graphs.validation import missing_credentials, unsupported_labels

Where = Literal["local", "remote", "refused"]
REMOTE_HINT = ("configure an AutoGPT server under graphs.remote (base_url and api_key, or "
               "api: internal with bearer_token) to run it there")


@dataclass(frozen=True)
class Placement:
    """Where a graph runs and why; ``unsupported`` names the blocks that do not run here."""

    where: Where
    why: str
    unsupported: list[str] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        """Whether the graph can run at all."""
        return self.where != "refused"


def place(graph: Graph, registry: BlockRegistry, settings: GraphSettings) -> Placement:
    """Decide where ``graph`` runs: ``graphs.executor: remote`` sends everything to the server;
    otherwise a graph whose blocks all run here runs here, one with other blocks goes to the
    server when ``graphs.remote`` is configured, and is refused when it is not."""
    unsupported = unsupported_labels(graph, registry)
    if settings.executor == "remote":
        return Placement("remote", "graphs.executor is remote", unsupported)
    if not unsupported:
        missing = missing_credentials(graph, registry, settings)
        if missing:
            return Placement("refused", "; ".join(missing))
        return Placement("local", "every block runs here")
    blocks = ", ".join(unsupported)
    if settings.remote.configured:
        return Placement("remote", f"these blocks do not run here: {blocks}; the AutoGPT server "
                         f"at {settings.remote.base_url} runs them", unsupported)
    return Placement("refused", f"these blocks do not run here: {blocks}; {REMOTE_HINT}",
                     unsupported)


def refusal(graph: Graph, registry: BlockRegistry, placement: Placement) -> Exception:
    """The error a refused placement raises: unsupported blocks (with the remote hint) or
    missing credentials."""
    from company.graphs.errors import GraphValidationError
    from company.graphs.validation import unsupported_blocks

    if placement.unsupported:
        nodes = unsupported_blocks(graph, registry)
        return UnsupportedBlocksError(graph.title,
                                      {b: registry.name_of(b) for b in nodes}, nodes,
                                      hint=f"To run it, {REMOTE_HINT}.")
    return GraphValidationError(f"graph '{graph.title}' cannot start: "
                                f"{placement.why}")
