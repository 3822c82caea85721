"""scripts/agent_census.py --run on two fixture graphs: a local one (search + LLM) completes
against the stand-ins; a Gmail one dispatches to the AutoGPT stand-in and completes there, and
is refused, with the hint, when no remote is configured."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from company.graphs.blocks.registry import default_registry
from company.graphs.dispatch import REMOTE_HINT

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "graphs"
LOCAL = FIXTURES / "census_local_search.json"
GMAIL = FIXTURES / "census_gmail_send.json"
GMAIL_LABEL = "GmailSendBlock (google.gmail: needs a Google account)"


def load_census() -> ModuleType:
    """scripts/agent_census.py as a module."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import agent_census
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return agent_census


census = load_census()


async def test_local_graph_completes_and_gmail_graph_completes_on_the_stand_in() -> None:
    from scripts.census_standins import (
        SAMPLE_EMAIL,
        CensusLLM,
        RemoteStandIn,
        StandInWeb,
        instant_countdowns,
    )

    registry = default_registry()
    llm = CensusLLM()
    with StandInWeb() as web, instant_countdowns(), RemoteStandIn() as server:
        settings = census.census_settings(server.base_url, server.state.api_key)
        local = await census.run_one(LOCAL, registry, settings, web.port, llm, server)
        gmail = await census.run_one(GMAIL, registry, settings, web.port, llm, server)

    assert (local.placement, local.result, local.ok, local.detail) == (
        "local", "COMPLETED", True, ""
    )
    # the search went to the SearXNG stand-in; its results reached the output and the LLM
    assert any("/search?q=practical+automation" in hit for hit in web.seen)
    assert "Example Studio - contact" in local.outputs["results"][0]
    assert "Example Studio - contact" in llm.calls[0]["messages"][-1]["content"]
    # the LLM stand-in answered in the tags the prompt asked for; the regex node took it out
    assert local.outputs["summary"][0].startswith("Sample summary: ")

    assert (gmail.placement, gmail.result, gmail.ok) == ("remote", "COMPLETED", True)
    assert gmail.census.unsupported == ["6c27abc2-e51d-499e-a85f-5a0041ba94f0"]
    assert server.state.submissions == 1
    assert server.state.bodies == [{"node_input": {"recipient": SAMPLE_EMAIL}}]
    assert ("c0a1b2c3-0000-4000-8000-000000000002", 3) in (server.state.graphs or set())
    assert gmail.outputs == {"result": ["done"]}


async def test_without_a_remote_the_gmail_graph_is_refused_with_the_hint() -> None:
    rows = await census.run_census([LOCAL, GMAIL], remote=False)
    local, gmail = rows
    assert local.ok and local.placement == "local"
    assert (gmail.placement, gmail.result, gmail.ok) == ("refused", "refused", False)
    assert REMOTE_HINT in gmail.detail and "GmailSendBlock" in gmail.detail


def test_run_table_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert census.main(["--run", "--no-remote", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "| Census fixture: search and summarise | 6 | local | COMPLETED | - |" in out
    assert (
        f"| Census fixture: send an email | 3 | refused | refused | {GMAIL_LABEL}; {REMOTE_HINT} |"
        in out
    )
    assert "- placed local: 1; ran locally to COMPLETED with no FAILED node: 1" in out
    assert "- refused: 1" in out
    assert f"| {GMAIL_LABEL} | 1 |" in out


async def test_a_failing_node_is_named_with_its_error(tmp_path: Path) -> None:
    broken = LOCAL.read_text(encoding="utf-8").replace(
        '"pattern": "<summary>(.*?)</summary>"', '"pattern": "(unclosed"'
    )
    path = tmp_path / "broken.json"
    path.write_text(broken, encoding="utf-8")
    (row,) = await census.run_census([path], remote=False)
    assert row.placement == "local" and not row.ok
    assert row.result == "COMPLETED with FAILED nodes"
    assert row.detail.startswith("ExtractTextInformationBlock (c0a10000): ")
