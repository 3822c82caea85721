"""More block regressions: behaviours found to differ from AutoGPT's blocks."""

from __future__ import annotations

from typing import Any

import pytest

from company.graphs.blocks import data, llm
from company.graphs.blocks.base import Block, BlockContext
from company.graphs.config import GraphSettings
from company.graphs.errors import BlockTimeoutError, LimitError
from company.graphs.model import Graph
from company.graphs.safe_http import SafeHttpClient
from tests.fakes.graph_llm import ScriptedLLM


def make_ctx(fake: Any) -> BlockContext:
    return BlockContext(settings=GraphSettings(), llm=fake, http=SafeHttpClient(),
                        graph=Graph(nodes=[]), node_id="n", node_exec_id="e")


async def run_block(cls: type[Block], ctx: BlockContext, **inputs: Any) -> dict[str, Any]:
    block = cls()
    return dict([pair async for pair in block.run(block.validate_input(inputs), ctx)])


async def test_structured_response_with_an_empty_prompt_sends_the_history_only() -> None:
    # AutoGPT adds the user turn only for a non-empty prompt (the conversation carries it)
    fake = ScriptedLLM('{"answer": "42"}', "plain")
    history = [{"role": "user", "content": "What is six times seven?"}]
    out = await run_block(
        llm.AIStructuredResponseGeneratorBlock, make_ctx(fake), prompt="",
        expected_format={"answer": "the number"}, conversation_history=history,
    )
    assert out["response"] == {"answer": "42"}
    sent = fake.calls[0]["messages"]
    assert sent[0] == history[0]
    assert [m["role"] for m in sent] == ["user", "system"]  # no empty user turn at the end
    out = await run_block(
        llm.AIStructuredResponseGeneratorBlock, make_ctx(fake), prompt="", expected_format={},
        conversation_history=history,
    )
    assert out["response"] == {"response": "plain"}
    assert fake.calls[1]["messages"] == history


# XMLParserBlock: AutoGPT v0.6.44's shapes and messages (gravitasml tokens + a single-root check)


async def parse_xml_block(document: str, **settings: Any) -> Any:
    ctx = BlockContext(settings=GraphSettings(**settings), llm=None, http=SafeHttpClient(),
                       graph=Graph(nodes=[]), node_id="n", node_exec_id="e")
    return (await run_block(data.XMLParserBlock, ctx, input_xml=document))["parsed_xml"]


async def test_xml_repeated_siblings_become_a_list_of_one_key_dicts() -> None:
    assert await parse_xml_block("<r><a>1</a><a>2</a></r>") == {"r": [{"a": "1"}, {"a": "2"}]}
    assert await parse_xml_block("<r><a>1</a><b>2</b><a>3</a></r>") == {
        "r": [{"a": "1"}, {"b": "2"}, {"a": "3"}]
    }
    assert await parse_xml_block("<r><a>1</a><b><c>2</c></b></r>") == {
        "r": {"a": "1", "b": {"c": "2"}}
    }
    assert await parse_xml_block("<r><a></a></r>") == {"r": {"a": ""}}


async def test_xml_tag_names_are_lower_cased_with_spaces_as_underscores() -> None:
    assert await parse_xml_block("<My Root><Child  Name>v</CHILD NAME></my root>") == {
        "my_root": {"child_name": "v"}
    }
    # attributes are part of the name, so the closing tag must repeat them
    assert await parse_xml_block('<a X="1">t</a x="1">') == {'a_x="1"': "t"}
    with pytest.raises(SyntaxError, match='Error in input xml syntax: Mismatched tags: a_x="1"'):
        await parse_xml_block('<a x="1">t</a>')


async def test_xml_text_is_kept_as_written_trimmed_and_dropped_beside_children() -> None:
    assert await parse_xml_block("<r>fish & chips &amp; peas &lt;3</r>") == {
        "r": "fish & chips &amp; peas &lt;3"
    }
    assert await parse_xml_block("<r>  a <!-- note --> b\\n </r>") == {"r": "ab\\n"}
    assert await parse_xml_block("<r>\\q</r>") == {"r": ""}  # a leading `\x` is an escape token
    assert await parse_xml_block("<r>lost<a>1</a></r>") == {"r": {"a": "1"}}


async def test_xml_needs_exactly_one_root_element() -> None:
    cases = [
        ("<a>1</a><b>2</b>", ValueError, "XML must have a single root element."),
        ("<a>1</a>tail", ValueError, "XML contains text outside the root element; wrap"),
        ("   ", ValueError, "XML input is empty."),
        ("</a>", SyntaxError, "Unexpected closing tag in XML input."),
        ('<?xml version="1.0"?><r>1</r>', SyntaxError, "Unclosed tag detected in XML input."),
    ]
    for document, error, message in cases:
        prefix = "Validation error for dict:" if error is ValueError else "Error in input xml "
        with pytest.raises(error) as raised:
            await parse_xml_block(document)
        assert str(raised.value).startswith(prefix) and message in str(raised.value), document


async def test_xml_input_size_limits() -> None:
    with pytest.raises(LimitError, match="max_value_bytes"):
        await parse_xml_block("<r>" + "é" * 600 + "</r>", max_value_bytes=1024)  # 1,207 bytes
    assert await parse_xml_block("<r>" + "e" * 1000 + "</r>", max_value_bytes=1024)
    huge = "<r>" + "x" * (10 * 1024 * 1024 - 6) + "</r>"
    with pytest.raises(ValueError, match="^XML too large: 10485761 bytes > 10485760 bytes$"):
        await parse_xml_block(huge, max_value_bytes=64 * 1024 * 1024)


async def test_xml_entity_bombs_are_never_expanded() -> None:
    entities = "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    bomb = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
    with pytest.raises(SyntaxError, match="Unclosed tag detected"):
        await parse_xml_block(bomb + "<lolz>&lol9;</lolz>")
    assert await parse_xml_block("<lolz>&lol9;&lol9;</lolz>") == {"lolz": "&lol9;&lol9;"}


async def test_xml_inputs_that_make_a_backtracking_tokenizer_hang_parse_quickly() -> None:
    # gravitasml's regex needs minutes for "<" + 4,000 spaces; these are scanned in one pass
    with pytest.raises(ValueError, match="XML input is empty"):
        await parse_xml_block("<" + " " * 1_000_000)
    assert await parse_xml_block("<r>" + "<" * 1_000_000 + "</r>") == {"r": ""}


async def test_xml_nesting_and_cpu_time_are_bounded() -> None:
    assert await parse_xml_block("<a>" * 100 + "</a>" * 100)
    with pytest.raises(LimitError, match="nested too deeply"):
        await parse_xml_block("<a>" * 101 + "</a>" * 101)
    with pytest.raises(BlockTimeoutError, match="XML parsing timed out"):
        await parse_xml_block("<r>x</r>", block_cpu_timeout_s=1e-9)
