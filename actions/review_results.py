"""ReviewResults: accept the executed results (and report), or send the Planner back."""

from __future__ import annotations

from actions.analyze_request import AnalyzeRequest
from actions.boss_words import budgeted_words
from actions.memory_queries import latest_payload
from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults
from company.action import Action, ActionOutput
from company.message import Message
from company.payloads import Analysis, GraphResults, Review


class ReviewResults(Action):
    """Reviews RunGraphs results; a bounded number of times asks the Planner to re-plan."""

    triggers = (RunGraphs,)
    payload = Review
    description = "check the results against the request; accept and report, or ask to re-plan"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Review the newest results."""
        results: GraphResults | None = latest_payload(self.ctx.memory, news, RunGraphs)
        if results is None:
            return None
        max_replans = int(self.ctx.options.get("max_replans", 1))
        replans = sum(
            1 for m in self.ctx.memory.by_cause(ReviewResults)
            if m.payload and m.payload.get("verdict") == "replan"
        )
        if replans < max_replans:
            analysis: Analysis | None = latest_payload(self.ctx.memory, news, AnalyzeRequest)
            steps = [s.model_dump(mode="json") for s in results.all_steps]
            words = await budgeted_words(self, lambda request, earlier: self.render(
                request=request, earlier=earlier, analysis=analysis,
                replans_left=max_replans - replans, steps=steps))
            prompt = self.render(
                request=words.request, earlier=words.earlier, analysis=analysis,
                replans_left=max_replans - replans, steps=steps,
            )
            review = await self.llm.ask_model([{"role": "user", "content": prompt}], Review)
            if review.verdict == "replan":
                return ActionOutput(content=f"Re-plan: {review.feedback}", payload=review,
                                    send_to=["Planner"])
        report = await SummarizeResults(self.ctx).run(news)
        if report is not None:
            report.cause_by = SummarizeResults.name
        return report
