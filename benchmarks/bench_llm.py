"""LLM benchmark: the embedded llama.cpp model, in-process versus a separate server process.

Per model: load time and memory, then a fixed Analyst prompt (~300 tokens) answered as free
text (128 tokens, end-of-text ignored) and as JSON constrained by the Analyst's schema, streamed
from ``/v1/chat/completions``: time to first token (client side), prompt and generation tokens/s
(llama.cpp's ``timings``). The same GGUF is served in this process (``EmbeddedProvider``) and by
a child process (``EmbeddedServer`` behind ``sys.executable -c``), requests interleaved so the
ratio column is measured under the same machine load. Then one whole task through ``Company``.
Prints tables; asserts nothing.

    python benchmarks/bench_llm.py --models qwen2.5-coder:0.5b --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ["qwen2.5-coder:0.5b", "qwen2.5-coder:1.5b"]
TASK = "What is 6 times 7, and how many words are in 'the quick brown fox'?"
ANSWER_TOKENS = 128
CTX_SIZE = 4096

# The Boss's request inside the Analyst's real prompt (prompts/analyze_request.j2); ~300 tokens.
REQUEST = (
    "Every Monday I spend most of the morning collecting numbers for the weekly operations "
    "review, and I would like the team to take this over. Please pull the order counts and "
    "revenue for the last seven days from the sales export, compare them with the week before "
    "and with the same week last year, and flag any day where revenue moved by more than ten "
    "percent. Summarise the support queue as well: how many tickets were opened and closed, the "
    "median time to first reply, and the three most common complaint categories. I also want a "
    "short note on stock levels for the twenty best-selling products, with anything below two "
    "weeks of cover highlighted. Keep the report to one page, put the numbers in tables, and "
    "send it to me and to the regional managers before nine o'clock. Remember that I prefer "
    "plain language over jargon and that the finance team needs the revenue figures in euros."
)

# The child process: the same EmbeddedServer class and settings, on its own loopback port.
CHILD = """
import json, sys, time
from pathlib import Path
import xllamacpp  # noqa: F401 - imported before the first reading, as in the parent
from company.run_options import RunOptions
from company.llm.embedded import EmbeddedServer, EmbeddedSettings

def rss_mib():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return 0.0

path, alias, settings = sys.argv[1], sys.argv[2], EmbeddedSettings.model_validate_json(sys.argv[3])
before = rss_mib()
server = EmbeddedServer(Path(path), alias, settings)
url = server.start()
print(json.dumps({"url": url, "load_s": server.load_s, "rss_mib": rss_mib() - before}), flush=True)
sys.stdin.read()  # serve until the parent closes our stdin
server.stop()
"""


class Sample(BaseModel):
    """One streamed answer."""

    ttft_s: float
    wall_s: float
    prompt_n: int
    prompt_per_s: float
    predicted_n: int
    predicted_per_s: float
    finish: str | None


class Side(BaseModel):
    """One server (in-process or child process) and what was measured on it."""

    load_s: float
    rss_mib: float
    ready_s: float | None = None  # child only: spawn until the address is printed
    first_s: float = 0.0  # first (short, JSON) request after load, through provider.chat()
    free: list[Sample] = []
    json_: list[Sample] = []


class TaskRow(BaseModel):
    """One whole task through Company.run."""

    status: str
    wall_s: float
    load_s: float
    calls: int
    prompt_tokens: int
    completion_tokens: int
    rounds: int
    error: str | None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS, help="catalogue names")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads (default: every core this process may use)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="answers per kind and server (median reported)")
    parser.add_argument("--no-task", action="store_true", help="skip the whole-task run")
    parser.add_argument("--no-subprocess", action="store_true",
                        help="skip the out-of-process server")
    return parser.parse_args(argv)


def rss_mib() -> float:
    """This process's resident memory in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def messages() -> list[dict[str, str]]:
    """The Analyst's system and user messages for the fixed request."""
    from company.prompts import PromptLibrary

    prompt = PromptLibrary().render("AnalyzeRequest", request=REQUEST, history=[])
    system = ("You are the Analyst: reads requests and turns them into ideas and action items. "
              "Understand what the Boss wants.")
    return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]


def schema() -> dict[str, Any]:
    """The Analyst's answer schema."""
    from company.payloads import Analysis

    return Analysis.model_json_schema()


