"""Graph input and output blocks, notes and console printing."""

from __future__ import annotations

import logging
from typing import Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema, BlockType
from company.graphs.errors import LimitError
from company.graphs.templating import render_for_block

console_log = logging.getLogger("company.graphs.console")


class _InputFields(BlockSchema):
    name: str
    title: str | None = None
    description: str | None = None
    placeholder_values: list = []
    advanced: bool = False
    secret: bool = False


class AgentInputBlock(Block):
    """A graph input: outputs the run's value for its `name` (or its default value)."""

    id = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
    description = "Accepts a user input value for the graph."
    block_type = BlockType.INPUT
    static_output = True
    value_type: str = "any"  # JSON-schema-ish type shown in the catalogue

    class Input(_InputFields):
        """Input pins."""

        value: Any = None

    class Output(BlockSchema):
        """Output pins."""

        result: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the value when there is one."""
        if input_data.value is not None:
            yield "result", input_data.value


class AgentShortTextInputBlock(AgentInputBlock):
    """A one-line text graph input."""

    id = "7fcd3bcb-8e1b-4e69-903d-32d3d4a92158"
    value_type = "string"

    class Input(_InputFields):
        """Input pins."""

        value: str | None = None

    class Output(BlockSchema):
        """Output pins."""

        result: str


class AgentLongTextInputBlock(AgentInputBlock):
    """A multi-line text graph input."""

    id = "90a56ffb-7024-4b2b-ab50-e26c5e5ab8ba"
    value_type = "string"

    Input = AgentShortTextInputBlock.Input
    Output = AgentShortTextInputBlock.Output


class AgentNumberInputBlock(AgentInputBlock):
    """An integer graph input."""

    id = "96dae2bb-97a2-41c2-bd2f-13a3b5a8ea98"
    value_type = "integer"

    class Input(_InputFields):
        """Input pins."""

        value: int | None = None

    class Output(BlockSchema):
        """Output pins."""

        result: int


class AgentDropdownInputBlock(AgentInputBlock):
    """A graph input restricted to the options in `placeholder_values`."""

    id = "655d6fdf-a334-421c-b733-520549c07cd1"
    value_type = "string"

    Input = AgentShortTextInputBlock.Input
    Output = AgentShortTextInputBlock.Output

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the value after checking it is one of the options."""
        options = [str(o) for o in input_data.placeholder_values]
        if input_data.value is not None and options and input_data.value not in options:
            raise ValueError(
                f"'{input_data.value}' is not an option of input '{input_data.name}': "
                + ", ".join(options)
            )
        if input_data.value is not None:
            yield "result", input_data.value


class AgentToggleInputBlock(AgentInputBlock):
    """A boolean graph input."""

    id = "cbf36ab5-df4a-43b6-8a7f-f7ed8652116e"
    value_type = "boolean"

    class Input(_InputFields):
        """Input pins."""

        value: bool = False

    class Output(BlockSchema):
        """Output pins."""

        result: bool


class AgentOutputBlock(Block):
    """A graph output: records `value` under `name`, optionally formatted with Jinja2."""

    id = "363ae599-353e-4804-937e-b2ee3cef3da4"
    description = "Records a graph result, optionally formatted with a Jinja2 template."
    block_type = BlockType.OUTPUT
    static_output = True

    class Input(BlockSchema):
        """Input pins."""

        value: Any = None
        name: str
        title: str | None = None
        description: str | None = None
        format: str = ""
        escape_html: bool = False
        advanced: bool = False
        secret: bool = False

    class Output(BlockSchema):
        """Output pins."""

        output: Any
        name: Any

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the (formatted) value; a broken template yields an `Error: ...` string.

        A template over a size or time limit fails the node instead.
        """
        if input_data.format:
            try:
                text = await render_for_block(
                    ctx,
                    input_data.format,
                    {input_data.name: input_data.value},
                    autoescape=input_data.escape_html,
                )
            except LimitError:
                raise
            except Exception as err:  # noqa: BLE001 - AutoGPT reports template errors inline
                text = f"Error: {err}, {input_data.value}"
            yield "output", text
        else:
            yield "output", input_data.value
            yield "name", input_data.name


class NoteBlock(Block):
    """A sticky note on the canvas; never executed."""

    id = "cc10ff7b-7753-4ff2-9af6-9399b1a7eddc"
    block_type = BlockType.NOTE

    class Input(BlockSchema):
        """Input pins."""

        text: str

    class Output(BlockSchema):
        """Output pins."""

        output: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Echo the note text (only reached when run directly)."""
        yield "output", input_data.text


class PrintToConsoleBlock(Block):
    """Logs a value on the `company.graphs.console` logger and passes it on."""

    id = "f3b1c1b2-4c4f-4f0d-8d2f-4c4f0d8d2f4c"

    class Input(BlockSchema):
        """Input pins."""

        text: Any

    class Output(BlockSchema):
        """Output pins."""

        output: Any
        status: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Log the text, then yield it and the status `printed`."""
        console_log.info("%s", input_data.text)
        yield "output", input_data.text
        yield "status", "printed"


INPUT_BLOCKS: list[type[AgentInputBlock]] = [
    AgentInputBlock,
    AgentShortTextInputBlock,
    AgentLongTextInputBlock,
    AgentNumberInputBlock,
    AgentDropdownInputBlock,
    AgentToggleInputBlock,
]
BLOCKS: list[type[Block]] = [*INPUT_BLOCKS, AgentOutputBlock, NoteBlock, PrintToConsoleBlock]
