"""Data blocks: stored values, type conversion, XML parsing, current date and time."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.convert import convert
from company.graphs.offload import run_cpu_bound

MAX_XML_BYTES = 10 * 1024 * 1024
_DTD_RE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class StoreValueBlock(Block):
    """Passes `data` (or, when empty, `input`) on; its output is static and reusable."""

    id = "1ff065e9-88e8-4358-9d82-8dc91f622ba9"
    static_output = True

    class Input(BlockSchema):
        """Input pins."""

        input: Any
        data: Any = None

    class Output(BlockSchema):
        """Output pins."""

        output: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the stored value."""
        yield "output", input_data.data or input_data.input


class TypeOptions(Enum):
    """Target types of UniversalTypeConverterBlock."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"
    DICTIONARY = "dictionary"


_TARGETS: dict[TypeOptions, type] = {
    TypeOptions.STRING: str,
    TypeOptions.NUMBER: float,
    TypeOptions.BOOLEAN: bool,
    TypeOptions.LIST: list,
    TypeOptions.DICTIONARY: dict,
}


class UniversalTypeConverterBlock(Block):
    """Converts a value to string, number, boolean, list or dictionary."""

    id = "95d1b990-ce13-4d88-9737-ba5c2070c97b"

    class Input(BlockSchema):
        """Input pins."""

        value: Any
        type: TypeOptions

    class Output(BlockSchema):
        """Output pins."""

        value: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the converted value, or an error."""
        try:
            yield "value", convert(input_data.value, _TARGETS[input_data.type])
        except Exception as err:  # noqa: BLE001 - reported on the error pin
            yield "error", f"Failed to convert value: {err}"


def _element_value(element: ElementTree.Element) -> Any:
    children = list(element)
    text = (element.text or "").strip()
    if not children and not element.attrib:
        return text
    result: dict[str, Any] = {f"@{k}": v for k, v in element.attrib.items()}
    repeated: set[str] = set()
    for child in children:
        value = _element_value(child)
        if child.tag in repeated:
            result[child.tag].append(value)
        elif child.tag in result:
            result[child.tag] = [result[child.tag], value]
            repeated.add(child.tag)
        else:
            result[child.tag] = value
    if text:
        result["#text"] = text
    return result


def parse_xml(document: str) -> dict[str, Any]:
    """Parse XML into nested dicts; refuses DTDs/entities so nothing expands or loads."""
    if len(document.encode("utf-8")) > MAX_XML_BYTES:
        raise ValueError(f"XML too large: over {MAX_XML_BYTES} bytes")
    if _DTD_RE.search(document):
        raise ValueError("XML with a DOCTYPE or ENTITY declaration is not accepted")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as err:
        raise ValueError(f"Error in input xml syntax: {err}") from None
    return {root.tag: _element_value(root)}


class XMLParserBlock(Block):
    """Parses an XML document into a dictionary."""

    id = "286380af-9529-4b55-8be0-1d7c854abdb5"

    class Input(BlockSchema):
        """Input pins."""

        input_xml: str

    class Output(BlockSchema):
        """Output pins."""

        parsed_xml: dict

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the parsed document (parsed on a worker thread: it is bounded by size only)."""
        document = input_data.input_xml
        yield "parsed_xml", await run_cpu_bound(ctx, "XML parsing", lambda _: parse_xml(document))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone '{name}'") from None


class TimeStrftimeFormat(BaseModel):
    """A strftime time format."""

    discriminator: Literal["strftime"]
    format: str = "%H:%M:%S"
    timezone: str = "UTC"
    use_user_timezone: bool = False


class TimeISO8601Format(BaseModel):
    """An ISO 8601 time format (`THH:MM:SS+00:00`)."""

    discriminator: Literal["iso8601"]
    timezone: str = "UTC"
    use_user_timezone: bool = False
    include_microseconds: bool = False


class GetCurrentTimeBlock(Block):
    """Outputs the current time when triggered."""

    id = "a892b8d9-3e4e-4e9c-9c1e-75f8efcf1bfa"

    class Input(BlockSchema):
        """Input pins."""

        trigger: str
        format_type: Annotated[
            TimeStrftimeFormat | TimeISO8601Format, Field(discriminator="discriminator")
        ] = TimeStrftimeFormat(discriminator="strftime")

    class Output(BlockSchema):
        """Output pins."""

        time: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the time in the chosen format and timezone."""
        fmt = input_data.format_type
        now = datetime.now(tz=_zone(fmt.timezone))
        if isinstance(fmt, TimeISO8601Format):
            iso = now.isoformat() if fmt.include_microseconds else now.isoformat("T", "seconds")
            yield "time", "T" + iso.split("T", 1)[1]
        else:
            yield "time", now.strftime(fmt.format)


class DateStrftimeFormat(BaseModel):
    """A strftime date format."""

    discriminator: Literal["strftime"]
    format: str = "%Y-%m-%d"
    timezone: str = "UTC"
    use_user_timezone: bool = False


class DateISO8601Format(BaseModel):
    """An ISO 8601 date format (`YYYY-MM-DD`)."""

    discriminator: Literal["iso8601"]
    timezone: str = "UTC"
    use_user_timezone: bool = False


class GetCurrentDateBlock(Block):
    """Outputs the current date minus `offset` days when triggered (as AutoGPT)."""

    id = "b29c1b50-5d0e-4d9f-8f9d-1b0e6fcbf0b1"

    class Input(BlockSchema):
        """Input pins."""

        trigger: str
        offset: int | str = 0
        format_type: Annotated[
            DateStrftimeFormat | DateISO8601Format, Field(discriminator="discriminator")
        ] = DateStrftimeFormat(discriminator="strftime")

    class Output(BlockSchema):
        """Output pins."""

        date: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the date in the chosen format and timezone."""
        try:
            offset = int(input_data.offset)
        except ValueError:
            offset = 0
        fmt = input_data.format_type
        day = datetime.now(tz=_zone(fmt.timezone)) - timedelta(days=offset)
        if isinstance(fmt, DateISO8601Format):
            yield "date", day.date().isoformat()
        else:
            yield "date", day.strftime(fmt.format)


BLOCKS: list[type[Block]] = [
    StoreValueBlock,
    UniversalTypeConverterBlock,
    XMLParserBlock,
    GetCurrentTimeBlock,
    GetCurrentDateBlock,
]
