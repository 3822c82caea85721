"""Runs an AutoGPT graph in-process, reproducing AutoGPT's executor semantics.

Input blocks get the run's inputs; a node execution runs once every linked pin has a value
(`input_default` fills the rest); each yielded value travels along the links of its pin
into the earliest waiting execution of the sink that lacks that pin, or a new one (this is
how StepThroughItemsBlock fans out); static links refill later executions. Independent
executions run concurrently on a pool of asyncio workers.

Tool links (source `tools` or `tools_^_...`, from SmartDecisionMakerBlock) are routed by the
output's name, `tools_^_{sink node id}_~_{sink pin}`, and carry no None (AutoGPT's rule). A
block may name `loose_pins` (linked pins a run need not wait for) and an `input_ready(data)`
check on its merged input (AutoGPT's `get_missing_links`/`get_missing_input` overrides).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from company.graphs.blocks.base import Block, BlockContext, BlockServices, BlockType
from company.graphs.blocks.registry import BlockRegistry, default_registry
from company.graphs.config import GraphSettings
from company.graphs.errors import BlockTimeoutError, InputValidationError, LimitError
from company.graphs.llm_port import GraphLLM
from company.graphs.model import Graph, Node, load_graph
from company.graphs.pins import (
    MISSING,
    extract,
    is_dynamic,
    is_tool_pin,
    merge_dynamic_pins,
    split_pin,
    tool_pin,
)
from company.graphs.results import ExecutionStatus, GraphRun, NodeExecution
from company.graphs.safe_http import SafeHttpClient
from company.graphs.sizes import json_size
from company.graphs.validation import check_graph, check_inputs

log = logging.getLogger(__name__)

NodeCallback = Callable[[NodeExecution], Awaitable[None]]
S = ExecutionStatus
MAX_ERROR_CHARS = 2000
# Output values are sized on the event loop up to this many items; bigger ones on a thread.
QUICK_SIZE_STEPS = 20_000


def _short_error(message: str) -> str:
    if len(message) <= MAX_ERROR_CHARS:
        return message
    return f"{message[:MAX_ERROR_CHARS]}… ({len(message):,} characters, truncated)"


def _now() -> datetime:
    return datetime.now(UTC)


class _BlockYieldedError(Exception):
    """A block yielded a value on its `error` pin."""


class _Budget:
    """The run-wide caps on node executions and output size (shared with sub-graph runs)."""

    def __init__(self, limit: int, settings: GraphSettings, deadline: float | None = None):
        self.limit = limit
        self.used = 0
        self.exhausted = False
        self.deadline = deadline
        self.max_value = settings.max_value_bytes
        self.max_output = settings.max_run_output_bytes
        self.output_bytes = 0

    def take(self) -> bool:
        """Count one execution; False once the limit is reached."""
        if self.used >= self.limit:
            self.exhausted = True
            return False
        self.used += 1
        return True

    async def add_output(self, pin: str, value: Any) -> None:
        """Count one output value; LimitError when it or the run's total is over its limit."""
        size = json_size(value, self.max_value, QUICK_SIZE_STEPS)
        if size is None:
            size = await asyncio.to_thread(json_size, value, self.max_value) or 0
        if size > self.max_value:
            raise LimitError(
                f"output '{pin}' is over the max_value_bytes limit ({self.max_value:,} bytes)"
            )
        self.output_bytes += size
        if self.output_bytes > self.max_output:
            raise LimitError(
                "the run's outputs went over the max_run_output_bytes limit "
                f"({self.max_output:,} bytes)"
            )


@dataclass(eq=False)
class _Route:
    sink: _NodeState
    sink_pin: str
    steps: tuple[tuple[str, str], ...] | None
    is_static: bool


