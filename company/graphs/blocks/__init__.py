"""AutoGPT-compatible blocks, grouped by theme, and their registry."""

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema, BlockType
from company.graphs.blocks.registry import BlockRegistry, default_registry

__all__ = [
    "Block",
    "BlockContext",
    "BlockOutput",
    "BlockRegistry",
    "BlockSchema",
    "BlockType",
    "default_registry",
]