async def stream(client: Any, constrained: bool) -> Sample:
    """Stream one answer through the provider's HTTP client; read llama.cpp's timings."""
    body: dict[str, Any] = {
        "model": "bench", "messages": messages(), "max_tokens": ANSWER_TOKENS,
        "temperature": 0, "stream": True, "stream_options": {"include_usage": True},
        "cache_prompt": False,  # every answer processes the whole prompt
    }
    if constrained:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": schema()}}
    else:
        body["ignore_eos"] = True  # exactly ANSWER_TOKENS tokens
    started = time.perf_counter()
    first: float | None = None
    timings: dict[str, Any] = {}
    finish = None
    # a fresh connection per streamed answer: llama.cpp's server sometimes drops a kept-alive
    # connection after a streamed reply, and the next request on it fails
    headers = {"Connection": "close"}
    async with client._http.stream("POST", "/chat/completions", json=body,
                                   headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                if first is None and (choice.get("delta") or {}).get("content"):
                    first = time.perf_counter()
                finish = choice.get("finish_reason") or finish
            timings = chunk.get("timings") or timings
    wall = time.perf_counter() - started
    return Sample(
        ttft_s=(first or time.perf_counter()) - started, wall_s=wall,
        prompt_n=int(timings.get("prompt_n", 0)),
        prompt_per_s=float(timings.get("prompt_per_second", 0.0)),
        predicted_n=int(timings.get("predicted_n", 0)),
        predicted_per_s=float(timings.get("predicted_per_second", 0.0)), finish=finish,
    )


async def first_request(client: Any) -> float:
    """A short JSON-schema answer through ``chat()`` (what the roles call): wall seconds."""
    from company.llm.base import ChatRequest

    request = ChatRequest(model="bench", messages=[{"role": "user", "content": "Say hello."}],
                          json_schema=schema(), options={"max_tokens": 32, "temperature": 0})
    started = time.perf_counter()
    await client.chat(request)
    return time.perf_counter() - started


class Child:
    """A llama.cpp server in a separate Python process, on its own loopback port."""

    def __init__(self, path: Path, alias: str, settings: Any) -> None:
        self.path, self.alias, self.settings = path, alias, settings
        self.proc: subprocess.Popen[str] | None = None
        self.log: IO[str] = tempfile.TemporaryFile("w+")

    def start(self) -> dict[str, Any]:
        """Spawn the server and wait for its address; its report plus the spawn-to-ready time."""
        started = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(self.path), self.alias,
             self.settings.model_dump_json()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            cwd=ROOT, env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = self.log.read()[-2000:]
            raise RuntimeError(f"the llama.cpp server process exited before listening:\n{tail}")
        report = json.loads(line)
        report["ready_s"] = time.perf_counter() - started
        return report

    def stop(self) -> None:
        """Close the child's stdin so it stops; kill it if it lingers."""
        if self.proc is None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.log.close()


async def bench_model(model: str, path: Path, args: argparse.Namespace) -> dict[str, Side]:
    """Load the model in-process and (unless skipped) in a child; interleave the answers."""
    from company.llm.embedded import EmbeddedProvider, EmbeddedSettings
    from company.llm.openai_provider import OpenAICompatProvider

    settings = EmbeddedSettings(model=model, threads=args.threads, ctx_size=CTX_SIZE, parallel=1)
    clients: dict[str, Any] = {}
    sides: dict[str, Side] = {}
    before = rss_mib()
    provider = EmbeddedProvider(model, settings, pull_missing=False)
    await provider.ensure_model()
    assert provider._server is not None
    sides["in-process"] = Side(load_s=provider._server.load_s, rss_mib=rss_mib() - before)
    sides["in-process"].first_s = await first_request(provider)
    clients["in-process"] = provider._client
    child = None
    try:
        if not args.no_subprocess:
            child = Child(path, model, settings)
            report = await asyncio.to_thread(child.start)
            clients["subprocess"] = OpenAICompatProvider(f"{report['url']}/v1")
            sides["subprocess"] = Side(load_s=report["load_s"], rss_mib=report["rss_mib"],
                                       ready_s=report["ready_s"])
            sides["subprocess"].first_s = await first_request(clients["subprocess"])
        names = list(clients)
        for i in range(args.repeat):
            order = names if i % 2 == 0 else names[::-1]  # alternate who goes first
            for constrained in (False, True):
                for name in order:
                    sample = await stream(clients[name], constrained)
                    (sides[name].json_ if constrained else sides[name].free).append(sample)
                    kind = "json" if constrained else "free"
                    print(f"  {model} {name} {kind} #{i + 1}: {sample.wall_s:.1f} s",
                          file=sys.stderr)
    finally:
        if child is not None:
            child.stop()
        provider.stop()
    return sides


async def run_task(model: str, args: argparse.Namespace) -> TaskRow:
    """The whole request through Company with the embedded provider, workspace in a temp dir."""
    from company.company import Company
    from company.config import AppConfig
    from company.llm.embedded import EmbeddedSettings, shutdown_all
    from company.run_options import RunOptions
    from company.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        config = AppConfig(workspace=Path(tmp) / "ws")
        config.llm.provider = "embedded"
        config.llm.model = model
        config.llm.force_model = True
        config.llm.embedded = EmbeddedSettings(model=model, threads=args.threads)
        store = Store(config.store_path)
        company = Company(config, store=store)
        started = time.perf_counter()
        try:
            outcome = await company.run(TASK, RunOptions(sop="default"))
        finally:
            wall = time.perf_counter() - started
            server = getattr(company.provider, "_server", None)
            load_s = server.load_s if server is not None else 0.0
            store.close()
            shutdown_all()
    usage = outcome.usage
    error = (outcome.error or "").splitlines()[0][:300] if outcome.error else None
    return TaskRow(status=outcome.status, wall_s=wall, load_s=load_s, calls=usage.calls,
                   prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                   rounds=outcome.rounds, error=error)


def med(samples: list[Sample], field: str) -> float:
    """The median of one field over the samples (nan when none)."""
    values = [getattr(s, field) for s in samples]
    return statistics.median(values) if values else float("nan")


def print_model(model: str, sides: dict[str, Side], threads: int) -> None:
    """One table per model: metrics down, servers across, with the out/in ratio."""
    from rich.console import Console
    from rich.table import Table

    inside = sides["in-process"]
    outside = sides.get("subprocess")
    prompt_n = int(med(inside.free, "prompt_n"))
    table = Table(title=f"{model}: {threads} threads, prompt {prompt_n} tokens, answer up to "
                        f"{ANSWER_TOKENS} tokens, median of {len(inside.free)}")
    for name, justify in (("measure", "left"), ("in-process", "right"),
                          ("subprocess", "right"), ("sub ÷ in", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    def row(label: str, value: Any, fmt: str) -> None:
        a = value(inside)
        b = value(outside) if outside is not None else None
        ratio = f"{b / a:.2f}" if a and b is not None and a == a and b == b else "-"
        table.add_row(label, format(a, fmt) if a is not None else "-",
                      format(b, fmt) if b is not None else "-", ratio)

    row("model load (s)", lambda s: s.load_s, ".2f")
    if outside is not None:
        table.add_row("spawn → listening (s)", "-", f"{outside.ready_s:.2f}", "-")
    row("RSS growth at load (MiB)", lambda s: s.rss_mib, ".0f")
    row("first request after load, chat() (s)", lambda s: s.first_s, ".2f")
    for label, attr in (("free text", "free"), ("JSON schema", "json_")):
        row(f"{label}: time to first token (s)", lambda s, a=attr: med(getattr(s, a), "ttft_s"),
            ".2f")
        row(f"{label}: prompt tokens/s", lambda s, a=attr: med(getattr(s, a), "prompt_per_s"),
            ".0f")
        row(f"{label}: generation tokens/s",
            lambda s, a=attr: med(getattr(s, a), "predicted_per_s"), ".1f")
        row(f"{label}: answer tokens", lambda s, a=attr: med(getattr(s, a), "predicted_n"), ".0f")
        row(f"{label}: wall per answer (s)", lambda s, a=attr: med(getattr(s, a), "wall_s"),
            ".2f")
    row("grammar: JSON ÷ free generation speed",
        lambda s: med(s.json_, "predicted_per_s") / med(s.free, "predicted_per_s"), ".2f")
    Console().print(table)


def print_tasks(tasks: dict[str, TaskRow], threads: int) -> None:
    """The whole-task table, one row per model."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"whole task, embedded provider, {threads} threads: {TASK!r}")
    for name in ("model", "status", "wall s", "load s", "LLM calls", "prompt tok",
                 "answer tok", "rounds"):
        table.add_column(name, justify="left" if name in ("model", "status") else "right")
    for model, t in tasks.items():
        table.add_row(model, t.status, f"{t.wall_s:.1f}", f"{t.load_s:.2f}", str(t.calls),
                      str(t.prompt_tokens), str(t.completion_tokens), str(t.rounds))
    Console().print(table)
    for model, t in tasks.items():
        if t.error:
            print(f"{model}: {t.error}")


async def run(args: argparse.Namespace) -> None:
    """Every model, then every task, printing as results come."""
    import xllamacpp

    from company.llm.embedded import machine_threads
    from company.models import ModelError, cached_model_file

    threads = args.threads or machine_threads()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench_llm: {os.cpu_count()} CPUs ({machine_threads()} usable), load average {load} "
          f"(1/5/15 min), xllamacpp {getattr(xllamacpp, '__version__', '?')}, "
          f"repeat {args.repeat}")
    if os.getloadavg()[0] > machine_threads() / 2:
        print("note: other work is running on this machine; llama.cpp's threads wait for each "
              "other at every step, so its speeds drop sharply and vary between runs")
    paths: dict[str, Path] = {}
    for model in args.models:
        try:
            path = cached_model_file(model)
        except ModelError as exc:
            print(f"{model}: {exc} (skipped)")
            continue
        if path is None:
            print(f"{model}: not in the model cache; fetch it with "
                  f"`python startup.py models pull {model}` (skipped)")
            continue
        paths[model] = path
    for model, path in paths.items():
        sides = await bench_model(model, path, args)
        print_model(model, sides, threads)
    if args.no_task:
        return
    tasks: dict[str, TaskRow] = {}
    for model in paths:
        tasks[model] = await run_task(model, args)
        print(f"  task with {model}: {tasks[model].status} in {tasks[model].wall_s:.1f} s",
              file=sys.stderr)
    if tasks:
        print_tasks(tasks, threads)
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main(argv: list[str] | None = None) -> None:
    """Parse options and run the benchmark; failures end with one line, not a traceback."""
    args = parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    import httpx

    from company.llm.base import LLMError

    try:
        asyncio.run(run(args))
    except (LLMError, RuntimeError, httpx.HTTPError) as exc:
        raise SystemExit(f"bench_llm: {type(exc).__name__}: {exc}") from None


if __name__ == "__main__":
    main()
