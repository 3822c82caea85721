"""SummarizeResults: the final report to the Boss, the answer first, checked against the data."""

from __future__ import annotations

import json
from typing import Any

from actions.analyze_request import AnalyzeRequest
from actions.boss_words import boss_words, shorten
from actions.conversation import fit_history
from actions.memory_queries import latest_payload
from actions.report_checks import Finding, KnownNumbers, Problem, check_narrative
from actions.report_examples import NOT_DONE, ReportExample, example_for, load_examples, telltales
from actions.report_relay import RELAY_OPTION, RELAYED, relayed_answer
from actions.run_graphs import RunGraphs
from actions.step_ids import step_refs
from actions.write_plan import WritePlan
from company.action import Action, ActionOutput, published_by
from company.events import EventKind
from company.llm.base import LLMOutputTruncated
from company.llm.client import Reask
from company.message import Message
from company.payloads import GraphResults, Plan, Report, StepResult
from company.status import StepStatus

SEVERITY = {"left_out": 0, "number": 1, "echo": 2, "empty": 3}
"""How bad each narrative problem is, to keep the milder of two bad answers."""
ECHO_LEFT_OUT = "It is left out: the results below are the steps' own."
"""What the status line adds when a twice-echoed prompt or a runaway answer is dropped."""
CUT_OFF = Problem("cut", "the model's answer ran past its token limit, also when asked to be "
                  "brief", "")
"""The problem of a report whose narrative was cut off twice (the task still gets its results)."""
LEFT_OUT = frozenset({"echo", "cut"})
"""Problems whose narrative is left out of the report rather than shown flagged."""
REASK_TOKENS = 150
"""Room the report prompt keeps for a re-ask's problem (the earlier turns fit in the rest)."""


class SummarizeResults(Action):
    """The LLM's narrative, checked (re-asked once, else flagged), over a results section
    written from the data itself."""

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
            steps = results.all_steps
        else:
            steps = [StepResult(step_id=s.id, graph=s.graph, status=StepStatus.PLANNED)
                     for s in (plan.steps if plan else [])]
        words = boss_words(memory, recent=0)
        notes = plan.notes.strip() if plan else ""
        relayed = self._relayed(steps, notes) if executed else None
        if relayed is not None:
            narrative, problem = relayed, None
        else:
            variables: dict[str, Any] = {
                **report_variables(words.request, steps, executed),
                "analysis": latest_payload(memory, news, AnalyzeRequest),
                "notes": notes, "notebook": self._notes(words.request),
            }
            narrative, problem = await self._asked(variables, steps, plan, executed)
        table = results_section(steps, executed, planned=plan is not None, notes=notes)
        status = problem.status_line if problem else ""
        if problem is not None and problem.kind in LEFT_OUT:  # no report: the results follow
            narrative, status = "", f"{status} {ECHO_LEFT_OUT}"
            if not steps:  # no results either: the code says what was asked, as the prompt did
                narrative = nothing_run(words.request, notes)
        markdown = "\n\n".join(part for part in (status, narrative, table) if part)
        payload = Report(markdown=markdown, unchecked=problem.message if problem else None)
        return ActionOutput(content=markdown, payload=payload)

    def _relayed(self, steps: list[StepResult], notes: str) -> str | None:
        """The narrative that is a step's own answer (``report_relay``), when the SOP option
        ``relay_answers`` (default true) allows it and one fits."""
        if not self.ctx.options.get(RELAY_OPTION, True):
            return None
        relayed = relayed_answer(steps, self.ctx.services.catalogue(), notes)
        if relayed is not None:
            self.ctx.event(EventKind.PROGRESS, what=RELAYED, graph=steps[-1].graph)
        return relayed

    async def _asked(self, variables: dict[str, Any], steps: list[StepResult],
                     plan: Plan | None, executed: bool) -> tuple[str, Problem | None]:
        """The model's narrative over the prompt's ``variables``, after the worked example
        and the earlier turns that fit, checked against the data (``_narrative``)."""
        example = self._example(steps, executed, bool(variables["notebook"]))
        shown = self._example_turns(example)
        history = await fit_history(self, lambda earlier: "\n\n".join(
            [*(turn["content"] for turn in shown),
             self.render(**{**variables, "earlier": earlier}, problem="")]),
            reserve=REASK_TOKENS)
        variables["earlier"] = history.earlier
        known = self._known_numbers(variables["request"], history.earlier, steps)
        known.add_values(variables["notebook"])
        return await self._narrative(
            variables, known, shown, telltales(example) if example else [],
            findings(steps, plan) if executed else [])

    async def _narrative(self, variables: dict[str, Any], known: KnownNumbers,
                         shown: list[dict[str, str]], example_phrases: list[str],
                         results: list[Finding]) -> tuple[str, Problem | None]:
        """Ask for the narrative, after the ``shown`` example turns; a bad one is re-asked
        once with its problem stated in the prompt, sampled (``Reask.CHECKED``: at
        temperature 0 a 0.5B model gave the same answer back). When both are bad, the milder
        one is kept (an unknown number over an echo over nothing; the second on a tie), with
        its problem."""
        prompt = self.render(**variables, problem="")
        try:
            first = (await self.llm.ask(
                [*shown, {"role": "user", "content": prompt}])).strip()
        except LLMOutputTruncated as exc:  # asked twice already (the second time: briefly)
            self.ctx.event(EventKind.PROGRESS, what="report_cut_off", error=str(exc))
            return "", CUT_OFF
        data = json.dumps([variables["request"], variables["earlier"], variables["notes"],
                           variables["steps"], variables["notebook"]], ensure_ascii=False,
                          default=str)
        problem = check_narrative(first, self._instructions(variables, ""), known, data,
                                  example_phrases, results)
        if problem is None:
            return first, None
        self.ctx.event(EventKind.PROGRESS, what="report_reasked", reason=problem.message,
                       check=problem.kind)
        prompt = self.render(**variables, problem=problem.reask)
        try:
            second = (await self.llm.ask([*shown, {"role": "user", "content": prompt}],
                                         reask=Reask.CHECKED)).strip()
        except LLMOutputTruncated as exc:  # a runaway re-ask: the first answer, as it was
            self.ctx.event(EventKind.PROGRESS, what="report_cut_off", error=str(exc))
            return first, problem
        again = check_narrative(second, self._instructions(variables, problem.reask), known,
                                data, example_phrases, results)
        if again is not None and SEVERITY[problem.kind] < SEVERITY[again.kind]:
            return first, problem
        return second, again

    def _example(self, steps: list[StepResult], executed: bool,
                  notebook: bool) -> ReportExample | None:
        """The worked report this task is shown (none when the SOP option
        ``report_example`` is false, or none fits; a plan with no steps gets none when the
        notebook has lines for the request: the report may answer from them)."""
        if not self.ctx.options.get("report_example", True) or (notebook and not steps):
            return None
        return example_for(steps, executed, load_examples())

    def _example_turns(self, example: ReportExample | None) -> list[dict[str, str]]:
        """The example as an earlier exchange: this action's prompt rendered with the
        example's request and results, answered by the example's report."""
        if example is None:
            return []
        asked = self.render(**report_variables(example.request, example.steps, True),
                            analysis=None, notes=example.notes, notebook=[], problem="")
        return [{"role": "user", "content": asked},
                {"role": "assistant", "content": example.report}]

    def _instructions(self, variables: dict[str, Any], reask: str) -> str:
        """The prompt with its data left out: what an echoed answer would repeat."""
        blank = {**variables, "request": "", "earlier": [], "notes": "", "steps": [],
                 "analysis": None, "problem": reask, "notebook": []}
        try:
            return self.render(**blank)
        except Exception:  # noqa: BLE001 - an SOP's own template may need its data
            return ""

    def _notes(self, request: str) -> list[str]:
        """The notebook's open items and kept ideas that share words with the request (none
        when the notebook is off: ``analyze_request.notebook_on``)."""
        from actions.analyze_request import notebook_on
        from company.notebook import Notebook

        if not request or not notebook_on(self.ctx):
            return []
        return [n.line() for n in Notebook(self.ctx.store).relevant(request, min_overlap=1)]

    def _known_numbers(self, request: str, earlier: list[str],
                       steps: list[StepResult]) -> KnownNumbers:
        """The numbers the report may present: the Boss's words, every plan's inputs in this
        task, the steps' outputs and errors, and the step count."""
        known = KnownNumbers()
        known.add_values([request, *earlier])
        for message in self.ctx.memory.by_cause(WritePlan):
            if message.payload:
                plan = Plan.model_validate(message.payload)
                known.add_values(step.inputs for step in plan.steps)
        for step in steps:
            known.add_values([step.outputs, step.error])
        known.add_values(range(len(steps) + 1))
        return known


