"""Runtime benchmark: a chain of 4 roles without an LLM (sequential, wide, cold).

Prints a table; asserts nothing about time. Run: python benchmarks/bench_runtime.py
The same scenarios were measured on MetaGPT 0.8.2's core (see issue notes) for ratios."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from company.action import Action, ActionOutput  # noqa: E402
from company.environment import Environment  # noqa: E402
from company.message import Message  # noqa: E402
from company.role import Role  # noqa: E402
from company.store import Store  # noqa: E402


def chain_action(name: str, send_to: str | None) -> Action:
    """An action that answers at once, optionally addressed to the next role."""

    class Step(Action):
        async def run(self, news: list[Message]) -> ActionOutput:
            return ActionOutput(content=f"{name} done", send_to=[send_to] if send_to else None)

    Step.name = name
    return Step(None)  # type: ignore[arg-type]


def chain_roles(prefix: str = "", addressed: bool = False) -> list[Role]:
    """A watches the request, B watches A, C watches B, D watches C."""
    names = [f"{prefix}{x}" for x in "ABCD"]
    roles = []
    for i, name in enumerate(names):
        nxt = names[i + 1] if addressed and i < 3 else None
        watch = ["UserRequirement"] if i == 0 else [f"Act{names[i - 1]}"]
        roles.append(Role(name=name, watch=watch, actions=[chain_action(f"Act{name}", nxt)]))
    return roles


async def sequential(n: int, store: Store | None) -> dict[str, float]:
    """n requests one after another through the same environment."""
    env = Environment("bench", chain_roles(), store=store)
    per_request = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        env.publish(Message(content=f"request {i}"))
        while not env.is_idle:
            await env.run_round()
        per_request.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    return {"total_s": total, "first100_ms": statistics.mean(per_request[:100]) * 1e3,
            "last100_ms": statistics.mean(per_request[-100:]) * 1e3, "messages": len(env.memory)}


async def wide(chains: int, store: Store | None) -> dict[str, float]:
    """Many chains in one environment, messages addressed role to role."""
    tracemalloc.start()
    roles = [r for c in range(chains) for r in chain_roles(f"c{c}_", addressed=True)]
    env = Environment("wide", roles, store=store)
    for c in range(chains):
        env.publish(Message(content="go", send_to=[f"c{c}_A"]))
    rounds = []
    started = time.perf_counter()
    while not env.is_idle:
        t0 = time.perf_counter()
        await env.run_round()
        rounds.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"roles": len(roles), "total_s": total, "rounds": len(rounds),
            "per_round_ms": statistics.mean(rounds) * 1e3, "peak_mb": peak / 2**20}


def cold() -> dict[str, float]:
    """Import time of the runtime (fresh process) and the cost of one role."""
    root = Path(__file__).resolve().parents[1]
    code = ("import time\n"
            "def rss():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmRSS:'): return int(line.split()[1])\n"
            "r=rss();t=time.perf_counter();import company.company;d=time.perf_counter()-t\n"
            "print(d, rss()-r)")
    runs = [subprocess.check_output([sys.executable, "-c", code], cwd=root).split()
            for _ in range(3)]
    imports = [float(t) for t, _ in runs]
    import_mb = min(int(kb) for _, kb in runs) / 1024
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    role = chain_roles("cold_")[0]
    one_role = time.perf_counter() - t0
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert role.name
    helps = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "startup.py", "--help"], cwd=root, check=True,
                       capture_output=True)
        helps.append(time.perf_counter() - t0)
    return {"import_s": min(imports), "import_mb": import_mb, "role_ms": one_role * 1e3,
            "role_kb": size / 1024,
            "help_s": min(helps)}


def main() -> None:
    """Run the scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=250)
    parser.add_argument("--no-store", action="store_true", help="skip SQLite persistence")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = None if args.no_store else Store(Path(tmp) / "bench.db")
        seq = asyncio.run(sequential(args.requests, store))
        store2 = None if args.no_store else Store(Path(tmp) / "wide.db")
        wid = asyncio.run(wide(args.chains, store2))
    col = cold()
    where = "in memory" if args.no_store else "SQLite on disk (WAL)"
    table = Table(title=f"company runtime, 4-role chain, no LLM, store: {where}")
    table.add_column("scenario")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("sequential", f"{args.requests} requests, total", f"{seq['total_s']:.2f} s")
    table.add_row("", "mean per request, first 100", f"{seq['first100_ms']:.2f} ms")
    table.add_row("", "mean per request, last 100", f"{seq['last100_ms']:.2f} ms")
    table.add_row("", "messages in memory at the end", f"{seq['messages']:.0f}")
    table.add_row("wide", f"{wid['roles']:.0f} roles, total", f"{wid['total_s']:.2f} s")
    table.add_row("", "rounds / mean per round", f"{wid['rounds']:.0f} / "
                  f"{wid['per_round_ms']:.1f} ms")
    table.add_row("", "peak traced memory", f"{wid['peak_mb']:.1f} MB")
    table.add_row("cold", "import company.company (time, RSS growth)",
                  f"{col['import_s']:.3f} s, {col['import_mb']:.0f} MB")
    table.add_row("", "create one role", f"{col['role_ms']:.3f} ms, {col['role_kb']:.1f} KB")
    table.add_row("", "startup.py --help wall time", f"{col['help_s']:.3f} s")
    Console().print(table)


if __name__ == "__main__":
    main()
