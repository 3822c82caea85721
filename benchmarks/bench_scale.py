"""Past one machine: PostgreSQL API nodes and workers against the SQLite all-in-one, in one run.

A stand-in model (the fake Ollama of tests/fakes, started here) answers every call after 200 ms,
so runs are bound by model latency as in production; each task makes two calls (the
analyst-only SOP). A PostgreSQL server is started from the machine's binaries
(/usr/lib/postgresql/*/bin) with its default durability (fsync and synchronous_commit on, as the
compose file runs it); every scenario gets a fresh database. Processes are real: ``startup.py
serve --no-runs`` API nodes, ``startup.py worker`` processes, ``startup.py serve`` all-in-one.

- workers: W worker processes (``--concurrency C`` each) and one API node; N tasks are submitted
  at once; tasks/s from the first submission to the last task done, p50/p99 seconds from each
  task's 202 to its ``done`` (its queue wait included).
- submissions: 1 or 2 API nodes on PostgreSQL (and one worker, C runs at a time, as the
  all-in-one runs ``api.max_concurrent_runs``) vs the SQLite all-in-one ``serve``; submissions/s
  and p50/p99 of the 202; once more with one node on a database whose commits do not wait for
  the WAL flush (``synchronous_commit = off``), to show what the flush costs.

Clients are httpx async clients in ``--clients`` processes that share the machine's CPUs with
the servers. Scenarios are interleaved and repeated (``--repeat``). Prints a table; asserts
nothing about time.
Run: python benchmarks/bench_scale.py [--quick] [--repeat 2] [--tasks 240] [--submits 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402

from tests.api_support import free_socket, script, wait_for, write_sop  # noqa: E402
from tests.fakes.ollama_server import FakeOllama  # noqa: E402
from tests.pg_support import TEMPLATE, PgServer, pg_bin  # noqa: E402

MODEL_DELAY_S = 0.2
CALLS_PER_TASK = 2
DROP_ENV = ("COMPANY_API_KEY", "COMPANY_LLM", "COMPANY_SERVE_NO_RUNS", "COMPANY_DATABASE_URL")


class BenchPg(PgServer):
    """The tests' throw-away cluster, but with PostgreSQL's default durability unless
    ``durable`` is off (then fsync and synchronous_commit are off, as in the tests)."""

    def __init__(self, bin_dir: Path, durable: bool) -> None:
        super().__init__(bin_dir)
        self.durable = durable

    def start(self) -> None:
        """initdb and pg_ctl start (as ``postgres`` when root), then a template at the head."""
        self.socket.mkdir()
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self.base, "postgres")
            shutil.chown(self.socket, "postgres")
            self.base.chmod(0o755)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                  "company", "-E", "UTF8")
        options = f"-k {self.socket} -p {self.port} -c listen_addresses='' " \
                  "-c max_connections=300"
        if not self.durable:
            options += " -F -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.base / "log.txt"), "start")
        from company.db.schema import upgrade
        from company.db.target import parse_target

        self.admin(f"CREATE DATABASE {TEMPLATE}")
        upgrade(parse_target(self.url(TEMPLATE)))

    def postmaster_pid(self) -> int:
        """The server's main process (its backends are children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])


