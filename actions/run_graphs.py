"""RunGraphs: execute a plan's steps as AutoGPT graphs, locally or on an AutoGPT server; after
failed steps, have the plan redone once (bounded by the role's ``replan_on_failure``)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from actions.analyze_request import AnalyzeRequest
from actions.boss_words import boss_words
from actions.memory_queries import (
    BROKEN,
    latest_payload,
    replan_requests_sent,
    replans_after_failure,
    step_feedback,
)
from actions.planning import (
    OFFLINE_FALLBACK,
    STEP_REF,
    draft_plan,
    excluded_after,
    offline_plan,
)
from actions.write_plan import WritePlan
from company.action import Action, ActionFailed, ActionOutput, published_by
from company.events import EventKind
from company.message import Message
from company.payloads import Analysis, GraphResults, NodeStatus, Plan, PlanStep, StepResult
from company.status import StepStatus

_WHOLE_REF = re.compile(rf"^{STEP_REF.pattern}$")
REPLAN_AFTER_FAILURE = "replan_after_failure"
"""The PROGRESS event's ``what`` when failed steps send the request back to be planned again."""
REPLAN_FAILED = "replan_failed"
"""The PROGRESS event's ``what`` when a Planner-less re-plan found no valid plan (the failed
attempt's results are published as they are)."""


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
    """Runs every step of the newest plan and publishes each step's status and outputs.

    When steps FAILED and the role's option ``replan_on_failure`` (default 0) leaves re-plans
    for this request, the plan is redone with the failures in view: a plan from a Planner goes
    back to it (the results are sent to the Planner only, and the Executor runs its new plan);
    a plan made here (no Planner) is redrafted and run at once. Each re-plan emits PROGRESS
    ``replan_after_failure``."""

    triggers = (WritePlan,)
    payload = GraphResults
    description = "run the plan's graphs and collect their outputs"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Execute the newest plan, whatever news woke the Executor (a plan, or a critic's
        approval); news of an analysis (an SOP with no Planner) is planned here first."""
        plan, source, analysis = await self._plan(news)
        key = source.id if source is not None else "plan"
        used = replans_after_failure(self.ctx.memory)
        left = max(0, int(self.ctx.options.get("replan_on_failure", 0)) - used)
        results = await self.execute(plan, key, attempt=used + 1)
        if analysis is not None:
            results = await self._replan_here(analysis, plan, results, key, left, used + 1)
        elif left and _broken(results):
            planner = source.sent_from if source is not None else "Planner"
            self._announce(results, used + 2, by=planner)
            return ActionOutput(content=f"Steps failed; back to {planner} for a new plan.\n"
                                f"{describe_results(results)}", payload=results,
                                send_to=[planner])
        else:
            results.earlier = [s for m in replan_requests_sent(self.ctx.memory) if m.payload
                               for s in GraphResults.model_validate(m.payload).steps]
        return ActionOutput(content=describe_results(results), payload=results)

    async def _plan(self, news: list[Message]) -> tuple[Plan, Message | None, Analysis | None]:
        """The plan to run, the message it runs for, and the analysis when it was drafted here
        (news of an analysis: no Planner)."""
        analyses = published_by(news, AnalyzeRequest)
        if analyses:
            analysis: Analysis | None = latest_payload(self.ctx.memory, news, AnalyzeRequest)
            if analysis is None:
                raise ActionFailed("the analysis in the news carries no payload to plan from")
            return await draft_plan(self, analysis), analyses[-1], analysis
        plan: Plan | None = latest_payload(self.ctx.memory, news, WritePlan)
        if plan is None:
            raise ActionFailed("there is no plan (and no analysis) to execute")
        source = (published_by(news, WritePlan) or [self.ctx.memory.latest(WritePlan)])[-1]
        return plan, source, None

    async def _replan_here(self, analysis: Analysis, plan: Plan, results: GraphResults,
                           key: str, left: int, attempt: int) -> GraphResults:
        """With no Planner: redraft the plan with the failures as feedback and run it, at most
        ``left`` times; every attempt's steps are kept, the failed ones first."""
        steps, feedback = list(results.steps), step_feedback(results.steps)
        catalogue = self.ctx.services.catalogue()
        latest, replans = results, 0
        while replans < left and _broken(latest):
            replans += 1
            attempt += 1
            self._announce(latest, attempt, by=self.ctx.role)
            broken = [s for s in latest.steps if s.status in BROKEN]
            fallback = offline_plan(plan, broken, catalogue,
                                    boss_words(self.ctx.memory, recent=0).request)
            if fallback is not None:
                self.ctx.event(EventKind.PROGRESS, what=OFFLINE_FALLBACK,
                               steps=[s.step_id for s in broken])
            try:
                plan = fallback or await draft_plan(
                    self, analysis, "\n".join(f"- {f}" for f in feedback),
                    exclude=excluded_after(steps, catalogue))
            except ActionFailed as exc:  # the failed attempt's results still get reported
                self.ctx.event(EventKind.PROGRESS, what=REPLAN_FAILED, error=str(exc))
                break
            latest = await self.execute(plan, f"{key}:a{attempt}", attempt=attempt)
            steps += latest.steps
            feedback += [f for f in step_feedback(latest.steps) if f not in feedback]
        return GraphResults(steps=steps, replans=replans)

    def _announce(self, results: GraphResults, attempt: int, *, by: str) -> None:
        failed = [s for s in results.steps if s.status in BROKEN]
        self.ctx.event(EventKind.PROGRESS, what=REPLAN_AFTER_FAILURE,
                       steps=[s.step_id for s in failed], graphs=[s.graph for s in failed],
                       attempt=attempt, by=by)

    async def execute(self, plan: Plan, key: str, *, attempt: int = 1) -> GraphResults:
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
        steps = [done[s.id] for s in plan.steps]
        if attempt != 1:
            steps = [s.model_copy(update={"attempt": attempt}) for s in steps]
        return GraphResults(steps=steps)

    async def _step(self, step: PlanStep, done: dict[str, StepResult], key: str) -> StepResult:
        from company.graphs.errors import GraphError

        failed = [d for d in step.depends_on
                  if done[d].status is not StepStatus.COMPLETED or done[d].error]
        if failed:
            return StepResult(step_id=step.id, graph=step.graph, status=StepStatus.SKIPPED,
                              error=f"skipped: it depends on {', '.join(failed)}, which failed")
        started = time.perf_counter()
        placement = self._place(step)
        try:
            inputs = resolve_inputs(step.inputs, done)
            run = await self._run_graph(step, inputs, f"{key}:{step.id}", placement)
        except (GraphError, ActionFailed) as exc:
            return StepResult(step_id=step.id, graph=step.graph, status=StepStatus.FAILED,
                              error=str(exc), where=placement.where,
                              duration_s=round(time.perf_counter() - started, 4))
        node_errors = [f"{n.block_name or n.node_id}: {n.error}" for n in run.failed_nodes]
        error = run.error or ("; ".join(node_errors) if node_errors else None)
        return StepResult(
            step_id=step.id, graph=step.graph, status=step_status(run),
            outputs=run.outputs, error=error, nodes=node_statuses(run),
            # a remote execution id is a fact worth keeping; a local run's id is random and
            # would make message logs differ between identical runs
            execution_id=run.execution_id if placement.where == "remote" else None,
            duration_s=round(time.perf_counter() - started, 4), where=placement.where,
        )

    def _place(self, step: PlanStep) -> Any:
        """Where the step's graph runs (here, or on the configured AutoGPT server) and why."""
        from company.graphs.dispatch import place

        services = self.ctx.services
        return place(services.catalogue().get(step.graph).graph, services.block_registry(),
                     services.graph_settings())

    async def _run_graph(self, step: PlanStep, inputs: dict[str, Any], step_key: str,
                         placement: Any) -> Any:
        from company.graphs.dispatch import refusal
        from company.graphs.runner import GraphRunner

        entry = self.ctx.services.catalogue().get(step.graph)
        settings = self.ctx.services.graph_settings()
        self.ctx.event(EventKind.GRAPH_NODE, step=step.id, graph=step.graph,
                       status=StepStatus.RUNNING, where=placement.where, why=placement.why)
        if not placement.runs:
            raise refusal(entry.graph, self.ctx.services.block_registry(), placement)
        if placement.where == "remote":
            return await self._run_remote(entry.graph, inputs, step_key, settings)

        async def node_done(node: Any) -> None:
            self.ctx.event(EventKind.GRAPH_NODE, step=step.id, graph=step.graph,
                           node=node.node_id, block=node.block_name, status=node.status.value,
                           error=node.error)

        runner = GraphRunner(settings, llm=self.ctx.llm, on_node_done=node_done,
                             services=self.ctx.services.block_services())
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


