"""Conversation memory that fits the model: token counts (the provider's own, else the
calibrated estimate), the prompt budget per provider, earlier turns fitted to each prompt (the
newest verbatim, older ones summarized once, stored and reused), and a follow-up after 50 turns
on an 8k model."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from actions.analyze_request import AnalyzeRequest
from actions.boss_words import RECENT_TURNS, REPORT_LINE_CHARS, boss_words, earlier_turns
from actions.conversation import SUMMARY_ACTION, SUMMARY_STEP, cuts, fit_history
from actions.summarize_results import SummarizeResults
from actions.transcribe import Transcribe
from company.boss import UserRequirement
from company.config import AppConfig
from company.events import EventKind
from company.llm import guard
from company.llm.base import ChatRequest, LLMError
from company.llm.embedded import EmbeddedProvider, EmbeddedSettings
from company.llm.scripted import ScriptedProvider
from company.llm.tokens import (
    ESTIMATE_HEADROOM,
    TEMPLATE_TOKENS,
    PromptBudget,
    TokenCounter,
    context_tokens,
    estimate_tokens,
)
from company.run_options import RunOptions
from company.sop import load_sop, parse_sop
from tests.action_support import TASK_ID, Harness, harness, offline_config
from tests.conftest import ANALYSIS, PLAN
from tests.runtime_support import scripted_company


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


TOPICS = ["the Lisbon office lease", "the Q3 churn numbers for EMEA", "Maria Lopez's memo",
          "the invoice from Nordwind GmbH", "the hiring plan for the data team"]


def request(turn: int) -> str:
    """A long request with a line to quote exactly and numbers in it."""
    chat = ("Also keep the notes short and plain, list what changed since last time, and flag "
            "anything that looks odd to you. ") * 4
    return (f"Turn {turn}: look at {TOPICS[turn % len(TOPICS)]} again. Quote this line "
            f"exactly: \"Item {turn} stays at {1000 + 37 * turn} units until week "
            f"{turn % 52 + 1}\". {chat}").strip()


def report_for(call: ChatRequest) -> str:
    """The report names the turn it answers."""
    found = re.search(r"asked:\n(Turn \d+)", call.messages[-1]["content"])
    return (f"# Report\n\n{found.group(1) if found else 'The request'} is planned: the request "
            "was read and a plan of two steps was written. Nothing was run yet.")


def span_of(prompt: str) -> tuple[int, int]:
    """The turns a summary prompt folds in ("Turns 11–20:" or "Turn 1:")."""
    found = re.search(r"^Turns? (\d+)(?:–(\d+))?:$", prompt, re.M)
    assert found, prompt
    return int(found.group(1)), int(found.group(2) or found.group(1))


def summary_for(call: ChatRequest) -> str:
    """A summary naming the last turn it covers."""
    last = span_of(call.messages[-1]["content"])[1]
    return f"SUMMARY-THROUGH-{last}: the Boss asked about the office lease, churn and invoices."


def remember_turns(h: Harness, turns: int) -> None:
    """``turns`` answered turns in memory: each a request, an analysis and a report."""
    for turn in range(1, turns + 1):
        h.remember(request(turn), UserRequirement)
        h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
        h.remember(f"# Report\n\nTurn {turn} is planned. Nothing was run yet.",
                   SummarizeResults, sent_from="Analyst")


# token counts and budgets ---------------------------------------------------------------


def test_the_estimate_counts_each_digit_and_the_rest_by_characters() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefg") == 2  # 7 characters at 3.5 a token
    assert estimate_tokens("1249.50") == 6 + 1  # six digits, and the dot
    assert estimate_tokens("x" * 350) == 100


class _Counts:
    """A provider that tells token counts (or cannot, with None)."""

    name = "counting"

    def __init__(self, answer: int | None, awaited: bool = True) -> None:
        self.answer, self.awaited, self.asked = answer, awaited, 0

    def count_tokens(self, text: str) -> Any:
        self.asked += 1
        if not self.awaited:
            return self.answer

        async def told() -> int | None:
            return self.answer
        return told()


async def test_the_counter_takes_the_providers_count_and_else_estimates() -> None:
    own = _Counts(7)
    counter = TokenCounter(own)
    assert [await counter.count("some text"), await counter.count("some text")] == [7, 7]
    assert counter.exact and own.asked == 1  # each text counted once
    assert await TokenCounter(_Counts(9, awaited=False)).count("x") == 9
    unsure = TokenCounter(_Counts(None))
    assert await unsure.count("abcdefg") == 2 and not unsure.exact
    plain = TokenCounter(ScriptedProvider({}))  # no count of its own: the estimate
    assert await plain.count("abcdefg") == 2 and not plain.exact


def test_the_context_comes_from_the_config_else_the_provider() -> None:
    class Sized:
        name, context_tokens = "x", 2048

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    assert context_tokens(Sized(), configured=16384) == 16384
    assert context_tokens(Sized()) == 2048
    assert context_tokens(Named("ollama"), options={"num_ctx": 12000}) == 12000
    assert context_tokens(Named("ollama")) == 4096
    assert context_tokens(Named("scripted")) == context_tokens(Named("openai")) == 8192
    assert context_tokens(Named("other"), options={"num_ctx": 100}) == 8192
    settings = EmbeddedSettings(ctx_size=8192, parallel=2)
    assert EmbeddedProvider("m.gguf", settings).context_tokens == 4096  # shared by 2 slots


def test_the_budget_keeps_the_answer_template_and_headroom_out() -> None:
    exact = PromptBudget(context=8192, answer=400, exact=True)
    assert exact.prompt == 8192 - 400 - TEMPLATE_TOKENS
    estimated = PromptBudget(context=8192, answer=400)
    assert estimated.prompt == int((8192 - 400 - TEMPLATE_TOKENS) * (1 - ESTIMATE_HEADROOM))
    assert PromptBudget(context=512, answer=600).prompt == 0


@pytest.fixture
def tokenize_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback stand-in for llama.cpp's /tokenize: one token per word; the texts asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(body["content"])
            assert body["add_special"] is False
            data = json.dumps({"tokens": list(range(len(body["content"].split())))}).encode()
            self.send_response(200 if self.path == "/tokenize" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


async def test_the_embedded_model_counts_with_llama_cpp_tokenize(tokenize_server) -> None:
    url, asked = tokenize_server

    class Running:
        running = True

    provider = EmbeddedProvider("m.gguf", EmbeddedSettings())
    assert await provider.count_tokens("not started") is None  # the caller estimates
    provider._server = Running()  # type: ignore[assignment]
    provider._server.url = url  # type: ignore[attr-defined]
    assert await provider.count_tokens("three words here") is None  # model requests blocked
    with guard.allow_model_requests(hosts=[url]):
        assert await provider.count_tokens("three words here") == 3
        assert await provider.count_tokens("three words here") == 3
    assert asked == ["three words here"]  # remembered, asked once
    provider._server.url = "http://127.0.0.1:9"  # type: ignore[attr-defined]
    with guard.allow_model_requests():
        assert await provider.count_tokens("nobody listens") is None


# turns -------------------------------------------------------------------------------


def test_each_report_closes_the_requests_before_it(config, store) -> None:
    h = harness(config, store)
    h.remember("What is 6 times 7?", UserRequirement)
    h.remember("analysis", AnalyzeRequest, ANALYSIS, sent_from="Analyst")
    h.remember("# Report\n\n6 × 7 = 42. Done.\n\n| s1 |", SummarizeResults, sent_from="Analyst")
    h.remember("Voice note (transcribed): add 1", Transcribe, sent_from="Transcriber")
    h.remember("# Report\n\n" + "43 " * 200, SummarizeResults, sent_from="Analyst")
    h.remember("Count the words in 'a b c'", UserRequirement)  # its run failed: no report
    now = h.remember("And now?", UserRequirement)
    turns = earlier_turns(h.memory, now.seq)
    assert [(t.number, t.requests) for t in turns] == [
        (1, ("What is 6 times 7?",)), (2, ("Voice note (transcribed): add 1",)),
        (3, ("Count the words in 'a b c'",))]
    assert turns[0].lines() == ["Boss: What is 6 times 7?", "Report: 6 × 7 = 42. Done."]
    long_report = turns[1].lines()[1]
    assert len(long_report) == len("Report: ") + REPORT_LINE_CHARS and long_report[-1] == "…"
    assert turns[2].lines() == ["Boss: Count the words in 'a b c'"]


def test_without_a_budget_the_boss_words_keep_the_last_turns(config, store) -> None:
    h = harness(config, store)
    remember_turns(h, RECENT_TURNS + 2)
    h.remember("And now?", UserRequirement)
    words = boss_words(h.memory)
    assert words.request == "And now?"
    assert words.earlier[0] == f"Boss: {request(3)}" and len(words.earlier) == 2 * RECENT_TURNS


def test_the_summary_ends_on_a_step_unless_nothing_else_fits() -> None:
    assert cuts([100] * 5, room=1000, summary_tokens=50)[0] == 0  # all verbatim
    found = cuts([100] * 25, room=1000, summary_tokens=50)
    assert found[0] == 2 * SUMMARY_STEP and found[1:] == [21, 22, 23, 24, 25]
    assert cuts([2000] * 3, room=1000, summary_tokens=50) == [3]  # only the summary fits
    assert cuts([100] * 3, room=10, summary_tokens=50) == []  # nothing fits


# fitting one prompt ----------------------------------------------------------------------


async def test_history_that_fits_is_shown_verbatim_without_a_summary(config, store) -> None:
    h = harness(config, store, {"AnalyzeRequest": ANALYSIS})
    remember_turns(h, 3)
    now = h.remember("And now add 1.", UserRequirement)
    await h.publish(AnalyzeRequest, [now])
    [prompt] = h.prompts("AnalyzeRequest")
    lines = [line for t in earlier_turns(h.memory, now.seq) for line in t.lines()]
    assert "Earlier in this conversation:\n" + "".join(f"- {x}\n" for x in lines) in prompt
    assert h.provider.calls_for(SUMMARY_ACTION) == [] and store.summaries(TASK_ID) == []


async def test_older_turns_are_summarized_once_and_the_summary_is_reused(config, store):
    h = harness(config, store, {"AnalyzeRequest": ANALYSIS, SUMMARY_ACTION: summary_for},
                options={"context_tokens": 3000})
    remember_turns(h, 25)
    now = h.remember("And now add 1.", UserRequirement)
    await h.publish(AnalyzeRequest, [now])
    made = [span_of(p) for p in h.prompts(SUMMARY_ACTION)]
    stored = store.summaries(TASK_ID)
    assert made and made[0][0] == 1 and made[-1][1] == stored[-1].last_turn
    assert [s.last_turn for s in stored] == [end for _, end in made]
    assert all(end % SUMMARY_STEP == 0 for _, end in made)
    last = stored[-1].last_turn
    prompt = h.prompts("AnalyzeRequest")[0]
    assert f"- Summary of turns 1–{last}: SUMMARY-THROUGH-{last}: the Boss asked" in prompt
    assert f"- Boss: {request(last)}\n" not in prompt  # told by the summary
    assert f"- Boss: {request(25)}\n- Report: Turn 25 is planned." in prompt  # verbatim
    assert prompt.endswith("Request:\nAnd now add 1.")
    summary_prompt = h.prompts(SUMMARY_ACTION)[0]
    assert f"- Boss: {request(1)}" in summary_prompt and request(25) not in summary_prompt
    # another prompt of this turn (and the next) reuses it: no new call
    history = await fit_history(AnalyzeRequest(h.ctx), lambda earlier: "\n".join(earlier),
                                before_seq=now.seq)
    assert history.summary_calls == 0 and history.summarized == last
    assert history.earlier[0] == (f"Summary of turns 1–{last}: SUMMARY-THROUGH-{last}: the "
                                  "Boss asked about the office lease, churn and invoices.")
    assert len(h.prompts(SUMMARY_ACTION)) == len(made)
    progress = [d for k, d in h.events if k is EventKind.PROGRESS]
    assert [d["turns"] for d in progress if d["what"] == "history_summarized"] == [
        f"1-{end}" for _, end in made]


async def test_a_longer_conversation_folds_the_stored_summary_forward(config, store):
    h = harness(config, store, {SUMMARY_ACTION: summary_for}, options={"context_tokens": 3000})
    remember_turns(h, 25)
    h.remember("And now?", UserRequirement)
    first = await fit_history(AnalyzeRequest(h.ctx), lambda earlier: "\n".join(earlier))
    remember_turns_from(h, 26, 45)
    h.remember("And now?", UserRequirement)
    second = await fit_history(AnalyzeRequest(h.ctx), lambda earlier: "\n".join(earlier))
    assert second.summarized > first.summarized
    fold = h.prompts(SUMMARY_ACTION)[-1]
    start, end = span_of(fold)
    assert start > 1 and end == second.summarized  # only the new turns are read again
    assert f"so far:\nSUMMARY-THROUGH-{start - 1}: the Boss asked" in fold


def remember_turns_from(h: Harness, first: int, last: int) -> None:
    """Turns ``first``..``last``, answered."""
    for turn in range(first, last + 1):
        h.remember(request(turn), UserRequirement)
        h.remember(f"# Report\n\nTurn {turn} is planned.", SummarizeResults,
                   sent_from="Analyst")


async def test_a_failed_summary_leaves_old_turns_out_and_the_request_goes_on(config, store):
    h = harness(config, store, {"AnalyzeRequest": ANALYSIS,
                                SUMMARY_ACTION: LLMError("the model is gone")},
                options={"context_tokens": 3000})
    remember_turns(h, 25)
    now = h.remember("And now add 1.", UserRequirement)
    [out] = await h.publish(AnalyzeRequest, [now])
    assert out.payload is not None and store.summaries(TASK_ID) == []
    prompt = h.prompts("AnalyzeRequest")[0]
    assert "Summary of" not in prompt and f"- Boss: {request(25)}" in prompt
    whats = [d["what"] for k, d in h.events if k is EventKind.PROGRESS]
    assert "history_summary_failed" in whats and "history_left_out" in whats


@pytest.mark.parametrize("answer", ["I'm sorry, but I can't assist with that.", "  "])
async def test_a_refusal_or_an_empty_answer_is_not_kept_as_the_summary(config, store, answer):
    h = harness(config, store, {SUMMARY_ACTION: answer}, options={"context_tokens": 3000})
    remember_turns(h, 25)
    h.remember("And now?", UserRequirement)
    history = await fit_history(AnalyzeRequest(h.ctx), lambda earlier: "\n".join(earlier))
    assert store.summaries(TASK_ID) == [] and history.summary_calls == 0
    assert history.left_out and not any(x.startswith("Summary of") for x in history.earlier)
    [failed] = [d for k, d in h.events if d.get("what") == "history_summary_failed"]
    assert "does not tell the turns" in failed["error"]


async def test_the_providers_own_count_fits_the_prompt_exactly(config, store):
    class WordCounting(ScriptedProvider):
        context_tokens = 2000

        async def count_tokens(self, text: str) -> int:
            return len(text.split())

    h = harness(config, store)
    h.provider = h.ctx.llm.llm.provider = WordCounting({SUMMARY_ACTION: summary_for})
    remember_turns(h, 30)
    h.remember("And now?", UserRequirement)
    history = await fit_history(AnalyzeRequest(h.ctx), lambda earlier: "\n".join(earlier))
    assert history.exact and history.budget == 2000 - 400 - TEMPLATE_TOKENS
    assert history.prompt_tokens == len("\n".join(history.earlier).split()) <= history.budget
    assert history.summarized and history.left_out == 0


# a follow-up after 50 turns --------------------------------------------------------------


async def test_a_follow_up_after_50_turns_fits_an_8k_model(config, store):
    sop = parse_sop(load_sop("plan-only").text.replace("max_llm_calls: 20",
                                                       "max_llm_calls: 1000"), source="long")
    company, provider = scripted_company(config, store, ScriptedProvider({
        "AnalyzeRequest": ANALYSIS, "WritePlan": PLAN, "SummarizeResults": report_for,
        SUMMARY_ACTION: summary_for}))
    task_id = (await company.run(request(1), RunOptions(sop=sop))).task_id
    for turn in range(2, 52):
        company.add_boss_message(task_id, request(turn))
        if turn == 51:
            calls_before = len(provider.calls_for(SUMMARY_ACTION))
        outcome = await company.run_task(task_id)
        assert outcome.status == "done", outcome.error
    assert context_tokens(provider) == 8192  # the scripted provider stands in for an 8k model
    # the old history would not have fit: every request replayed
    assert sum(estimate_tokens(request(t)) for t in range(1, 51)) > 8192
    for action in ("AnalyzeRequest", "WritePlan"):
        for call in provider.calls_for(action):
            sent = estimate_tokens(call.messages[-1]["content"])
            assert sent + call.max_tokens + TEMPLATE_TOKENS <= 8192, (action, sent)
    analyst = provider.calls_for("AnalyzeRequest")[-1].messages[-1]["content"]
    planner = provider.calls_for("WritePlan")[-1].messages[-1]["content"]
    stored = {s.last_turn: s.text for s in store.summaries(task_id)}
    for prompt in (analyst, planner):
        found = re.search(r"- Summary of turns 1–(\d+): (.*)\n", prompt)
        assert found and stored[int(found.group(1))] == found.group(2)  # the stored one
        assert f"- Boss: {request(50)}\n- Report: Turn 50 is planned:" in prompt  # verbatim
        assert request(51) in prompt and "Item 51 stays at 2887 units until week 52" in prompt
    assert analyst.endswith(f"Request:\n{request(51)}")
    assert f"The Boss's request:\n{request(51)}\n" in planner
    # each summary made once: one call per stored span, never the same span twice ...
    spans = [span_of(c.messages[-1]["content"]) for c in provider.calls_for(SUMMARY_ACTION)]
    assert len(spans) == len(set(spans)) == len(stored) and spans
    # ... and reused: the last follow-up made none, yet both its prompts carry one
    assert len(provider.calls_for(SUMMARY_ACTION)) == calls_before


def test_a_role_option_or_the_config_sets_the_context(config, store) -> None:
    from actions.conversation import prompt_budget

    h = harness(config, store)
    assert prompt_budget(AnalyzeRequest(h.ctx), "AnalyzeRequest").context == 8192
    h.ctx.options["context_tokens"] = 2048  # a role's own option (SOP options)
    assert prompt_budget(AnalyzeRequest(h.ctx), "AnalyzeRequest").context == 2048
    if "context_tokens" not in type(config.llm).model_fields:
        pytest.skip("llm.context_tokens is not a config setting yet")
    del h.ctx.options["context_tokens"]
    config.llm.context_tokens = 16384
    assert prompt_budget(AnalyzeRequest(h.ctx), "AnalyzeRequest").context == 16384


async def test_a_prompt_that_counts_more_than_its_lines_moves_the_summary_on(config, store):
    class WordCounting(ScriptedProvider):
        context_tokens = 3000

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    h = harness(config, store)
    h.provider = h.ctx.llm.llm.provider = WordCounting({SUMMARY_ACTION: summary_for})
    remember_turns(h, 12)
    h.remember("And now?", UserRequirement)

    def padded(earlier: list[str]) -> str:  # 60 words per line the line counts do not see
        return "\n".join(f"{line} {'pad ' * 60}" for line in earlier)

    plain = await fit_history(AnalyzeRequest(h.ctx), lambda earlier: "\n".join(earlier))
    assert plain.summarized == 0  # the lines alone fit
    history = await fit_history(AnalyzeRequest(h.ctx), padded)
    assert history.summarized == SUMMARY_STEP and history.prompt_tokens <= history.budget
