"""Persist/RetrieveInformationBlock over the SQLite key-value store: values outlive a run,
scopes keep graphs and users apart, defaults when missing, limits and a missing store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from company.graphs.blocks import persist
from company.graphs.blocks.base import Block, BlockContext, BlockServices
from company.graphs.blocks.registry import default_registry
from company.graphs.config import GraphSettings
from company.graphs.errors import LimitError
from company.graphs.kv import KeyValueStore, MemoryKeyValueStore, SqliteKeyValueStore
from company.graphs.model import Graph, parse_graph
from company.graphs.results import ExecutionStatus
from company.graphs.runner import GraphRunner
from company.graphs.safe_http import SafeHttpClient

INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
AGENT = "e189baac-8c20-45a1-94a7-55177ea42565"
PERSIST = persist.PersistInformationBlock.id
RETRIEVE = persist.RetrieveInformationBlock.id
S = ExecutionStatus


@pytest.fixture
async def http() -> AsyncIterator[SafeHttpClient]:
    async with SafeHttpClient() as client:
        yield client


def make_ctx(
    http: SafeHttpClient, kv: Any, *, graph_id: str = "g1", user: str = "alice", **settings: Any
) -> BlockContext:
    return BlockContext(
        settings=GraphSettings(**settings), llm=None, http=http,
        graph=Graph(id=graph_id, nodes=[]), node_id="n", node_exec_id="e",
        services=BlockServices(kv=kv, user_id=user),
    )


async def run_block(cls: type[Block], ctx: BlockContext, **inputs: Any) -> list[tuple[str, Any]]:
    block = cls()
    return [pair async for pair in block.run(block.validate_input(inputs), ctx)]


async def save(ctx: BlockContext, key: str, value: Any, scope: str = "within_agent") -> Any:
    ((pin, stored),) = await run_block(
        persist.PersistInformationBlock, ctx, key=key, value=value, scope=scope
    )
    assert pin == "value"
    return stored


async def load(ctx: BlockContext, key: str, scope: str = "within_agent", **extra: Any) -> Any:
    ((_, value),) = await run_block(
        persist.RetrieveInformationBlock, ctx, key=key, scope=scope, **extra
    )
    return value


# ----- the store -----


async def test_sqlite_store_round_trips_json_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "graph_kv.sqlite"
    store = SqliteKeyValueStore(path)
    assert isinstance(store, KeyValueStore)
    assert await store.get("alice", "k") is None
    value = {"n": 1, "items": [1, 2.5, "é", None, True], "tuple": (1, 2)}
    assert await store.set("alice", "k", value) == {**value, "tuple": [1, 2]}
    assert await store.set("alice", "k", 0) == 0  # replaces; falsy values stay themselves
    reopened = SqliteKeyValueStore(path)
    assert await reopened.get("alice", "k") == 0
    assert await reopened.get("bob", "k") is None
    assert reopened.keys("alice") == ["k"]
    with pytest.raises(ValueError, match="object is not JSON data"):
        await reopened.set("alice", "k", object())
    with pytest.raises(LimitError, match="over the store's limit of 1,024 bytes"):
        await SqliteKeyValueStore(path, max_value_bytes=1024).set("alice", "big", "x" * 2000)
    assert await reopened.get("alice", "k") == 0


# ----- the blocks -----


def test_persistence_blocks_are_registered() -> None:
    registry = default_registry()
    assert type(registry.get(PERSIST)) is persist.PersistInformationBlock
    assert type(registry.get(RETRIEVE)) is persist.RetrieveInformationBlock
    assert persist.RetrieveInformationBlock.static_output


def test_storage_keys_are_autogpts() -> None:
    assert persist.storage_key("k", "within_agent", "g1") == "agent#g1#k"
    assert persist.storage_key("k", "across_agents", "g1") == "global#k"


async def test_retrieve_gives_the_default_then_the_saved_value(
    http: SafeHttpClient, tmp_path: Path
) -> None:
    store = SqliteKeyValueStore(tmp_path / "kv.sqlite")
    ctx = make_ctx(http, store)
    assert await load(ctx, "theme") is None
    assert await load(ctx, "theme", default_value={"theme": "light"}) == {"theme": "light"}
    assert await save(ctx, "theme", {"theme": "dark"}) == {"theme": "dark"}
    assert await load(ctx, "theme", default_value={"theme": "light"}) == {"theme": "dark"}
    assert await save(ctx, "theme", None) is None  # a null value reads as missing (AutoGPT)
    assert await load(ctx, "theme", default_value="light") == "light"
    assert store.keys("alice") == ["agent#g1#theme"]


async def test_scopes_keep_graphs_and_users_apart(http: SafeHttpClient) -> None:
    store = MemoryKeyValueStore()
    alice_g1 = make_ctx(http, store)
    alice_g2 = make_ctx(http, store, graph_id="g2")
    bob_g1 = make_ctx(http, store, user="bob")
    await save(alice_g1, "count", 1)
    await save(alice_g1, "name", "Alice", scope="across_agents")
    assert await load(alice_g1, "count") == 1
    assert await load(alice_g2, "count", default_value=0) == 0  # another graph
    assert await load(alice_g2, "name", scope="across_agents") == "Alice"  # same user
    assert await load(alice_g2, "name") is None  # across_agents is not within_agent
    assert await load(bob_g1, "count", default_value=0) == 0  # another user
    assert await load(bob_g1, "name", scope="across_agents") is None


async def test_missing_store_graph_id_and_size_limits_fail_clearly(http: SafeHttpClient) -> None:
    with pytest.raises(RuntimeError, match="no key-value store configured for this run"):
        await save(make_ctx(http, None), "k", 1)
    with pytest.raises(RuntimeError, match="no key-value store configured for this run"):
        await load(make_ctx(http, None), "k")
    store = MemoryKeyValueStore()
    unnamed = make_ctx(http, store, graph_id="")
    with pytest.raises(ValueError, match="'within_agent' needs the graph's id"):
        await save(unnamed, "k", 1)
    assert await save(unnamed, "k", 1, scope="across_agents") == 1
    small = make_ctx(http, store, max_value_bytes=1024)
    with pytest.raises(LimitError, match="max_value_bytes limit"):
        await save(small, "big", ["x" * 100] * 20)
    many = [[i] for i in range(30_000)]  # too many items to size on the event loop
    assert await save(make_ctx(http, store), "many", many) == many
    with pytest.raises(LimitError, match="max_value_bytes limit"):
        await save(make_ctx(http, store, max_value_bytes=100_000), "many", many)
    assert await load(small, "big", default_value="none") == "none"


# ----- in graphs -----


def counter_graph(graph_id: str) -> Graph:
    """Reads `count` (default 0), adds one, saves it and outputs the new value."""
    return parse_graph({
        "id": graph_id,
        "nodes": [
            {"id": "get", "block_id": RETRIEVE, "input_default": {"key": "count",
                                                                "default_value": 0}},
            {"id": "add", "block_id": "b1ab9b19-67a6-406d-abf5-2dba76d00c79",
             "input_default": {"operation": "Add", "b": 1, "round_result": True}},
            {"id": "put", "block_id": PERSIST, "input_default": {"key": "count"}},
            {"id": "out", "block_id": OUTPUT, "input_default": {"name": "count"}},
        ],
        "links": [
            {"source_id": "get", "source_name": "value", "sink_id": "add", "sink_name": "a"},
            {"source_id": "add", "source_name": "result", "sink_id": "put", "sink_name": "value"},
            {"source_id": "put", "source_name": "value", "sink_id": "out", "sink_name": "value"},
        ],
    })


async def test_a_counter_graph_remembers_between_runs_per_graph_and_user(tmp_path: Path) -> None:
    path = tmp_path / "graph_kv.sqlite"

    async def count(graph_id: str, user: str = "local") -> list[Any]:
        services = BlockServices(kv=SqliteKeyValueStore(path), user_id=user)
        run = await GraphRunner(services=services).run(counter_graph(graph_id))
        assert run.status == S.COMPLETED, run.error
        return run.outputs["count"]

    assert await count("g1") == [1]
    assert await count("g1") == [2]  # a later run, a new runner and store on the same file
    assert await count("g2") == [1]  # another graph
    assert await count("g1", user="bob") == [1]  # another user
    assert await count("g1") == [3]


async def test_within_agent_in_a_sub_graph_is_the_sub_graphs_scope() -> None:
    store = MemoryKeyValueStore()
    sub = {
        "id": "sub", "version": 1,
        "nodes": [
            {"id": "in", "block_id": INPUT, "input_default": {"name": "v"}},
            {"id": "put", "block_id": PERSIST, "input_default": {"key": "k"}},
            {"id": "out", "block_id": OUTPUT, "input_default": {"name": "saved"}},
        ],
        "links": [
            {"source_id": "in", "source_name": "result", "sink_id": "put", "sink_name": "value"},
            {"source_id": "put", "source_name": "value", "sink_id": "out", "sink_name": "value"},
        ],
    }
    parent = parse_graph({
        "id": "parent",
        "nodes": [{"id": "agent", "block_id": AGENT, "input_default": {
            "graph_id": "sub", "graph_version": 1, "user_id": "", "inputs": {"v": "hello"},
            "input_schema": {}, "output_schema": {}}}],
        "sub_graphs": [sub],
    })
    run = await GraphRunner(services=BlockServices(kv=store)).run(parent)
    assert run.status == S.COMPLETED, run.error
    assert [n.status for n in run.nodes] == [S.COMPLETED]
    assert await store.get("local", "agent#sub#k") == "hello"
    assert await store.get("local", "agent#parent#k") is None


async def test_graph_without_a_store_fails_the_nodes_clearly() -> None:
    run = await GraphRunner().run(counter_graph("g1"))
    (get,) = [n for n in run.nodes if n.block_name == "RetrieveInformationBlock"]
    assert get.status == S.FAILED and get.error == "no key-value store configured for this run"
    assert run.outputs == {}
