"""`graphs list | show | run` command-line functions (wired into `startup.py graphs ...`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from company.graphs.blocks.base import BlockServices
from company.graphs.config import GraphSettings
from company.graphs.errors import (
    GraphError,
    RemoteError,
    RemoteValidationError,
)
from company.graphs.llm_port import GraphLLM
from company.graphs.model import Graph, load_graph
from company.graphs.results import ExecutionStatus, GraphRun, NodeExecution, json_default

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


class _UsageError(Exception):
    """Bad command-line arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise instead of printing usage and exiting."""
        raise _UsageError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(prog="graphs", description="List, inspect and run AutoGPT graphs.")
    parser.add_argument("--dir", type=Path, help="graph catalogue directory")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the catalogue's graphs")
    show = sub.add_parser("show", help="show a graph's inputs, outputs and nodes")
    show.add_argument("target", metavar="FILE_OR_NAME")
    run = sub.add_parser("run", help="run a graph locally, or on an AutoGPT server")
    run.add_argument("target", metavar="FILE_OR_NAME")
    run.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--remote", action="store_true", help="run on the configured AutoGPT server")
    run.add_argument("--graph-id", help="graph id on the AutoGPT server (default: the file's)")
    run.add_argument("--graph-version", type=int, help="graph version on the server")
    run.add_argument("--execution-id", help="with --remote: poll this execution, do not submit")
    return parser


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values that parse as JSON (numbers, lists...) are decoded."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise _UsageError(f"graphs run: --input expects KEY=VALUE, got '{pair}'")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        inputs[key.strip()] = value
    return inputs


def _resolve(target: str, settings: GraphSettings, directory: Path | None) -> Graph:
    path = Path(target)
    if path.suffix == ".json" or path.exists():
        return load_graph(path, settings)
    from company.graphs.catalogue import Catalogue

    catalogue = Catalogue.load(directory or settings.catalogue_path(), settings=settings)
    try:
        return catalogue.get(target).graph
    except KeyError as err:
        raise _UsageError(str(err.args[0])) from None


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 160  # piped or captured output: do not squeeze tables to 80 columns
    return console


def _cmd_list(settings: GraphSettings, directory: Path | None) -> int:
    from rich.table import Table

    from company.graphs.blocks.registry import default_registry
    from company.graphs.catalogue import Catalogue
    from company.graphs.dispatch import place

    folder = directory or settings.catalogue_path()
    catalogue = Catalogue.load(folder, settings=settings)
    table = Table(title=f"Graphs in {folder}")
    for column in ("name", "inputs -> outputs", "description", "runs", "why"):
        table.add_column(column)
    for name in catalogue.names():
        entry = catalogue.get(name)
        signature = entry.signature()
        placement = place(entry.graph, default_registry(), settings)
        why = "\n".join(placement.unsupported) or placement.why
        if placement.where == "refused" and placement.unsupported:
            why += "\n(set graphs.remote to run it on an AutoGPT server)"
        table.add_row(name, signature[len(name) :], entry.description, placement.where, why)
    _console().print(table)
    return EXIT_OK


def _cmd_show(graph: Graph, settings: GraphSettings) -> int:
    from rich.table import Table

    from company.graphs.blocks.registry import default_registry
    from company.graphs.dispatch import place
    from company.graphs.interface import graph_inputs, graph_outputs
    from company.graphs.validation import check_graph

    registry = default_registry()
    console = _console()
    console.print(f"[bold]{graph.title}[/bold]  id={graph.id or '-'} version={graph.version}")
    if graph.description:
        console.print(graph.description)
    inputs = Table(title="Inputs")
    for column in ("name", "type", "required", "default", "description"):
        inputs.add_column(column)
    for spec in graph_inputs(graph, registry):
        kind = "|".join(spec.options) if spec.options else spec.type
        default = "" if spec.required else json.dumps(spec.default)
        inputs.add_row(spec.name, kind, "yes" if spec.required else "no", default, spec.description)
    console.print(inputs)
    outputs = Table(title="Outputs")
    outputs.add_column("name")
    outputs.add_column("description")
    for out in graph_outputs(graph, registry):
        outputs.add_row(out.name, out.description)
    console.print(outputs)
    nodes = Table(title=f"Nodes ({len(graph.nodes)}, {len(graph.links)} links)")
    for column in ("node", "block", "supported"):
        nodes.add_column(column)
    for node in graph.nodes:
        supported = node.block_id in registry
        name = registry.name_of(node.block_id) if supported else registry.describe(node.block_id)
        nodes.add_row(node.id[:8], name or node.block_id, "yes" if supported else "NO")
    console.print(nodes)
    placement = place(graph, registry, settings)
    if placement.where == "local":
        try:
            check_graph(graph, registry)
        except GraphError as err:
            console.print(f"Runs: nowhere ({err})")
            return EXIT_OK
    where = {"local": "locally", "remote": "on the AutoGPT server", "refused": "nowhere"}
    console.print(f"Runs: {where[placement.where]} ({placement.why})")
    return EXIT_OK


def _node_line(node: NodeExecution) -> str:
    took = f" {node.duration_s * 1000:.1f}ms" if node.duration_s is not None else ""
    error = f": {node.error}" if node.error else ""
    return f"{node.status.value:<10} {node.block_name} ({node.node_id[:8]}){took}{error}"


def _print_run(run: GraphRun) -> None:
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{run.graph_name or run.graph_id}[/bold]: {run.status.value}")
    if run.error:
        console.print(f"error: {run.error}")
    outputs = Table(title="Outputs")
    outputs.add_column("name")
    outputs.add_column("values")
    for name, values in run.outputs.items():
        outputs.add_row(name, "\n".join(_short(v) for v in values))
    console.print(outputs)
    nodes = Table(title="Node executions")
    for column in ("status", "block", "node", "ms", "error"):
        nodes.add_column(column)
    for node in run.nodes:
        ms = f"{node.duration_s * 1000:.1f}" if node.duration_s is not None else ""
        nodes.add_row(node.status.value, node.block_name, node.node_id[:8], ms, node.error or "")
    console.print(nodes)


def _short(value: Any, limit: int = 2000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=json_default)
    return text if len(text) <= limit else text[:limit] + "..."


async def _run_remote(
    graph: Graph, inputs: dict[str, Any], opts: Any, settings: GraphSettings
) -> GraphRun:
    from company.graphs.remote import AutoGPTClient

    graph_id = opts.graph_id or graph.id
    version = opts.graph_version or graph.version
    if not graph_id:
        raise _UsageError("graphs run --remote: no graph id (pass --graph-id)")

    async def record(execution_id: str) -> None:
        """Tell the user the id to resume with."""
        print(
            f"AutoGPT execution {execution_id} started (resume with --execution-id)",
            file=sys.stderr,
        )

    async with AutoGPTClient(settings.remote) as client:
        if opts.execution_id:
            return await client.resume(graph_id, opts.execution_id)
        return await client.execute(graph_id, version, inputs, record_execution=record)


async def _cmd_run(opts: Any, llm: GraphLLM | None, settings: GraphSettings,
                   services: BlockServices | None) -> int:
    from company.graphs.blocks.registry import default_registry
    from company.graphs.dispatch import place, refusal

    graph = _resolve(opts.target, settings, opts.dir)
    inputs = parse_inputs(opts.input)
    placement = place(graph, default_registry(), settings)
    if opts.remote or opts.execution_id or placement.where == "remote":
        if not opts.remote:
            print(f"running on the AutoGPT server: {placement.why}", file=sys.stderr)
        run = await _run_remote(graph, inputs, opts, settings)
    elif not placement.runs:
        raise refusal(graph, default_registry(), placement)
    else:
        from company.graphs.runner import GraphRunner

        async def progress(node: NodeExecution) -> None:
            """Print one line per finished node on stderr."""
            print(_node_line(node), file=sys.stderr)

        runner = GraphRunner(settings, llm=llm, on_node_done=None if opts.json else progress,
                             services=services)
        run = await runner.run(graph, inputs)
    if opts.json:
        data = run.to_jsonable()
        payload = {k: data[k] for k in ("status", "outputs", "nodes", "error", "execution_id")}
        print(json.dumps(payload, indent=2))
    else:
        _print_run(run)
    ok = run.status == ExecutionStatus.COMPLETED and not run.failed_nodes
    return EXIT_OK if ok else EXIT_FAILED


async def graphs_command(
    args: list[str], *, llm: GraphLLM | None = None, settings: GraphSettings | None = None,
    services: BlockServices | None = None,
) -> int:
    """Run `graphs list|show|run ...`; errors go to stderr as one line, never a traceback.

    Exit codes: 0 success; 1 the run failed (graph not COMPLETED, a node FAILED, or the
    server/connection failed); 2 refused (usage error, unreadable or invalid graph,
    unsupported blocks, inputs refused by the server).
    """
    settings = settings or GraphSettings()
    try:
        opts = _parser().parse_args(args)
        if opts.command == "list":
            return _cmd_list(settings, opts.dir)
        if opts.command == "show":
            return _cmd_show(_resolve(opts.target, settings, opts.dir), settings)
        return await _cmd_run(opts, llm, settings, services)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except (_UsageError, RemoteValidationError) as err:
        _error(str(err))
        return EXIT_REFUSED
    except RemoteError as err:
        _error(str(err))
        return EXIT_FAILED
    except GraphError as err:
        _error(str(err))
        return EXIT_REFUSED
    except Exception as err:  # noqa: BLE001 - the CLI reports, never dumps a traceback
        _error(f"unexpected {type(err).__name__}: {err}")
        return EXIT_FAILED


def _error(message: str) -> None:
    print("error: " + " ".join(message.split()), file=sys.stderr)