# processes -------------------------------------------------------------------------------
def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    total, todo = 0.0, [pid]
    while todo:
        one = todo.pop()
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{one}/task").iterdir():
                todo += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Setup:
    """The processes of one scenario: API nodes, workers and where they log."""

    tmp: Path
    fake: FakeOllama
    url: str | None
    """The PostgreSQL database, or None for SQLite in the workspace."""
    concurrency: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)

    def command(self, *argv: str) -> list[str]:
        """A ``startup.py`` command line on the fake model, the SOP and its own workspace."""
        return [sys.executable, "startup.py", *argv, "--config", str(self.tmp / "config.yaml"),
                "--llm", f"ollama:qwen2.5@{self.fake.host}", "--sop", str(write_sop(self.tmp)),
                "--workspace", str(self.tmp / f"ws{len(self.procs)}" if self.url else
                                   self.tmp / "ws")]

    def spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        """Start a process on the scenario's database, its output in ``log``."""
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        if self.url:
            env["COMPANY_DATABASE_URL"] = self.url
        with open(self.tmp / log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    env=env)
        self.procs.append(proc)
        return proc

    def start_api(self, no_runs: bool) -> str:
        """``serve`` (``--no-runs`` on PostgreSQL) on a free port; its base URL once healthy."""
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        log = f"api{len(self.bases)}.log"
        extra = ["--no-runs"] if no_runs else []
        proc = self.spawn(self.command("serve", *extra, "--port", str(port), "--log-level",
                                       "warning"), log)
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{log}: {(self.tmp / log).read_text()}")
            try:
                return httpx.get(f"{base}/v1/health", timeout=2).is_success
            except httpx.TransportError:
                return False

        wait_for(healthy, 90, f"{log} to start")
        self.bases.append(base)
        return base

    def start_worker(self) -> subprocess.Popen[bytes]:
        """``startup.py worker --concurrency C`` (ready once it logs its name)."""
        log = f"worker{len(self.procs)}.log"
        proc = self.spawn(self.command("worker", "--concurrency", str(self.concurrency),
                                       "--log-level", "info"), log)
        return proc

    def wait_workers(self) -> None:
        """Until every worker has logged that it serves."""
        def ready() -> bool:
            logs = sorted(self.tmp.glob("worker*.log"))
            for log in logs:
                text = log.read_text()
                if " worker " not in text and "Traceback" in text:
                    raise RuntimeError(f"{log.name}: {text}")
            return all(" INFO company.worker: worker " in log.read_text() for log in logs)

        wait_for(ready, 90, "the workers to start")

    def cpu(self, pg: BenchPg | None) -> float:
        """CPU seconds of every process of the scenario (and the PostgreSQL server)."""
        total = sum(tree_cpu(p.pid) for p in self.procs if p.poll() is None)
        return total + (tree_cpu(pg.postmaster_pid()) if pg is not None and self.url else 0.0)

    def stop(self) -> None:
        """SIGTERM every process; kill what has not exited after 30 s."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


# clients ---------------------------------------------------------------------------------
async def submit(bases: list[str], ids: list[int], conns: int, start_at: float,
                 tag: str) -> dict[str, Any]:
    """POST /v1/tasks for ``ids`` over ``conns`` connections spread over ``bases``."""
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    clients = [httpx.AsyncClient(base_url=b, limits=limits, timeout=120) for b in bases]
    todo = list(reversed(ids))
    out: dict[str, Any] = {"latency": [], "status": {}, "accepted": {}}

    async def connection(n: int) -> None:
        client = clients[n % len(clients)]
        while todo:
            i = todo.pop()
            t0 = time.perf_counter()
            resp = await client.post("/v1/tasks", json={"request": f"{tag} task {i}"})
            out["latency"].append(time.perf_counter() - t0)
            out["status"][resp.status_code] = out["status"].get(resp.status_code, 0) + 1
            if resp.status_code == 202:
                out["accepted"][resp.json()["task_id"]] = time.time()

    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        await asyncio.gather(*(connection(n) for n in range(conns)))
        out["span"] = (began, time.time())
    finally:
        for client in clients:
            await client.aclose()
    return out


def client_process(args: tuple[list[str], list[int], int, float, str]) -> dict[str, Any]:
    """One load-generating process: its own event loop and httpx clients."""
    return asyncio.run(submit(*args))


def load(pool: Any, bases: list[str], count: int, conns: int, clients: int,
         tag: str) -> dict[str, Any]:
    """Submit ``count`` tasks from ``clients`` processes; merged measurements."""
    start_at = time.time() + 0.5
    jobs = [(bases, list(range(p, count, clients)), conns // clients + (p < conns % clients),
             start_at, tag) for p in range(clients)]
    parts = pool.map(client_process, jobs)
    status: dict[int, int] = {}
    for part in parts:
        for code, n in part["status"].items():
            status[int(code)] = status.get(int(code), 0) + n
    latency = [x for part in parts for x in part["latency"]]
    began = min(part["span"][0] for part in parts)
    ended = max(part["span"][1] for part in parts)
    return {"latency": latency, "status": status, "began": began, "ended": ended,
            "accepted": {k: v for part in parts for k, v in part["accepted"].items()}}


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# the database's view -----------------------------------------------------------------------
def finished(url: str, ids: list[str]) -> dict[str, tuple[str, float, str]]:
    """Status, finish time (epoch s, the task's ``updated_at``) and error of the finished
    ones."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, status, updated_at, error FROM tasks WHERE"
                            " id = ANY(%s) AND status IN ('done', 'failed', 'cancelled')",
                            (ids,)).fetchall()
    return {r[0]: (r[1], datetime.fromisoformat(r[2]).timestamp(), r[3] or "") for r in rows}


