"""RunGraphs: execute a plan's steps as AutoGPT graphs, locally or on an AutoGPT server."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from actions.analyze_request import AnalyzeRequest
from actions.memory_queries import latest_payload
from actions.planning import STEP_REF, draft_plan
from actions.write_plan import WritePlan
from company.action import Action, ActionFailed, ActionOutput, published_by
from company.events import EventKind
from company.message import Message
from company.payloads import Analysis, GraphResults, Plan, PlanStep, StepResult
from company.status import StepStatus

_WHOLE_REF = re.compile(rf"^{STEP_REF.pattern}$")


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
        elif isinstance(value, str) and STEP_REF.search(value):
            resolved[name] = STEP_REF.sub(lambda m: str(first(m.group(1), m.group(2))), value)
        else:
            resolved[name] = value
    return resolved


class RunGraphs(Action):
    """Runs every step of the newest plan and publishes each step's status and outputs."""

    triggers = (WritePlan,)
    payload = GraphResults
    description = "run the plan's graphs and collect their outputs"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Execute the newest plan, whatever news woke the Executor (a plan, or a critic's
        approval); news of an analysis (an SOP with no Planner) is planned here first."""
        analyses = published_by(news, AnalyzeRequest)
        if analyses:
            analysis: Analysis | None = latest_payload(self.ctx.memory, news, AnalyzeRequest)
            if analysis is None:
                raise ActionFailed("the analysis in the news carries no payload to plan from")
            plan: Plan | None = await draft_plan(self, analysis)
            source: Message | None = analyses[-1]
        else:
            plan = latest_payload(self.ctx.memory, news, WritePlan)
            if plan is None:
                raise ActionFailed("there is no plan (and no analysis) to execute")
            source = (published_by(news, WritePlan) or [self.ctx.memory.latest(WritePlan)])[-1]
        assert plan is not None
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
                                               status=StepStatus.SKIPPED,
                                               error="circular dependencies")
                break
            results = await asyncio.gather(*(self._step(s, done, key) for s in ready))
            for step, result in zip(ready, results, strict=True):
                done[step.id] = result
            pending = [s for s in pending if s.id not in done]
        return GraphResults(steps=[done[s.id] for s in plan.steps])

    async def _step(self, step: PlanStep, done: dict[str, StepResult], key: str) -> StepResult:
        from company.graphs.errors import GraphError

        failed = [d for d in step.depends_on
                  if done[d].status is not StepStatus.COMPLETED or done[d].error]
        if failed:
            return StepResult(step_id=step.id, graph=step.graph, status=StepStatus.SKIPPED,
                              error=f"skipped: it depends on {', '.join(failed)}, which failed")
        started = time.perf_counter()
        try:
            inputs = resolve_inputs(step.inputs, done)
            run = await self._run_graph(step, inputs, f"{key}:{step.id}")
        except (GraphError, ActionFailed) as exc:
            return StepResult(step_id=step.id, graph=step.graph, status=StepStatus.FAILED,
                              error=str(exc),
                              duration_s=round(time.perf_counter() - started, 4))
        node_errors = [f"{n.block_name or n.node_id}: {n.error}" for n in run.failed_nodes]
        error = run.error or ("; ".join(node_errors) if node_errors else None)
        return StepResult(
            step_id=step.id, graph=step.graph, status=StepStatus(run.status.value),
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
        self.ctx.event(EventKind.GRAPH_NODE, step=step.id, graph=step.graph,
                       status=StepStatus.RUNNING, where=settings.executor)
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