@dataclass(eq=False)
class _Exec:
    state: _NodeState
    exec_id: str
    data: dict[str, Any] = field(default_factory=dict)
    status: ExecutionStatus = S.INCOMPLETE
    input: dict[str, Any] | None = None
    model: Any = None
    output: dict[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class _NodeState:
    """Per-node bookkeeping for one graph run."""

    def __init__(self, node: Node, block: Block):
        self.node = node
        self.block = block
        self.block_type = block.block_type
        self.defaults = block.node_defaults(node)
        self.required = block.required_inputs(node)
        self.linked_pins: set[str] = set()
        self.loose_pins: frozenset[str] = getattr(block, "loose_pins", frozenset())
        self.wait_pins: set[str] = set()  # linked pins an execution waits for
        self.input_ready: Callable[[dict[str, Any]], bool] | None = getattr(
            block, "input_ready", None
        )
        self.static_pins: set[str] = set()
        self.static_values: dict[str, Any] = {}
        self.incomplete: list[_Exec] = []
        self.routes: dict[str, list[_Route]] = defaultdict(list)
        self.has_dynamic = any(is_dynamic(k) for k in self.defaults)

    def prepare(self, data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Merge defaults and dynamic pins, check required pins, coerce and validate."""
        merged = {**self.defaults, **data}
        if self.has_dynamic:
            try:
                merged = merge_dynamic_pins(merged)
            except ValueError as err:
                raise InputValidationError(str(err)) from None
        if missing := self.required.difference(merged):
            raise InputValidationError(f"missing input {', '.join(sorted(missing))}")
        model = self.block.validate_input(self.block.build_input(self.node, merged))
        return merged, model


class _GraphExecution:
    """One run of one graph (sub-graph runs get their own)."""

    def __init__(
        self,
        runner: GraphRunner,
        graph: Graph,
        root: Graph,
        inputs: dict[str, Any],
        budget: _Budget,
        http: SafeHttpClient,
        depth: int,
        notify: NodeCallback | None,
    ):
        self.runner = runner
        self.graph = graph
        self.root = root
        self.inputs = inputs
        self.budget = budget
        self.http = http
        self.depth = depth
        self.notify = notify
        self.states: dict[str, _NodeState] = {}
        for node in graph.nodes:
            block = runner.registry.get(node.block_id)
            assert block is not None, "graph was checked before running"
            self.states[node.id] = _NodeState(node, block)
        for link in graph.links:
            source, sink = self.states[link.source_id], self.states[link.sink_id]
            is_static = link.is_static or source.block.static_output
            if is_tool_pin(link.source_name):
                # empty steps: the value goes through `extract`, which drops None
                source.routes[tool_pin(sink.node.id, link.sink_name)].append(
                    _Route(sink, link.sink_name, (), is_static)
                )
            else:
                base, steps = split_pin(link.source_name)
                source.routes[base].append(_Route(sink, link.sink_name, steps or None, is_static))
            sink.linked_pins.add(link.sink_name)
            if link.sink_name not in sink.loose_pins:
                sink.wait_pins.add(link.sink_name)
            sink.has_dynamic = sink.has_dynamic or is_dynamic(link.sink_name)
            if is_static:
                sink.static_pins.add(link.sink_name)
        self.run_id = uuid.uuid4().hex
        self.records: list[_Exec] = []
        self.queue: asyncio.Queue[_Exec] = asyncio.Queue()
        self.outputs: dict[str, list[Any]] = {}
        self.finished: list[_Exec] = []
        self.abort_reason: str | None = None
        self.abort_event = asyncio.Event()

    @property
    def timeout_message(self) -> str:
        """The run's error when it runs out of time (its own timer or a block's deadline)."""
        return f"the run timed out after {self.runner.settings.timeout_s:g}s"

    # ----- wiring values between nodes -----

    def _new_exec(self, state: _NodeState) -> _Exec:
        ex = _Exec(state, f"{self.run_id}-{len(self.records)}")
        self.records.append(ex)
        state.incomplete.append(ex)
        return ex

    def _try_ready(self, ex: _Exec) -> None:
        state = ex.state
        missing = state.wait_pins.difference(ex.data)
        if missing:
            for pin in missing.intersection(state.static_values):
                ex.data[pin] = state.static_values[pin]
            if missing.difference(state.static_values):
                return
        if state.input_ready is not None and not state.input_ready({**state.defaults, **ex.data}):
            return
        state.incomplete.remove(ex)
        try:
            ex.input, ex.model = state.prepare(ex.data)
        except InputValidationError as err:
            ex.input = {**state.defaults, **ex.data}
            self._fail(ex, f"invalid input for {state.block.name}: {err}")
            ex.ended_at = _now()
            self.finished.append(ex)
            return
        ex.status = S.QUEUED
        self.queue.put_nowait(ex)

    def _deliver(self, route: _Route, value: Any) -> None:
        sink, pin = route.sink, route.sink_pin
        if route.is_static:
            sink.static_values[pin] = value
        target = next((e for e in sink.incomplete if pin not in e.data), None)
        if target is None:
            target = self._new_exec(sink)
        target.data[pin] = value
        self._try_ready(target)
        if route.is_static:
            for waiting in list(sink.incomplete):
                if pin not in waiting.data:
                    waiting.data[pin] = value
                    self._try_ready(waiting)

    def _route(self, state: _NodeState, pin: str, value: Any) -> None:
        for route in state.routes.get(pin, ()):
            if route.steps is None:
                self._deliver(route, value)
            elif (part := extract(value, route.steps)) is not MISSING and part is not None:
                self._deliver(route, part)

    def _fail(self, ex: _Exec, message: str) -> None:
        message = _short_error(message)
        ex.status = S.FAILED
        ex.error = message
        ex.output.setdefault("error", []).append(message)
        self._route(ex.state, "error", message)

    def _abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        self.abort_event.set()

    # ----- running nodes -----

    def _start(self) -> None:
        for state in self.states.values():
            if state.block_type == BlockType.NOTE:
                continue
            if state.block_type == BlockType.INPUT:
                ex = self._new_exec(state)
                name = state.node.input_default.get("name")
                if isinstance(name, str) and name in self.inputs:
                    ex.data["value"] = self.inputs[name]
                self._try_ready(ex)
            elif not state.linked_pins:
                self._try_ready(self._new_exec(state))

    async def _execute(self, ex: _Exec) -> None:
        if not self.budget.take():
            self._abort(f"stopped: the run reached max_node_executions ({self.budget.limit})")
            return
        state = ex.state
        ex.status = S.RUNNING
        ex.started_at = _now()
        ctx = BlockContext(
            settings=self.runner.settings,
            llm=self.runner.llm,
            http=self.http,
            graph=self.graph,
            node_id=state.node.id,
            node_exec_id=ex.exec_id,
            run_subgraph=self._run_subgraph,
            deadline=self.budget.deadline,
            services=self.runner.services,
            registry=self.runner.registry,
        )
        stream = state.block.run(ex.model, ctx)
        try:
            async for pin, value in stream:
                if pin == "error":
                    raise _BlockYieldedError(str(value))
                try:
                    await self.budget.add_output(pin, value)
                except LimitError as err:
                    if self.budget.output_bytes > self.budget.max_output:
                        self._abort(f"stopped: {err}")
                    raise
                ex.output.setdefault(pin, []).append(value)
                if state.block_type == BlockType.OUTPUT and pin == "output":
                    self.outputs.setdefault(ex.model.name, []).append(value)
                self._route(state, pin, value)
            ex.status = S.COMPLETED
        except asyncio.CancelledError:
            ex.status = S.TERMINATED
            raise
        except Exception as err:  # noqa: BLE001 - any block failure fails the node only
            self._fail(ex, str(err) or type(err).__name__)
            if isinstance(err, BlockTimeoutError) and err.run_deadline:
                self._abort(self.timeout_message)
        finally:
            await stream.aclose()
            ex.ended_at = _now()
            self.finished.append(ex)

    async def _worker(self) -> None:
        while True:
            ex = await self.queue.get()
            try:
                await self._execute(ex)
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - an engine bug must not hang the run
                log.exception("graph runner internal error")
                self._abort(f"internal error in the graph runner: {err!r}")
            finally:
                self.queue.task_done()

    async def _run_subgraph(
        self, graph_id: str, version: int | None, inputs: dict[str, Any]
    ) -> GraphRun:
        settings = self.runner.settings
        if self.depth >= settings.max_subgraph_depth:
            raise RuntimeError(
                f"sub-graphs nested deeper than max_subgraph_depth ({settings.max_subgraph_depth})"
            )
        sub = self.root.find_sub_graph(graph_id, version)
        if sub is None:
            raise RuntimeError(f"sub-graph {graph_id} v{version} is not in the graph's sub_graphs")
        check_inputs(sub, self.runner.registry, inputs)
        nested = _GraphExecution(
            self.runner, sub, self.root, inputs, self.budget, self.http, self.depth + 1, None
        )
        return await nested.run(timeout=None, cancel=None)

    # ----- lifecycle -----

    async def _flush(self) -> None:
        while self.finished:
            batch, self.finished = self.finished, []
            if self.notify is None:
                continue
            for ex in batch:
                try:
                    await self.notify(self._record(ex))
                except Exception:  # noqa: BLE001 - progress reporting must not break a run
                    log.exception("on_node_done callback failed")

    async def _wait(
        self, timeout: float | None, cancel: asyncio.Event | None
    ) -> tuple[ExecutionStatus, str | None]:
        joined = asyncio.create_task(self.queue.join())
        waiters = {joined, asyncio.create_task(self.abort_event.wait())}
        cancelled = asyncio.create_task(cancel.wait()) if cancel else None
        if cancelled:
            waiters.add(cancelled)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in waiters:
                task.cancel()
        if self.abort_reason or self.budget.exhausted:
            return S.FAILED, self.abort_reason or (
                f"stopped: the run reached max_node_executions ({self.budget.limit})"
            )
        if joined in done:
            return S.COMPLETED, None
        if cancelled is not None and cancelled in done:
            return S.TERMINATED, "the run was cancelled"
        return S.FAILED, self.timeout_message

    def _terminate_open(self, reason: str | None) -> None:
        for ex in self.records:
            if ex.status in (S.QUEUED, S.RUNNING):
                ex.status = S.TERMINATED
                ex.ended_at = ex.ended_at or _now()
                if ex not in self.finished:
                    self.finished.append(ex)
            if ex.status == S.TERMINATED and ex.error is None:
                ex.error = reason

    async def run(self, *, timeout: float | None, cancel: asyncio.Event | None) -> GraphRun:
        """Run to the end (or timeout/cancel/abort) and build the result."""
        started = _now()
        workers: list[asyncio.Task[None]] = []
        status, error = S.TERMINATED, "the run was interrupted"
        try:
            self._start()
            await self._flush()
            count = self.runner.settings.max_parallel_nodes
            workers = [asyncio.create_task(self._worker()) for _ in range(count)]
            status, error = await self._wait(timeout, cancel)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._terminate_open(error)
        await self._flush()
        return GraphRun(
            execution_id=self.run_id,
            graph_id=self.graph.id,
            graph_version=self.graph.version,
            graph_name=self.graph.name,
            status=status,
            outputs=self.outputs,
            nodes=[self._record(ex) for ex in self.records],
            error=error,
            started_at=started,
            ended_at=_now(),
        )

    @staticmethod
    def _record(ex: _Exec) -> NodeExecution:
        state = ex.state
        return NodeExecution.model_construct(
            node_exec_id=ex.exec_id,
            node_id=state.node.id,
            block_id=state.node.block_id,
            block_name=state.block.name,
            status=ex.status,
            input=ex.input if ex.input is not None else dict(ex.data),
            output=ex.output,
            error=ex.error,
            started_at=ex.started_at,
            ended_at=ex.ended_at,
        )


class GraphRunner:
    """Runs AutoGPT graphs in-process with the blocks of a registry."""

    def __init__(
        self,
        settings: GraphSettings | None = None,
        *,
        llm: GraphLLM | None = None,
        registry: BlockRegistry | None = None,
        on_node_done: NodeCallback | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        services: BlockServices | None = None,
    ):
        self.settings = settings or GraphSettings()
        self.services = services or BlockServices()
        self.llm = llm
        self.registry = registry or default_registry()
        self.on_node_done = on_node_done
        self.http_transport = http_transport

    def check(self, graph: Graph, inputs: dict[str, Any] | None = None) -> None:
        """Raise `UnsupportedBlocksError` or `GraphValidationError` if the run would be refused."""
        check_graph(graph, self.registry, inputs)

    async def run(
        self,
        graph: Graph | str | Path,
        inputs: dict[str, Any] | None = None,
        *,
        cancel: asyncio.Event | None = None,
    ) -> GraphRun:
        """Check then run a graph; setting `cancel` stops it with status TERMINATED."""
        if not isinstance(graph, Graph):
            graph = load_graph(graph, self.settings)
        inputs = dict(inputs or {})
        self.check(graph, inputs)
        s = self.settings
        http = SafeHttpClient(
            timeout_s=s.web_timeout_s,
            max_bytes=s.web_max_response_bytes,
            max_redirects=s.web_max_redirects,
            allow_private_network=s.allow_private_network,
            user_agent=s.user_agent,
            transport=self.http_transport,
        )
        deadline = time.monotonic() + s.timeout_s
        async with http:
            execution = _GraphExecution(
                self,
                graph,
                graph,
                inputs,
                _Budget(s.max_node_executions, s, deadline),
                http,
                0,
                self.on_node_done,
            )
            return await execution.run(timeout=s.timeout_s, cancel=cancel)


async def run_graph(
    graph: Graph | str | Path,
    inputs: dict[str, Any] | None = None,
    *,
    settings: GraphSettings | None = None,
    llm: GraphLLM | None = None,
    on_node_done: NodeCallback | None = None,
    cancel: asyncio.Event | None = None,
) -> GraphRun:
    """Run a graph (object or file path) locally and return its `GraphRun`."""
    runner = GraphRunner(settings, llm=llm, on_node_done=on_node_done)
    return await runner.run(graph, inputs, cancel=cancel)
