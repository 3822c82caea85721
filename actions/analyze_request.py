"""AnalyzeRequest: a summary, ideas to remember and action items to do."""

from __future__ import annotations

from actions.memory_queries import boss_requests
from actions.transcribe import Transcribe
from company.action import Action, ActionFailed, ActionOutput
from company.boss import UserRequirement
from company.message import Message
from company.payloads import Analysis


class AnalyzeRequest(Action):
    """Reads the Boss's newest request (with the conversation so far) into an Analysis."""

    triggers = (UserRequirement, Transcribe)
    payload = Analysis
    description = "read the Boss's request into a summary, ideas and action items"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Analyze the request in the news; store the ideas."""
        from actions.summarize_results import SummarizeResults

        requests = [m for m in news if m.cause_by in self.trigger_names()]
        if not requests:
            return None
        text = "\n\n".join(m.content for m in requests).strip()
        if not text:
            raise ActionFailed("the request is empty: nothing to analyze")
        earlier = [m for m in boss_requests(self.ctx.memory) if m.seq < requests[0].seq]
        reports = self.ctx.memory.by_cause(SummarizeResults)
        history = [f"Boss: {m.content}" for m in earlier] + [
            f"Report: {m.content[:500]}" for m in reports
        ]
        prompt = self.render(request=text, history=history)
        analysis = await self.llm.ask_model([{"role": "user", "content": prompt}], Analysis)
        for idea in analysis.ideas:
            self.ctx.store.add_idea(self.ctx.task_id, requests[-1].id, idea.text, idea.priority)
        return ActionOutput(content=describe_analysis(analysis), payload=analysis)


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
