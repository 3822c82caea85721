"""A graph's interface: its inputs and outputs, read from its input and output blocks."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, Field

from company.graphs.blocks.base import BlockType
from company.graphs.blocks.registry import BlockRegistry
from company.graphs.model import Graph


class InputSpec(BaseModel):
    """One graph input (an input block)."""

    name: str
    type: str = "any"
    required: bool = True
    default: Any = None
    description: str = ""
    options: list[str] = Field(default_factory=list)
    node_id: str = ""


class OutputSpec(BaseModel):
    """One graph output (an output block)."""

    name: str
    description: str = ""
    node_id: str = ""
    prose: bool = False
    """Every value it gets is text a model wrote for a reader (``Block.prose_outputs``)."""


_TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _text(value: Any) -> str:
    """A description or title as text (graph files may hold anything there)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _annotation_type(annotation: Any) -> str | None:
    if annotation in _TYPE_NAMES:
        return _TYPE_NAMES[annotation]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if len(args) == 1 and args[0] in _TYPE_NAMES:
        return _TYPE_NAMES[args[0]]
    return None


def _inferred_type(graph: Graph, node_id: str, registry: BlockRegistry) -> str:
    """Type of a generic input, from the pins its value flows into (when they all agree)."""
    found: set[str] = set()
    for link in graph.links:
        if link.source_id != node_id:
            continue
        sink = next((n for n in graph.nodes if n.id == link.sink_id), None)
        block = registry.get(sink.block_id) if sink else None
        field = block.Input.model_fields.get(link.sink_name) if block else None
        if field is None or (kind := _annotation_type(field.annotation)) is None:
            return "any"
        found.add(kind)
    return found.pop() if len(found) == 1 else "any"


def graph_inputs(graph: Graph, registry: BlockRegistry) -> list[InputSpec]:
    """Inputs in node order; an input without a default value is required."""
    specs: list[InputSpec] = []
    for node in graph.nodes:
        block = registry.get(node.block_id)
        if block is None or block.block_type != BlockType.INPUT:
            continue
        values = node.input_default
        name = values.get("name")
        if not isinstance(name, str) or not name:
            continue
        kind = getattr(block, "value_type", "any")
        if kind == "any":
            kind = _inferred_type(graph, node.id, registry)
        default = values.get("value")
        if default == "" and kind != "string":
            default = None
        placeholders = values.get("placeholder_values")
        options = [str(o) for o in placeholders] if isinstance(placeholders, list) else []
        specs.append(
            InputSpec(
                name=name,
                type=kind,
                required=default is None,
                default=default,
                description=_text(values.get("description") or values.get("title")),
                options=options if block.name == "AgentDropdownInputBlock" else [],
                node_id=node.id,
            )
        )
    return specs


def graph_outputs(graph: Graph, registry: BlockRegistry) -> list[OutputSpec]:
    """Outputs in node order (one per distinct name)."""
    specs: dict[str, OutputSpec] = {}
    for node in graph.nodes:
        block = registry.get(node.block_id)
        if block is None or block.block_type != BlockType.OUTPUT:
            continue
        name = node.input_default.get("name")
        if isinstance(name, str) and name and name not in specs:
            description = _text(node.input_default.get("description"))
            specs[name] = OutputSpec(name=name, description=description, node_id=node.id,
                                     prose=_fed_prose(graph, node.id, registry))
    return list(specs.values())


def _fed_prose(graph: Graph, node_id: str, registry: BlockRegistry) -> bool:
    """Whether an output node's value comes only from pins that hold a model's prose (a
    loaded graph's links name nodes it has: ``model._normalise`` checks them)."""
    feeds = [link for link in graph.links if link.sink_id == node_id]
    return bool(feeds) and all(
        link.source_name in getattr(registry.get(graph.node(link.source_id).block_id),
                                    "prose_outputs", ())
        for link in feeds)
