"""Research sweeps against the fake Ollama server: outputs, replay, resume, input errors."""

from __future__ import annotations

import asyncio
import csv
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from company.events import Event, EventKind
from company.research.cli import research, research_command, research_parser
from company.research.metrics import EventCounts, RunRow, build_row, event_counts, with_event_counts
from company.research.plan import RunSpec
from company.research.requests import Expect
from company.run import TaskOutcome
from company.store import Store
from tests.conftest import PLAN, ROOT
from tests.fakes.ollama_server import FakeOllama, Rule

REQUESTS = [
    {"id": "mul", "request": "What is 6 times 7?",
     "expect": {"graphs": ["calculate"], "outputs_contain": [42], "report_contains": ["report"]}},
    {"id": "words", "request": "How many words are in 'the quick brown fox'?",
     "expect": {"graphs": ["word_count"], "outputs_contain": [4]}},
    {"id": "both", "request": "What is 6 times 7, and how many words in 'the quick brown fox'?",
     "expect": {"report_contains": ["forty-two"], "max_rounds": 8}},
]
JUDGE = {"score": 8, "reason": "answers the question"}
SOPS = ["default", "plan-only"]


@pytest.fixture
def fake(scripted_ollama: FakeOllama) -> FakeOllama:
    """The standard SOP's scripted answers plus the judge's."""
    scripted_ollama.on("## Task: JudgeReport", json.dumps(JUDGE))
    return scripted_ollama


@pytest.fixture
def inputs(tmp_path: Path, fake: FakeOllama) -> dict[str, Any]:
    """A config pointing at the fake, a 3-request set and the two SOPs."""
    config = tmp_path / "config.yaml"
    config.write_text(f"workspace: {tmp_path / 'ws'}\nllm: {{host: '{fake.host}', timeout_s: 5}}\n"
                      "graphs: {allow_private_network: true}\n")
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(r) + "\n" for r in REQUESTS))
    return {"config": str(config), "requests": str(requests), "sops": SOPS}


def sweep_args(inputs: dict[str, Any], out: Path, *extra: str, repeat: int = 2) -> list[str]:
    """The command line of a 2 SOPs x 3 requests x N repeats sweep."""
    return ["--config", str(inputs["config"]), "--sops", *inputs["sops"],
            "--requests", str(inputs["requests"]), "--repeat", str(repeat), "--out", str(out),
            "--quiet", *extra]


def rows_of(out: Path) -> list[RunRow]:
    """The rows of runs.jsonl."""
    lines = (out / "runs.jsonl").read_text().splitlines()
    return [RunRow.model_validate_json(line) for line in lines if line.strip()]


def expected_ids() -> set[str]:
    """Run ids of the full sweep."""
    return {f"{s}-{r['id']}-qwen2.5-r{k}" for s in SOPS for r in REQUESTS for k in (1, 2)}


