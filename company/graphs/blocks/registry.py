"""The block registry, keyed by AutoGPT's real block ids so exported graphs run unchanged."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from company.graphs.blocks.base import Block

BLOCK_MODULES = ("io", "text", "lists", "dicts", "logic", "data", "web", "llm", "agent")

# AutoGPT blocks we know by name but do not run (for clear "unsupported" errors).
KNOWN_UNSUPPORTED: dict[str, str] = {
    "3b191d9f-356f-482d-8238-ba04b6d18381": "SmartDecisionMakerBlock",
    "436c3984-57fd-4b85-8e9a-459b356883bd": "ExtractWebsiteContentBlock",
    "87840993-2053-44b7-8da4-187ad4ee518c": "SearchTheWebBlock",
    "df06086a-d5ac-4abb-9996-2ad0acb2eff7": "ReadDiscordMessagesBlock",
    "d0822ab5-9f8a-44a3-8971-531dd0178b6b": "SendDiscordMessageBlock",
    "716a67b3-6760-42e7-86dc-18645c6e00fc": "GetCurrentDateAndTimeBlock",
}


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
        """A block's name, also for known blocks this registry does not run."""
        block = self._by_id.get(block_id)
        return block.name if block else KNOWN_UNSUPPORTED.get(block_id)

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
