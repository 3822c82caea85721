"""RunGraphs: execute a plan's steps as AutoGPT graphs, locally or on an AutoGPT server."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from actions.context import latest_analysis, latest_plan
from actions.write_plan import draft_plan
from company.action import Action, ActionFailed, ActionOutput
from company.events import EventKind
from company.message import Message
from company.payloads import GraphResults, Plan, PlanStep, StepResult

_WHOLE_REF = re.compile(r"^\{\{\s*(\w+)\.(\w+)\s*\}\}$")
_REF = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")


def resolve_inputs(inputs: dict[str, Any], done: dict[str, StepResult]) -> dict[str, Any]:
    """Replace ``{{ step_id.output }}`` references with earlier steps' first output values."""

    def first(step_id: str, output: str) -> Any:
        result = done.get(step_id)
        if result is None or not result.outputs.get(output):
            raise ActionFailed(f"input refers to {step_id}.{output}, which produced no value")
        return result.outputs[output][0]

    resolved: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, str) and (whole := _WHOLE_REF.match(value)):
            resolved[name] = first(whole.group(1), whole.group(2))
        elif isinstance(value, str) and _REF.search(value):
            resolved[name] = _REF.sub(lambda m: str(first(m.group(1), m.group(2))), value)
        else:
            resolved[name] = value
    return resolved


class RunGraphs(Action):
    """Runs every step of the newest plan and publishes each step's status and outputs."""

    name = "RunGraphs"
    triggers = ("WritePlan",)
    description = "run the plan's graphs and collect their outputs"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Execute the plan in the news (or, with no Planner, plan from the analysis first)."""
        plan = latest_plan(self.ctx.memory, news) if _has(news, "WritePlan") else None
        source = next((m for m in reversed(news) if m.cause_by == "WritePlan"), None)
        if plan is None:
            analysis = latest_analysis(self.ctx.memory, news)
            if analysis is None:
                raise ActionFailed("there is no plan (and no analysis) to execute")
            plan = await draft_plan(self, analysis)
            source = next((m for m in reversed(news) if m.cause_by == "AnalyzeRequest"), None)
        key = source.id if source is not None else "plan"
        results = await self.execute(plan, key)
        return ActionOutput(content=describe_results(results), payload=results)

    async def execute(self, plan: Plan, key: str) -> GraphResults:
        """Run steps in waves: each wave is every step whose dependencies are finished."""
        done: dict[str, StepResult] = {}
        pending = list(plan.steps)
        while pending:
            ready = [s for s in pending if all(d in done for d in s.depends_on)]
            if not ready:
                for step in pending:
                    done[step.id] = StepResult(step_id=step.id, graph=step.graph,
                                               status="SKIPPED", error="circular dependencies")
                break
            results = await asyncio.gather(*(self._step(s, done, key) for s in ready))
            for step, result in zip(ready, results, strict=True):
                done[step.id] = result
            pending = [s for s in pending if s.id not in done]
        return GraphResults(steps=[done[s.id] for s in plan.steps])

    async def _step(self, step: PlanStep, done: dict[str, StepResult], key: str) -> StepResult:
        from company.graphs.errors import GraphError

        failed = [d for d in step.depends_on if done[d].status != "COMPLETED" or done[d].error]
        if failed:
            return StepResult(step_id=step.id, graph=step.graph, status="SKIPPED",
                              error=f"skipped: it depends on {', '.join(failed)}, which failed")
        started = time.perf_counter()
        try:
            inputs = resolve_inputs(step.inputs, done)
            run = await self._run_graph(step, inputs, f"{key}:{step.id}")
        except (GraphError, ActionFailed) as exc:
            return StepResult(step_id=step.id, graph=step.graph, status="FAILED", error=str(exc),
                              duration_s=round(time.perf_counter() - started, 4))
        node_errors = [f"{n.block_name or n.node_id}: {n.error}" for n in run.failed_nodes]
        error = run.error or ("; ".join(node_errors) if node_errors else None)
        return StepResult(
            step_id=step.id, graph=step.graph, status=run.status.value,
            outputs=run.outputs, error=error,
            # a remote execution id is a fact worth keeping; a local run's id is random and
            # would make message logs differ between identical runs
            execution_id=run.execution_id if self._remote() else None,
            duration_s=round(time.perf_counter() - started, 4),
        )

    def _remote(self) -> bool:
        return self.ctx.services.graph_settings().executor == "remote"

    async def _run_graph(self, step: PlanStep, inputs: dict[str, Any], step_key: str) -> Any:
        from company.graphs.runner import GraphRunner

        entry = self.ctx.services.catalogue().get(step.graph)
        settings = self.ctx.services.graph_settings()
        self.ctx.event(EventKind.GRAPH_NODE, step=step.id, graph=step.graph, status="RUNNING",
                       where=settings.executor)
        if settings.executor == "remote":
            return await self._run_remote(entry.graph, inputs, step_key, settings)

        async def node_done(node: Any) -> None:
            self.ctx.event(EventKind.GRAPH_NODE, step=step.id, graph=step.graph,
                           node=node.node_id, block=node.block_name, status=node.status.value,
                           error=node.error)

        runner = GraphRunner(settings, llm=self.ctx.llm, on_node_done=node_done)
        return await runner.run(entry.graph, inputs)

    async def _run_remote(self, graph: Any, inputs: dict[str, Any], step_key: str,
                          settings: Any) -> Any:
        from company.graphs.remote import AutoGPTClient

        store, task_id = self.ctx.store, self.ctx.task_id
        async with AutoGPTClient(settings.remote) as client:
            recorded = store.recorded_execution(task_id, step_key)
            if recorded:
                return await client.resume(graph.id, recorded)

            async def record(execution_id: str) -> None:
                store.record_execution(task_id, step_key, "remote", graph.id, execution_id)

            return await client.execute(graph.id, graph.version or 1, inputs,
                                        record_execution=record)


def _has(news: list[Message], cause: str) -> bool:
    return any(m.cause_by == cause for m in news)


def describe_results(results: GraphResults) -> str:
    """The results as readable text."""
    if not results.steps:
        return "No steps to run."
    lines = []
    for step in results.steps:
        line = f"{step.step_id} {step.graph}: {step.status}"
        if step.outputs:
            line += f" {step.outputs}"
        if step.error:
            line += f" (error: {step.error})"
        lines.append(line)
    return "\n".join(lines)
