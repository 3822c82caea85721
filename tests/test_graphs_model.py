"""Graph file loading, load errors, dynamic pins and value coercion."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from company.graphs.config import GraphSettings
from company.graphs.convert import ConversionError, convert
from company.graphs.errors import GraphLoadError
from company.graphs.model import load_graph, parse_graph
from company.graphs.pins import MISSING, extract, merge_dynamic_pins, split_pin

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "autogpt"
GRAPHS = SHARED / "graphs"


def test_loads_every_shared_export() -> None:
    loaded = {p.name: load_graph(p) for p in sorted(GRAPHS.glob("*.json"))}
    assert len(loaded) == 4
    ai = loaded["ai_function__agent_516d813b.json"]
    assert (ai.name, ai.version, len(ai.nodes), len(ai.links)) == ("AI Function", 18, 5, 4)
    static = {link.sink_name for link in ai.links if link.is_static}
    assert static == {
        "prompt_values_#_FUNCTION",
        "prompt_values_#_ARGS",
        "prompt_values_#_DESCRIPTION",
    }
    llm = ai.node("c5d16ee4-de9e-4d93-bf32-ac2d15760d5b")
    assert llm.input_default["model"] == "o3-mini"
    assert ai.model_extra and "input_schema" in ai.model_extra  # export extras are kept


def test_loads_older_template_format() -> None:
    graph = load_graph(GRAPHS / "discord_bot_chat_to_llm__template_v5.json")
    assert graph.is_template is True
    assert len(graph.nodes) == 8 and len(graph.links) == 11
    assert graph.sub_graphs == []
    assert all(node.input_links == [] for node in graph.nodes)


def test_per_node_links_are_merged_when_graph_links_are_missing() -> None:
    link = {
        "id": "l1",
        "source_id": "a",
        "sink_id": "b",
        "source_name": "result",
        "sink_name": "value",
        "is_static": True,
    }
    graph = parse_graph(
        {
            "id": "g",
            "nodes": [
                {"id": "a", "block_id": "x", "output_links": [link]},
                {"id": "b", "block_id": "y", "input_links": [link]},
            ],
        }
    )
    assert [(k.source_id, k.sink_id, k.is_static) for k in graph.links] == [("a", "b", True)]


def test_legacy_block_ids_are_mapped_and_graph_wrapper_is_accepted() -> None:
    graph = parse_graph(
        {
            "graph": {
                "nodes": [
                    {
                        "id": "n",
                        "block_id": "h5e7f8g9-1b2c-3d4e-5f6g-7h8i9j0k1l2m",
                        "input_default": None,
                    }
                ]
            }
        }
    )
    assert graph.nodes[0].block_id == "f5b0f5d0-1862-4d61-94be-3ad0fa772760"
    assert graph.nodes[0].input_default == {}


def test_sub_graphs_nest_and_are_found() -> None:
    inner = {"id": "inner", "version": 3, "nodes": []}
    middle = {"id": "middle", "version": 1, "nodes": [], "sub_graphs": [inner]}
    graph = parse_graph({"id": "top", "nodes": [], "sub_graphs": [middle]})
    assert graph.find_sub_graph("inner", 3).id == "inner"
    assert graph.find_sub_graph("inner", 4) is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.json"
    path.write_text(text)
    return path


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "nodes": [\n    {"id": "a",,}\n  ]\n}')
    with pytest.raises(GraphLoadError) as info:
        load_graph(path)
    assert str(info.value).startswith(f"{path}: invalid JSON at line 3 column 16")


def test_missing_field_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps({"nodes": [{"id": "a", "block_id": "b"}, {"id": "c"}]}))
    with pytest.raises(GraphLoadError, match=r"broken.json: nodes\[1\].block_id: field required"):
        load_graph(path)
    path = _write(tmp_path, json.dumps({"name": "no nodes"}))
    with pytest.raises(GraphLoadError, match="nodes: field required"):
        load_graph(path)


def test_link_to_unknown_node_is_named(tmp_path: Path) -> None:
    data = {
        "nodes": [{"id": "a", "block_id": "b"}],
        "links": [
            {"id": "l9", "source_id": "a", "sink_id": "ghost", "source_name": "x", "sink_name": "y"}
        ],
    }
    with pytest.raises(GraphLoadError, match="link l9 .* refers to unknown sink node 'ghost'"):
        load_graph(_write(tmp_path, json.dumps(data)))


def test_other_load_errors(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match="file not found"):
        load_graph(tmp_path / "nope.json")
    with pytest.raises(GraphLoadError, match="expected a JSON object, got list"):
        load_graph(_write(tmp_path, "[]"))
    dup = {"nodes": [{"id": "a", "block_id": "b"}, {"id": "a", "block_id": "c"}]}
    with pytest.raises(GraphLoadError, match="duplicate node id 'a'"):
        load_graph(_write(tmp_path, json.dumps(dup)))
    bad_sub = {
        "nodes": [],
        "sub_graphs": [
            {
                "name": "child",
                "nodes": [],
                "links": [{"source_id": "q", "sink_id": "r", "source_name": "x", "sink_name": "y"}],
            }
        ],
    }
    with pytest.raises(GraphLoadError, match=r"sub_graphs\[0\] \('child'\): link"):
        load_graph(_write(tmp_path, json.dumps(bad_sub)))


def test_dynamic_pin_names_split_and_merge_with_nesting() -> None:
    assert split_pin("values_#_people_$_0") == ("values", (("_#_", "people"), ("_$_", "0")))
    defaults = {"values": {"keep": 1}, "items": ["a"]}
    merged = merge_dynamic_pins(
        {
            **defaults,
            "values_#_new": 2,
            "values_#_people_$_1": "bob",
            "items_$_2": "c",
            "obj_@_colour": "red",
        }
    )
    assert merged["values"] == {"keep": 1, "new": 2, "people": ["", "bob"]}
    assert merged["items"] == ["a", "", "c"]
    assert merged["obj"] == SimpleNamespace(colour="red")
    assert "values_#_new" not in merged
    assert defaults == {"values": {"keep": 1}, "items": ["a"]}  # defaults untouched


def test_dynamic_output_extraction() -> None:
    value = {"a": [10, {"b": "deep"}]}
    assert extract(value, split_pin("x_#_a_$_1_#_b")[1]) == "deep"
    assert extract(value, split_pin("x_#_zzz")[1]) is MISSING
    assert extract([1], split_pin("x_$_5")[1]) is MISSING
    assert extract(SimpleNamespace(size=3), split_pin("x_@_size")[1]) == 3


def test_convert_follows_autogpt_rules() -> None:
    assert convert("3.5", float) == 3.5
    assert convert("7", int) == 7
    assert convert(5, str) == "5"
    assert convert({"a": 1}, str) == '{"a": 1}'
    assert convert("[1, 2]", list) == [1, 2]
    assert convert("plain", list) == ["plain"]
    assert convert([1, 2], list[str]) == ["1", "2"]
    assert convert('{"k": 1}', dict) == {"k": 1}
    assert convert("true", bool) is True and convert("no way", bool) is False
    assert convert("4", int | None) == 4 and convert(None, int | None) is None
    assert convert([1, 2, 3], int) == 3  # collections count, as AutoGPT
    with pytest.raises(ConversionError):
        convert("abc", float)


# ----- L4: size limits at load, before any object is built -----


def _many_nodes(count: int, links: int = 0) -> dict:
    return {
        "nodes": [{"id": f"n{i}", "block_id": "b"} for i in range(count)],
        "links": [
            {"source_id": "n0", "sink_id": "n0", "source_name": f"o{i}", "sink_name": "i"}
            for i in range(links)
        ],
    }


def test_node_count_limit_refuses_a_huge_graph_quickly(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(_many_nodes(100_000)))
    begin = time.monotonic()
    with pytest.raises(GraphLoadError, match=r"over 2,000 nodes \(max_graph_nodes limit\)"):
        load_graph(path, GraphSettings(max_graph_file_bytes=10**8))
    assert time.monotonic() - begin < 2


def test_file_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(_many_nodes(100_000)))  # ~3 MB
    with pytest.raises(GraphLoadError, match=r"over 1,000,000 bytes \(max_graph_file_bytes"):
        load_graph(path, GraphSettings(max_graph_file_bytes=1_000_000))


def test_link_and_sub_graph_limits() -> None:
    settings = GraphSettings(max_graph_nodes=50, max_graph_links=10)
    with pytest.raises(GraphLoadError, match=r"over 10 links \(max_graph_links limit\)"):
        parse_graph(_many_nodes(2, links=11), settings=settings)
    per_node = {"nodes": [{"id": "a", "block_id": "b", "input_links": [{}] * 11}]}
    with pytest.raises(GraphLoadError, match="max_graph_links"):
        parse_graph(per_node, settings=settings)
    nested = {"nodes": [], "sub_graphs": [_many_nodes(30), _many_nodes(30)]}
    with pytest.raises(GraphLoadError, match="max_graph_nodes"):
        parse_graph(nested, settings=settings)
    deep: dict = {"nodes": []}
    for _ in range(40):
        deep = {"nodes": [], "sub_graphs": [deep]}
    with pytest.raises(GraphLoadError, match="nested deeper than 16"):
        parse_graph(deep)
    assert len(parse_graph(_many_nodes(50, links=10), settings=settings).nodes) == 50


def test_default_limits_accept_every_shipped_graph() -> None:
    catalogue = Path(__file__).resolve().parents[1] / "config" / "graphs"
    for path in [*GRAPHS.glob("*.json"), *catalogue.glob("*.json")]:
        load_graph(path)
