"""scripts/eval.py against the fake Ollama server: options, subsets, the scorecard; and the two
eval request sets (they load, and every graph they name is in the catalogue)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from company.research.metrics import RunRow
from tests.conftest import ROOT
from tests.fakes.ollama_server import FakeOllama

REQUESTS = [
    {"id": "mul", "request": "What is 6 times 7?",
     "expect": {"graphs": ["calculate"], "outputs_contain": [42]}},
    {"id": "words", "request": "How many words are in 'the quick brown fox'?",
     "expect": {"graphs": ["word_count"], "outputs_contain": [4]}},
    {"id": "swap", "request": "Replace 'cats' with 'dogs' in 'cats chase cats'.",
     "expect": {"graphs": ["replace_text"], "outputs_contain": ["dogs chase dogs"]}},
]


def load_script() -> ModuleType:
    """scripts/eval.py as a module."""
    spec = importlib.util.spec_from_file_location("eval_script", ROOT / "scripts" / "eval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("eval_script", module)
    spec.loader.exec_module(module)
    return module


evalscript = load_script()


@pytest.fixture
def inputs(tmp_path: Path, scripted_ollama: FakeOllama) -> dict[str, Any]:
    """A config, a 3-request set (the scripted plan meets 2 of them) and the fake's --llm."""
    config = tmp_path / "config.yaml"
    config.write_text(f"workspace: {tmp_path / 'ws'}\ngraphs: {{allow_private_network: true}}\n"
                      "llm: {timeout_s: 5}\n")
    requests = tmp_path / "requests.jsonl"
    requests.write_text("// a comment\n" + "".join(json.dumps(r) + "\n" for r in REQUESTS))
    return {"config": str(config), "requests": str(requests),
            "llm": f"ollama:qwen2.5@{scripted_ollama.host}"}


def run_eval(inputs: dict[str, Any], out: Path, *extra: str, llm: list[str] | None = None
             ) -> int:
    """scripts/eval.py with the test's config and request set."""
    return evalscript.main(["--config", inputs["config"], "--requests", inputs["requests"],
                            "--llm", *(llm or [inputs["llm"]]), "--out", str(out), "--quiet",
                            *extra])


def rows_of(out: Path) -> list[RunRow]:
    """The rows of runs.jsonl."""
    return [RunRow.model_validate_json(line)
            for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]


