"""Conversation memory: prompt tokens of a long follow-up, before and after fitting the history.

A task of 50 turns (default) is played through the company on the scripted provider (an 8k
model; plan-only SOP). At checkpoints the follow-up's AnalyzeRequest and WritePlan prompts are
measured as sent ("after": the newest turns verbatim, older ones summarized) and as the old
code built them ("before": AnalyzeRequest replayed every request and every report's first 500
characters; WritePlan quoted the last 3 history lines, 300 characters each).

Tokens are the calibrated estimate (company/llm/tokens.py), or with ``--tokenizer MODEL`` the
real tokenizer of an embedded GGUF model (llama.cpp's /tokenize; the fitting then counts with
it too, and the estimate is compared with it on every prompt). Asserts nothing.

Run: python benchmarks/bench_conversation_memory.py [--turns 50] [--context 8192 4096]
     [--tokenizer qwen2.5-coder:0.5b] [--calibrate workspace/eval/*/sweep.db]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from company.llm.base import ChatRequest  # noqa: E402
from company.llm.scripted import ScriptedProvider  # noqa: E402
from company.llm.tokens import TEMPLATE_TOKENS, estimate_tokens  # noqa: E402

ANALYSIS = {"summary": "The Boss wants the request handled.", "ideas": [],
            "action_items": [{"text": "Handle the request", "priority": "high"}]}
PLAN = {"steps": [{"id": "s1", "graph": "word_count", "purpose": "count the words",
                   "inputs": {"text": "the request"}}], "notes": ""}
TOPICS = [
    ("Lisbon office lease", "the rent goes from 4,250 to 4,610 EUR on 1 March"),
    ("EMEA churn", "churn was 2.5% in Q2 and 3.1% in Q3"),
    ("Maria Lopez's launch memo", "Launch moved to 14 March"),
    ("Nordwind GmbH invoice", "Total due: USD 1,249.50 (incl. USD 12.00 shipping)"),
    ("data team hiring plan", "two senior engineers by June, one analyst by September"),
    ("https://example.com/pricing page", "Pro plan: 29 USD a month, billed yearly"),
]
ANSWER_TOKENS = {"AnalyzeRequest": 400, "WritePlan": 600}
HISTORY = re.compile(r"Earlier in this conversation:\n(?:- [^\n]*\n)*")


def boss_request(turn: int) -> str:
    """A realistic request: a topic, a line to quote exactly, numbers, and some chat."""
    topic, line = TOPICS[turn % len(TOPICS)]
    chat = ("Keep it short, say what changed since last time and flag anything odd. "
            * (1 + turn % 3))
    return (f"Turn {turn}: look at the {topic} again and quote this exactly: \"{line}\". "
            f"Compare it with what you told me {turn % 7 + 1} turns ago. {chat}").strip()


def report_answer(request: ChatRequest) -> str:
    """The report: names the turn it answers (numbers from the Boss's words only)."""
    found = re.search(r"asked:\n(Turn \d+)", request.messages[-1]["content"])
    turn = found.group(1) if found else "The request"
    return (f"# Report\n\n{turn} is planned: the request was read and a plan of one step "
            "was written. Nothing was run yet, so there is no result to give.")


def summary_answer(request: ChatRequest) -> str:
    """A summary naming the span it covers."""
    found = re.search(r"^Turns? (\d+)(?:–(\d+))?:$", request.messages[-1]["content"], re.M)
    last = (found.group(2) or found.group(1)) if found else "?"
    return (f"(summary through turn {last}) The Boss kept asking about the Lisbon lease, EMEA "
            "churn, Maria Lopez's launch memo, the Nordwind invoice, hiring and the pricing "
            "page; each turn was planned, nothing was run.")


class Tokenizer:
    """Counts with llama.cpp's /tokenize of an embedded GGUF model (or estimates)."""

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.url: str | None = None
        self._server: Any = None
        self._http = httpx.Client(timeout=30)
        self._counts: dict[str, int] = {}

    def start(self) -> None:
        """Start the embedded server for the model (one slot, its tokenizer only used)."""
        if not self.model:
            return
        from company.llm.embedded import EmbeddedProvider, EmbeddedSettings, shared_server

        settings = EmbeddedSettings(model=self.model, parallel=1, ctx_size=2048)
        path = EmbeddedProvider(self.model, settings, pull_missing=False).model_file()
        self._server = shared_server(path, self.model, settings)
        self.url = self._server.start()

    def count(self, text: str) -> int:
        """The text's tokens: exact with a model, else the estimate."""
        if self.url is None:
            return estimate_tokens(text)
        if text not in self._counts:
            response = self._http.post(f"{self.url}/tokenize",
                                       json={"content": text, "add_special": False})
            self._counts[text] = len(response.json()["tokens"])
        return self._counts[text]

    def stop(self) -> None:
        """Stop the server."""
        self._http.close()
        if self._server is not None:
            self._server.stop()


class CountingScript(ScriptedProvider):
    """The scripted provider with a context size and, given a tokenizer, its own count."""

    def __init__(self, answers: dict[str, Any], context: int, tokenizer: Tokenizer) -> None:
        super().__init__(answers)
        self.context_tokens = context
        self._tokenizer = tokenizer

    def count_tokens(self, text: str) -> int | None:
        """The real tokenizer's count; None (estimate) without one."""
        return self._tokenizer.count(text) if self._tokenizer.url else None


@dataclass
class Row:
    """One checkpoint: the follow-up after ``turns`` earlier turns."""

    turns: int
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    summary_calls: int = 0  # made during this follow-up
    summary_calls_total: int = 0
    summarized: dict[str, int] = field(default_factory=dict)


def old_history(messages: list[Any], before_seq: int) -> tuple[list[str], list[str]]:
    """The history lines the old code built: AnalyzeRequest's (every request, every report's
    first 500 characters) and WritePlan's (the last 3 lines, report openings of 200
    characters, each cut to 300)."""
    from actions.report_checks import opening

    def cut(text: str, limit: int) -> str:
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    asks = [m for m in messages if m.cause_by == "UserRequirement" and m.seq < before_seq]
    reports = [m for m in messages if m.cause_by == "SummarizeResults" and m.seq < before_seq]
    analyst = [f"Boss: {m.content}" for m in asks] + [f"Report: {m.content[:500]}"
                                                      for m in reports]
    flat = sorted([*asks, *reports], key=lambda m: m.seq)
    lines = [f"Boss: {m.content.strip()}" if m.cause_by == "UserRequirement"
             else f"Report: {cut(opening(m.content) or m.content.strip(), 200)}" for m in flat]
    return analyst, [cut(line, 300) for line in lines[-3:]]


def with_history(prompt: str, lines: list[str]) -> str:
    """The prompt with its history section replaced by these lines."""
    block = "Earlier in this conversation:\n" + "".join(f"- {line}\n" for line in lines)
    return HISTORY.sub(lambda _: block, prompt, count=1)


async def play(turns: int, context: int, tokenizer: Tokenizer) -> tuple[list[Row], list[str]]:
    """Play the conversation; measure the follow-ups at the checkpoints."""
    from company.company import Company
    from company.config import AppConfig
    from company.run_options import RunOptions
    from company.sop import load_sop, parse_sop
    from company.store import Store

    checkpoints = {t for t in (1, 5, 10, 20, 30, 40, 50, turns) if t <= turns}
    sop = parse_sop(load_sop("plan-only").text.replace("max_llm_calls: 20",
                                                       "max_llm_calls: 100000"),
                    source="bench-long.yaml")
    provider = CountingScript({"AnalyzeRequest": ANALYSIS, "WritePlan": PLAN,
                               "SummarizeResults": report_answer,
                               "SummarizeHistory": summary_answer}, context, tokenizer)
    rows: list[Row] = []
    prompts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = AppConfig(workspace=Path(tmp) / "ws", graphs={"allow_private_network": True})
        store = Store(config.store_path)
        company = Company(config, store=store, provider=provider)
        task_id = (await company.run(boss_request(1), RunOptions(sop=sop))).task_id
        for earlier in range(1, turns + 1):
            seen = {a: len(provider.calls_for(a)) for a in ("WritePlan", "SummarizeHistory")}
            message = company.add_boss_message(task_id, boss_request(earlier + 1))
            outcome = await company.run_task(task_id)
            if outcome.status != "done":
                raise SystemExit(f"turn {earlier + 1} failed: {outcome.error}")
            if earlier not in checkpoints:
                continue
            after = {"AnalyzeRequest": provider.calls_for("AnalyzeRequest")[-1],
                     "WritePlan": provider.calls_for("WritePlan")[seen["WritePlan"]]}
            analyst, planner = old_history(store.messages(task_id), message.seq)
            row = Row(turns=earlier)
            for action, old in (("AnalyzeRequest", analyst), ("WritePlan", planner)):
                text = after[action].messages[-1]["content"]
                row.after[action] = tokenizer.count(text)
                row.before[action] = tokenizer.count(with_history(text, old))
                found = re.search(r"- Summary of turns? (?:1–)?(\d+):", text)
                row.summarized[action] = int(found.group(1)) if found else 0
                prompts += [text, with_history(text, old)]
            total = len(provider.calls_for("SummarizeHistory"))
            row.summary_calls = total - seen["SummarizeHistory"]
            row.summary_calls_total = total
            rows.append(row)
        store.close()
    return rows, prompts


def print_table(rows: list[Row], context: int, exact: bool) -> None:
    """The before/after table."""
    unit = "tokens" if exact else "est. tokens"
    table = Table(title=f"Follow-up prompt {unit} (text; the chat template adds "
                        f"~{TEMPLATE_TOKENS}), {context}-token context")
    for name in ("earlier turns", "Analyze before", "Analyze after", "Plan before",
                 "Plan after", "summarized (A/P)", "fits (A/P)", "summary calls (this/total)"):
        table.add_column(name, justify="right")
    for row in rows:
        fits = ["yes" if row.after[a] + ANSWER_TOKENS[a] + TEMPLATE_TOKENS <= context
                else "NO" for a in ("AnalyzeRequest", "WritePlan")]
        table.add_row(str(row.turns), str(row.before["AnalyzeRequest"]),
                      str(row.after["AnalyzeRequest"]), str(row.before["WritePlan"]),
                      str(row.after["WritePlan"]),
                      " / ".join(_span(row.summarized[a]) for a in ("AnalyzeRequest",
                                                                    "WritePlan")),
                      "/".join(fits), f"{row.summary_calls}/{row.summary_calls_total}")
    Console(width=160).print(table)


def _span(last_turn: int) -> str:
    return f"1–{last_turn}" if last_turn else "none"


def compare_estimate(tokenizer: Tokenizer, texts: list[str], label: str) -> None:
    """How the estimate compares with the real count on these texts."""
    ratios = sorted(tokenizer.count(t) / max(1, estimate_tokens(t)) for t in texts if t)
    if not ratios:
        return
    under = sum(r > 1 for r in ratios)
    print(f"{label}: {len(ratios)} texts, real/estimate min {ratios[0]:.2f} median "
          f"{ratios[len(ratios) // 2]:.2f} max {ratios[-1]:.2f}; under-counted {under}")


def eval_texts(paths: list[Path]) -> dict[str, list[str]]:
    """Boss requests, reports and analyses stored by eval runs (sweep.db files)."""
    found: dict[str, list[str]] = {"requests": [], "reports": [], "analyses": []}
    kinds = {"UserRequirement": "requests", "Transcribe": "requests",
             "SummarizeResults": "reports", "AnalyzeRequest": "analyses"}
    seen: set[str] = set()
    for path in paths:
        with sqlite3.connect(path) as db:
            for cause, body in db.execute("SELECT cause_by, body FROM messages"):
                content = json.loads(body).get("content", "")
                if cause in kinds and content and content not in seen:
                    seen.add(content)
                    found[kinds[cause]].append(content)
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50, help="earlier turns (default 50)")
    parser.add_argument("--context", type=int, nargs="+", default=[8192, 4096],
                        help="the model's context, one table each (default 8192 4096: the "
                             "embedded default gives each of 2 slots 4096)")
    parser.add_argument("--tokenizer", help="an embedded model (catalogue name or .gguf) whose "
                        "tokenizer counts, through llama.cpp's /tokenize")
    parser.add_argument("--calibrate", nargs="*", type=Path, default=[],
                        help="eval sweep.db files: compare the estimate with the tokenizer "
                             "on their requests, reports and analyses")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Play, measure, print."""
    args = parse_args(argv)
    tokenizer = Tokenizer(args.tokenizer)
    tokenizer.start()
    try:
        prompts: list[str] = []
        for context in args.context:
            rows, texts = asyncio.run(play(args.turns, context, tokenizer))
            print_table(rows, context, exact=tokenizer.url is not None)
            prompts += texts
        if tokenizer.url is not None:
            compare_estimate(tokenizer, prompts, "bench prompts")
            for kind, texts in eval_texts(args.calibrate).items():
                compare_estimate(tokenizer, texts, f"eval {kind}")
    finally:
        tokenizer.stop()


if __name__ == "__main__":
    main()