def test_sweep_writes_rows_logs_and_aggregates_from_the_runs(inputs, fake, tmp_path):
    out = tmp_path / "sweep"
    assert research_command(sweep_args(inputs, out, "--judge", "--concurrency", "3")) == 0
    rows = rows_of(out)
    assert len(rows) == 12 and {r.run_id for r in rows} == expected_ids()
    for name in ("sweep.json", "sweep.db", "summary.md", "summary.csv", "summary.png"):
        assert (out / name).is_file(), name
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    for row in rows:
        log = (out / "runs" / row.run_id / "messages.jsonl").read_text().splitlines()
        assert len(log) == row.messages and row.status == "done"
        assert row.llm_calls >= 3 and row.tokens == row.prompt_tokens + row.completion_tokens
        assert row.judge_score == JUDGE["score"]
        assert row.success == (not row.failed)
    # every LLM call went to the fake exactly once: the runs' own, plus one judge call each
    assert fake.chat_calls == sum(r.llm_calls for r in rows) + len(rows)
    assert fake.calls_matching("## Task: JudgeReport") == len(rows)

    with (out / "summary.csv").open() as handle:
        header = next(csv.reader(handle))
        handle.seek(0)
        table = {row["sop"]: row for row in csv.DictReader(handle)}
    # the event counts come last, after the older columns
    assert header.index("judge_score_max") < header.index("plans_rejected_mean")
    assert header[-4:] == [f"reports_reasked_{s}" for s in ("mean", "stdev", "min", "max")]
    assert set(table) == {r.sop for r in rows}
    for sop, agg in table.items():
        mine = [r for r in rows if r.sop == sop]
        tokens = [r.tokens for r in mine]
        assert int(agg["runs"]) == len(mine) == 6
        assert int(agg["successes"]) == sum(r.success for r in mine)
        assert float(agg["success_rate"]) == pytest.approx(sum(r.success for r in mine) / 6,
                                                           abs=1e-6)
        assert float(agg["tokens_mean"]) == pytest.approx(statistics.fmean(tokens))
        assert float(agg["tokens_stdev"]) == pytest.approx(statistics.stdev(tokens), abs=1e-6)
        assert float(agg["tokens_min"]) == min(tokens) and float(agg["tokens_max"]) == max(tokens)
        assert float(agg["llm_calls_mean"]) == pytest.approx(
            statistics.fmean(r.llm_calls for r in mine))
        assert float(agg["graph_runs_mean"]) == pytest.approx(
            statistics.fmean(r.graph_runs for r in mine))
        assert float(agg["judge_score_mean"]) == JUDGE["score"]

    def rank(sop: str) -> tuple[float, ...]:
        mine = [r for r in rows if r.sop == sop]
        return (-sum(r.success for r in mine) / len(mine),
                *(statistics.fmean(getattr(r, m) for r in mine)
                  for m in ("cost", "tokens", "llm_calls", "rounds")))

    best = min(table, key=rank)
    assert [s for s, agg in table.items() if agg["best"] == "1"] == [best]
    summary = (out / "summary.md").read_text()
    assert f"| ★ | {best} | qwen2.5 | 6 |" in summary
    assert "| LLM calls | plans rejected | re-asks | rounds |" in summary
    assert f"**Best: {best}**" in summary
    for sop in table:
        assert f"## SOP {sop}" in summary
    # the default SOP executes the plan (calculate, word_count); plan-only never does
    assert best == "default"
    default = [r for r in rows if r.sop == "default"]
    assert all(r.success and r.graph_runs == 2 and r.graph_failures == 0 for r in default)
    plan_only = [r for r in rows if r.sop == "plan-only"]
    assert all(r.graph_runs == 0 for r in plan_only)
    assert {r.request_id for r in plan_only if not r.success} == {"mul", "words"}


def test_replay_without_the_server_gives_identical_logs_and_metrics(inputs, fake, tmp_path):
    recorded, replayed = tmp_path / "recorded", tmp_path / "replayed"
    assert research_command(sweep_args(inputs, recorded, "--judge")) == 0
    fake.stop()
    calls = fake.chat_calls
    assert research_command(sweep_args(inputs, replayed, "--judge", "--replay", "--cache-from",
                                       str(recorded))) == 0
    assert fake.chat_calls == calls
    before = {r.run_id: r.model_dump(exclude={"wall_s"}) for r in rows_of(recorded)}
    after = {r.run_id: r.model_dump(exclude={"wall_s"}) for r in rows_of(replayed)}
    assert after == before and len(after) == 12
    for run_id in before:
        a = (recorded / "runs" / run_id / "messages.jsonl").read_bytes()
        b = (replayed / "runs" / run_id / "messages.jsonl").read_bytes()
        assert a == b and a

    # a third repeat was never recorded: its runs miss the cache, and the sweep says so
    missing = tmp_path / "missing"
    assert research_command(sweep_args(inputs, missing, "--replay", "--cache-from",
                                       str(recorded), repeat=3)) == 1
    misses = [r for r in rows_of(missing) if r.repeat == 3]
    assert len(misses) == 6
    assert all(r.status == "failed" and "replay mode" in (r.error or "") for r in misses)


