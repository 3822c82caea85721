"""SummarizeResults: the final report to the Boss."""

from __future__ import annotations

import json

from actions.analyze_request import AnalyzeRequest
from actions.memory_queries import boss_requests, latest_payload
from actions.run_graphs import RunGraphs
from actions.write_plan import WritePlan
from company.action import Action, ActionOutput, published_by
from company.message import Message
from company.payloads import GraphResults, Plan, Report, StepResult
from company.status import StepStatus


class SummarizeResults(Action):
    """The LLM's narrative plus a results section written from the data itself."""

    triggers = (RunGraphs,)
    payload = Report
    description = "write the final report to the Boss from the plan's results"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Write the report for the newest plan and results."""
        memory = self.ctx.memory
        results: GraphResults | None = latest_payload(memory, news, RunGraphs)
        plan: Plan | None = latest_payload(memory, news, WritePlan)
        executed = results is not None and bool(published_by(news, RunGraphs))
        if executed and results is not None:
            steps = results.steps
        else:
            steps = [StepResult(step_id=s.id, graph=s.graph, status=StepStatus.PLANNED)
                     for s in (plan.steps if plan else [])]
        requests = boss_requests(memory)
        request = requests[-1].content if requests else ""
        prompt = self.render(
            request=request, analysis=latest_payload(memory, news, AnalyzeRequest),
            executed=executed,
            steps=[{"id": s.step_id, "graph": s.graph, "status": s.status, "outputs": s.outputs,
                    "error": s.error} for s in steps],
        )
        narrative = (await self.llm.ask([{"role": "user", "content": prompt}])).strip()
        table = results_section(steps, executed, planned=plan is not None)
        markdown = f"{narrative}\n\n{table}".strip()
        return ActionOutput(content=markdown, payload=Report(markdown=markdown))


def results_section(steps: list[StepResult], executed: bool, planned: bool = True) -> str:
    """A Markdown section listing every step with its status, outputs and error."""
    title = "## Results" if executed else "## Plan (planned, not executed)"
    if not steps:
        return f"{title}\n\nNo graph steps were planned." if executed or planned else (
            "## Plan\n\nNo plan was made in this run.")
    lines = [title, "", "| step | graph | status | outputs | error |", "|---|---|---|---|---|"]
    for step in steps:
        outputs = json.dumps(step.outputs, ensure_ascii=False) if step.outputs else ""
        lines.append(
            f"| {step.step_id} | {step.graph} | {step.status} | {_cell(outputs)} |"
            f" {_cell(step.error or '')} |"
        )
    if not executed:
        lines += ["", "These steps were planned but not executed: no Executor ran them."]
    return "\n".join(lines)


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."
