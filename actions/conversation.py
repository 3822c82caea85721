"""The conversation before this turn, fitted to one prompt's token budget: the newest earlier
turns verbatim and the older ones as one summary, made by an LLM call once per span of turns,
kept in the store and reused by every later prompt. The one place the Analyst, the Planner,
the report and the review get the conversation from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from actions.boss_words import Turn, current_requests, earlier_turns
from company.action import Action
from company.events import EventKind
from company.grounding import coverage
from company.llm.base import BudgetExceeded, LLMError
from company.llm.bounds import CallBounds
from company.llm.tokens import PromptBudget, TokenCounter, context_tokens

SUMMARY_ACTION = "SummarizeHistory"
"""The summary's prompt (prompts/summarize_history.j2) and the action its calls are booked to."""
SUMMARY_STEP = 10
"""A summary ends on a multiple of this many turns (unless nothing else fits): the span it
covers moves once in ten follow-ups, and every prompt in between reuses it."""
CONTEXT_OPTION = "context_tokens"
"""A role option (SOP ``options: {context_tokens: 4096}``) that beats ``llm.context_tokens``."""
LINE_TOKENS = 3
"""The bullet and newline around one history line."""
HEADER_TOKENS = 12
""""Earlier in this conversation:" and the blank line before it."""
SUMMARY_LINE_CHARS = 600
"""The most of one line a summary prompt quotes (halved until the turns fit, down to 80)."""
MIN_SUMMARY_LINE_CHARS = 80
MIN_SUMMARY_COVERAGE = 0.3
"""The share of a summary's content words its prompt must hold: less is a refusal or a story
of its own ("I'm sorry, but I can't assist with that." holds none), not kept."""

Prompt = Callable[[list[str]], str]
"""Renders the action's whole prompt with these history lines (everything else fixed)."""


class History(BaseModel):
    """The earlier turns as one prompt shows them, and how they were fitted."""

    earlier: list[str] = []
    turns: int = 0  # earlier turns in all
    summarized: int = 0  # turns 1..summarized are told by the summary line
    left_out: int = 0  # turns neither summarized nor shown (no summary could be made)
    prompt_tokens: int = 0  # the prompt's text with these lines
    budget: int = 0  # what the prompt's text may use (before ``reserve``)
    exact: bool = False  # counted by the provider's own tokenizer
    summary_calls: int = 0  # summaries this fitting made (0: none needed, reused, or failed)


async def fit_history(action: Action, prompt: Prompt, *, before_seq: int | None = None,
                      answer_action: str | None = None, reserve: int = 0) -> History:
    """The turns before message ``before_seq`` (default: before this turn's requests) that
    ``prompt`` holds within its budget: the context less the answer tokens of
    ``answer_action`` (default: the action's own) and ``reserve``. Every turn verbatim when
    they fit; else the oldest ones, up to a multiple of ``SUMMARY_STEP``, as a summary and the
    rest verbatim."""
    memory = action.ctx.memory
    if before_seq is None:
        current = current_requests(memory)
        before_seq = current[0].seq if current else memory.last_seq + 1
    turns = earlier_turns(memory, before_seq)
    counter = TokenCounter(_provider(action))
    base = await counter.count(prompt([]))
    sizes = [await _turn_tokens(counter, turn) for turn in turns]
    budget = prompt_budget(action, answer_action or action.name, exact=counter.exact)
    limit = budget.prompt - reserve
    history = History(turns=len(turns), prompt_tokens=base, budget=budget.prompt,
                      exact=counter.exact)
    if not turns:
        return history
    summary_tokens = _bounds(action).answer_tokens(SUMMARY_ACTION) + 2 * LINE_TOKENS
    for cut in cuts(sizes, limit - base - HEADER_TOKENS, summary_tokens):
        summary = await summarize(action, turns, cut, counter) if cut else None
        made = summary.calls if summary is not None else 0
        history.summary_calls += made
        earlier = [summary_line(cut, summary.text)] if summary and summary.text else []
        earlier += [line for turn in turns[cut:] for line in turn.lines()]
        tokens = await counter.count(prompt(earlier))
        if tokens <= limit or cut == len(turns):
            left_out = cut if cut and not (summary and summary.text) else 0
            if left_out:
                action.ctx.event(EventKind.PROGRESS, what="history_left_out", turns=left_out)
            return history.model_copy(update={
                "earlier": earlier, "summarized": cut - left_out, "left_out": left_out,
                "prompt_tokens": tokens, "exact": counter.exact})
    action.ctx.event(EventKind.PROGRESS, what="history_left_out", turns=len(turns))
    return history.model_copy(update={"left_out": len(turns)})


def cuts(sizes: list[int], room: int, summary_tokens: int) -> list[int]:
    """Where the summary may end, best first: 0 (no summary) when every turn fits ``room``;
    then the multiples of ``SUMMARY_STEP`` before the last turn, then each later turn, whose
    verbatim rest and a summary of ``summary_tokens`` fit (the next is tried when the whole
    prompt, counted, does not fit after all); empty when nothing fits."""
    n = len(sizes)
    last_step = (n - 1) // SUMMARY_STEP * SUMMARY_STEP
    candidates = [*range(SUMMARY_STEP, last_step + 1, SUMMARY_STEP),
                  *range(last_step + 1, n + 1)]
    fitting = [c for c in candidates if sum(sizes[c:]) + summary_tokens <= room]
    return [0, *fitting] if sum(sizes) <= room else fitting


def summary_line(last_turn: int, text: str) -> str:
    """The history line that tells turns 1..last_turn."""
    span = f"turns 1–{last_turn}" if last_turn > 1 else "turn 1"
    return f"Summary of {span}: {text}"


