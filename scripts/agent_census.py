#!/usr/bin/env python
"""Census of AutoGPT agent files: which load, which run locally, which blocks they lack.

Usage: ``python scripts/agent_census.py DIR`` (e.g. ``workspace/autogpt_agents``). Prints a
Markdown table with one row per ``*.json`` graph of DIR (name, nodes with those of its
sub-graphs, whether our loader reads it, whether it passes the local runner's checks, the
blocks we do not run by name and module), totals, then every block the agents use that we
do not run with how many agents need it. "Runs locally" means the pre-run checks pass
(blocks, pins, required inputs); the LLM blocks still need a model when the graph runs.

``--run`` runs every agent where dispatch places it, against local stand-ins only
(scripts/census_standins.py): a scripted LLM, a loopback web server for pages, SearXNG
search and YouTube captions, an in-memory key-value store, and, for the agents placed
"remote", tests/fakes/autogpt_server.py's AutoGPT stand-in reached through AutoGPTClient as
the Executor does (``--no-remote`` leaves graphs.remote unset, so those agents are refused).
It prints, per agent, the placement and the result (failing nodes with their errors).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from company.graphs.blocks.registry import BlockRegistry, default_registry  # noqa: E402
from company.graphs.config import GraphSettings  # noqa: E402
from company.graphs.errors import GraphError, UnsupportedBlocksError  # noqa: E402
from company.graphs.model import load_graph  # noqa: E402
from company.graphs.validation import check_graph, iter_graphs, unsupported_blocks  # noqa: E402


class AgentRow(BaseModel):
    """What the census found for one agent file."""

    file: str
    name: str = ""
    nodes: int = 0
    loads: bool = False
    runs: bool = False
    problem: str = ""
    """Why it does not load or run, when that is not (only) unsupported blocks."""
    unsupported: list[str] = []
    """The block ids it uses that we do not run."""


def census_one(path: Path, registry: BlockRegistry) -> AgentRow:
    """Load one agent file and check whether it would run locally."""
    row = AgentRow(file=path.name)
    try:
        graph = load_graph(path)
    except GraphError as err:
        row.problem = f"load: {err}"
        return row
    row.name, row.loads = graph.title, True
    row.nodes = sum(len(g.nodes) for g in iter_graphs(graph))
    row.unsupported = list(unsupported_blocks(graph, registry))
    try:
        check_graph(graph, registry)
        row.runs = True
    except UnsupportedBlocksError:
        pass
    except GraphError as err:
        row.problem = str(err)
    return row


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(rows: list[AgentRow], registry: BlockRegistry) -> str:
    """The census as Markdown: the per-agent table, totals, and the missing blocks by need."""
    lines = [
        "| agent | nodes | loads | runs locally | unsupported blocks |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        blocks = "; ".join(registry.describe(b) for b in row.unsupported)
        runs = "yes" if row.runs else "no"
        if row.problem:
            runs += f" ({row.problem[:300]})"
        name = row.name or row.file
        lines.append(
            f"| {_cell(name)} | {row.nodes} | {'yes' if row.loads else 'no'} | {_cell(runs)} "
            f"| {_cell(blocks) or '-'} |"
        )
    loads = sum(r.loads for r in rows)
    runs = sum(r.runs for r in rows)
    nodes = sum(r.nodes for r in rows)
    lines.append(f"| **total: {len(rows)} agents** | {nodes} | {loads} | {runs} | |")
    need = Counter(b for r in rows for b in set(r.unsupported))
    lines += ["", "| block we do not run | agents needing it |", "| --- | ---: |"]
    for block_id, count in sorted(need.items(), key=lambda kv: (-kv[1], registry.describe(kv[0]))):
        lines.append(f"| {_cell(registry.describe(block_id))} | {count} |")
    if not need:
        lines.append("| (none) | 0 |")
    return "\n".join(lines)


# ----- --run: every agent run where dispatch places it, against local stand-ins -----

RUN_TIMEOUT_S = 60.0
"""A local run's limit; the stand-ins answer at once, so only a hung graph gets near it."""


