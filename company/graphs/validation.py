"""Checks done before a run starts: supported blocks, pins, required inputs, graph inputs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from company.graphs.blocks.base import Block, BlockType
from company.graphs.blocks.registry import BlockRegistry
from company.graphs.config import GraphSettings
from company.graphs.errors import GraphValidationError, UnsupportedBlocksError
from company.graphs.interface import graph_inputs
from company.graphs.model import Graph, Node
from company.graphs.pins import base_pin


def iter_graphs(graph: Graph) -> Iterator[Graph]:
    """The graph and all its nested sub-graphs."""
    yield graph
    for sub in graph.sub_graphs:
        yield from iter_graphs(sub)


def unsupported_blocks(graph: Graph, registry: BlockRegistry) -> dict[str, list[str]]:
    """The block ids of the graph and its sub-graphs that the registry lacks, with the ids of
    the nodes that use each (in file order)."""
    nodes: dict[str, list[str]] = defaultdict(list)
    for g in iter_graphs(graph):
        for node in g.nodes:
            if node.block_id not in registry:
                nodes[node.block_id].append(node.id)
    return dict(nodes)


def unsupported_labels(graph: Graph, registry: BlockRegistry) -> list[str]:
    """Each block the registry lacks, for people: `GmailSendBlock (google.gmail: needs a Google
    account)` or `unknown block <id> (not in AutoGPT's block list)`."""
    return [registry.describe(block_id) for block_id in unsupported_blocks(graph, registry)]


def missing_credentials(graph: Graph, registry: BlockRegistry,
                        settings: GraphSettings) -> list[str]:
    """What keys the graph's blocks lack with these settings, once per block (AutoGPT's
    credentials, read here from our config or environment by provider)."""
    found: list[str] = []
    for g in iter_graphs(graph):
        for node in g.nodes:
            block = registry.get(node.block_id)
            problem = block.missing_credentials(settings) if block is not None else None
            if problem and problem not in found:
                found.append(problem)
    return found


def check_supported(graph: Graph, registry: BlockRegistry) -> None:
    """Raise `UnsupportedBlocksError` naming every block the registry lacks: its AutoGPT class,
    module, the service it needs, its id and the nodes that use it."""
    nodes = unsupported_blocks(graph, registry)
    if nodes:
        names = {block_id: registry.name_of(block_id) for block_id in nodes}
        raise UnsupportedBlocksError(graph.title, names, nodes)


def _ordered(block: Block, names: set[str]) -> list[str]:
    order = list(block.Input.model_fields)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _check_node(
    node: Node, block: Block, linked: set[str], root: Graph, errors: dict[str, str]
) -> None:
    provided = {base_pin(k) for k in block.node_defaults(node)} | {base_pin(n) for n in linked}
    for name in _ordered(block, set(block.required_inputs(node)) - provided):
        errors[name] = "This field is required"
    if block.block_type == BlockType.AGENT:
        missing_config = block.config_missing(node)  # type: ignore[attr-defined]
        for name in missing_config:
            errors[name] = "This field is required"
        if not missing_config:
            graph_id = node.input_default["graph_id"]
            version = node.input_default["graph_version"]
            if root.find_sub_graph(graph_id, version) is None:
                errors["graph_id"] = f"sub-graph {graph_id} v{version} is not in sub_graphs"


def _check_links(graph: Graph, registry: BlockRegistry, errors: dict[str, dict[str, str]]) -> None:
    nodes = {n.id: n for n in graph.nodes}
    for link in graph.links:
        source, sink = nodes[link.source_id], nodes[link.sink_id]
        source_block, sink_block = registry.get(source.block_id), registry.get(sink.block_id)
        assert source_block is not None and sink_block is not None
        outputs = source_block.output_pins(source)
        if base_pin(link.source_name) not in outputs:
            errors[source.id][link.source_name] = (
                f"output pin does not exist on {source_block.name} "
                f"(pins: {', '.join(sorted(outputs))})"
            )
        inputs = sink_block.input_pins(sink)
        if base_pin(link.sink_name) not in inputs:
            errors[sink.id][link.sink_name] = (
                f"input pin does not exist on {sink_block.name} (pins: {', '.join(sorted(inputs))})"
            )


def _check_structure(
    graph: Graph, registry: BlockRegistry, root: Graph
) -> dict[str, dict[str, str]]:
    errors: dict[str, dict[str, str]] = defaultdict(dict)
    _check_links(graph, registry, errors)
    linked: dict[str, set[str]] = defaultdict(set)
    for link in graph.links:
        linked[link.sink_id].add(link.sink_name)
    has_start = False
    for node in graph.nodes:
        block = registry.get(node.block_id)
        assert block is not None
        if block.block_type == BlockType.NOTE:
            continue
        has_start = has_start or block.block_type == BlockType.INPUT or not linked[node.id]
        _check_node(node, block, linked[node.id], root, errors[node.id])
    if not has_start:
        errors["graph"]["nodes"] = "no starting node: add an input block or a node without links"
    return {k: v for k, v in errors.items() if v}


def _describe(graph: Graph, registry: BlockRegistry, node_errors: dict[str, dict[str, str]]) -> str:
    parts = []
    names = {n.id: registry.name_of(n.block_id) for n in graph.nodes}
    for node_id, fields in node_errors.items():
        required = [f for f, msg in fields.items() if msg == "This field is required"]
        others = [f"{f}: {msg}" for f, msg in fields.items() if msg != "This field is required"]
        text = []
        if required:
            text.append(
                "missing required inputs "
                + ", ".join(required)
                + " (no default value and no incoming link)"
            )
        text.extend(others)
        label = f"node {node_id} ({names[node_id]})" if node_id in names else node_id
        parts.append(f"{label}: " + "; ".join(text))
    return "; ".join(parts)


def check_graph(
    graph: Graph, registry: BlockRegistry, inputs: dict[str, Any] | None = None
) -> None:
    """Refuse a graph that cannot run: unsupported blocks, bad pins, missing required inputs."""
    check_supported(graph, registry)
    for g in iter_graphs(graph):
        node_errors = _check_structure(g, registry, graph)
        if node_errors:
            where = "graph" if g is graph else "sub-graph"
            raise GraphValidationError(
                f"{where} '{g.title}' failed validation: {_describe(g, registry, node_errors)}",
                node_errors,
            )
    if inputs is not None:
        check_inputs(graph, registry, inputs)


def check_inputs(graph: Graph, registry: BlockRegistry, inputs: dict[str, Any]) -> None:
    """Refuse a run whose inputs lack a required graph input."""
    specs = graph_inputs(graph, registry)
    missing = [s.name for s in specs if s.required and inputs.get(s.name) is None]
    if missing:
        expected = ", ".join(
            f"{s.name} ({s.type}{', required' if s.required else ''})" for s in specs
        )
        raise GraphValidationError(
            f"graph '{graph.title}' is missing required inputs: {', '.join(missing)} "
            f"(expected inputs: {expected})",
            {s.node_id: {"value": "This field is required"} for s in specs if s.name in missing},
        )
