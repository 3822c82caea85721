"""The runner's limits: CPU-heavy blocks off the event loop with real deadlines (M1), and
bounded node outputs (M3)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from company.graphs.config import GraphSettings
from company.graphs.model import Graph, parse_graph
from company.graphs.results import ExecutionStatus, GraphRun
from company.graphs.runner import GraphRunner, run_graph

S = ExecutionStatus
INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
MATCH = "3060088f-6ed9-4928-9ba7-9c92823a7ccd"
EXTRACT = "3146e4fe-2cdd-4f29-bd12-0c9d5bb4deb0"
TEMPLATE = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"
REPLACE = "7e7c87ab-3469-4bcc-9abe-67705091b713"
COMBINE = "e30a4d42-7b7d-4e6a-b36e-1f9b8e3b7d85"
# Catastrophic backtracking for both `re` and the `regex` engine.
EVIL_PATTERN = r"(a|aa)+$"
EVIL_TEXT = "a" * 40 + "!"
MARGIN_S = 1.5  # scheduling slack on a loaded two-core machine


def one_block_graph(
    block_id: str, defaults: dict[str, Any], pin: str = "text", out_pin: str = "output"
) -> Graph:
    """input `x` -> block (`pin`) -> output `out` (from the block's `out_pin`)."""
    return parse_graph(
        {
            "id": "g",
            "name": "limits",
            "nodes": [
                {"id": "in", "block_id": INPUT, "input_default": {"name": "x"}},
                {"id": "b", "block_id": block_id, "input_default": defaults},
                {"id": "out", "block_id": OUTPUT, "input_default": {"name": "out"}},
            ],
            "links": [
                {"source_id": "in", "source_name": "result", "sink_id": "b", "sink_name": pin},
                {"source_id": "b", "source_name": out_pin, "sink_id": "out",
                 "sink_name": "value"},
            ],
        }
    )


class Ticker:
    """Ticks every 10 ms on the event loop and records the longest gap between ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self.max_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def run_ticking(graph: Graph, inputs: dict[str, Any], **settings: Any) -> tuple[
    GraphRun, Ticker, float
]:
    async with Ticker() as ticker:
        begin = time.monotonic()
        run = await GraphRunner(GraphSettings(**settings)).run(graph, inputs)
        elapsed = time.monotonic() - begin
    return run, ticker, elapsed


def node(run: GraphRun, block_name: str) -> Any:
    return next(n for n in run.nodes if n.block_name == block_name)


def assert_cpu_idle_soon() -> None:
    """The worker thread stopped by itself: the process soon burns (almost) no CPU.

    The regex engine's timeout counts CPU time, so on a loaded machine it may end a little
    after the wall-clock deadline; it must still end.
    """
    for _ in range(10):
        before = time.process_time()
        time.sleep(0.5)
        if time.process_time() - before < 0.1:
            return
    pytest.fail("a worker thread kept running after the run ended")


# ----- M1: runaway CPU-bound blocks -----


@pytest.mark.parametrize("pattern", [r"(a+)+$", EVIL_PATTERN])
async def test_runaway_regex_keeps_the_loop_ticking_and_fails_at_timeout_s(pattern: str) -> None:
    graph = one_block_graph(MATCH, {"match": pattern, "data": "matched"}, out_pin="positive")
    run, ticker, elapsed = await run_ticking(graph, {"x": EVIL_TEXT}, timeout_s=2)
    assert ticker.max_gap < 0.3, f"event loop stalled for {ticker.max_gap:.2f} s"
    assert elapsed < 2 + MARGIN_S
    if run.status == S.COMPLETED:  # the regex engine may finish (a+)+$ fast: that is fine too
        assert pattern == r"(a+)+$" and elapsed < 2
        return
    assert run.status == S.FAILED
    assert run.error == "the run timed out after 2s"
    stopped = node(run, "MatchTextPatternBlock")
    assert stopped.status in (S.TERMINATED, S.FAILED)  # the run's timer or the block's own
    assert "timed out after" in stopped.error
    assert_cpu_idle_soon()


async def test_runaway_template_keeps_the_loop_ticking_and_fails_at_timeout_s() -> None:
    # 10^10 loop iterations: only the deadline can stop it (the loop cap is set out of reach).
    graph = one_block_graph(
        TEMPLATE,
        {"format": "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}done"},
        pin="values_#_s",
    )
    run, ticker, elapsed = await run_ticking(
        graph, {"x": "x" * 100_000}, timeout_s=2, template_max_loop_iterations=10**12
    )
    assert ticker.max_gap < 0.3, f"event loop stalled for {ticker.max_gap:.2f} s"
    assert elapsed < 2 + MARGIN_S
    assert run.status == S.FAILED
    assert run.error == "the run timed out after 2s"
    stopped = node(run, "FillTextTemplateBlock")
    assert stopped.status in (S.TERMINATED, S.FAILED)  # the run's timer or the block's own
    assert "timed out after" in stopped.error
    assert_cpu_idle_soon()


async def test_block_cpu_timeout_fails_the_node_with_a_clear_error() -> None:
    graph = one_block_graph(MATCH, {"match": EVIL_PATTERN, "data": "m"}, out_pin="positive")
    run, ticker, elapsed = await run_ticking(
        graph, {"x": EVIL_TEXT}, timeout_s=30, block_cpu_timeout_s=0.5
    )
    assert ticker.max_gap < 0.3
    assert elapsed < 0.5 + MARGIN_S
    failed = node(run, "MatchTextPatternBlock")
    assert failed.status == S.FAILED
    assert failed.error.startswith("regex match timed out after ")
    assert failed.error.endswith("(block_cpu_timeout_s (0.5 s))")
    assert run.outputs == {}


async def test_template_loop_cap_fails_the_node_quickly() -> None:
    graph = one_block_graph(
        TEMPLATE,
        {"format": "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"},
        pin="values_#_s",
    )
    run, _, elapsed = await run_ticking(graph, {"x": "x" * 100_000}, timeout_s=30)
    failed = node(run, "FillTextTemplateBlock")
    assert failed.status == S.FAILED
    assert "template_max_loop_iterations" in failed.error
    assert elapsed < 5


async def test_many_regex_nodes_still_finish_normally() -> None:
    graph = one_block_graph(
        EXTRACT, {"pattern": r"(\d+)", "group": 1, "find_all": True}, out_pin="positive"
    )
    run = await run_graph(graph, {"x": "a1 b22 c333"})
    extract = node(run, "ExtractTextInformationBlock")
    assert extract.output["matched_results"] == [["1", "22", "333"]]
    assert run.outputs == {"out": ["1", "22", "333"]}


# ----- M3: output sizes -----


async def test_output_over_max_value_bytes_fails_the_node_and_is_not_kept() -> None:
    graph = one_block_graph(REPLACE, {"old": "a", "new": "b" * 1000})
    run = await run_graph(
        graph, {"x": "a" * 5000}, settings=GraphSettings(max_value_bytes=1024 * 1024)
    )
    failed = node(run, "TextReplaceBlock")
    assert failed.status == S.FAILED
    assert "max_value_bytes" in failed.error and "1,048,576" in failed.error
    assert failed.output == {"error": [failed.error]}
    assert run.outputs == {}


async def test_replace_with_empty_old_is_refused_before_it_is_built() -> None:
    graph = one_block_graph(REPLACE, {"old": "", "new": "y" * 10_000})
    begin = time.monotonic()
    run = await run_graph(graph, {"x": "x" * 1_000_000})
    assert time.monotonic() - begin < 2
    failed = node(run, "TextReplaceBlock")
    assert failed.status == S.FAILED
    assert "max_value_bytes" in failed.error


async def test_chained_replacements_cannot_grow_exponentially() -> None:
    """Three replace steps fed forward (old="") stay under max_value_bytes each."""
    text = "ab" * 100
    settings = GraphSettings(max_value_bytes=64 * 1024)
    for _ in range(3):
        graph = one_block_graph(REPLACE, {"old": "", "new": text})
        run = await run_graph(graph, {"x": text}, settings=settings)
        outputs = run.outputs.get("out")
        if not outputs:
            assert "max_value_bytes" in node(run, "TextReplaceBlock").error
            return
        text = outputs[0]
    pytest.fail("the text kept growing past max_value_bytes")


async def test_join_with_a_huge_delimiter_is_refused() -> None:
    graph = one_block_graph(COMBINE, {"delimiter": "d" * 100_000}, pin="input")
    run = await run_graph(graph, {"x": ["a"] * 1000})
    failed = node(run, "CombineTextsBlock")
    assert failed.status == S.FAILED and "max_value_bytes" in failed.error


async def test_run_output_total_over_max_run_output_bytes_fails_the_run() -> None:
    graph = parse_graph(
        {
            "id": "fan",
            "nodes": [
                {"id": "in", "block_id": INPUT, "input_default": {"name": "items"}},
                {"id": "step", "block_id": "f66a3543-28d3-4ab5-8945-9b336371e2ce"},
                {"id": "out", "block_id": OUTPUT, "input_default": {"name": "item"}},
            ],
            "links": [
                {"source_id": "in", "source_name": "result", "sink_id": "step",
                 "sink_name": "items"},
                {"source_id": "step", "source_name": "item", "sink_id": "out",
                 "sink_name": "value"},
            ],
        }
    )
    settings = GraphSettings(max_value_bytes=500_000, max_run_output_bytes=1_000_000)
    run = await run_graph(graph, {"items": ["z" * 10_000] * 40}, settings=settings)
    assert run.status == S.FAILED
    assert run.error is not None and "max_run_output_bytes limit (1,000,000 bytes)" in run.error
    kept = sum(len(v) for n in run.nodes for vs in n.output.values() for v in vs
               if isinstance(v, str))
    assert kept < 1_100_000


async def test_huge_error_messages_are_truncated() -> None:
    dropdown = "655d6fdf-a334-421c-b733-520549c07cd1"
    graph = parse_graph(
        {
            "nodes": [
                {"id": "in", "block_id": dropdown,
                 "input_default": {"name": "x", "placeholder_values": ["a"]}},
            ],
        }
    )
    run = await run_graph(graph, {"x": "x" * 50_000})
    failed = node(run, "AgentDropdownInputBlock")
    assert failed.status == S.FAILED
    assert len(failed.error) < 2100 and failed.error.endswith("characters, truncated)")


async def test_matched_results_over_max_value_bytes_fail_the_node() -> None:
    graph = one_block_graph(
        EXTRACT, {"pattern": "", "find_all": True}, out_pin="matched_count"
    )
    run = await run_graph(
        graph, {"x": "a" * 50_000}, settings=GraphSettings(max_value_bytes=100_000)
    )
    failed = node(run, "ExtractTextInformationBlock")
    assert failed.status == S.FAILED and "max_value_bytes" in failed.error


async def test_templates_cannot_change_the_values_they_were_given() -> None:
    graph = one_block_graph(
        TEMPLATE, {"format": "{{ s.append(4) or s }}"}, pin="values_#_s"
    )
    run = await run_graph(graph, {"x": [1, 2, 3]})
    assert run.outputs == {"out": ["[1, 2, 3, 4]"]}
    assert node(run, "AgentInputBlock").output["result"] == [[1, 2, 3]]