def _run_cancelled(args: list[str], *, after_rows: int | None = None,
                   fake: FakeOllama | None = None, at_plan_call: int | None = None) -> None:
    """Run a sweep in this process and cancel it (as Ctrl-C would) once ``after_rows`` rows are
    written, or while the fake answers its ``at_plan_call``-th WritePlan request."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        rows: list[RunRow] = []
        task: asyncio.Task[int] | None = None

        def cancel() -> None:
            assert task is not None
            loop.call_soon_threadsafe(task.cancel)

        def on_row(row: RunRow) -> None:
            rows.append(row)
            if len(rows) == after_rows:
                cancel()

        if fake is not None and at_plan_call is not None:
            plans: list[int] = []

            def plan_reply(body: dict) -> str:
                plans.append(1)
                if len(plans) == at_plan_call:
                    cancel()
                return json.dumps(PLAN)

            fake.rules.insert(0, Rule("## Task: WritePlan", [plan_reply]))
        task = asyncio.create_task(research(research_parser().parse_args(args), on_row=on_row))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def _starts(out: Path, run_id: str) -> int:
    store = Store(out / "sweep.db")
    try:
        return sum(1 for e in store.events(run_id) if e.kind is EventKind.TASK_STARTED)
    finally:
        store.close()


def test_killed_sweep_resumes_without_rerunning_finished_runs(inputs, fake, tmp_path):
    out = tmp_path / "sweep"
    _run_cancelled(sweep_args(inputs, out, "--concurrency", "1"), after_rows=5)
    first = rows_of(out)
    assert len(first) == 5 and not (out / "summary.md").exists()
    assert fake.chat_calls == sum(r.llm_calls for r in first)
    with (out / "runs.jsonl").open("a") as handle:  # a row torn by kill -9 is dropped
        handle.write('{"run_id": "plan-only-words-qwe')

    assert research_command(["--resume", str(out), "--quiet", "--concurrency", "3"]) == 0
    rows = rows_of(out)
    assert len(rows) == 12 and {r.run_id for r in rows} == expected_ids()
    by_id = {r.run_id: r for r in rows}
    for row in first:  # finished runs kept their rows and were started only once
        assert by_id[row.run_id] == row
        assert _starts(out, row.run_id) == 1
    # the server saw each remaining run's calls once, and none of the finished runs' again
    assert fake.chat_calls == sum(r.llm_calls for r in rows)
    assert (out / "summary.md").is_file()


def test_run_interrupted_mid_way_is_resumed_from_its_log(inputs, fake, tmp_path):
    out = tmp_path / "sweep"
    _run_cancelled(sweep_args(inputs, out, "--concurrency", "3"), fake=fake, at_plan_call=5)
    first = {r.run_id for r in rows_of(out)}
    assert 2 <= len(first) < 12
    assert research_command(["--resume", str(out), "--quiet"]) == 0
    rows = rows_of(out)
    assert len(rows) == 12 and len({r.run_id for r in rows}) == 12
    assert all(_starts(out, run_id) == 1 for run_id in first)
    assert all(r.status == "done" for r in rows)
    assert any(r.resumed for r in rows)
    # a call cut off in flight may be asked again (at most one per concurrent run), no more
    assert 0 <= fake.chat_calls - sum(r.llm_calls for r in rows) <= 3
    compared = 0
    for row in (r for r in rows if r.resumed):  # a resumed log matches an unbroken repeat's
        for twin in (r for r in rows if r.sop == row.sop and r.request_id == row.request_id
                     and not r.resumed):
            assert _contents(out, row.run_id) == _contents(out, twin.run_id)
            compared += 1
    assert compared >= 1


def _contents(out: Path, run_id: str) -> list[tuple[str, str, str]]:
    lines = (out / "runs" / run_id / "messages.jsonl").read_text().splitlines()
    return [(m["sent_from"], m["cause_by"], m["content"]) for m in map(json.loads, lines)]


def test_malformed_sop_fails_before_any_run(inputs, fake, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nroles:\n  - name: Analyst\n    wach: [UserRequirement]\n")
    out = tmp_path / "sweep"
    args = sweep_args(inputs, out)
    args[args.index("--sops") + 1:args.index("--requests")] = ["default", str(bad)]
    assert research_command(args) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4" in err and "unknown field 'wach'" in err
    assert not out.exists() and fake.chat_calls == 0


def test_malformed_request_file_fails_before_any_run_naming_the_lines(inputs, fake, tmp_path,
                                                                       capsys):
    requests = Path(str(inputs["requests"]))
    requests.write_text(
        json.dumps(REQUESTS[0]) + "\n"
        + json.dumps({"id": "x", "request": "hi", "expected": {}}) + "\n"
        + '{"id": "y", "request": \n'
        + json.dumps({"id": "mul", "request": "again", "expect": {"graphs": "calculate"}}) + "\n"
    )
    out = tmp_path / "sweep"
    assert research_command(sweep_args(inputs, out)) == 2
    err = capsys.readouterr().err
    assert f"{requests}:2: expected: unknown field 'expected'" in err
    assert f"{requests}:3: not valid JSON" in err
    assert f"{requests}:4: expect.graphs" in err
    requests.write_text(json.dumps({"id": "z", "request": "hi", "expect": {"graphs": ["nope"]}}))
    assert research_command(sweep_args(inputs, out)) == 2
    assert f"{requests}:1: expect.graphs: unknown graph 'nope'" in capsys.readouterr().err
    assert not out.exists() and fake.chat_calls == 0


def test_unknown_sop_and_existing_sweep_dir_are_input_errors(inputs, fake, tmp_path, capsys):
    out = tmp_path / "sweep"
    args = sweep_args(inputs, out)
    args[args.index("--sops") + 1] = "no-such-sop"
    assert research_command(args) == 2
    assert "no such SOP file" in capsys.readouterr().err
    out.mkdir()
    (out / "sweep.json").write_text("{}")
    assert research_command(sweep_args(inputs, out)) == 2
    assert "--resume" in capsys.readouterr().err and fake.chat_calls == 0


def test_sample_request_set_is_valid_and_names_catalogue_graphs():
    from company.config import AppConfig
    from company.research.plan import catalogue_names
    from company.research.requests import check_graph_names, load_requests

    sample = load_requests(ROOT / "config" / "research" / "sample.jsonl")
    assert 5 <= len(sample.requests) <= 6
    assert all(r.expect.graphs for r in sample.requests)
    check_graph_names(sample, catalogue_names(AppConfig()))


def _event(kind: EventKind, **data: Any) -> Event:
    return Event(task_id="t1", kind=kind, data=data)


def _call(role: str, prompt: int, **data: Any) -> Event:
    return _event(EventKind.LLM_CALL, role=role, source=data.pop("source", "llm"),
                  prompt_tokens=prompt, completion_tokens=10, **data)


def _turn(role: str, calls: list[Event], cause: str | None) -> list[Event]:
    """A role's turn: its calls, then its message (or a failed finish when ``cause`` is None)."""
    finished = _event(EventKind.ROLE_FINISHED, role=role, ok=cause is not None,
                      outputs=int(cause is not None))
    message = ([_event(EventKind.MESSAGE, sent_from=role, cause_by=cause)]
               if cause is not None else [])
    return [_event(EventKind.ROLE_STARTED, role=role), *calls, finished, *message]


