"""The tools a SmartDecisionMakerBlock node offers its model, built as AutoGPT builds them: one
OpenAI function per node linked from the decision node's tool pins, its parameters the linked
pins (described by the sink block's input schema, or by the sub-graph's for an agent node)."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from company.graphs.blocks.base import Block, BlockType
from company.graphs.blocks.registry import BlockRegistry
from company.graphs.llm_port import GraphToolCall
from company.graphs.model import Graph, Link, Node
from company.graphs.pins import (
    DICT_SPLIT,
    LIST_SPLIT,
    OBJC_SPLIT,
    base_pin,
    is_dynamic,
    is_tool_pin,
    split_pin,
)

MAX_REF_DEPTH = 20


@dataclass(frozen=True)
class ToolSpec:
    """One tool offered to the model, and where its arguments go."""

    definition: dict[str, Any]  # {"type": "function", "function": {name, description, parameters}}
    sink_node_id: str
    field_mapping: dict[str, str] = field(default_factory=dict)  # argument name -> sink pin

    @property
    def name(self) -> str:
        """The function name the model calls."""
        return self.definition["function"]["name"]

    @property
    def parameters(self) -> dict[str, Any]:
        """The function's JSON-schema parameters."""
        return self.definition["function"]["parameters"]


def cleanup(name: str) -> str:
    """A name fit for a function or argument name (AutoGPT's rule: `[a-zA-Z0-9_-]`, lower)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name).lower()


def tool_links(graph: Graph, node_id: str) -> dict[str, list[Link]]:
    """The decision node's tool links, grouped by sink node in link order."""
    grouped: dict[str, list[Link]] = {}
    for link in graph.links:
        if link.source_id == node_id and is_tool_pin(link.source_name):
            grouped.setdefault(link.sink_id, []).append(link)
    return grouped


def tool_specs(graph: Graph, node_id: str, registry: BlockRegistry) -> list[ToolSpec]:
    """One tool per node linked from this node's tool pins; ValueError when there is none."""
    grouped = tool_links(graph, node_id)
    if not grouped:
        raise ValueError("There is no next node to execute: link a block or an agent to this "
                         "node's `tools` output to offer it as a tool.")
    specs: list[ToolSpec] = []
    used: set[str] = set()
    for sink_id, links in grouped.items():
        node = graph.node(sink_id)
        block = registry.get(node.block_id)
        if block is None:
            raise ValueError(f"tool node {sink_id} has a block this runner does not know")
        if block.block_type == BlockType.AGENT:
            spec = _agent_tool(graph, node, links)
        else:
            spec = _block_tool(node, block, links)
        name = _unique(spec.name, used)
        if name != spec.name:
            spec.definition["function"]["name"] = name
        specs.append(spec)
    return specs


def _unique(name: str, used: set[str]) -> str:
    """`name`, or `name_2`, `name_3`... when two tool nodes would share it."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}_{n}"
    used.add(candidate)
    return candidate


def _block_tool(node: Node, block: Block, links: list[Link]) -> ToolSpec:
    """A block as a tool: its linked pins, described by the block's input schema."""
    schema = _input_schema(type(block))
    fields = schema.get("properties") or {}
    required_base = block.required_inputs(node)
    properties: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    required: set[str] = set()
    for link in links:
        pin = link.sink_name
        clean = cleanup(pin)
        mapping[clean] = pin
        if is_dynamic(pin):
            properties[clean] = {"type": "string", "description": _dynamic_description(pin)}
        else:
            own = fields.get(pin)
            properties[clean] = (copy.deepcopy(own) if own else
                                 {"type": "string", "description": f"Value for {pin}"})
        if base_pin(pin) in required_base:
            required.add(clean)
    custom = node.metadata.get("customized_name")
    name = cleanup(custom if isinstance(custom, str) and custom else block.name)
    definition = {"type": "function", "function": {
        "name": name,
        "description": _describe(block),
        "parameters": {"type": "object", "properties": properties,
                       "additionalProperties": False, "required": sorted(required)},
    }}
    return ToolSpec(definition, node.id, mapping)