def wait_finished(url: str, ids: list[str], timeout: float
                  ) -> dict[str, tuple[str, float, str]]:
    """Poll until every task of ``ids`` is done (or failed); their status and finish time."""
    deadline = time.monotonic() + timeout
    while True:
        seen = finished(url, ids)
        if len(seen) == len(ids) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


# scenarios -------------------------------------------------------------------------------
@dataclass
class Bench:
    """What every scenario shares: the fake model, PostgreSQL, the client pool, the flags."""

    args: argparse.Namespace
    fake: FakeOllama
    pg: BenchPg
    pool: Any
    root: Path
    logs: Path
    count: int = 0

    def setup(self, stack: ExitStack, postgres: bool, sync_commit: bool = True) -> Setup:
        """A scenario's folder and config, on a fresh PostgreSQL database (commits not waiting
        for the WAL flush unless ``sync_commit``) or SQLite."""
        self.count += 1
        tmp = self.root / f"s{self.count}"
        tmp.mkdir()
        (tmp / "config.yaml").write_text(yaml.safe_dump({
            "llm": {"pull_missing": False, "timeout_s": 60},
            "speech": {"model": str(tmp / "whisper.pt")},
            "api": {"max_concurrent_runs": self.args.concurrency, "max_queue": 1_000_000,
                    "shutdown_grace_s": 1},
            "queue": {"grace_s": 1},
        }))
        url = self.pg.new_database() if postgres else None
        if url and not sync_commit:
            name = url.split("@/", 1)[1].split("?", 1)[0]
            self.pg.admin(f"ALTER DATABASE {name} SET synchronous_commit = off")
        found = Setup(tmp, self.fake, url, self.args.concurrency)
        stack.callback(found.stop)
        return found

    def workers(self, n: int) -> dict[str, Any]:
        """One API node, ``n`` workers, a burst of ``--tasks`` tasks."""
        with ExitStack() as stack:
            s = self.setup(stack, postgres=True)
            url = s.url or ""
            for _ in range(n):
                s.start_worker()
            base = s.start_api(no_runs=True)
            s.wait_workers()
            warm = load(self.pool, [base], 2 * n * self.args.concurrency, 16, 1, "warm")
            wait_finished(url, list(warm["accepted"]), 120)
            cpu = s.cpu(self.pg)
            got = load(self.pool, [base], self.args.tasks, self.args.conns, self.args.clients,
                       f"w{n}")
            ids = list(got["accepted"])
            ends = wait_finished(url, ids, self.args.tasks * 2.0 + 60)
            cpu = s.cpu(self.pg) - cpu
            done = [t for t in ids if t in ends and ends[t][0] == "done"]
            errors = Counter(ends[t][2][:160] if t in ends else "not finished in time"
                             for t in ids if t not in done)
            if errors or len(ids) < self.args.tasks:
                self.keep(s.tmp, f"{n}-workers")
        latency = [ends[t][1] - got["accepted"][t] for t in done]
        last = max((ends[t][1] for t in done), default=got["began"] + 1)
        return {"rate": len(done) / (last - got["began"]), "p50": pct(latency, 50),
                "p99": pct(latency, 99), "done": len(done), "sent": self.args.tasks,
                "errors": dict(errors), "cpu_ms": cpu * 1000 / max(1, len(ends))}

    def keep(self, folder: Path, label: str) -> None:
        """Copy a scenario's logs out of the temporary folder (something failed)."""
        import shutil

        target = self.logs / f"{self.count}-{label}"
        target.mkdir(parents=True, exist_ok=True)
        for log in folder.glob("*.log"):
            shutil.copy(log, target / log.name)
        print(f"kept the logs of {label} in {target}", file=sys.stderr)

    def submissions(self, nodes: int, postgres: bool, sync_commit: bool = True
                    ) -> dict[str, Any]:
        """``nodes`` API nodes (+ one worker) on PostgreSQL, or the SQLite all-in-one."""
        with ExitStack() as stack:
            s = self.setup(stack, postgres=postgres, sync_commit=sync_commit)
            if postgres:
                s.start_worker()
            bases = [s.start_api(no_runs=postgres) for _ in range(nodes)]
            if postgres:
                s.wait_workers()
            load(self.pool, bases, 128, self.args.conns, self.args.clients, "warm")
            cpu = s.cpu(self.pg)
            got = load(self.pool, bases, self.args.submits, self.args.conns, self.args.clients,
                       "submit")
            cpu = s.cpu(self.pg) - cpu
        lat = got["latency"]
        return {"rate": len(lat) / (got["ended"] - got["began"]), "p50": pct(lat, 50) * 1000,
                "p99": pct(lat, 99) * 1000, "accepted": got["status"].get(202, 0),
                "other": sum(v for k, v in got["status"].items() if k != 202),
                "cpu_ms": cpu * 1000 / max(1, len(lat))}