def findings(steps: list[StepResult], plan: Plan | None) -> list[Finding]:
    """The results a report must give: the numbers output by each completed step (its latest
    attempt) whose outputs no step of the plan uses."""
    used = {ref for step in (plan.steps if plan else []) for ref in step_refs(step)}
    latest = {step.step_id: step for step in steps}  # in run order: a later attempt wins
    found = [Finding.of(f"{_label(step)} ({step.graph})", step.outputs) for step in latest.values()
             if step.status == StepStatus.COMPLETED and step.step_id not in used]
    return [finding for finding in found if finding is not None]


NOTHING_RUN_CHARS = 300
"""The most of the request a code-written "nothing was run" line quotes."""


def nothing_run(request: str, notes: str) -> str:
    """The line a report with no steps opens with when the model's narrative was left out:
    what was asked, that nothing was run, and the Planner's reason (a 1.5B model's report on
    "Please order 20 whiteboard markers" ran away twice, and the report no longer said what
    had been asked)."""
    asked = shorten(" ".join(request.split()), NOTHING_RUN_CHARS)
    if not asked:
        return f"Nothing was run. {notes.strip()}".strip()
    end = "" if asked.endswith((".", "?", "!", "…")) else "."
    return f"Nothing was run for this request: {asked}{end} {notes.strip()}".strip()


def report_variables(request: str, steps: list[StepResult], executed: bool) -> dict[str, Any]:
    """The report prompt's variables that come from the request and the step results (the
    rest: ``analysis``, ``notes``, ``notebook``, ``problem``)."""
    return {
        "request": request, "earlier": [], "executed": executed,
        "failed": [f"{_label(s)} ({s.graph})" for s in steps if s.status in NOT_DONE],
        "steps": [{"id": _label(s), "graph": s.graph, "status": s.status,
                   "outputs": s.outputs, "error": s.error} for s in steps],
    }


def _label(step: StepResult) -> str:
    """A step's id, with its attempt when a re-plan ran it."""
    attempt = getattr(step, "attempt", 1)
    return step.step_id if attempt == 1 else f"{step.step_id} (attempt {attempt})"


def results_section(steps: list[StepResult], executed: bool, planned: bool = True,
                    notes: str = "") -> str:
    """A Markdown section listing every step with its status, outputs and error; with no
    steps, the plan's ``notes`` (the Planner's reason: "No graph can book flights.")."""
    title = "## Results" if executed else "## Plan (planned, not executed)"
    if not steps:
        if not (executed or planned):
            return "## Plan\n\nNo plan was made in this run."
        reason = f" The Planner's note: {notes.strip()}" if notes.strip() else ""
        return f"{title}\n\nNo graph steps were planned.{reason}"
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