def test_event_counts_read_the_named_fields():
    events = [
        *_turn("Analyst", [_call("Analyst", 100, action="AnalyzeRequest")], "AnalyzeRequest"),
        _event(EventKind.ROLE_STARTED, role="Planner"),
        _call("Planner", 400, action="WritePlan"),
        _event(EventKind.PROGRESS, role="Planner", what="plan_rejected", problems=["x"]),
        _call("Planner", 500, action="WritePlan"),
        _event(EventKind.PROGRESS, role="Planner", what="plan_doubted", doubts=["y"]),
        _call("Planner", 600, action="WritePlan", reask="truncated"),
        _call("Planner", 600, action="WritePlan", reask="invalid"),
        _event(EventKind.ROLE_FINISHED, role="Planner", ok=True, outputs=1),
        _event(EventKind.MESSAGE, sent_from="Planner", cause_by="WritePlan"),
        _event(EventKind.PROGRESS, role="Executor", what="replan_after_failure", steps=["s1"]),
        _event(EventKind.PROGRESS, role="Executor", what="transcribe"),
        _event(EventKind.PROGRESS, role="Analyst", what="report_reasked"),
        # a resumed run's journal replay is not a call
        _call("Analyst", 900, action="SummarizeResults", source="journal"),
        _call("Analyst", 300, action="SummarizeResults", reask="deadline"),
    ]
    counts = event_counts(events)
    assert counts.plans_rejected == 1 and counts.replans_after_failure == 1
    assert counts.plans_doubted == 1
    assert counts.reports_reasked == 1 and not counts.counted_by_fallback
    assert counts.reasks == 3
    assert counts.reask_reasons == {"deadline": 1, "invalid": 1, "truncated": 1}
    assert counts.action_calls == {"AnalyzeRequest": 1, "SummarizeResults": 1, "WritePlan": 4}
    assert counts.action_prompt_tokens == {"AnalyzeRequest": 100.0, "SummarizeResults": 300.0,
                                           "WritePlan": 525.0}