class RunRow(BaseModel):
    """What running one agent against the stand-ins gave."""

    census: AgentRow
    placement: str = "-"
    """local, remote or refused ("-" when it did not load)."""
    result: str = "-"
    """COMPLETED, FAILED, refused, ... (the graph's status, or why it did not run)."""
    ok: bool = False
    """Graph status COMPLETED and no FAILED node."""
    detail: str = ""
    """The failing nodes with their errors, or why it was refused."""
    inputs: dict[str, Any] = {}
    outputs: dict[str, list[Any]] = {}


def census_settings(remote_url: str | None = None, api_key: str | None = None) -> GraphSettings:
    """Settings for runs against the stand-ins: short timeouts, search at the stand-in, no
    Whisper fallback; private addresses allowed because the census transport sends every
    request to the loopback server anyway. With `remote_url`, graphs.remote is configured."""
    from company.graphs.config import RemoteSettings, SearchSettings, YouTubeSettings
    from scripts.census_standins import SEARCH_BASE_URL

    remote = RemoteSettings()
    if remote_url is not None:
        remote = RemoteSettings(base_url=remote_url, api_key=api_key, request_timeout_s=10,
                                poll_initial_s=0.01, poll_max_s=0.05, timeout_s=30)
    return GraphSettings(
        timeout_s=RUN_TIMEOUT_S,
        web_timeout_s=5,
        allow_private_network=True,
        search=SearchSettings(base_url=SEARCH_BASE_URL, timeout_s=5),
        youtube=YouTubeSettings(whisper_fallback=False),
        remote=remote,
    )


def _failure(run: Any) -> str:
    parts = [f"{n.block_name or n.block_id} ({n.node_id[:8]}): {n.error}" for n in run.failed_nodes]
    if run.error:
        parts.insert(0, str(run.error))
    return "; ".join(parts)


async def run_one(path: Path, registry: BlockRegistry, settings: GraphSettings, web_port: int,
                  llm: Any, remote: Any = None) -> RunRow:
    """Place one agent and run it: locally against the stand-ins, or through AutoGPTClient
    on the AutoGPT stand-in (`remote`, which learns the graph first)."""
    from company.graphs.blocks.base import BlockServices
    from company.graphs.dispatch import place
    from company.graphs.errors import RemoteError
    from company.graphs.kv import MemoryKeyValueStore
    from company.graphs.remote import AutoGPTClient
    from company.graphs.results import ExecutionStatus
    from company.graphs.runner import GraphRunner
    from scripts.census_standins import LoopbackTransport, plausible_inputs

    row = RunRow(census=census_one(path, registry))
    if not row.census.loads:
        row.result, row.detail = "not loaded", row.census.problem
        return row
    graph = load_graph(path)
    row.inputs = plausible_inputs(graph, registry)
    placement = place(graph, registry, settings)
    row.placement = placement.where
    try:
        if placement.where == "local":
            runner = GraphRunner(settings, llm=llm, registry=registry,
                                 http_transport=LoopbackTransport(web_port),
                                 services=BlockServices(kv=MemoryKeyValueStore()))
            run = await runner.run(graph, row.inputs)
        elif placement.where == "remote":
            if remote is not None:
                remote.register(graph)

            async def record(execution_id: str) -> None:
                """The Executor stores the id here; the census has nothing to resume."""

            async with AutoGPTClient(settings.remote) as client:
                run = await client.execute(graph.id, graph.version or 1, row.inputs,
                                           record_execution=record)
        else:
            row.result, row.detail = "refused", placement.why
            return row
    except GraphError as err:  # the local runner's checks (pins, inputs) refused it
        row.result, row.detail = f"refused ({type(err).__name__})", str(err)
        return row
    except RemoteError as err:  # the server refused it, or could not be reached or polled
        row.result, row.detail = f"error ({type(err).__name__})", str(err)
        return row
    row.result = run.status.value
    row.ok = run.status == ExecutionStatus.COMPLETED and not run.failed_nodes
    if run.failed_nodes and run.status == ExecutionStatus.COMPLETED:
        row.result = "COMPLETED with FAILED nodes"
    row.detail = _failure(run)
    row.outputs = run.outputs
    return row


