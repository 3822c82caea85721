"""Graph runner benchmark: node executions per second, runner overhead per node, peak memory.

Scenarios: a chain of 1,000 CalculatorBlocks (strictly sequential) and a StepThroughItemsBlock
fanning out over 10,000 items into a CalculatorBlock. The runner's own overhead per node is
the wall time minus the time spent inside the calculator blocks, divided by the number of
node executions. Peak memory is measured in a separate run under tracemalloc.
Nothing is asserted about time. Run: `.venv/bin/python benchmarks/bench_graphs.py`.
"""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from company.graphs.blocks.base import BlockContext, BlockOutput  # noqa: E402
from company.graphs.blocks.logic import CalculatorBlock  # noqa: E402
from company.graphs.blocks.registry import default_registry  # noqa: E402
from company.graphs.config import GraphSettings  # noqa: E402
from company.graphs.model import Graph, parse_graph  # noqa: E402
from company.graphs.results import ExecutionStatus  # noqa: E402
from company.graphs.runner import GraphRunner  # noqa: E402

INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
CALC = "b1ab9b19-67a6-406d-abf5-2dba76d00c79"
STEP = "f66a3543-28d3-4ab5-8945-9b336371e2ce"
BLOCK_SECONDS = [0.0]


class TimedCalculatorBlock(CalculatorBlock):
    """CalculatorBlock that adds the time spent inside it to BLOCK_SECONDS."""

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Run the calculator, timing only its own steps."""
        inner = super().run(input_data, ctx)
        while True:
            start = time.perf_counter()
            try:
                item = await inner.__anext__()
            except StopAsyncIteration:
                BLOCK_SECONDS[0] += time.perf_counter() - start
                return
            BLOCK_SECONDS[0] += time.perf_counter() - start
            yield item


def _link(i: int, src: str, src_pin: str, sink: str, sink_pin: str) -> dict[str, Any]:
    return {
        "id": f"l{i}",
        "source_id": src,
        "source_name": src_pin,
        "sink_id": sink,
        "sink_name": sink_pin,
    }


def chain_graph(length: int) -> Graph:
    """input -> calc_0 -> calc_1 -> ... -> calc_{length-1} -> output (each adds 1)."""
    nodes = [{"id": "in", "block_id": INPUT, "input_default": {"name": "start"}}]
    links = []
    previous = "in"
    for i in range(length):
        nodes.append(
            {"id": f"c{i}", "block_id": CALC, "input_default": {"operation": "Add", "b": 1}}
        )
        links.append(_link(i, previous, "result", f"c{i}", "a"))
        previous = f"c{i}"
    nodes.append({"id": "out", "block_id": OUTPUT, "input_default": {"name": "total"}})
    links.append(_link(length, previous, "result", "out", "value"))
    return parse_graph({"id": "chain", "name": "chain", "nodes": nodes, "links": links})


def fanout_graph() -> Graph:
    """input -> StepThroughItems -> calc (one execution per item)."""
    nodes = [
        {"id": "in", "block_id": INPUT, "input_default": {"name": "items"}},
        {"id": "step", "block_id": STEP, "input_default": {}},
        {"id": "calc", "block_id": CALC, "input_default": {"operation": "Multiply", "b": 2}},
    ]
    links = [_link(0, "in", "result", "step", "items"), _link(1, "step", "item", "calc", "a")]
    return parse_graph({"id": "fanout", "name": "fanout", "nodes": nodes, "links": links})


async def measure(graph: Graph, inputs: dict[str, Any], repeats: int) -> dict[str, float]:
    """Best-of-`repeats` timing, then one run under tracemalloc for peak memory."""
    registry = default_registry().copy()
    registry.register(TimedCalculatorBlock)
    runner = GraphRunner(GraphSettings(max_node_executions=1_000_000), registry=registry)
    best: dict[str, float] = {}
    for _ in range(repeats):
        BLOCK_SECONDS[0] = 0.0
        start = time.perf_counter()
        run = await runner.run(graph, inputs)
        wall = time.perf_counter() - start
        assert run.status == ExecutionStatus.COMPLETED
        executions = len(run.nodes)
        if not best or wall < best["wall_s"]:
            best = {"executions": executions, "wall_s": wall, "block_s": BLOCK_SECONDS[0]}
    tracemalloc.start()
    await runner.run(graph, inputs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best["peak_mib"] = peak / 2**20
    return best


def report(rows: list[tuple[str, dict[str, float]]]) -> None:
    """Print the results table."""
    header = (
        f"{'scenario':<26}{'node execs':>11}{'wall s':>9}{'execs/s':>10}"
        f"{'overhead us/node':>18}{'peak MiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, m in rows:
        rate = m["executions"] / m["wall_s"]
        overhead_us = (m["wall_s"] - m["block_s"]) / m["executions"] * 1e6
        print(
            f"{name:<26}{int(m['executions']):>11}{m['wall_s']:>9.3f}{rate:>10.0f}"
            f"{overhead_us:>18.1f}{m['peak_mib']:>10.1f}"
        )


async def main() -> None:
    """Run both scenarios and print the table."""
    chain = await measure(chain_graph(1000), {"start": 0}, repeats=3)
    fanout = await measure(fanout_graph(), {"items": list(range(10_000))}, repeats=3)
    print(
        f"Python {sys.version.split()[0]}, max_parallel_nodes={GraphSettings().max_parallel_nodes}"
    )
    report([("chain of 1,000 calculators", chain), ("fan-out of 10,000 items", fanout)])


if __name__ == "__main__":
    asyncio.run(main())