def test_event_counts_fall_back_on_events_without_action_and_reask():
    old = [
        *_turn("Analyst", [_call("Analyst", 100)], "AnalyzeRequest"),
        *_turn("Planner", [_call("Planner", 400), _call("Planner", 420)], "WritePlan"),
        *_turn("Executor", [_call("Executor", 50)], "RunGraphs"),
        *_turn("Analyst", [_call("Analyst", 200), _call("Analyst", 260)], "SummarizeResults"),
    ]
    counts = event_counts(old)
    assert counts.counted_by_fallback
    assert counts.plans_rejected == 1  # the WritePlan turn's second call
    assert counts.reasks == 1 and counts.reask_reasons == {"invalid": 1}
    assert counts.action_calls == {"AnalyzeRequest": 1, "RunGraphs": 1, "SummarizeResults": 2,
                                   "WritePlan": 2}
    assert counts.action_prompt_tokens["SummarizeResults"] == 230.0

    # a Planner turn that failed with every plan invalid: all its calls were rejected plans;
    # one that failed otherwise (cut off): the calls beyond the first
    for error, rejected in (("the plan was still invalid after 3 attempts: - step s1", 3),
                            ("the model was cut off at its token limit", 2)):
        failed = [*_turn("Analyst", [_call("Analyst", 100)], "AnalyzeRequest"),
                  _event(EventKind.ROLE_STARTED, role="Planner"),
                  *(_call("Planner", 400) for _ in range(3)),
                  _event(EventKind.ERROR, role="Planner", error=error),
                  *_turn("Planner", [], None)[1:]]
        counts = event_counts(failed)
        assert counts.plans_rejected == rejected and counts.reasks == 0
        assert counts.action_calls == {"AnalyzeRequest": 1, "WritePlan": 3}
    # an Analyst turn that failed after the graphs ran was summarizing
    late = [*_turn("Executor", [], "RunGraphs"), *_turn("Analyst", [_call("Analyst", 10)], None)]
    assert event_counts(late).action_calls == {"SummarizeResults": 1}
    assert event_counts([]) == EventCounts()


def test_old_rows_load_and_build_row_counts_the_events():
    old = ('{"run_id":"r","sop":"default","sop_digest":"d","model":"m","request_id":"q",'
           '"repeat":1,"status":"done","success":true,"llm_calls":3,"tokens":10}')
    row = RunRow.model_validate_json(old)
    assert row.plans_rejected == 0 and row.reask_reasons == {} and row.action_calls == {}
    events = [*_turn("Planner", [_call("Planner", 400, action="WritePlan")], "WritePlan"),
              _event(EventKind.PROGRESS, role="Planner", what="plan_rejected", problems=[])]
    again = with_event_counts(row, events)
    assert again.plans_rejected == 1 and again.action_prompt_tokens == {"WritePlan": 400.0}
    assert again.model_dump(exclude=set(EventCounts.model_fields)) == row.model_dump(
        exclude=set(EventCounts.model_fields))
    assert set(EventCounts.model_fields) <= set(RunRow.model_fields)

    spec = RunSpec(run_id="r", sop="default", sop_digest="d", model="m", model_label="m",
                   request_id="q", repeat=1, namespace="n")
    outcome = TaskOutcome(task_id="r", status="failed", error="Planner: no", rounds=2)
    built = build_row(spec, outcome, [], Expect(), wall_s=1.0, resumed=False, events=events)
    assert built.plans_rejected == 1 and built.action_calls == {"WritePlan": 1}
    assert build_row(spec, outcome, [], Expect(), wall_s=1.0, resumed=False).plans_rejected == 0
