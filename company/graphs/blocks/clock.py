"""Clock blocks (AutoGPT's time_blocks): current time, date, date and time, countdown timer.

The time source is this module's `now` (an aware UTC instant), the local timezone its
`local_zone` and the countdown's wait its `sleep`: tests replace these module attributes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.errors import LimitError


def system_now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def system_zone() -> tzinfo:
    """This computer's local timezone (what AutoGPT calls the user's timezone)."""
    zone = now().astimezone().tzinfo
    return zone if zone is not None else UTC


now: Callable[[], datetime] = system_now
local_zone: Callable[[], tzinfo] = system_zone
sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

_LOCAL_NAMES = frozenset({"", "local"})


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str | None]:
    """Lower-case zone names (`europe/paris`) and places (`paris`, `new_york`) to their IANA
    zone; None for a place that several zones share."""
    zones = sorted(available_timezones())
    places: dict[str, str | None] = {}
    for zone in zones:
        place = zone.rsplit("/", 1)[-1].lower()
        places[place] = None if place in places else zone
    return places | {zone.lower(): zone for zone in zones}


def resolve_zone(name: str, use_user_timezone: bool = False) -> tzinfo:
    """An IANA timezone by name or by its place (`Paris`, `new york`); the local zone for "",
    "local" or `use_user_timezone`."""
    name = name.strip()
    if use_user_timezone or name.lower() in _LOCAL_NAMES:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    zone = _zones_by_lower_name().get(name.replace(" ", "_").lower())
    if zone is None:
        raise ValueError(
            f"unknown timezone '{name}': use an IANA name such as 'Europe/Paris' or "
            "'America/New_York' (or 'local')"
        )
    return ZoneInfo(zone)


def _with_discriminator(value: Any) -> Any:
    """Format dicts saved without a discriminator are strftime formats."""
    if isinstance(value, dict) and "discriminator" not in value:
        return {**value, "discriminator": "strftime"}
    return value


class _Zoned(BaseModel):
    """Timezone fields every format carries (at format level, as in AutoGPT)."""

    model_config = ConfigDict(extra="ignore")

    timezone: str = "UTC"
    use_user_timezone: bool = False

    def zone(self) -> tzinfo:
        """The timezone this format asks for."""
        return resolve_zone(self.timezone, self.use_user_timezone)


class TimeStrftimeFormat(_Zoned):
    """A strftime time format."""

    discriminator: Literal["strftime"]
    format: str = "%H:%M:%S"


class TimeISO8601Format(_Zoned):
    """An ISO 8601 time (`T14:03:07+00:00`)."""

    discriminator: Literal["iso8601"]
    include_microseconds: bool = False


class DateStrftimeFormat(_Zoned):
    """A strftime date format."""

    discriminator: Literal["strftime"]
    format: str = "%Y-%m-%d"


class DateISO8601Format(_Zoned):
    """An ISO 8601 date (`2026-03-05`)."""

    discriminator: Literal["iso8601"]


class StrftimeFormat(_Zoned):
    """A strftime date-and-time format."""

    discriminator: Literal["strftime"]
    format: str = "%Y-%m-%d %H:%M:%S"


class ISO8601Format(_Zoned):
    """An ISO 8601 / RFC 3339 date and time (`2026-03-05T14:03:07+00:00`)."""

    discriminator: Literal["iso8601"]
    include_microseconds: bool = False


def _format_pin(strftime: type[BaseModel], iso8601: type[BaseModel]) -> Any:
    """A nullable discriminated `format_type` pin of these two formats."""
    tagged = Annotated[strftime | iso8601, Field(discriminator="discriminator")]
    return Annotated[tagged | None, BeforeValidator(_with_discriminator)]


TimeFormat = _format_pin(TimeStrftimeFormat, TimeISO8601Format)
DateFormat = _format_pin(DateStrftimeFormat, DateISO8601Format)
DateTimeFormat = _format_pin(StrftimeFormat, ISO8601Format)


def _chosen_format(
    format_type: Any, legacy_format: str | None, strftime_cls: type[_Zoned]
) -> Any:
    """`format_type`, else the older top-level strftime `format` pin, else the default."""
    if format_type is not None:
        return format_type
    if legacy_format and "%" in legacy_format:
        return strftime_cls(discriminator="strftime", format=legacy_format)
    return strftime_cls(discriminator="strftime")


def _iso(moment: datetime, include_microseconds: bool) -> str:
    return moment.isoformat() if include_microseconds else moment.isoformat(timespec="seconds")


class GetCurrentTimeBlock(Block):
    """Outputs the current time when triggered (strftime or ISO 8601, in a timezone)."""

    id = "a892b8d9-3e4e-4e9c-9c1e-75f8efcf1bfa"
    description = "This block outputs the current time."

    class Input(BlockSchema):
        """Input pins (`format` is the pre-2025 strftime pin, used when `format_type` is unset)."""

        trigger: str
        format_type: TimeFormat = None
        format: str | None = None

    class Output(BlockSchema):
        """Output pins."""

        time: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the time in the chosen format and timezone."""
        fmt = _chosen_format(input_data.format_type, input_data.format, TimeStrftimeFormat)
        moment = now().astimezone(fmt.zone())
        if isinstance(fmt, TimeISO8601Format):
            yield "time", "T" + _iso(moment, fmt.include_microseconds).split("T", 1)[1]
        else:
            yield "time", moment.strftime(fmt.format)


