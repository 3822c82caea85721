"""Property-based tests of the graph loader: whatever the input, a graph or a GraphLoadError.

Inputs: random JSON values, real exports (shared AutoGPT graphs and the shipped catalogue)
with random parts replaced, removed or duplicated, and their JSON text truncated or with
bytes flipped. Seeds that once found bugs are kept as `@example`s. For a deeper search set
COMPANY_FUZZ_EXAMPLES (e.g. 5000) when running this file.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from company.graphs.config import GraphSettings
from company.graphs.errors import GraphError, GraphLoadError
from company.graphs.model import Graph, load_graph, parse_graph

ROOT = Path(__file__).resolve().parents[1]
REAL_FILES = sorted(
    [*(ROOT.parent / "shared" / "autogpt" / "graphs").glob("*.json"),
     *(ROOT / "config" / "graphs").glob("*.json")]
)
REAL_GRAPHS = [json.loads(path.read_text()) for path in REAL_FILES]
SMALL_LIMITS = GraphSettings(max_graph_nodes=6, max_graph_links=6, max_graph_file_bytes=20_000)
EXAMPLES = int(os.environ.get("COMPANY_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 150,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEYS = st.sampled_from(
    ["nodes", "links", "sub_graphs", "id", "block_id", "input_default", "metadata", "name",
     "version", "source_id", "sink_id", "source_name", "sink_name", "is_static", "graph",
     "input_links", "output_links", "description", "is_template"]
) | st.text(max_size=8)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)


def _loads_or_refuses(data: Any, limits: GraphSettings | None = None) -> Graph | None:
    try:
        return parse_graph(data, "<fuzz>", limits)
    except GraphLoadError as err:
        assert str(err).startswith("<fuzz>")
        assert len(str(err)) < 2000
        return None


def _load_text(text: bytes, limits: GraphSettings | None = None) -> Graph | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.json"
        path.write_bytes(text)
        try:
            return load_graph(path, limits)
        except GraphLoadError as err:
            assert str(err).startswith(str(path))
            return None


@FUZZ
@given(JSON)
@example({"nodes": [{"id": "a", "block_id": "b", "input_default": {"name": ["unhashable"]}}]})
@example({"nodes": [], "sub_graphs": [{"nodes": [], "sub_graphs": None}]})
@example({"graph": {"nodes": [{"id": "x" * 5000, "block_id": 1}]}})
def test_random_json_loads_or_raises_graph_load_error(data: Any) -> None:
    _loads_or_refuses(data)
    _loads_or_refuses(data, SMALL_LIMITS)
    _loads_or_refuses({"nodes": [data], "links": [data], "sub_graphs": [data]})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists (the root excluded)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated_graphs(draw: st.DrawFn) -> Any:
    """A real export with a few parts replaced, deleted or duplicated."""
    graph = copy.deepcopy(draw(st.sampled_from(REAL_GRAPHS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(graph)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = graph
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "null"]))
        if action == "replace":
            parent[key] = draw(JSON)
        elif action == "null":
            parent[key] = None
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key], copy.deepcopy(parent[key])]
    return graph


@FUZZ
@given(mutated_graphs())
def test_mutated_real_graphs_load_or_raise_graph_load_error(data: Any) -> None:
    graph = _loads_or_refuses(data)
    _loads_or_refuses(data, SMALL_LIMITS)
    if graph is not None:
        assert isinstance(graph, Graph)
        _runner_check_is_clean(graph)


def _runner_check_is_clean(graph: Graph) -> None:
    """A loaded graph is accepted or refused by the runner's checks with a GraphError."""
    from company.graphs.runner import GraphRunner

    try:
        GraphRunner().check(graph)
    except GraphError:
        pass


@FUZZ
@given(st.sampled_from(REAL_FILES), st.data())
@example(REAL_FILES[0], None)
def test_damaged_graph_files_load_or_raise_graph_load_error(path: Path, data: Any) -> None:
    text = bytearray(path.read_bytes())
    if data is not None:
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] if data.draw(st.booleans()) else text
        for _ in range(data.draw(st.integers(0, 3))):
            if text:
                text[data.draw(st.integers(0, len(text) - 1))] = data.draw(st.integers(0, 255))
    _load_text(bytes(text))
    _load_text(bytes(text), SMALL_LIMITS)


def test_hostile_files_are_refused_with_graph_load_error() -> None:
    """Seeds found by the fuzzers and the hostile tester, kept as plain regression cases."""
    cases = [
        b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the JSON parser's recursion
        b'{"nodes": [], "version": ' + b"9" * 5000 + b"}",  # int over 4,300 digits
        b'{"nodes": [], "name": "\\ud800"}',  # lone surrogate: loads, as Python allows
        b"\xff\xfe{}",  # not UTF-8
        json.dumps({"nodes": [{"id": str(i), "block_id": "b"} for i in range(5000)]}).encode(),
    ]
    for text in cases:
        _load_text(text)


# ----- what loads also runs: a GraphRun or a GraphError, never another exception -----


async def _run_or_refuse(graph: Graph, inputs: dict[str, Any]) -> None:
    import httpx

    from company.graphs.results import GraphRun
    from company.graphs.runner import GraphRunner

    run_settings = GraphSettings(
        timeout_s=3, max_node_executions=200, allow_private_network=True, block_cpu_timeout_s=1
    )
    transport = httpx.MockTransport(lambda request: httpx.Response(404, text="no"))
    runner = GraphRunner(run_settings, http_transport=transport)
    try:
        assert isinstance(await runner.run(graph, inputs), GraphRun)
    except GraphError:
        pass


RUN_FUZZ = settings(
    max_examples=EXAMPLES or 60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@RUN_FUZZ
@given(mutated_graphs(), st.data())
@example(
    {"nodes": [{"id": "a", "block_id": "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b",
                "input_default": {"name": ["unhashable"], "value": 1}}]},
    None,
)
@example(
    {"nodes": [{"id": "a", "block_id": "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b",
                "input_default": {"name": "x", "description": True, "placeholder_values": 3}}]},
    None,
)
def test_loaded_graphs_run_or_are_refused_cleanly(data: Any, draw: Any) -> None:
    import asyncio

    graph = _loads_or_refuses(data)
    if graph is None:
        return
    found = (node.input_default.get("name") for node in graph.nodes)
    names = sorted({name for name in found if isinstance(name, str)})
    inputs = {name: draw.draw(JSON) for name in names} if draw is not None else {}
    asyncio.run(_run_or_refuse(graph, inputs))
