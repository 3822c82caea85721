"""Data blocks: stored values, type conversion, XML parsing, current date and time."""

from __future__ import annotations

from enum import Enum
from typing import Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.convert import convert
from company.graphs.errors import LimitError
from company.graphs.offload import run_cpu_bound
from company.graphs.sizes import text_bytes
from company.graphs.xml_dict import xml_to_dict

MAX_XML_SIZE = 10 * 1024 * 1024  # AutoGPT's limit, in characters


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


def parse_xml(
    document: str, deadline: float | None = None, max_bytes: int | None = None
) -> dict[str, Any]:
    """Parse XML into nested dicts as AutoGPT's XMLParserBlock does (gravitasml's shapes).

    Refused: over 10 MiB characters (AutoGPT's check) or over `max_bytes` UTF-8 bytes (ours);
    entities are never expanded, so entity bombs stay text or fail the single-root check.
    """
    if len(document) > MAX_XML_SIZE:
        raise ValueError(f"XML too large: {len(document)} bytes > {MAX_XML_SIZE} bytes")
    if max_bytes is not None and text_bytes(document, max_bytes) > max_bytes:
        raise LimitError(f"the XML input is over the max_value_bytes limit ({max_bytes:,} bytes)")
    try:
        return xml_to_dict(document, deadline)
    except ValueError as err:
        raise ValueError(f"Validation error for dict:{err}") from None
    except SyntaxError as err:
        raise SyntaxError(f"Error in input xml syntax: {err}") from None


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
        """Yield the parsed document, parsed on a worker thread that stops at the CPU deadline."""
        document, limit = input_data.input_xml, ctx.settings.max_value_bytes
        yield "parsed_xml", await run_cpu_bound(
            ctx, "XML parsing", lambda deadline: parse_xml(document, deadline, limit)
        )


BLOCKS: list[type[Block]] = [
    StoreValueBlock,
    UniversalTypeConverterBlock,
    XMLParserBlock,
]
