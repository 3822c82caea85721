"""The block registry, keyed by AutoGPT's real block ids so exported graphs run unchanged."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from company.graphs.blocks.base import Block
from company.graphs.blocks.names import BlockInfo, block_info, describe_block

BLOCK_MODULES = ("io", "text", "lists", "dicts", "logic", "data", "web", "llm", "agent", "clock",
                 "persist", "search", "youtube", "decision")


class BlockRegistry:
    """Block instances by id."""

    def __init__(self, blocks: Iterable[type[Block]] = ()):
        self._by_id: dict[str, Block] = {}
        for cls in blocks:
            self.register(cls)

    def register(self, cls: type[Block]) -> type[Block]:
        """Add a block class (usable as a decorator); a later registration replaces an earlier."""
        self._by_id[cls.id] = cls()
        return cls

    def get(self, block_id: str) -> Block | None:
        """The block with this id, or None."""
        return self._by_id.get(block_id)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def blocks(self) -> list[Block]:
        """All registered blocks."""
        return list(self._by_id.values())

    def name_of(self, block_id: str) -> str | None:
        """A block's class name, also for AutoGPT blocks this registry does not run."""
        block = self._by_id.get(block_id)
        if block is not None:
            return block.name
        info = block_info(block_id)
        return info.name if info else None

    def info_of(self, block_id: str) -> BlockInfo | None:
        """AutoGPT's name, module and service for this id (None for an id it does not have)."""
        return block_info(block_id)

    def describe(self, block_id: str) -> str:
        """A block for people: `GmailSendBlock (google.gmail: needs a Google account)` for
        one AutoGPT has; a block only this registry has (a test's, a company's) by its name."""
        block = self._by_id.get(block_id)
        if block is not None and block_info(block_id) is None:
            return block.name
        return describe_block(block_id)

    def copy(self) -> BlockRegistry:
        """A registry with the same blocks, safe to extend."""
        clone = BlockRegistry()
        clone._by_id = dict(self._by_id)
        return clone


_default: BlockRegistry | None = None


def default_registry() -> BlockRegistry:
    """The registry of every block this package implements (built on first use)."""
    global _default
    if _default is None:
        registry = BlockRegistry()
        for module_name in BLOCK_MODULES:
            module = importlib.import_module(f"company.graphs.blocks.{module_name}")
            for cls in module.BLOCKS:
                registry.register(cls)
        _default = registry
    return _default