def _agent_tool(graph: Graph, node: Node, links: list[Link]) -> ToolSpec:
    """An agent (sub-graph) node as a tool: its linked inputs, described by its input schema."""
    defaults = node.input_default
    sub = graph.find_sub_graph(str(defaults.get("graph_id") or ""), defaults.get("graph_version"))
    schema = defaults.get("input_schema") if isinstance(defaults.get("input_schema"), dict) else {}
    fields = schema.get("properties") or {}
    properties: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for link in links:
        pin = link.sink_name
        clean = cleanup(pin)
        mapping[clean] = pin
        own = fields.get(pin) if isinstance(fields.get(pin), dict) else {}
        kind = own.get("type") if isinstance(own.get("type"), str) else "string"
        prop: dict[str, Any] = {"type": kind,
                                "description": own.get("description") or f"The {pin} of the tool"}
        if "default" in own:
            prop["default"] = own["default"]
        properties[clean] = prop
    custom = node.metadata.get("customized_name")
    title = (custom if isinstance(custom, str) and custom else
             (sub.name if sub and sub.name else None) or defaults.get("agent_name")
             or str(defaults.get("graph_id") or "agent"))
    definition = {"type": "function", "function": {
        "name": cleanup(str(title)),
        "description": (sub.description if sub else "") or "",
        "parameters": {"type": "object", "properties": properties,
                       "additionalProperties": False},
    }}
    return ToolSpec(definition, node.id, mapping)


def _describe(block: Block) -> str:
    """The block's description, else the first paragraph of its docstring."""
    if block.description:
        return block.description
    doc = (type(block).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def _dynamic_description(pin: str) -> str:
    """What a dynamic sink pin (`values_#_key`, `items_$_0`, `obj_@_attr`) stands for."""
    base, steps = split_pin(pin)
    kind, key = steps[-1]
    if kind == DICT_SPLIT:
        return f"Dictionary entry '{key}' of the field '{base}' ({base}['{key}'])"
    if kind == LIST_SPLIT:
        return f"List item {key} of the field '{base}' ({base}[{key}])"
    if kind == OBJC_SPLIT:
        return f"Attribute '{key}' of the field '{base}' ({base}.{key})"
    return f"Value for {pin}"


@lru_cache(maxsize=256)
def _input_schema(block_class: type[Block]) -> dict[str, Any]:
    """The block's input JSON schema with `$ref`s inlined ({} when it has none)."""
    try:
        schema = block_class.Input.model_json_schema()
    except Exception:  # noqa: BLE001 - a field pydantic cannot describe: generic parameters
        return {}
    defs = schema.get("$defs") or {}
    return _inline(schema, defs, 0)


def _inline(value: Any, defs: dict[str, Any], depth: int) -> Any:
    """`value` with `{"$ref": "#/$defs/X"}` replaced by X (bounded, for recursive models)."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < MAX_REF_DEPTH:
            target = defs.get(ref.rsplit("/", 1)[-1], {})
            rest = {k: v for k, v in value.items() if k != "$ref"}
            return {**_inline(target, defs, depth + 1), **_inline(rest, defs, depth + 1)}
        return {k: _inline(v, defs, depth) for k, v in value.items() if k != "$defs"}
    if isinstance(value, list):
        return [_inline(v, defs, depth) for v in value]
    return value


def spec_for(name: str, specs: Sequence[ToolSpec]) -> ToolSpec | None:
    """The tool a call names; with a single tool any name means it (AutoGPT's rule)."""
    for spec in specs:
        if spec.name == name:
            return spec
    return specs[0] if len(specs) == 1 else None


def call_errors(calls: Sequence[GraphToolCall], specs: Sequence[ToolSpec]) -> list[str]:
    """What is wrong with the model's tool calls: unknown tools, arguments that are not a JSON
    object, unknown or missing required parameters (empty when all are valid)."""
    errors: list[str] = []
    for call in calls:
        if call.arguments_error:
            errors.append(f"Tool call '{call.name}' has invalid JSON arguments: "
                          f"{call.arguments_error}")
            continue
        spec = spec_for(call.name, specs)
        if spec is None:
            known = ", ".join(s.name for s in specs)
            errors.append(f"Tool call for '{call.name}' does not match any known tool "
                          f"definition (tools: {known}).")
            continue
        expected = set(spec.parameters.get("properties") or {})
        required = set(spec.parameters.get("required") or [])
        unknown = set(call.arguments) - expected
        missing = required - set(call.arguments)
        if unknown or missing:
            text = f"Tool call '{call.name}' has parameter errors:"
            if unknown:
                text += f" Unknown parameters: {sorted(unknown)}."
            if missing:
                text += f" Missing required parameters: {sorted(missing)}."
            text += f" Expected parameters: {sorted(expected)}."
            if required:
                text += f" Required parameters: {sorted(required)}."
            errors.append(text)
    return errors
