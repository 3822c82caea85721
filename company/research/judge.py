"""The optional LLM judge: scores a run's report 1-10 against a rubric (prompts/judge_report.j2)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from company.llm.client import LLM
from company.prompts import PromptLibrary
from company.research.requests import ResearchRequest

JUDGE_ROLE = "Judge"
JUDGE_ACTION = "JudgeReport"


class JudgeVerdict(BaseModel):
    """The judge's answer: a score from 1 to 10 and why."""

    score: int = Field(ge=1, le=10)
    reason: str = ""


def expectation_hints(request: ResearchRequest) -> list[str]:
    """The request's expectations as short lines the judge may use."""
    expect = request.expect
    hints = [f"graph {g} is run" for g in expect.graphs]
    hints += [f"graph {g} is run and fails, and the report says so" for g in expect.failed_graphs]
    if expect.graphs_none:
        hints.append("no graph can serve this request, and the report says so")
    if expect.report_contains_any:
        hints.append("the report mentions one of "
                     + ", ".join(repr(s) for s in expect.report_contains_any))
    hints += [f"the report mentions {s!r}" for s in expect.report_contains]
    hints += [f"a result equals {v!r}" for v in expect.outputs_contain]
    return hints


async def judge_report(llm: LLM, request: ResearchRequest, report: str | None,
                       prompts: PromptLibrary | None = None) -> JudgeVerdict:
    """Ask the judge model for a verdict on the report (no report: the lowest score, no call)."""
    if not report or not report.strip():
        return JudgeVerdict(score=1, reason="the run produced no report")
    prompt = (prompts or PromptLibrary()).render(
        JUDGE_ACTION, request=request.as_text(),
        expect=expectation_hints(request), report=report,
    )
    return await llm.ask_model([{"role": "user", "content": prompt}], JudgeVerdict,
                               role=JUDGE_ROLE)