class GetCurrentDateBlock(Block):
    """Outputs the current date minus `offset` days when triggered (as AutoGPT does)."""

    id = "b29c1b50-5d0e-4d9f-8f9d-1b0e6fcbf0b1"
    description = "This block outputs the current date with an optional offset."

    class Input(BlockSchema):
        """Input pins (`offset` counts days back; `format` is the pre-2025 strftime pin)."""

        trigger: str
        offset: int | str = 0
        format_type: DateFormat = None
        format: str | None = None

    class Output(BlockSchema):
        """Output pins."""

        date: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the date `offset` days ago in the chosen format and timezone."""
        try:
            offset = int(input_data.offset)
        except ValueError:
            offset = 0  # AutoGPT treats an unreadable offset as none
        fmt = _chosen_format(input_data.format_type, input_data.format, DateStrftimeFormat)
        try:
            day = now().astimezone(fmt.zone()) - timedelta(days=offset)
        except OverflowError:
            raise ValueError(f"offset {offset} days is out of the calendar's range") from None
        if isinstance(fmt, DateISO8601Format):
            yield "date", day.date().isoformat()
        else:
            yield "date", day.strftime(fmt.format)


class GetCurrentDateAndTimeBlock(Block):
    """Outputs the current date and time when triggered (strftime or ISO 8601)."""

    id = "716a67b3-6760-42e7-86dc-18645c6e00fc"
    description = "This block outputs the current date and time."

    class Input(BlockSchema):
        """Input pins (`format` is the pre-2025 strftime pin)."""

        trigger: str
        format_type: DateTimeFormat = None
        format: str | None = None

    class Output(BlockSchema):
        """Output pins."""

        date_time: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the date and time in the chosen format and timezone."""
        fmt = _chosen_format(input_data.format_type, input_data.format, StrftimeFormat)
        moment = now().astimezone(fmt.zone())
        if isinstance(fmt, ISO8601Format):
            yield "date_time", _iso(moment, fmt.include_microseconds)
        else:
            yield "date_time", moment.strftime(fmt.format)


def _duration_part(value: int | str, name: str) -> float:
    """One of the timer's amounts as a finite number (AutoGPT reads them with int())."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(amount):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return amount


class CountdownTimerBlock(Block):
    """Waits the given duration, then outputs `input_message`; `repeat` times in a row."""

    id = "d67a9c52-5e4e-11e2-bcfd-0800200c9a71"
    description = "This block triggers after a specified duration."

    class Input(BlockSchema):
        """Input pins."""

        input_message: Any = "timer finished"
        seconds: int | str = 0
        minutes: int | str = 0
        hours: int | str = 0
        days: int | str = 0
        repeat: int = 1

    class Output(BlockSchema):
        """Output pins."""

        output_message: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Sleep, yield the message, `repeat` times; fail at once if it would pass the deadline."""
        total = (
            _duration_part(input_data.seconds, "seconds")
            + _duration_part(input_data.minutes, "minutes") * 60
            + _duration_part(input_data.hours, "hours") * 3600
            + _duration_part(input_data.days, "days") * 86400
        )
        repeat = input_data.repeat
        wait_all = total * repeat if total > 0 and repeat > 0 else 0.0
        if wait_all > 0 and ctx.deadline is not None:
            left = ctx.deadline - time.monotonic()
            if wait_all > left:
                raise LimitError(
                    f"the countdown would wait {wait_all:g}s but the run has {max(left, 0):.0f}s "
                    f"left (timeout_s is {ctx.settings.timeout_s:g}s)"
                )
        for _ in range(max(repeat, 0)):
            if total > 0:
                await sleep(total)
            else:
                await asyncio.sleep(0)  # a long zero-length repeat must not starve the loop
            yield "output_message", input_data.input_message


BLOCKS: list[type[Block]] = [
    GetCurrentTimeBlock,
    GetCurrentDateBlock,
    GetCurrentDateAndTimeBlock,
    CountdownTimerBlock,
]
