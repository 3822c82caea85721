"""Blocks run directly: text, lists, dicts, logic, data, web (SSRF guard) and LLM blocks."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import company.graphs.blocks as blocks_package
from company.graphs.blocks import clock, data, dicts, lists, llm, logic, text, web
from company.graphs.blocks.base import Block, BlockContext
from company.graphs.blocks.registry import default_registry
from company.graphs.config import GraphSettings
from company.graphs.errors import InputValidationError
from company.graphs.llm_port import resolve_model
from company.graphs.model import Graph
from company.graphs.safe_http import (
    BlockedAddressError,
    ResponseTooLargeError,
    SafeHttpClient,
    is_forbidden_ip,
)
from company.graphs.templating import render_template
from tests.fakes.graph_llm import ScriptedLLM

BLOCKS_JSON = (
    Path(__file__).resolve().parents[1].parent / "shared" / "autogpt" / "blocks_basic.json"
)
BLOCK_IDS_JSON = Path(blocks_package.__file__).with_name("block_ids.json")


@pytest.fixture
async def http_client() -> AsyncIterator[SafeHttpClient]:
    async with SafeHttpClient() as client:
        yield client


def make_ctx(http: SafeHttpClient, *, llm: Any = None, **settings: Any) -> BlockContext:
    return BlockContext(
        settings=GraphSettings(**settings),
        llm=llm,
        http=http,
        graph=Graph(nodes=[]),
        node_id="n",
        node_exec_id="e",
    )


async def run_block(cls: type[Block], ctx: BlockContext, **inputs: Any) -> list[tuple[str, Any]]:
    block = cls()
    return [pair async for pair in block.run(block.validate_input(inputs), ctx)]


# ----- registry -----


def test_registry_uses_autogpt_block_ids_and_pins() -> None:
    reference = {b["id"]: b for b in json.loads(BLOCKS_JSON.read_text())}
    names = json.loads(BLOCK_IDS_JSON.read_text())["blocks"]
    registry = default_registry()
    assert {b["class"] for b in reference.values()} <= {b.name for b in registry.blocks()}
    for block in registry.blocks():
        assert block.id in reference or names[block.id]["name"] == block.name, block.name
        spec = reference.get(block.id)
        if spec is None:  # not a basic block: its pins are checked in its own tests
            continue
        assert spec["class"] == block.name
        assert set(spec["inputs"]) <= set(block.Input.model_fields), block.name
        assert set(spec["outputs"]) - {"error"} <= set(block.Output.model_fields), block.name


# ----- text -----


async def test_text_blocks(http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client)
    assert await run_block(
        text.FillTextTemplateBlock,
        ctx,
        values={"n": "Ada"},
        format="Hi {{ n }}{% for i in [1,2] %}!{% endfor %}",
    ) == [("output", "Hi Ada!!")]
    assert await run_block(text.CombineTextsBlock, ctx, input=["a", 1], delimiter="-") == [
        ("output", "a-1")
    ]
    assert await run_block(text.TextReplaceBlock, ctx, text="a.b.c", old=".", new="/") == [
        ("output", "a/b/c")
    ]
    assert await run_block(text.TextSplitBlock, ctx, text="a, b ,c", delimiter=",") == [
        ("texts", ["a", "b", "c"])
    ]
    assert await run_block(text.TextSplitBlock, ctx, text="", delimiter=",") == [("texts", [])]
    assert await run_block(
        text.MatchTextPatternBlock, ctx, text="ABC", match="ab", data="X", case_sensitive=False
    ) == [("positive", "X")]
    assert await run_block(
        text.MatchTextPatternBlock, ctx, text={"k": 1}, match="zz", data=None
    ) == [("negative", {"k": 1})]
    assert await run_block(
        text.ExtractTextInformationBlock,
        ctx,
        text="Hello, World!! Hello, Earth!!",
        pattern=r"Hello, (\S+)",
        group=1,
        find_all=True,
    ) == [
        ("positive", "World!!"),
        ("positive", "Earth!!"),
        ("matched_results", ["World!!", "Earth!!"]),
        ("matched_count", 2),
    ]
    assert await run_block(
        text.ExtractTextInformationBlock, ctx, text="nothing", pattern="(x)", group=1
    ) == [("negative", "nothing"), ("matched_results", []), ("matched_count", 0)]
    assert await run_block(text.WordCharacterCountBlock, ctx, text="Hello, how are you?") == [
        ("word_count", 4),
        ("character_count", 19),
    ]
    extracted = dict(
        await run_block(
            text.CodeExtractionBlock,
            ctx,
            text="Intro\n```python\nprint(1)\n```\nmid\n```js\nlet a\n```\n```json\n{}\n```",
        )
    )
    assert extracted == {
        "python": "print(1)",
        "javascript": "let a",
        "json_code": "{}",
        "remaining_text": "Intro\nmid",
    }


def test_templates_are_sandboxed() -> None:
    assert render_template("{{ x | upper }}", {"x": "a"}) == "A"
    with pytest.raises(Exception, match="unsafe|not safely|undefined|attribute"):
        render_template("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(Exception, match="size limit"):
        render_template("{{ 'a' * 100000000 }}", {})
    assert render_template("{{ v }}", {"v": "<b>"}, autoescape=True) == "&lt;b&gt;"


# ----- lists and dicts -----


async def test_list_blocks(http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client)
    assert await run_block(lists.CreateListBlock, ctx, values=[1, 2, 3], max_size=2) == [
        ("list", [1, 2]),
        ("list", [3]),
    ]
    assert await run_block(
        lists.AddToListBlock, ctx, list=["a", "b"], entry="e", entries=["f", "g"], position=1
    ) == [("updated_list", ["a", "f", "g", "e", "b"])]
    assert await run_block(lists.GetListItemBlock, ctx, list=[1, 2, 3], index=-1) == [("item", 3)]
    assert await run_block(lists.FindInListBlock, ctx, list=[1, 2, 3], value=3) == [
        ("index", 2),
        ("found", True),
    ]
    assert await run_block(lists.FindInListBlock, ctx, list=[1], value=6) == [
        ("found", False),
        ("not_found_value", 6),
    ]
    assert await run_block(
        lists.RemoveFromListBlock, ctx, list=[1, 2, 3], index=1, return_item=True
    ) == [("updated_list", [1, 3]), ("removed_item", 2)]
    assert await run_block(lists.RemoveFromListBlock, ctx, list=[1], value=9) == [
        ("error", "Index or value not found")
    ]
    assert await run_block(lists.ListIsEmptyBlock, ctx, list=[]) == [("is_empty", True)]
    assert await run_block(lists.ReverseListOrderBlock, ctx, input_list=[1, 2]) == [
        ("reversed_list", [2, 1])
    ]
    assert await run_block(lists.ConcatenateListsBlock, ctx, lists=[[1], None, [2, 3]]) == [
        ("concatenated_list", [1, 2, 3])
    ]
    assert await run_block(lists.StepThroughItemsBlock, ctx, items_object={"a": 1, "b": 2}) == [
        ("item", 1),
        ("key", "a"),
        ("item", 2),
        ("key", "b"),
    ]
    assert await run_block(lists.StepThroughItemsBlock, ctx, items_str="[7]") == [
        ("item", 7),
        ("key", 0),
    ]
    with pytest.raises(ValueError, match="Too many items"):
        await run_block(lists.StepThroughItemsBlock, ctx, items=list(range(10_001)))


async def test_dict_blocks(http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client)
    assert await run_block(dicts.CreateDictionaryBlock, ctx, values={"a": 1}) == [
        ("dictionary", {"a": 1})
    ]
    assert await run_block(
        dicts.AddToDictionaryBlock, ctx, dictionary={"x": 1}, key="y", value=2, entries={"z": 3}
    ) == [("updated_dictionary", {"x": 1, "y": 2, "z": 3})]
    find = dicts.FindInDictionaryBlock
    assert await run_block(find, ctx, input={"apple": 1}, key="apple") == [("output", 1)]
    assert await run_block(find, ctx, input='{"apple": 1}', key="apple") == [("output", 1)]
    assert await run_block(find, ctx, input=[1, 2, 3], key=1) == [("output", 2)]
    assert await run_block(find, ctx, input=[{"k": 1}, {"k": 2}], key="k") == [("output", [1, 2])]
    assert await run_block(find, ctx, input={"x": 1}, key="w") == [("missing", {"x": 1})]
    assert await run_block(find, ctx, input="text", key="__class__") == [("missing", "text")]
    assert await run_block(dicts.DictionaryIsEmptyBlock, ctx, dictionary={}) == [("is_empty", True)]


# ----- logic and data -----


async def test_logic_blocks(http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client)
    calc = logic.CalculatorBlock
    assert await run_block(calc, ctx, operation="Power", a=2, b=10) == [("result", 1024.0)]
    assert await run_block(calc, ctx, operation="Divide", a=1, b=0) == [("result", float("inf"))]
    assert await run_block(calc, ctx, operation="Divide", a=7, b=2, round_result=True) == [
        ("result", 4)
    ]
    with pytest.raises(InputValidationError, match="operation"):
        logic.CalculatorBlock().validate_input({"operation": "Modulo", "a": 1, "b": 2})
    assert await run_block(logic.CountItemsBlock, ctx, collection="hello") == [("count", 5)]
    assert await run_block(logic.CountItemsBlock, ctx, collection=5) == [("count", -1)]
    cond = logic.ConditionBlock
    assert await run_block(cond, ctx, value1="10", operator=">", value2=5, yes_value="big") == [
        ("result", True),
        ("yes_output", "big"),
    ]
    assert await run_block(cond, ctx, value1="apple", operator="==", value2="apple") == [
        ("result", True),
        ("yes_output", "apple"),
    ]
    assert await run_block(cond, ctx, value1=3, operator="!=", value2="3") == [
        ("result", False),
        ("no_output", 3),
    ]
    match = logic.IfInputMatchesBlock
    assert await run_block(match, ctx, input=10, value="10", yes_value="y") == [
        ("result", True),
        ("yes_output", "y"),
    ]
    assert await run_block(match, ctx, input=10, value=20, no_value="n") == [
        ("result", False),
        ("no_output", "n"),
    ]


async def test_data_blocks(http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client)
    assert await run_block(data.StoreValueBlock, ctx, input="trigger", data="kept") == [
        ("output", "kept")
    ]
    convert = data.UniversalTypeConverterBlock
    assert await run_block(convert, ctx, value="3.5", type="number") == [("value", 3.5)]
    assert await run_block(convert, ctx, value='{"a": 1}', type="dictionary") == [
        ("value", {"a": 1})
    ]
    assert await run_block(convert, ctx, value="x", type="number") == [
        ("error", "Failed to convert value: cannot convert 'x' to a number")
    ]
    # AutoGPT's shapes (gravitasml): repeated tags make a list of one-key dicts
    parsed = await run_block(
        data.XMLParserBlock, ctx, input_xml="<a><b>one</b><b>two</b><c>t</c></a>"
    )
    assert parsed == [("parsed_xml", {"a": [{"b": "one"}, {"b": "two"}, {"c": "t"}]})]
    parsed = await run_block(data.XMLParserBlock, ctx, input_xml="<a><b>one</b><c>t</c></a>")
    assert parsed == [("parsed_xml", {"a": {"b": "one", "c": "t"}})]
    bomb = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>'
    with pytest.raises(SyntaxError, match="Unclosed tag"):  # no entity is ever expanded
        await run_block(data.XMLParserBlock, ctx, input_xml=bomb)
    with pytest.raises(SyntaxError, match="Error in input xml syntax: Mismatched tags: b and a"):
        await run_block(data.XMLParserBlock, ctx, input_xml="<a><b></a></b>")
    with pytest.raises(SyntaxError, match="Error in input xml syntax: Unclosed tag detected"):
        await run_block(data.XMLParserBlock, ctx, input_xml="<a><b></a>")
    today = datetime.now(UTC).date()
    ((_, date),) = await run_block(clock.GetCurrentDateBlock, ctx, trigger="go", offset="0")
    assert date == today.isoformat()
    ((_, date),) = await run_block(
        clock.GetCurrentDateBlock,
        ctx,
        trigger=1,
        format_type={"discriminator": "strftime", "format": "%Y/%m/%d", "timezone": "UTC"},
    )
    assert date == today.strftime("%Y/%m/%d")
    ((_, now),) = await run_block(
        clock.GetCurrentTimeBlock, ctx, trigger="go", format_type={"discriminator": "iso8601"}
    )
    assert now.startswith("T") and now.endswith("+00:00")
    with pytest.raises(ValueError, match="unknown timezone"):
        await run_block(
            clock.GetCurrentTimeBlock,
            ctx,
            trigger="go",
            format_type={"discriminator": "strftime", "timezone": "Mars/Olympus"},
        )


# ----- web: SSRF guard, size limit, loopback server -----


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path == "/json":
            self._send(200, b'{"ok": true}', "application/json")
        elif self.path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif self.path == "/missing":
            self._send(404, b'{"detail": "nope"}', "application/json")
        elif self.path == "/boom":
            self._send(500, b"broken", "text/plain")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()  # no Content-Length: read until close
            for _ in range(64):
                self.wfile.write(b"x" * 1024)
            self.close_connection = True
        elif self.path.startswith("/api/rest_v1/page/summary/"):
            topic = self.path.rsplit("/", 1)[1]
            if topic == "Alan%20Turing":
                self._send(
                    200,
                    json.dumps({"extract": "Alan Turing was a mathematician."}).encode(),
                    "application/json",
                )
            else:
                self._send(404, b'{"title": "Not found."}', "application/problem+json")
        else:
            self._send(404, b"", "text/plain")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        echo = {"content_type": self.headers.get("Content-Type"), "body": body.decode()}
        self._send(201, json.dumps(echo).encode(), "application/json")


@pytest.fixture(scope="module")
def loopback_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/x",
        "http://[::1]:8080/",
        "http://localhost/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
    ],
)
async def test_web_request_refuses_private_addresses(url: str, http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client)
    with pytest.raises(BlockedAddressError, match="refused to fetch"):
        await run_block(web.SendWebRequestBlock, ctx, url=url, method="GET")


def test_forbidden_ip_rules() -> None:
    import ipaddress

    assert not is_forbidden_ip(ipaddress.ip_address("93.184.216.34"))
    assert not is_forbidden_ip(ipaddress.ip_address("2606:4700::1111"))
    for bad in ("100.64.0.1", "192.168.1.1", "172.16.0.1", "240.0.0.1", "fe80::1", "fc00::1"):
        assert is_forbidden_ip(ipaddress.ip_address(bad)), bad


async def test_public_address_is_pinned_with_host_header_and_sni(
    http_client: SafeHttpClient,
) -> None:
    import httpx

    target, headers, extensions = await http_client._target(
        httpx.URL("https://93.184.216.34:8443/p")
    )
    assert str(target) == "https://93.184.216.34:8443/p"
    assert headers == {"Host": "93.184.216.34:8443"}
    assert extensions == {"sni_hostname": "93.184.216.34"}


async def test_non_http_schemes_are_refused(http_client: SafeHttpClient) -> None:
    with pytest.raises(ValueError, match="only http and https"):
        await http_client.request("GET", "file:///etc/passwd")


async def test_web_request_with_private_network_allowed(loopback_url: str) -> None:
    async with SafeHttpClient(allow_private_network=True) as client:
        ctx = make_ctx(client)
        block = web.SendWebRequestBlock
        assert await run_block(block, ctx, url=f"{loopback_url}/json", method="GET") == [
            ("response", {"ok": True})
        ]
        assert await run_block(block, ctx, url=f"{loopback_url}/text", method="GET") == [
            ("response", "héllo")
        ]
        assert await run_block(block, ctx, url=f"{loopback_url}/redirect", method="GET") == [
            ("response", {"ok": True})
        ]
        assert await run_block(block, ctx, url=f"{loopback_url}/missing", method="GET") == [
            ("client_error", {"detail": "nope"})
        ]
        assert await run_block(block, ctx, url=f"{loopback_url}/boom", method="GET") == [
            ("server_error", "broken")
        ]
        ((pin, echo),) = await run_block(block, ctx, url=f"{loopback_url}/echo", body={"a": 1})
        assert pin == "response" and echo["content_type"] == "application/json"
        assert json.loads(echo["body"]) == {"a": 1}
        ((_, form),) = await run_block(
            block, ctx, url=f"{loopback_url}/echo", body={"a": "1"}, json_format=False
        )
        assert form["body"] == "a=1"
        ((_, upload),) = await run_block(
            block,
            ctx,
            url=f"{loopback_url}/echo",
            json_format=False,
            files=["data:text/plain;base64,aGk="],
        )
        assert upload["content_type"].startswith("multipart/form-data")
        assert 'name="file"' in upload["body"] and "hi" in upload["body"]
        with pytest.raises(ValueError, match="local paths are not allowed"):
            await run_block(
                block, ctx, url=f"{loopback_url}/echo", json_format=False, files=["/etc/passwd"]
            )


async def test_response_size_limit(loopback_url: str) -> None:
    async with SafeHttpClient(allow_private_network=True, max_bytes=10_000) as client:
        with pytest.raises(ResponseTooLargeError, match="10000-byte limit"):
            await client.request("GET", f"{loopback_url}/big-chunked")
    async with SafeHttpClient(allow_private_network=True, max_bytes=5) as client:
        with pytest.raises(ResponseTooLargeError, match="is 12 bytes"):
            await client.request("GET", f"{loopback_url}/json")


async def test_wikipedia_block_uses_configured_base_url(loopback_url: str) -> None:
    async with SafeHttpClient(allow_private_network=True) as client:
        ctx = make_ctx(client, wikipedia_base_url=loopback_url, allow_private_network=True)
        assert await run_block(web.GetWikipediaSummaryBlock, ctx, topic="Alan Turing") == [
            ("summary", "Alan Turing was a mathematician.")
        ]
        assert await run_block(web.GetWikipediaSummaryBlock, ctx, topic="Nobody") == [
            ("error", "HTTP error 404 from Wikipedia for 'Nobody'")
        ]


# ----- LLM blocks -----


def test_model_names_map_to_configured_models() -> None:
    table = {"gpt-4o": "qwen2.5:7b", "default": "llama3.2:3b"}
    assert resolve_model("gpt-4o", table) == "qwen2.5:7b"
    assert resolve_model("claude-sonnet-4-5-20250929", table) == "llama3.2:3b"
    assert resolve_model("llama3.2:3b", {}) == "llama3.2:3b"
    assert resolve_model("hf.co/org/model:Q4_K_M", {}) == "hf.co/org/model:Q4_K_M"
    assert resolve_model("llama3.2", {"default": "x"}) == "llama3.2"  # AutoGPT's Ollama model
    assert resolve_model("o3-mini", {"default": ""}) is None  # the LLM layer's own default


async def test_text_generator_fills_prompt_values(http_client: SafeHttpClient) -> None:
    fake = ScriptedLLM("Paris")
    ctx = make_ctx(http_client, llm=fake, model_map={"default": "m1"})
    out = await run_block(
        llm.AITextGeneratorBlock,
        ctx,
        prompt="Capital of {{C}}?",
        sys_prompt="Be brief about {{C}}.",
        prompt_values={"C": "France"},
    )
    messages = [
        {"role": "system", "content": "Be brief about France."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert out == [("response", "Paris"), ("prompt", messages)]
    assert fake.calls[0]["model"] == "m1" and fake.calls[0]["json_schema"] is None


async def test_llm_block_without_llm_fails_clearly(http_client: SafeHttpClient) -> None:
    with pytest.raises(RuntimeError, match="no LLM is configured"):
        await run_block(llm.AITextGeneratorBlock, make_ctx(http_client), prompt="hi")


async def test_structured_response_retries_until_keys_match(http_client: SafeHttpClient) -> None:
    fake = ScriptedLLM(
        "not json", '{"city": "Paris"}', '```json\n{"city": "Paris", "country": "FR"}\n```'
    )
    ctx = make_ctx(http_client, llm=fake)
    out = dict(
        await run_block(
            llm.AIStructuredResponseGeneratorBlock,
            ctx,
            prompt="Where?",
            expected_format={"city": "city name", "country": "country code"},
        )
    )
    assert out["response"] == {"city": "Paris", "country": "FR"}
    assert len(fake.calls) == 3
    schema = fake.calls[0]["json_schema"]
    assert schema["required"] == ["city", "country"]
    feedback = fake.calls[2]["messages"][-1]["content"]
    assert "missing keys: country" in feedback
    fake = ScriptedLLM("nope", "nope")
    with pytest.raises(ValueError, match="did not match the expected format after 2 attempts"):
        await run_block(
            llm.AIStructuredResponseGeneratorBlock,
            make_ctx(http_client, llm=fake),
            prompt="x",
            expected_format={"a": "b"},
            retry=2,
        )


async def test_structured_response_list_result(http_client: SafeHttpClient) -> None:
    fake = ScriptedLLM('{"results": [{"n": "a"}, {"n": "b"}]}')
    out = dict(
        await run_block(
            llm.AIStructuredResponseGeneratorBlock,
            make_ctx(http_client, llm=fake),
            prompt="list",
            expected_format={"n": "name"},
            list_result=True,
        )
    )
    assert out["response"] == [{"n": "a"}, {"n": "b"}]
    assert fake.calls[0]["json_schema"]["properties"]["results"]["type"] == "array"


async def test_conversation_block(http_client: SafeHttpClient) -> None:
    fake = ScriptedLLM("In Texas.")
    history = [
        {"role": "user", "content": "Who won in 2020?"},
        {"role": "assistant", "content": "The Dodgers."},
    ]
    out = await run_block(
        llm.AIConversationBlock,
        make_ctx(http_client, llm=fake),
        messages=history,
        prompt="Where was it played?",
    )
    assert out[0] == ("response", "In Texas.")
    assert fake.calls[0]["messages"][-1] == {"role": "user", "content": "Where was it played?"}
    with pytest.raises(ValueError, match="no messages and no prompt"):
        await run_block(llm.AIConversationBlock, make_ctx(http_client, llm=fake), messages=[])


async def test_summarizer_summarises_chunks_then_combines(http_client: SafeHttpClient) -> None:
    fake = ScriptedLLM(
        '{"summary": "part one"}', '{"summary": "part two"}', '{"final_summary": "the whole"}'
    )
    ctx = make_ctx(http_client, llm=fake)
    out = dict(
        await run_block(
            llm.AITextSummarizerBlock,
            ctx,
            text="w " * 15,
            max_tokens=10,
            chunk_overlap=2,
            style="bullet points",
            focus="birds",
        )
    )
    assert out["summary"] == "the whole"
    first = fake.calls[0]["messages"][-1]["content"]
    assert "in a bullet points form" in first and "`birds`" in first
    assert "part one\n\npart two" in fake.calls[2]["messages"][-1]["content"]
    assert llm.split_words("a b c d e", 2, 1) == ["a b", "b c", "c d", "d e", "e"]


async def test_list_generator_yields_each_item(http_client: SafeHttpClient) -> None:
    fake = ScriptedLLM('{"list": ["Mars", "Venus"]}')
    out = await run_block(
        llm.AIListGeneratorBlock, make_ctx(http_client, llm=fake), focus="planets"
    )
    assert out[0] == ("generated_list", ["Mars", "Venus"])
    assert out[2:] == [("list_item", "Mars"), ("list_item", "Venus")]


async def test_ai_condition_block(http_client: SafeHttpClient) -> None:
    ctx = make_ctx(http_client, llm=ScriptedLLM("TRUE", "No.", "maybe"))
    block = llm.AIConditionBlock
    assert await run_block(block, ctx, input_value="a@b.c", condition="is an email") == [
        ("result", True),
        ("yes_output", "a@b.c"),
    ]
    assert await run_block(block, ctx, input_value="x", condition="c", no_value="nope") == [
        ("result", False),
        ("no_output", "nope"),
    ]
    assert await run_block(block, ctx, input_value="x", condition="c") == [
        ("error", "Unclear AI response: 'maybe'")
    ]
