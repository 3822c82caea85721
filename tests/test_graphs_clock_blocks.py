"""Clock blocks on a fixed clock: time, date and date-and-time formats, timezones, older pin
shapes, the countdown timer and its run deadline, and the current_date_time catalogue graph."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from company.graphs.blocks import clock
from company.graphs.blocks.base import Block, BlockContext
from company.graphs.blocks.registry import default_registry
from company.graphs.catalogue import Catalogue
from company.graphs.config import GraphSettings
from company.graphs.errors import InputValidationError, LimitError
from company.graphs.model import Graph, parse_graph
from company.graphs.results import ExecutionStatus
from company.graphs.runner import GraphRunner
from company.graphs.safe_http import SafeHttpClient

ROOT = Path(__file__).resolve().parents[1]
BLOCKS_JSON = ROOT.parent / "shared" / "autogpt" / "blocks_basic.json"
# Thursday 5 March 2026, 13:03:07.123456 UTC.
FIXED = datetime(2026, 3, 5, 13, 3, 7, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Freeze the clock at FIXED, make the local zone Tokyo, and record countdown sleeps."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(clock, "now", lambda: FIXED)
    monkeypatch.setattr(clock, "local_zone", lambda: ZoneInfo("Asia/Tokyo"))
    monkeypatch.setattr(clock, "sleep", fake_sleep)
    return slept


@pytest.fixture
async def ctx() -> AsyncIterator[BlockContext]:
    async with SafeHttpClient() as http:
        yield BlockContext(
            settings=GraphSettings(), llm=None, http=http, graph=Graph(nodes=[]),
            node_id="n", node_exec_id="e",
        )


async def run_block(cls: type[Block], ctx: BlockContext, **inputs: Any) -> list[tuple[str, Any]]:
    block = cls()
    return [pair async for pair in block.run(block.validate_input(inputs), ctx)]


async def one(cls: type[Block], ctx: BlockContext, **inputs: Any) -> Any:
    ((_, value),) = await run_block(cls, ctx, trigger="go", **inputs)
    return value


def strf(fmt: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"discriminator": "strftime", **extra}
    if fmt is not None:
        spec["format"] = fmt
    return spec


def iso(**extra: Any) -> dict[str, Any]:
    return {"discriminator": "iso8601", **extra}


# ----- registry and pins -----


def test_clock_blocks_are_registered_with_autogpt_ids_and_pins() -> None:
    registry = default_registry()
    reference = {b["id"]: b for b in json.loads(BLOCKS_JSON.read_text())}
    for cls in clock.BLOCKS:
        assert type(registry.get(cls.id)) is cls
        if cls.id in reference:  # the basic list has the time and date blocks
            spec = reference[cls.id]
            assert spec["class"] == cls.__name__
            assert set(spec["inputs"]) <= set(cls.Input.model_fields)
            assert set(spec["outputs"]) - {"error"} <= set(cls.Output.model_fields)


# ----- time -----


async def test_current_time_formats_and_timezones(ctx: BlockContext) -> None:
    Time = clock.GetCurrentTimeBlock
    assert await one(Time, ctx) == "13:03:07"
    assert await one(Time, ctx, format_type=strf("%H:%M")) == "13:03"
    assert await one(Time, ctx, format_type=iso()) == "T13:03:07+00:00"
    assert await one(Time, ctx, format_type=iso(include_microseconds=True)) == (
        "T13:03:07.123456+00:00"
    )
    assert await one(Time, ctx, format_type=strf(timezone="Europe/Paris")) == "14:03:07"
    assert await one(Time, ctx, format_type=iso(timezone="Asia/Kolkata")) == "T18:33:07+05:30"
    # The user's timezone is this computer's; "local" and "" name it too.
    assert await one(Time, ctx, format_type=strf(use_user_timezone=True)) == "22:03:07"
    assert await one(Time, ctx, format_type=strf("%H:%M %Z", timezone="local")) == "22:03 JST"
    assert await one(Time, ctx, format_type=strf(timezone="")) == "22:03:07"
    # A place name resolves to its zone; an unknown name fails with a hint.
    assert await one(Time, ctx, format_type=strf(timezone="new york")) == "08:03:07"
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Olympus'.*Europe/Paris"):
        await one(Time, ctx, format_type=strf(timezone="Mars/Olympus"))
    with pytest.raises(InputValidationError, match="format_type"):
        await one(Time, ctx, format_type={"discriminator": "unix"})


async def test_older_pin_shapes_are_understood(ctx: BlockContext) -> None:
    Time, Date = clock.GetCurrentTimeBlock, clock.GetCurrentDateBlock
    # The pre-2025 top-level strftime `format` pin, unless `format_type` is set.
    assert await one(Time, ctx, format="%H") == "13"
    assert await one(Date, ctx, format="%m/%d/%Y") == "03/05/2026"
    assert await one(Date, ctx, format="%m/%d/%Y", format_type=iso()) == "2026-03-05"
    # Generated agents put templates there ("{{date}}"): not a strftime format, so ignored.
    assert await one(Date, ctx, format="{{date}}") == "2026-03-05"
    # A format saved without its discriminator is a strftime format.
    assert await one(Time, ctx, format_type={"format": "%M", "timezone": "UTC"}) == "03"


# ----- date and date-and-time -----


async def test_current_date_offset_counts_days_back(ctx: BlockContext) -> None:
    Date = clock.GetCurrentDateBlock
    assert await one(Date, ctx) == "2026-03-05"
    assert await one(Date, ctx, offset="7") == "2026-02-26"
    assert await one(Date, ctx, offset=-1, format_type=iso()) == "2026-03-06"
    assert await one(Date, ctx, offset="soon") == "2026-03-05"  # unreadable: no offset
    assert await one(Date, ctx, format_type=strf("%A, %d %B %Y")) == "Thursday, 05 March 2026"
    assert await one(Date, ctx, format_type=iso(timezone="Pacific/Kiritimati")) == "2026-03-06"
    with pytest.raises(ValueError, match="out of the calendar's range"):
        await one(Date, ctx, offset=10**9)


async def test_current_date_and_time(ctx: BlockContext) -> None:
    DateTime = clock.GetCurrentDateAndTimeBlock
    assert await one(DateTime, ctx) == "2026-03-05 13:03:07"
    assert await one(DateTime, ctx, format_type=strf("%Y/%m/%d")) == "2026/03/05"
    assert await one(DateTime, ctx, format_type=iso()) == "2026-03-05T13:03:07+00:00"
    assert await one(DateTime, ctx, format_type=iso(timezone="America/St_Johns")) == (
        "2026-03-05T09:33:07-03:30"
    )
    assert await one(DateTime, ctx, format="%d.%m.%Y %H:%M") == "05.03.2026 13:03"


# ----- countdown -----


async def test_countdown_with_no_duration_outputs_at_once(
    ctx: BlockContext, fixed_clock: list[float]
) -> None:
    Timer = clock.CountdownTimerBlock
    assert await run_block(Timer, ctx) == [("output_message", "timer finished")]
    message = {"note": "tea"}
    assert await run_block(Timer, ctx, input_message=message, repeat=3) == [
        ("output_message", message)
    ] * 3
    assert await run_block(Timer, ctx, repeat=0) == []
    assert fixed_clock == []


async def test_countdown_adds_its_units_and_sleeps_once_per_repeat(
    ctx: BlockContext, fixed_clock: list[float]
) -> None:
    out = await run_block(
        clock.CountdownTimerBlock, ctx, seconds="2", minutes=1, hours="0", repeat=2,
        input_message="done",
    )
    assert out == [("output_message", "done")] * 2
    assert fixed_clock == [62.0, 62.0]
    with pytest.raises(ValueError, match="seconds must be a number"):
        await run_block(clock.CountdownTimerBlock, ctx, seconds="soon")
    with pytest.raises(ValueError, match="finite"):
        await run_block(clock.CountdownTimerBlock, ctx, minutes="inf")


async def test_countdown_past_the_run_deadline_fails_without_waiting(
    ctx: BlockContext, fixed_clock: list[float]
) -> None:
    ctx.deadline = time.monotonic() + 30
    with pytest.raises(LimitError, match="would wait 3600s but the run has"):
        await run_block(clock.CountdownTimerBlock, ctx, hours=1)
    with pytest.raises(LimitError, match="would wait 40s"):
        await run_block(clock.CountdownTimerBlock, ctx, seconds=20, repeat=2)
    assert fixed_clock == []
    assert await run_block(clock.CountdownTimerBlock, ctx, seconds=5) == [
        ("output_message", "timer finished")
    ]
    assert fixed_clock == [5.0]


# ----- in graphs -----

OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"


def graph(nodes: dict[str, tuple[str, dict[str, Any]]], links: list[tuple[str, ...]]) -> Graph:
    return parse_graph({
        "id": "clock-test",
        "nodes": [{"id": n, "block_id": b, "input_default": d} for n, (b, d) in nodes.items()],
        "links": [
            {"source_id": s, "source_name": sp, "sink_id": t, "sink_name": tp}
            for s, sp, t, tp in links
        ],
    })


async def test_countdown_in_a_graph_fails_its_node_when_the_run_is_too_short() -> None:
    g = graph(
        {
            "t": (clock.CountdownTimerBlock.id, {"hours": 2, "input_message": "late"}),
            "o": (OUTPUT, {"name": "message"}),
        },
        [("t", "output_message", "o", "value")],
    )
    run = await GraphRunner(GraphSettings(timeout_s=60)).run(g)
    (timer,) = [n for n in run.nodes if n.block_name == "CountdownTimerBlock"]
    assert timer.status == ExecutionStatus.FAILED
    assert "would wait 7200s" in (timer.error or "") and "timeout_s is 60s" in (timer.error or "")
    assert run.outputs == {}


async def test_time_blocks_feed_a_template_in_a_graph() -> None:
    g = graph(
        {
            "d": (clock.GetCurrentDateAndTimeBlock.id, {"trigger": "x", "format_type": iso()}),
            "c": (clock.CountdownTimerBlock.id, {}),
            "o": (OUTPUT, {"name": "when"}),
        },
        [("c", "output_message", "d", "trigger"), ("d", "date_time", "o", "value")],
    )
    run = await GraphRunner().run(g)
    assert run.outputs == {"when": ["2026-03-05T13:03:07+00:00"]}


async def test_current_date_time_catalogue_graph() -> None:
    entry = Catalogue.load(ROOT / "config" / "graphs").get("current_date_time")
    assert entry.signature() == "current_date_time(timezone: string = 'local') -> date, time"
    runner = GraphRunner()
    run = await runner.run(entry.graph, {})
    assert run.status == ExecutionStatus.COMPLETED
    assert run.outputs == {"date": ["Thursday, 05 March 2026"], "time": ["22:03:07 JST"]}
    run = await runner.run(entry.graph, {"timezone": "Europe/Paris"})
    assert run.outputs == {"date": ["Thursday, 05 March 2026"], "time": ["14:03:07 CET"]}
    run = await runner.run(entry.graph, {"timezone": "Los Angeles"})
    assert run.outputs == {"date": ["Thursday, 05 March 2026"], "time": ["05:03:07 PST"]}
    run = await runner.run(entry.graph, {"timezone": "Atlantis"})
    errors = [n.error for n in run.nodes if n.error]
    assert run.outputs == {} and errors and all("unknown timezone 'Atlantis'" in e for e in errors)