def _broken(results: GraphResults) -> bool:
    return any(s.status in BROKEN for s in results.steps)


def step_status(run: Any) -> StepStatus:
    """The step's status from a graph run: AutoGPT's, except that a COMPLETED run in which a
    node failed and no value reached any of the graph's outputs is FAILED. A run's outputs are
    exactly its Output blocks' values (the graph's declared outputs, all a later step or the
    report can use), so "no output" means nothing usable came out; a run with some output and
    a failed node stays COMPLETED (partial) and its step keeps the node errors."""
    status = StepStatus(run.status.value)
    produced = any(values for values in run.outputs.values())
    if status is StepStatus.COMPLETED and run.failed_nodes and not produced:
        return StepStatus.FAILED
    return status


def node_statuses(run: Any) -> list[NodeStatus]:
    """AutoGPT's node statuses of a run, one per node in the order they first ran (a node's
    executions folded: FAILED when any failed, else the last status; its first error)."""
    nodes: dict[str, NodeStatus] = {}
    for execution in run.nodes:
        status = str(execution.status)
        seen = nodes.get(execution.node_id)
        if seen is None:
            nodes[execution.node_id] = NodeStatus(
                node_id=execution.node_id, block=execution.block_name or "", status=status,
                error=execution.error)
            continue
        seen.executions += 1
        if seen.status != StepStatus.FAILED:
            seen.status = status
        seen.error = seen.error or execution.error
    return list(nodes.values())


def describe_results(results: GraphResults) -> str:
    """The results as readable text, earlier attempts' steps first."""
    if not results.all_steps:
        return "No steps to run."
    lines = []
    for step in results.all_steps:
        again = f" (attempt {step.attempt})" if step.attempt > 1 else ""
        remote = " on the AutoGPT server" if step.where == "remote" else ""
        line = f"{step.step_id}{again} {step.graph}{remote}: {step.status}"
        if step.outputs:
            line += f" {step.outputs}"
        if step.error:
            line += f" (error: {step.error})"
        lines.append(line)
    return "\n".join(lines)
