"""Persistence blocks (AutoGPT's persistence.py): values that outlive a run.

The store is `ctx.services.kv` (a `company.graphs.kv.KeyValueStore`), per user
(`ctx.services.user_id`). Keys are AutoGPT's: `agent#{graph_id}#{key}` for the
"within_agent" scope, where graph_id is the graph the node belongs to (a sub-graph run by
AgentExecutorBlock has its own scope, as in AutoGPT), and `global#{key}` for "across_agents".
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.errors import LimitError
from company.graphs.sizes import json_size

if TYPE_CHECKING:
    from company.graphs.kv import KeyValueStore

StorageScope = Literal["within_agent", "across_agents"]
NO_STORE = "no key-value store configured for this run"
# Values with more items than this are sized on a worker thread.
_QUICK_SIZE_STEPS = 20_000


def storage_key(key: str, scope: StorageScope, graph_id: str) -> str:
    """AutoGPT's storage key for a block key in a scope."""
    if scope == "across_agents":
        return f"global#{key}"
    return f"agent#{graph_id}#{key}"


def _store(ctx: BlockContext) -> KeyValueStore:
    store = ctx.services.kv
    if store is None:
        raise RuntimeError(NO_STORE)
    return store


def _scoped_key(ctx: BlockContext, key: str, scope: StorageScope) -> str:
    if scope == "within_agent" and not ctx.graph.id:
        raise ValueError(
            "scope 'within_agent' needs the graph's id, and this graph has none "
            "(give the graph file an id, or use scope 'across_agents')"
        )
    return storage_key(key, scope, ctx.graph.id)


async def _check_size(value: Any, limit: int) -> None:
    size = json_size(value, limit, _QUICK_SIZE_STEPS)
    if size is None:
        size = await asyncio.to_thread(json_size, value, limit) or 0
    if size > limit:
        raise LimitError(f"the value is over the max_value_bytes limit ({limit:,} bytes)")


class PersistInformationBlock(Block):
    """Saves a value under a key so later runs can read it back (RetrieveInformationBlock)."""

    id = "1d055e55-a2b9-4547-8311-907d05b0304d"
    description = (
        "Saves a key-value pair that persists across multiple runs. Pair with "
        "RetrieveInformationBlock to read the value back in a later run."
    )

    class Input(BlockSchema):
        """Input pins."""

        key: str
        value: Any
        scope: StorageScope = "within_agent"

    class Output(BlockSchema):
        """Output pins."""

        value: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Store the value and yield it as stored."""
        store = _store(ctx)
        key = _scoped_key(ctx, input_data.key, input_data.scope)
        await _check_size(input_data.value, ctx.settings.max_value_bytes)
        stored = await store.set(
            ctx.services.user_id, key, input_data.value, node_exec_id=ctx.node_exec_id
        )
        yield "value", stored


class RetrieveInformationBlock(Block):
    """Reads a value saved by PersistInformationBlock, or `default_value` when there is none."""

    id = "d8710fc9-6e29-481e-a7d5-165eb16f8471"
    description = (
        "Reads back a key-value pair previously saved by PersistInformationBlock; "
        "yields default_value when the key was never saved."
    )
    static_output = True

    class Input(BlockSchema):
        """Input pins."""

        key: str
        scope: StorageScope = "within_agent"
        default_value: Any = None

    class Output(BlockSchema):
        """Output pins."""

        value: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the stored value, or the default."""
        store = _store(ctx)
        key = _scoped_key(ctx, input_data.key, input_data.scope)
        stored = await store.get(ctx.services.user_id, key)
        yield "value", input_data.default_value if stored is None else stored


BLOCKS: list[type[Block]] = [PersistInformationBlock, RetrieveInformationBlock]