async def run_census(paths: list[Path], *, remote: bool = True,
                     registry: BlockRegistry | None = None) -> list[RunRow]:
    """Run every agent file against the stand-ins (with the AutoGPT stand-in as graphs.remote
    unless `remote` is False) and return the rows in file order."""
    from scripts.census_standins import CensusLLM, RemoteStandIn, StandInWeb, instant_countdowns

    registry = registry or default_registry()
    llm = CensusLLM()
    with StandInWeb() as web, instant_countdowns():
        if not remote:
            settings = census_settings()
            return [await run_one(p, registry, settings, web.port, llm) for p in paths]
        with RemoteStandIn() as server:
            settings = census_settings(server.base_url, server.state.api_key)
            return [await run_one(p, registry, settings, web.port, llm, server) for p in paths]


def render_run(rows: list[RunRow], registry: BlockRegistry) -> str:
    """The --run census as Markdown: per agent, totals, and the missing blocks by need."""
    from company.graphs.dispatch import REMOTE_HINT

    lines = [
        "| agent | nodes | placement | result | unsupported blocks / failure reason |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        census = row.census
        reasons = [registry.describe(b) for b in census.unsupported]
        if row.result == "refused" and census.unsupported:
            reasons.append(REMOTE_HINT)  # the detail names the blocks again
        elif row.detail:
            reasons.append(row.detail[:400])
        lines.append(
            f"| {_cell(census.name or census.file)} | {census.nodes} | {row.placement} "
            f"| {_cell(row.result)} | {_cell('; '.join(reasons)) or '-'} |"
        )
    local = [r for r in rows if r.placement == "local"]
    remote = [r for r in rows if r.placement == "remote"]
    refused = [r for r in rows if r.placement == "refused"]
    lines += [
        "",
        f"- agents: {len(rows)}; load: {sum(r.census.loads for r in rows)}; pass the local "
        f"checks: {sum(r.census.runs for r in rows)}",
        f"- placed local: {len(local)}; ran locally to COMPLETED with no FAILED node: "
        f"{sum(r.ok for r in local)}",
        f"- placed remote: {len(remote)}; COMPLETED on the AutoGPT stand-in: "
        f"{sum(r.ok for r in remote)}",
        f"- refused: {len(refused)}",
    ]
    need = Counter(b for r in rows for b in set(r.census.unsupported))
    lines += ["", "| block we do not run | agents needing it |", "| --- | ---: |"]
    for block_id, count in sorted(need.items(), key=lambda kv: (-kv[1], registry.describe(kv[0]))):
        lines.append(f"| {_cell(registry.describe(block_id))} | {count} |")
    if not need:
        lines.append("| (none) | 0 |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the census of the graph files in a directory (with --run, run them too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="directory of AutoGPT graph files (*.json)")
    parser.add_argument("--run", action="store_true",
                        help="run each agent where dispatch places it, against local stand-ins")
    parser.add_argument("--no-remote", action="store_true",
                        help="with --run: leave graphs.remote unset (remote agents are refused)")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"{args.dir}: not a directory")
    registry = default_registry()
    paths = sorted(args.dir.glob("*.json"))
    if args.run:
        runs = asyncio.run(run_census(paths, remote=not args.no_remote, registry=registry))
        runs.sort(key=lambda r: (r.census.name or r.census.file).lower())
        print(render_run(runs, registry))
        return 0
    rows = [census_one(path, registry) for path in paths]
    rows.sort(key=lambda r: (r.name or r.file).lower())
    print(render(rows, registry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