class Summary(BaseModel):
    """A summary of turns 1..last_turn, and how many calls it took now (0: reused)."""

    text: str
    last_turn: int
    calls: int = 0


async def summarize(action: Action, turns: list[Turn], cut: int,
                    counter: TokenCounter) -> Summary | None:
    """The summary of turns 1..cut: stored, else folded from the newest stored one before it,
    as many whole steps of turns per call as the summary's prompt holds (each result stored);
    None when a call fails (the budget running out still fails the action)."""
    store, task_id = action.ctx.store, action.ctx.task_id
    stored = {s.last_turn: s.text for s in store.summaries(task_id)
              if s.last_turn <= len(turns) and turns[s.last_turn - 1].last_seq == s.last_seq}
    if cut in stored:
        return Summary(text=stored[cut], last_turn=cut)
    covered = max((k for k in stored if k < cut), default=0)
    text, calls = stored.get(covered, ""), 0
    budget = prompt_budget(action, SUMMARY_ACTION, exact=counter.exact).prompt
    while covered < cut:
        ends = [*range(covered // SUMMARY_STEP * SUMMARY_STEP + SUMMARY_STEP, cut,
                       SUMMARY_STEP), cut]
        end, request = await _widest_fold(action, turns, text, covered, ends, budget, counter)
        try:
            answer = await action.ctx.llm.for_action(SUMMARY_ACTION).ask(
                [{"role": "user", "content": request}])
        except BudgetExceeded:
            raise
        except LLMError as exc:
            action.ctx.event(EventKind.PROGRESS, what="history_summary_failed",
                             turns=f"1-{end}", error=str(exc))
            return None
        calls += 1
        told = " ".join(answer.split())
        if coverage(told, request) < MIN_SUMMARY_COVERAGE:  # empty, a refusal, off the topic
            action.ctx.event(EventKind.PROGRESS, what="history_summary_failed",
                             turns=f"1-{end}", error="the summary does not tell the turns: "
                             + (repr(told[:120]) if told else "it came back empty"))
            return None
        text = told
        store.save_summary(task_id, end, turns[end - 1].last_seq, text)
        action.ctx.event(EventKind.PROGRESS, what="history_summarized", turns=f"1-{end}",
                         folded=f"{covered + 1}-{end}")
        covered = end
    return Summary(text=text, last_turn=cut, calls=calls)


async def _widest_fold(action: Action, turns: list[Turn], summary: str, covered: int,
                       ends: list[int], budget: int, counter: TokenCounter) -> tuple[int, str]:
    """The furthest of ``ends`` whose turns (after ``covered``) one summary prompt holds, and
    that prompt; the first end alone has its lines cut shorter until it fits."""
    chosen: tuple[int, str] | None = None
    for end in ends:
        request = _summary_prompt(action, turns, summary, covered, end, SUMMARY_LINE_CHARS)
        if await counter.count(request) > budget:
            break
        chosen = (end, request)
    if chosen is not None:
        return chosen
    chars = SUMMARY_LINE_CHARS
    request = _summary_prompt(action, turns, summary, covered, ends[0], chars)
    while chars > MIN_SUMMARY_LINE_CHARS and await counter.count(request) > budget:
        chars = max(MIN_SUMMARY_LINE_CHARS, chars // 2)
        request = _summary_prompt(action, turns, summary, covered, ends[0], chars)
    return ends[0], request


def _summary_prompt(action: Action, turns: list[Turn], summary: str, covered: int, end: int,
                    chars: int) -> str:
    lines = [line for turn in turns[covered:end] for line in turn.lines(chars, chars)]
    words = _bounds(action).answer_tokens(SUMMARY_ACTION) // 2
    return action.ctx.prompts.render(SUMMARY_ACTION, summary=summary, covered=covered,
                                     first=covered + 1, last=end, lines=lines, words=words)


def prompt_budget(action: Action, answer_action: str, *, exact: bool = False) -> PromptBudget:
    """The budget of one prompt of ``answer_action``: the context one request gets (the role
    option ``context_tokens``, else ``llm.context_tokens``, else the provider's), less that
    action's answer bound (never above the provider's answer ceiling) and the chat template."""
    provider = _provider(action)
    answer = _bounds(action).answer_tokens(answer_action)
    ceiling = getattr(provider, "answer_ceiling", None)
    if isinstance(ceiling, int):
        answer = min(answer, ceiling)
    facade = getattr(action.ctx.llm, "llm", None)
    context = context_tokens(provider, _configured_context(action),
                             getattr(facade, "options", None))
    return PromptBudget(context=context, answer=answer, exact=exact)


def _configured_context(action: Action) -> int | None:
    """The role option, else the config's ``llm.context_tokens`` (None: the provider's)."""
    own = action.ctx.options.get(CONTEXT_OPTION)
    if isinstance(own, int) and own > 0:
        return own
    config = getattr(action.ctx.services, "config", None)
    configured = getattr(getattr(config, "llm", None), "context_tokens", None)
    return configured if isinstance(configured, int) and configured > 0 else None


def _provider(action: Action) -> Any:
    return getattr(getattr(action.ctx.llm, "llm", None), "provider", None)


def _bounds(action: Action) -> CallBounds:
    bounds = getattr(getattr(action.ctx.llm, "llm", None), "bounds", None)
    return bounds if isinstance(bounds, CallBounds) else CallBounds()


async def _turn_tokens(counter: TokenCounter, turn: Turn) -> int:
    return sum([await counter.count(line) + LINE_TOKENS for line in turn.lines()])