def spread(values: list[float], fmt: str) -> str:
    """The median, and every run in brackets when there were several."""
    text = format(statistics.median(values), fmt)
    return text if len(values) == 1 else f"{text} ({' / '.join(format(v, fmt) for v in values)})"


def render(args: argparse.Namespace, worker_rows: dict[int, list[dict[str, Any]]],
           submit_rows: dict[str, list[dict[str, Any]]], notes: list[str]) -> str:
    """The markdown table."""
    lines = ["| setup | tasks/s | 202→done p50 s | 202→done p99 s | done / sent | "
             "submits/s | 202 p50 ms | 202 p99 ms | 202 / sent | CPU ms per task |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, runs in worker_rows.items():
        lines.append(
            f"| PostgreSQL, 1 API node + {n} worker{'s' * (n > 1)} ×{args.concurrency} | "
            f"{spread([r['rate'] for r in runs], '.1f')} | "
            f"{spread([r['p50'] for r in runs], '.2f')} | "
            f"{spread([r['p99'] for r in runs], '.2f')} | "
            f"{min(r['done'] for r in runs)} / {runs[0]['sent']} | - | - | - | - | "
            f"{spread([r['cpu_ms'] for r in runs], '.0f')} |")
    for name, runs in submit_rows.items():
        if not runs:
            continue
        lines.append(
            f"| {name} | - | - | - | - | {spread([r['rate'] for r in runs], '.0f')} | "
            f"{spread([r['p50'] for r in runs], '.0f')} | "
            f"{spread([r['p99'] for r in runs], '.0f')} | "
            f"{min(r['accepted'] for r in runs)} / {args.submits} | "
            f"{spread([r['cpu_ms'] for r in runs], '.1f')} |")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes])


def eval_running() -> bool:
    """True while a model evaluation (scripts/eval.py) runs on this machine."""
    return subprocess.run(["pgrep", "-f", "scripts/eval.py"],
                          capture_output=True).returncode == 0


