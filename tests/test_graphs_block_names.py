"""Block naming: every AutoGPT block id by class, module and needed service, in every refusal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from company.graphs.blocks.names import DATA_FILE, all_blocks, block_info, describe_block
from company.graphs.blocks.registry import BlockRegistry, default_registry
from company.graphs.cli import graphs_command
from company.graphs.config import GraphSettings
from company.graphs.errors import UnsupportedBlocksError
from company.graphs.model import parse_graph
from company.graphs.validation import check_graph, unsupported_labels

ROOT = Path(__file__).resolve().parents[1]
SHARED_IDS = ROOT.parent / "shared" / "autogpt" / "block_ids.json"

GMAIL_SEND = "6c27abc2-e51d-499e-a85f-5a0041ba94f0"
JINA_SEARCH = "87840993-2053-44b7-8da4-187ad4ee518c"
E2B_CODE = "0b02b072-abe7-11ef-8372-fb5d162dd712"
AIRTABLE = "42527e98-47b6-44ce-ac0e-86b4883721d3"
NOT_AUTOGPT = "00000000-0000-4000-8000-00000000beef"
INPUT = "7fcd3bcb-8e1b-4e69-903d-32d3d4a92158"  # AgentShortTextInputBlock
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"  # AgentOutputBlock
GMAIL_LABEL = "GmailSendBlock (google.gmail: needs a Google account)"
UNKNOWN_LABEL = f"unknown block {NOT_AUTOGPT} (not in AutoGPT's block list)"


def graph_data(extra_blocks: list[str], name: str = "Mailer") -> dict[str, Any]:
    """An input -> output graph plus one unlinked node per extra block id."""
    nodes = [
        {"id": "in000001", "block_id": INPUT, "input_default": {"name": "text"}},
        {"id": "out00001", "block_id": OUTPUT, "input_default": {"name": "result"}},
    ]
    nodes += [
        {"id": f"x{i:07d}", "block_id": block_id, "input_default": {}}
        for i, block_id in enumerate(extra_blocks)
    ]
    links = [
        {"source_id": "in000001", "sink_id": "out00001", "source_name": "result",
         "sink_name": "value"},
    ]  # fmt: skip
    return {"id": "g1", "version": 1, "name": name, "description": "d", "nodes": nodes,
            "links": links}  # fmt: skip


def test_the_packaged_block_list_is_autogpts_unchanged() -> None:
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    assert set(data) == {"source", "blocks"}
    assert len(data["blocks"]) == 467
    if SHARED_IDS.exists():
        assert DATA_FILE.read_bytes() == SHARED_IDS.read_bytes()
    for entry in data["blocks"].values():
        assert set(entry) == {"name", "module"} and entry["name"].endswith("Block")


@pytest.mark.parametrize(
    ("block_id", "name", "module", "service"),
    [
        (GMAIL_SEND, "GmailSendBlock", "google.gmail", "google"),
        (JINA_SEARCH, "SearchTheWebBlock", "jina.search", "jina"),
        (AIRTABLE, "AirtableCreateRecordsBlock", "airtable.records", "airtable"),
        (E2B_CODE, "ExecuteCodeBlock", "code_executor", "e2b"),
        ("ed1ae7a0-b770-4089-b520-1f0005fad19a", "AIImageGeneratorBlock",
         "ai_image_generator_block", "replicate"),
        ("f47ac10b-58cc-4372-a567-0e02b2c3d479", "GoogleMapsSearchBlock", "google_maps",
         "google_maps"),
        ("3b191d9f-356f-482d-8238-ba04b6d18381", "SmartDecisionMakerBlock",
         "smart_decision_maker", "llm"),
        ("1f292d4a-41a4-4977-9684-7c8d560b9f91", "AITextGeneratorBlock", "llm", "llm"),
        ("1ff065e9-88e8-4358-9d82-8dc91f622ba9", "StoreValueBlock", "basic", None),
        ("db7d8f02-2f44-4c55-ab7a-eae0941f0c30", "FillTextTemplateBlock", "text", None),
        ("d67a9c52-5e4e-11e2-bcfd-0800200c9a71", "CountdownTimerBlock", "time_blocks", None),
        ("f7a8b2c3-6d4e-5f8b-9e7f-6d4e5f8b9e7f", "GetWeatherInformationBlock", "search",
         "openweathermap"),
        ("c0a8e994-ebf1-4a9c-a4d8-89d09c86741b", "AgentInputBlock", "io", None),
    ],
)  # fmt: skip
def test_block_info_names_class_module_and_service(
    block_id: str, name: str, module: str, service: str | None
) -> None:
    info = block_info(block_id)
    assert info is not None
    assert (info.name, info.module, info.service) == (name, module, service)
    assert info.general is (service is None)


def test_labels_say_what_a_block_needs() -> None:
    assert describe_block(GMAIL_SEND) == GMAIL_LABEL
    assert describe_block(JINA_SEARCH) == "SearchTheWebBlock (jina.search: needs a Jina AI API key)"
    assert describe_block(AIRTABLE).endswith("(airtable.records: needs an Airtable account)")
    wiki = next(i for i in all_blocks().values() if i.name == "GetWikipediaSummaryBlock")
    assert wiki.label() == "GetWikipediaSummaryBlock (search: general-purpose, no account needed)"
    assert block_info(NOT_AUTOGPT) is None
    assert describe_block(NOT_AUTOGPT) == UNKNOWN_LABEL


def test_every_block_we_run_has_autogpts_id_and_class_name() -> None:
    for block in default_registry().blocks():
        info = block_info(block.id)
        assert info is not None, f"{block.name} has an id AutoGPT does not: {block.id}"
        assert info.name == block.name


def test_registry_names_blocks_it_does_not_run() -> None:
    registry = default_registry()
    assert GMAIL_SEND not in registry
    assert registry.name_of(GMAIL_SEND) == "GmailSendBlock"
    assert registry.describe(GMAIL_SEND) == GMAIL_LABEL
    assert registry.name_of(NOT_AUTOGPT) is None
    assert registry.describe(NOT_AUTOGPT) == UNKNOWN_LABEL
    assert registry.name_of(AIRTABLE) == "AirtableCreateRecordsBlock"
    assert len(all_blocks()) >= 467


def test_refusal_names_each_block_its_module_and_service() -> None:
    graph = parse_graph(graph_data([GMAIL_SEND, NOT_AUTOGPT, GMAIL_SEND]))
    with pytest.raises(UnsupportedBlocksError) as info:
        check_graph(graph, default_registry())
    err = info.value
    assert err.blocks == {GMAIL_SEND: "GmailSendBlock", NOT_AUTOGPT: None}
    assert err.nodes == {GMAIL_SEND: ["x0000000", "x0000002"], NOT_AUTOGPT: ["x0000001"]}
    message = str(err)
    assert message.startswith("graph 'Mailer' uses 2 unsupported block(s): ")
    assert (
        f"GmailSendBlock ({GMAIL_SEND}, google.gmail: needs a Google account; "
        "used by node x0000000, x0000002)"
    ) in message
    assert f"{UNKNOWN_LABEL[:-1]}; used by node x0000001)" in message
    assert f"unknown block {GMAIL_SEND}" not in message
    assert err.labels() == [GMAIL_LABEL, UNKNOWN_LABEL]
    assert unsupported_labels(graph, default_registry()) == [GMAIL_LABEL, UNKNOWN_LABEL]


def test_a_block_only_a_custom_registry_lacks_is_still_named() -> None:
    graph = parse_graph(graph_data([]))
    with pytest.raises(UnsupportedBlocksError) as info:
        check_graph(graph, BlockRegistry())
    assert "AgentShortTextInputBlock (io: general-purpose, no account needed)" in (
        info.value.labels()
    )
    assert f"AgentOutputBlock ({OUTPUT}, io: general-purpose" in str(info.value)


async def test_graphs_show_names_unsupported_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mailer.json"
    path.write_text(json.dumps(graph_data([GMAIL_SEND, NOT_AUTOGPT])), encoding="utf-8")
    assert await graphs_command(["show", str(path)], settings=GraphSettings()) == 0
    out = capsys.readouterr().out
    assert GMAIL_LABEL in out
    assert f"Runs: nowhere (these blocks do not run here: {GMAIL_LABEL}, unknown block" in out
    assert "not in AutoGPT's block list" in out
    assert f"unknown block {GMAIL_SEND}" not in out


async def test_graphs_list_names_unsupported_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mailer.json").write_text(json.dumps(graph_data([GMAIL_SEND])), encoding="utf-8")
    (tmp_path / "echo.json").write_text(json.dumps(graph_data([], "Echo")), encoding="utf-8")
    assert await graphs_command(["--dir", str(tmp_path), "list"], settings=GraphSettings()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "runs" in "\n".join(lines)
    mailer = next(line for line in lines if "mailer" in line)
    echo = next(line for line in lines if "echo" in line)
    assert GMAIL_LABEL in mailer and "refused" in mailer
    assert "Block" not in echo and "local" in echo


def test_census_script_tables_agents_and_missing_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import agent_census
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    (tmp_path / "a.json").write_text(json.dumps(graph_data([GMAIL_SEND], "A")), encoding="utf-8")
    (tmp_path / "b.json").write_text(
        json.dumps(graph_data([GMAIL_SEND, AIRTABLE], "B")), encoding="utf-8"
    )
    (tmp_path / "c.json").write_text(json.dumps(graph_data([], "C")), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    assert agent_census.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"| A | 3 | yes | no | {GMAIL_LABEL} |" in out
    assert "| C | 2 | yes | yes | - |" in out
    assert "| broken.json | 0 | no | no (load: " in out
    assert "| **total: 4 agents** | 9 | 3 | 1 | |" in out
    assert f"| {GMAIL_LABEL} | 2 |" in out
    assert "| AirtableCreateRecordsBlock (airtable.records: needs an Airtable account) | 1 |" in out
