"""Pydantic models for AutoGPT's exported graph files, and `load_graph` to read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from company.graphs.config import GraphSettings
from company.graphs.errors import GraphLoadError

# Block ids renamed by AutoGPT in 2024 (frontend `updatedBlockIDMap`, PR #8229): older
# template exports still carry the invalid ids on the left.
LEGACY_BLOCK_IDS: dict[str, str] = {
    "a1b2c3d4-5e6f-7g8h-9i0j-k1l2m3n4o5p6": "436c3984-57fd-4b85-8e9a-459b356883bd",
    "b2g2c3d4-5e6f-7g8h-9i0j-k1l2m3n4o5p6": "0e50422c-6dee-4145-83d6-3a5a392f65de",
    "c3d4e5f6-7g8h-9i0j-1k2l-m3n4o5p6q7r8": "a0a69be1-4528-491c-a85a-a4ab6873e3f0",
    "c3d4e5f6-g7h8-i9j0-k1l2-m3n4o5p6q7r8": "32a87eab-381e-4dd4-bdb8-4c47151be35a",
    "b2c3d4e5-6f7g-8h9i-0j1k-l2m3n4o5p6q7": "87840993-2053-44b7-8da4-187ad4ee518c",
    "h1i2j3k4-5l6m-7n8o-9p0q-r1s2t3u4v5w6": "d0822ab5-9f8a-44a3-8971-531dd0178b6b",
    "d3f4g5h6-1i2j-3k4l-5m6n-7o8p9q0r1s2t": "df06086a-d5ac-4abb-9996-2ad0acb2eff7",
    "h5e7f8g9-1b2c-3d4e-5f6g-7h8i9j0k1l2m": "f5b0f5d0-1862-4d61-94be-3ad0fa772760",
    "a1234567-89ab-cdef-0123-456789abcdef": "4335878a-394e-4e67-adf2-919877ff49ae",
    "f8e7d6c5-b4a3-2c1d-0e9f-8g7h6i5j4k3l": "f66a3543-28d3-4ab5-8945-9b336371e2ce",
    "b29c1b50-5d0e-4d9f-8f9d-1b0e6fcbf0h2": "716a67b3-6760-42e7-86dc-18645c6e00fc",
    "31d1064e-7446-4693-o7d4-65e5ca9110d1": "cc10ff7b-7753-4ff2-9af6-9399b1a7eddc",
    "c6731acb-4105-4zp1-bc9b-03d0036h370g": "5ebe6768-8e5d-41e3-9134-1c7bd89a8d52",
}


# Sub-graphs nested inside sub-graphs (AutoGPT exports list them all at the top level).
MAX_SUBGRAPH_NESTING = 16
_SHORT = 120


def _null_as(default: Any) -> BeforeValidator:
    """A `before` validator that replaces an explicit JSON null with `default()`."""
    return BeforeValidator(lambda value: default() if value is None else value)


NullableDict = Annotated[dict[str, Any], _null_as(dict)]
NullableStr = Annotated[str, _null_as(str)]


class Link(BaseModel):
    """A wire from one node's output pin to another node's input pin."""

    model_config = ConfigDict(extra="allow")

    id: str = ""
    source_id: str
    sink_id: str
    source_name: str
    sink_name: str
    is_static: bool = False

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of the wire regardless of its id."""
        return (self.source_id, self.source_name, self.sink_id, self.sink_name)

    def describe(self) -> str:
        """Short human form: `source.pin -> sink.pin`."""
        return f"{self.source_id[:8]}.{self.source_name} -> {self.sink_id[:8]}.{self.sink_name}"


class Node(BaseModel):
    """One block placed in a graph, with its default input values."""

    model_config = ConfigDict(extra="allow")

    id: str
    block_id: str
    input_default: NullableDict = Field(default_factory=dict)
    metadata: NullableDict = Field(default_factory=dict)
    input_links: Annotated[list[Link], _null_as(list)] = Field(default_factory=list)
    output_links: Annotated[list[Link], _null_as(list)] = Field(default_factory=list)


class Graph(BaseModel):
    """An AutoGPT agent graph: nodes, links and the sub-graphs its agent blocks call."""

    model_config = ConfigDict(extra="allow")

    id: NullableStr = ""
    version: int = 1
    name: NullableStr = ""
    description: NullableStr = ""
    is_active: bool = True
    is_template: bool = False
    nodes: list[Node]
    links: Annotated[list[Link], _null_as(list)] = Field(default_factory=list)
    sub_graphs: Annotated[list[Graph], _null_as(list)] = Field(default_factory=list)

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError when absent)."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def find_sub_graph(self, graph_id: str, version: int | None = None) -> Graph | None:
        """The sub-graph with this id (and version when given), searched depth-first."""
        for sub in self.sub_graphs:
            if sub.id == graph_id and (version is None or sub.version == version):
                return sub
        for sub in self.sub_graphs:
            if found := sub.find_sub_graph(graph_id, version):
                return found
        return None

    @property
    def title(self) -> str:
        """The graph's name, or its id when unnamed."""
        return self.name or self.id or "<unnamed graph>"