def test_eval_prints_and_writes_the_scorecard_and_exits_0_with_failures(inputs, scripted_ollama,
                                                                         tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_eval(inputs, out) == 0
    rows = {r.request_id: r for r in rows_of(out)}
    assert {k: r.success for k, r in rows.items()} == {"mul": True, "words": True, "swap": False}
    assert json.loads((out / "sweep.json").read_text())["concurrency"] == 1
    card = (out / "eval.md").read_text()
    assert capsys.readouterr().out.strip() == card.strip()
    assert "| default | qwen2.5 | 3 | 67% (2/3) |" in card
    mean_calls = sum(r.llm_calls for r in rows.values()) / 3
    mean_prompt = sum(r.prompt_tokens for r in rows.values()) / 3
    mean_completion = sum(r.completion_tokens for r in rows.values()) / 3
    # the scripted plans are valid at once: nothing rejected; a doubted one is re-asked
    doubted = sum(r.plans_doubted for r in rows.values())
    assert doubted and all(r.reasks == r.plans_doubted for r in rows.values())
    assert (f"| {mean_calls:.1f} | 0 (0.00/req) | {doubted} (doubted {doubted}) | 0 | "
            f"{mean_prompt:.0f} |") in card
    assert f"| {mean_completion:.0f} |" in card
    assert f"| {sum(r.wall_s for r in rows.values()):.1f} |" in card
    assert "## qwen2.5 · SOP default" in card
    sizes = card.split("## Prompt size per action (mean prompt tokens)")[1].splitlines()
    assert sizes[4].startswith("| SOP | model | AnalyzeRequest | WritePlan |")
    assert sizes[6].startswith("| default | qwen2.5 |") and "(3)" in sizes[6]
    for r in rows.values():
        line = next(x for x in card.splitlines() if x.startswith(f"| {r.request_id} |"))
        assert (f"| {'yes' if r.success else 'no'} | {r.tokens} | {r.llm_calls} | 0 | "
                f"{r.reasks} | 0 |") in line
        assert f"| {r.wall_s:.1f} |" in line
    swap = next(x for x in card.splitlines() if x.startswith("| swap |"))
    assert "graph replace_text not executed" in swap
    assert f"`{Path(inputs['requests']).resolve()}`" in card


def test_two_models_limit_and_only_pick_the_runs(inputs, scripted_ollama, tmp_path):
    scripted_ollama.models.append("llama3.2:latest")
    other = f"ollama:llama3.2@{scripted_ollama.host}"
    out = tmp_path / "two"
    assert run_eval(inputs, out, "--limit", "2", llm=[inputs["llm"], other]) == 0
    rows = rows_of(out)
    assert sorted((r.request_id, r.model) for r in rows) == [
        ("mul", "llama3.2"), ("mul", "qwen2.5"), ("words", "llama3.2"), ("words", "qwen2.5")]
    subset = (out / "requests.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in subset] == ["mul", "words"]
    card = (out / "eval.md").read_text()
    assert "## qwen2.5 · SOP default" in card and "## llama3.2 · SOP default" in card
    assert "| default | llama3.2 | 2 | 100% (2/2) |" in card

    only = tmp_path / "only"
    assert run_eval(inputs, only, "--only", "swap", "mul") == 0
    assert [r.request_id for r in rows_of(only)] == ["mul", "swap"]  # the file's order


def test_resume_continues_and_rewrites_the_scorecard(inputs, scripted_ollama, tmp_path):
    out = tmp_path / "eval"
    assert run_eval(inputs, out, "--only", "mul") == 0
    calls = scripted_ollama.chat_calls
    (out / "eval.md").unlink()
    assert evalscript.main(["--resume", str(out), "--quiet"]) == 0
    assert scripted_ollama.chat_calls == calls and (out / "eval.md").is_file()


@pytest.mark.parametrize(("extra", "message"), [
    (["--only", "nope"], "--only: no request 'nope'"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--set", "heldout"], "--set or --requests, not both"),
])
def test_bad_options_exit_2_before_any_run(inputs, scripted_ollama, tmp_path, capsys, extra,
                                           message):
    assert run_eval(inputs, tmp_path / "eval", *extra) == 2
    assert message in capsys.readouterr().err and scripted_ollama.chat_calls == 0


def test_bad_files_and_resume_flags_exit_2(inputs, scripted_ollama, tmp_path, capsys):
    missing = dict(inputs, requests=str(tmp_path / "missing.jsonl"))
    assert run_eval(missing, tmp_path / "a") == 2
    assert "no such request file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "request": "hi", "expect": {"graphs": ["calculator"]}}\n')
    assert run_eval(dict(inputs, requests=str(bad)), tmp_path / "b") == 2
    assert f"{bad}:1: expect.graphs: unknown graph 'calculator'" in capsys.readouterr().err
    assert evalscript.main(["--resume", str(tmp_path / "a"), "--llm", "x"]) == 2
    assert "drop --llm" in capsys.readouterr().err
    assert scripted_ollama.chat_calls == 0


def test_unreachable_model_server_exits_3(inputs, tmp_path):
    assert run_eval(inputs, tmp_path / "eval", llm=["ollama:qwen2.5@http://127.0.0.1:9"]) == 3


def test_defaults_main_set_embedded_model_one_at_a_time(monkeypatch):
    monkeypatch.setenv("WHISPER_MODEL", "tiny")
    argv, out = evalscript.research_argv(evalscript.eval_parser().parse_args([]))
    assert argv[argv.index("--requests") + 1] == str(ROOT / "config" / "eval" / "requests.jsonl")
    assert argv[argv.index("--llm") + 1] == "embedded:qwen2.5-coder:1.5b"
    assert argv[argv.index("--concurrency") + 1] == "1"
    assert argv[argv.index("--sops") + 1] == "default"
    assert out.parent == ROOT / "workspace" / "eval" and not out.exists()
    assert "--whisper-model" not in argv  # WHISPER_MODEL names it
    monkeypatch.delenv("WHISPER_MODEL")
    argv, _ = evalscript.research_argv(evalscript.eval_parser().parse_args(["--set", "heldout"]))
    assert argv[argv.index("--requests") + 1] == str(ROOT / "config" / "eval" / "heldout.jsonl")
    assert argv[argv.index("--whisper-model") + 1] == "base"


def test_eval_sets_load_and_name_only_catalogue_graphs():
    from company.config import AppConfig
    from company.research.plan import catalogue_names
    from company.research.requests import check_graph_names, load_requests

    known = catalogue_names(AppConfig())
    main = load_requests(ROOT / "config" / "eval" / "requests.jsonl")
    heldout = load_requests(ROOT / "config" / "eval" / "heldout.jsonl")
    for requests in (main, heldout):
        check_graph_names(requests, known)
        kinds = [r.expect for r in requests.requests]
        assert all(e.graphs or e.failed_graphs or e.graphs_none for e in kinds)
        assert any(e.graphs_none for e in kinds) and any(e.failed_graphs for e in kinds)
        assert sum(len(e.graphs) > 1 for e in kinds) >= 2
        assert sum(1 for r in requests.requests if r.speak) >= 3
    assert len(main.requests) >= 40 and len(heldout.requests) >= 15
    assert sum(1 for r in main.requests if r.speak) >= 8
    assert any(r.speak and r.request for r in main.requests)
    assert not {r.id for r in main.requests} & {r.id for r in heldout.requests}
    texts = [r.as_text() for r in main.requests]
    assert not set(texts) & {r.as_text() for r in heldout.requests}


def a_row(request_id: str, model: str = "m", **fields: Any) -> RunRow:
    """A finished run's row with the given measures."""
    base: dict[str, Any] = {"run_id": f"{model}-{request_id}", "sop": "default",
                            "sop_digest": "d", "model": model, "request_id": request_id,
                            "repeat": 1, "status": "done", "success": True}
    return RunRow(**(base | fields))


def test_scorecard_totals_prompt_sizes_and_per_request_counts():
    from company.research.scorecard import render_scorecard

    rows = [
        a_row("a", llm_calls=3, prompt_tokens=100, completion_tokens=50, wall_s=2.0,
              plans_rejected=1, action_calls={"AnalyzeRequest": 1, "WritePlan": 2},
              action_prompt_tokens={"AnalyzeRequest": 100.0, "WritePlan": 400.0}),
        a_row("b", success=False, status="failed", llm_calls=5, prompt_tokens=200,
              completion_tokens=100, wall_s=3.0, plans_rejected=2, reasks=2,
              reask_reasons={"invalid": 1, "truncated": 1}, replans_after_failure=1,
              action_calls={"WritePlan": 1, "SummarizeResults": 1},
              action_prompt_tokens={"WritePlan": 700.0, "SummarizeResults": 200.0}),
    ]
    card = render_scorecard(["# Eval"], rows)
    lines = card.splitlines()
    assert ("| SOP | model | requests | success | mean LLM calls | plans rejected | re-asks |"
            " failure re-plans | mean prompt tokens | mean completion tokens | mean wall s |"
            " total wall s |") in lines
    assert ("| default | m | 2 | 50% (1/2) | 4.0 | 3 (1.50/req) | 2 (invalid 1, truncated 1) |"
            " 1 | 150 | 75 | 2.5 | 5.0 |") in lines
    # WritePlan: (2 x 400 + 700) / 3 calls
    assert "| SOP | model | AnalyzeRequest | WritePlan | SummarizeResults |" in lines
    assert "| default | m | 100 (1) | 500 (3) | 200 (1) |" in lines
    b = next(x for x in lines if x.startswith("| b |"))
    assert "| no | 0 | 5 | 2 | 2 | 1 |" in b
    assert "recorded before" not in card
    old = render_scorecard([], [rows[0], rows[1].model_copy(update={"counted_by_fallback": True})])
    assert "1 of 2 runs were recorded before LLM calls named their action" in old


def test_compare_table_puts_two_evals_side_by_side():
    from company.research.scorecard import render_comparison

    before = [a_row("a", "big", llm_calls=4, plans_rejected=2, prompt_tokens=900, wall_s=10.0,
                    action_calls={"WritePlan": 3}, action_prompt_tokens={"WritePlan": 500.0}),
              a_row("b", "big", success=False, llm_calls=4, plans_rejected=3, reasks=1,
                    prompt_tokens=1100, wall_s=20.0),
              a_row("a", "small", success=False, llm_calls=2)]
    after = [a_row("a", "big", llm_calls=3, prompt_tokens=700, completion_tokens=100, wall_s=8.0,
                   action_calls={"WritePlan": 1}, action_prompt_tokens={"WritePlan": 300.0}),
             a_row("b", "big", llm_calls=3, prompt_tokens=700, completion_tokens=100, wall_s=9.0)]
    text = render_comparison(["# Eval comparison"], [("before: x", before), ("after: y", after)])
    lines = text.splitlines()
    assert lines[2] == ("| model | SOP | eval | requests | success | LLM calls/req |"
                        " plans rejected/req | plans doubted/req | re-asks/req |"
                        " failure re-plans/req | prompt tokens/req | completion tokens/req |"
                        " wall s/req |")
    assert lines[4:8] == [
        "| big | default | before: x | 2 | 50% (1/2) | 4.0 | 2.50 | 0.00 | 0.50 | 0.00 | 1000 |"
        " 0 | 15.0 |",
        "| big | default | after: y | 2 | 100% (2/2) | 3.0 | 0.00 | 0.00 | 0.00 | 0.00 | 700 |"
        " 100 | 8.5 |",
        "| big | default | change | +0 | +50 pp | -1.0 | -2.50 | +0.00 | -0.50 | +0.00 | -300 |"
        " +100 | -6.5 |",
        "| small | default | before: x | 1 | 0% (0/1) | 2.0 | 0.00 | 0.00 | 0.00 | 0.00 | 0 | 0 |"
        " 0.0 |",
    ]  # a model only one eval ran has no change row
    assert "| big | default | before: x | 500 |" in lines
    assert "| big | default | after: y | 300 |" in lines
    assert "| small | default | before: x | - |" in lines


def test_compare_two_eval_outputs_counts_a_rejected_plan(inputs, scripted_ollama, tmp_path,
                                                         capsys):
    from tests.fakes.ollama_server import Rule

    clean, rejected = tmp_path / "clean", tmp_path / "rejected"
    assert run_eval(inputs, clean, "--only", "mul") == 0
    bad = {"steps": [{"id": "s1", "graph": "word_count", "inputs": {"text": "{{ s9.word_count }}"},
                      "depends_on": [], "purpose": "count"}], "notes": ""}
    good = next(r for r in scripted_ollama.rules if r.match == "## Task: WritePlan").replies[0]
    scripted_ollama.rules.insert(0, Rule("## Task: WritePlan", [json.dumps(bad), good]))
    assert run_eval(inputs, rejected, "--only", "mul") == 0
    [row] = evalscript.load_rows(rejected)
    assert row.success and row.llm_calls == 4
    assert (row.plans_rejected, row.reasks) == (1, 0) and row.action_calls["WritePlan"] == 2
    card = (rejected / "eval.md").read_text()
    assert "| 1 (1.00/req) | 0 |" in card
    capsys.readouterr()

    assert evalscript.main(["--compare", str(clean), str(rejected)]) == 0
    lines = capsys.readouterr().out.splitlines()
    before = next(x for x in lines if x.startswith("| qwen2.5 | default | before: clean |"))
    assert "| 1 | 100% (1/1) | 3.0 | 0.00 | 0.00 | 0.00 |" in before
    after = next(x for x in lines if x.startswith("| qwen2.5 | default | after: rejected |"))
    assert "| 1 | 100% (1/1) | 4.0 | 1.00 | 0.00 | 0.00 |" in after
    assert any(x.startswith("| qwen2.5 | default | change | +0 | +0 pp | +1.0 | +1.00 |")
               for x in lines)
    assert any(x.startswith("| model | SOP | eval | AnalyzeRequest | WritePlan |") for x in lines)

    assert evalscript.main(["--compare", str(clean), str(tmp_path / "nothing")]) == 2
    assert "holds no eval" in capsys.readouterr().err
