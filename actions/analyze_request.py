"""AnalyzeRequest: a summary, ideas to remember and action items to do; the Boss's notebook
is read into the prompt, and what the Boss said worth keeping is written to it."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from actions.conversation import fit_history
from actions.transcribe import Transcribe
from company.action import Action, ActionContext, ActionFailed, ActionOutput
from company.boss import UserRequirement
from company.events import EventKind
from company.llm.base import LLMInvalidOutput
from company.message import Message
from company.notebook import Notebook, grounded_ideas
from company.payloads import ActionItem, Analysis

NOTEBOOK_OPTION = "notebook"
"""The Analyst's role option that turns the notebook off (``options: {notebook: false}``):
nothing read into the prompt, nothing written. A task whose stored options say
``notebook: false``, or a research run's task (its meta ``research``: synthetic requests, not
the Boss's, many sharing one store), has it off too."""


def notebook_on(ctx: ActionContext) -> bool:
    """Whether this action reads and writes the Boss's notebook (see ``NOTEBOOK_OPTION``)."""
    if not ctx.options.get(NOTEBOOK_OPTION, True):
        return False
    task = ctx.store.get_task(ctx.task_id)
    stored = task.options if task is not None else {}
    return bool(stored.get(NOTEBOOK_OPTION, True)) and "research" not in stored


class AnalyzeRequest(Action):
    """Reads the Boss's newest request (with the conversation so far and the relevant notes of
    the notebook) into an Analysis; keeps the Boss's ideas and items in the notebook."""

    triggers = (UserRequirement, Transcribe)
    payload = Analysis
    description = "read the Boss's request into a summary, ideas and action items"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Analyze the request in the news; the ideas without the Boss's words as their source
        are left out; the rest, and the grounded items, go to the notebook."""
        requests = [m for m in news if m.cause_by in self.trigger_names()]
        if not requests:
            return None
        text = "\n\n".join(m.content for m in requests).strip()
        if not text:
            raise ActionFailed("the request is empty: nothing to analyze")
        use_notebook = notebook_on(self.ctx)
        notebook = Notebook(self.ctx.store)
        notes = (notebook.relevant(text, exclude_message_ids={m.id for m in requests})
                 if use_notebook else [])
        lines = [n.line() for n in notes]
        history = await fit_history(  # the earlier turns this prompt holds (older: a summary)
            self, lambda earlier: self.render(request=text, history=earlier, notebook=lines),
            before_seq=requests[0].seq)
        prompt = self.render(request=text, history=history.earlier, notebook=lines)
        try:
            analysis = await self.llm.ask_model([{"role": "user", "content": prompt}], Analysis,
                                                schema=answer_schema())
        except LLMInvalidOutput as exc:  # cut off or invalid, also when re-asked
            self.ctx.event(EventKind.PROGRESS, what=ANALYSIS_FALLBACK, error=str(exc))
            fallback = request_as_analysis(text)
            return ActionOutput(content=describe_analysis(fallback), payload=fallback)
        analysis = analysis.model_copy(update={"ideas": grounded_ideas(analysis, text)})
        if use_notebook:
            kept = notebook.record_analysis(analysis, text, task_id=self.ctx.task_id,
                                            message_id=requests[-1].id)
            if kept:  # the page's notebook panel (and any watcher) learns at once
                noted = {n.id: {"id": n.id, "kind": n.kind, "status": n.status, "text": n.text}
                         for n in kept}
                self.ctx.event(EventKind.NOTEBOOK, notes=list(noted.values()))
        return ActionOutput(content=describe_analysis(analysis), payload=analysis)


ANALYSIS_FALLBACK = "analysis_fallback"
"""The progress event of an analysis that is the request itself: the model gave no valid one."""
FALLBACK_SUMMARY_CHARS = 300


def request_as_analysis(text: str) -> Analysis:
    """The analysis when the model gave none: the request as its one action item (the Planner
    plans from the Boss's own words anyway), no ideas, nothing for the notebook. A small model
    that looped to its token limit on "C:\\Users\\…" no longer fails the task here."""
    words = " ".join(text.split())
    summary = words if len(words) <= FALLBACK_SUMMARY_CHARS else (
        words[:FALLBACK_SUMMARY_CHARS - 1] + "…")
    return Analysis(summary=f"The Boss asked: {summary}",
                    action_items=[ActionItem(source=text, text=text, priority="high")])


@cache
def answer_schema() -> dict[str, Any]:
    """The JSON schema the model answers: the Analysis's, with ``source`` required of every
    idea and action item (the payload itself defaults it, for payloads stored before)."""
    schema = copy.deepcopy(Analysis.model_json_schema())
    for name in ("Idea", "ActionItem"):
        definition = schema["$defs"][name]
        definition["required"] = ["source", *[r for r in definition.get("required", [])
                                              if r != "source"]]
    return schema


def describe_analysis(analysis: Analysis) -> str:
    """The analysis as readable text."""
    lines = [analysis.summary]
    if analysis.ideas:
        lines.append("Ideas: " + "; ".join(f"[{i.priority}] {i.text}" for i in analysis.ideas))
    if analysis.action_items:
        lines.append(
            "Action items: " + "; ".join(f"[{i.priority}] {i.text}" for i in analysis.action_items)
        )
    return "\n".join(lines)