def _short(text: Any) -> str:
    """A name or message cut to a readable length."""
    text = str(text)
    return text if len(text) <= _SHORT else f"{text[:_SHORT]}…"


def _format_pydantic_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ""
    for part in first["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
    return f"{_short(loc or 'graph')}: {_short(first['msg'].lower())}{more}"


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _check_counts(data: dict[str, Any], settings: GraphSettings, source: str) -> None:
    """Count nodes and links (sub-graphs included) on the raw JSON, before building objects."""
    nodes = links = 0
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        graph, depth = pending.pop()
        if not isinstance(graph, dict):
            continue
        if depth > MAX_SUBGRAPH_NESTING:
            raise GraphLoadError(
                f"{source}: sub-graphs nested deeper than {MAX_SUBGRAPH_NESTING} levels"
            )
        node_list = graph.get("nodes")
        nodes += _length(node_list)
        links += _length(graph.get("links"))
        for node in node_list if isinstance(node_list, list) else ():
            if isinstance(node, dict):
                links += _length(node.get("input_links")) + _length(node.get("output_links"))
        if nodes > settings.max_graph_nodes:
            raise GraphLoadError(
                f"{source}: over {settings.max_graph_nodes:,} nodes (max_graph_nodes limit)"
            )
        if links > settings.max_graph_links:
            raise GraphLoadError(
                f"{source}: over {settings.max_graph_links:,} links (max_graph_links limit)"
            )
        subs = graph.get("sub_graphs")
        pending.extend((sub, depth + 1) for sub in (subs if isinstance(subs, list) else ()))


def _normalise(graph: Graph, where: str) -> None:
    """Map legacy block ids, merge per-node links into `links` and check references."""
    seen: set[str] = set()
    for node in graph.nodes:
        if node.id in seen:
            raise GraphLoadError(f"{where}: duplicate node id '{_short(node.id)}'")
        seen.add(node.id)
        node.block_id = LEGACY_BLOCK_IDS.get(node.block_id, node.block_id)

    merged: dict[tuple[str, str, str, str], Link] = {}
    candidates = list(graph.links)
    for node in graph.nodes:
        candidates.extend(node.input_links)
        candidates.extend(node.output_links)
    for link in candidates:
        if link.key in merged:
            merged[link.key].is_static = merged[link.key].is_static or link.is_static
        else:
            merged[link.key] = link.model_copy()
    graph.links = list(merged.values())

    for link in graph.links:
        for end, node_id in (("source", link.source_id), ("sink", link.sink_id)):
            if node_id not in seen:
                raise GraphLoadError(
                    f"{where}: link {_short(link.id or '?')} ({_short(link.describe())}) refers "
                    f"to unknown {end} node '{_short(node_id)}'"
                )
    for index, sub in enumerate(graph.sub_graphs):
        _normalise(sub, f"{where}: sub_graphs[{index}] ('{_short(sub.title)}')")


def parse_graph(
    data: Any, source: str = "<graph>", settings: GraphSettings | None = None
) -> Graph:
    """Build a `Graph` from decoded JSON (an export, or `{"graph": {...}}` as AutoGPT posts it).

    Graphs over the node, link or nesting limits of `settings` are refused before any object
    is built; every problem raises `GraphLoadError`.
    """
    if isinstance(data, dict) and "nodes" not in data and isinstance(data.get("graph"), dict):
        data = data["graph"]
    if not isinstance(data, dict):
        raise GraphLoadError(f"{source}: expected a JSON object, got {type(data).__name__}")
    _check_counts(data, settings or GraphSettings(), source)
    try:
        graph = Graph.model_validate(data)
    except ValidationError as err:
        raise GraphLoadError(f"{source}: {_format_pydantic_error(err)}") from None
    except RecursionError:
        raise GraphLoadError(f"{source}: the graph is nested too deeply") from None
    _normalise(graph, source)
    return graph


def _read_limited(path: Path, limit: int) -> bytes:
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise GraphLoadError(
            f"{path}: file is over {limit:,} bytes (max_graph_file_bytes limit)"
        )
    return data


def load_graph(path: str | Path, settings: GraphSettings | None = None) -> Graph:
    """Read an AutoGPT graph export; raise `GraphLoadError` naming the file and the problem."""
    path = Path(path)
    settings = settings or GraphSettings()
    try:
        if path.stat().st_size > settings.max_graph_file_bytes:
            raise GraphLoadError(
                f"{path}: file is over {settings.max_graph_file_bytes:,} bytes "
                "(max_graph_file_bytes limit)"
            )
        text = _read_limited(path, settings.max_graph_file_bytes).decode("utf-8")
    except FileNotFoundError:
        raise GraphLoadError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GraphLoadError(f"{path}: cannot read file: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise GraphLoadError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise GraphLoadError(f"{path}: invalid JSON: {err}") from None
    except RecursionError:
        raise GraphLoadError(f"{path}: invalid JSON: nested too deeply") from None
    return parse_graph(data, str(path), settings)