def machine() -> str:
    """CPU model and count."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model})"


def main() -> None:
    """Run the scenarios, interleaved and repeated, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, once (≈1 min)")
    parser.add_argument("--tasks", type=int, help="tasks per worker scenario (default 240)")
    parser.add_argument("--submits", type=int, help="submissions per API scenario (2000)")
    parser.add_argument("--repeat", type=int, help="rounds of every scenario (default 2)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="runs per worker (and the all-in-one's max_concurrent_runs)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    parser.add_argument("--conns", type=int, default=64, help="client connections")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--no-durable", action="store_true",
                        help="PostgreSQL with fsync and synchronous_commit off (as the tests)")
    parser.add_argument("--json", action="store_true", help="also print the raw results")
    parser.add_argument("--logs", default=f"/tmp/bench-scale-logs-{os.getpid()}",
                        help="where the logs of a scenario with failed tasks are kept")
    args = parser.parse_args()
    args.tasks = args.tasks or (60 if args.quick else 240)
    args.submits = args.submits or (400 if args.quick else 2000)
    args.repeat = args.repeat or (1 if args.quick else 2)
    counts = [int(n) for n in args.workers.split(",") if n]
    bin_dir = pg_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                 "(scripts/setup.sh test installs them)")
    eval_at_start = eval_running()
    started = time.monotonic()
    worker_rows: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    names = {"sqlite": "SQLite all-in-one `serve`",
             "pg1": f"PostgreSQL, 1 API node `--no-runs` (+1 worker ×{args.concurrency})",
             "pg2": f"PostgreSQL, 2 API nodes `--no-runs` (+1 worker ×{args.concurrency})",
             "pg1-async": "PostgreSQL, 1 API node, as above, synchronous_commit off"}
    submit_rows: dict[str, list[dict[str, Any]]] = {names[k]: [] for k in names}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        from http.server import ThreadingHTTPServer

        # socketserver's listen backlog of 5 drops connections when 16 runs call at once (the
        # fake closes each connection); a real Ollama listens with Go's default (the kernel's)
        ThreadingHTTPServer.request_queue_size = 4096
        fake = script(FakeOllama().start(), delay_s=MODEL_DELAY_S)
        stack.callback(fake.stop)
        pg = BenchPg(bin_dir, durable=not args.no_durable)
        pg.start()
        stack.callback(pg.stop)
        pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(args.clients))
        bench = Bench(args, fake, pg, pool, Path(tmp), Path(args.logs))
        for round_no in range(args.repeat):
            for key, nodes, postgres, sync in (("sqlite", 1, False, True),
                                               ("pg1", 1, True, True), ("pg2", 2, True, True),
                                               ("pg1-async", 1, True, False)):
                if key == "pg1-async" and args.no_durable:
                    continue
                result = bench.submissions(nodes, postgres, sync)
                submit_rows[names[key]].append(result)
                print(f"round {round_no + 1} {key}: {result['rate']:.0f}/s", file=sys.stderr)
            for n in counts:
                result = bench.workers(n)
                worker_rows[n].append(result)
                print(f"round {round_no + 1} {n} worker(s): {result['rate']:.1f} tasks/s",
                      file=sys.stderr)
    notes = [
        f"{machine()}; API nodes, workers, PostgreSQL {bin_dir.parent.name}, the stand-in "
        f"model and {args.clients} client processes ({args.conns} httpx async connections) "
        "all share these CPUs.",
        f"Stand-in model: the fake Ollama answers each call after {MODEL_DELAY_S * 1000:.0f} "
        f"ms; {CALLS_PER_TASK} calls per task (analyst-only SOP), so a task takes at least "
        f"{CALLS_PER_TASK * MODEL_DELAY_S:.1f} s and a worker ×{args.concurrency} at most "
        f"{args.concurrency / (CALLS_PER_TASK * MODEL_DELAY_S):.0f} tasks/s.",
        f"Worker rows: {args.tasks} tasks submitted at once through one API node; tasks/s "
        "from the first submission to the last task done; 202→done includes the wait in the "
        "queue. Submission rows: "
        f"{args.submits} submissions after 128 warm-up ones; the all-in-one runs "
        f"{args.concurrency} tasks at a time meanwhile, the PostgreSQL rows one worker "
        f"×{args.concurrency}.",
        "PostgreSQL " + ("with fsync and synchronous_commit off" if args.no_durable else
                         "with its default durability (fsync, synchronous_commit on)")
        + " (the synchronous_commit off row: set on its database, so a commit does not wait"
        " for the WAL flush, as SQLite's synchronous=NORMAL does not); SQLite in WAL mode,"
        " synchronous=NORMAL. CPU ms per task: every server "
        "process of the row (PostgreSQL included), not the clients.",
        f"{args.repeat} round(s), scenarios interleaved: the median, each round in brackets. "
        f"Model eval (scripts/eval.py) running at the start: {'yes' if eval_at_start else 'no'}"
        f", at the end: {'yes' if eval_running() else 'no'}. "
        f"Took {time.monotonic() - started:.0f} s.",
    ]
    failures: Counter[str] = Counter()
    for runs in worker_rows.values():
        for run in runs:
            failures.update(run["errors"])
    if failures:
        notes.append("Tasks not done (count: error): " + "; ".join(
            f"{n}: {error or 'no error recorded'}" for error, n in failures.most_common(5))
            + f". Logs kept under {args.logs}.")
    print(render(args, worker_rows, submit_rows, notes))
    if args.json:
        print(json.dumps({"workers": worker_rows, "submissions": submit_rows}))


if __name__ == "__main__":
    main()
