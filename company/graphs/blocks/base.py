"""The block base class: typed input/output schemas, pin coercion and the run context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from company.graphs.convert import ConversionError, convert, is_convertible
from company.graphs.errors import InputValidationError

if TYPE_CHECKING:
    from company.graphs.blocks.registry import BlockRegistry
    from company.graphs.config import GraphSettings
    from company.graphs.llm_port import GraphLLM
    from company.graphs.model import Graph, Node
    from company.graphs.results import GraphRun
    from company.graphs.safe_http import SafeHttpClient

BlockOutput = AsyncIterator[tuple[str, Any]]
# Fields AutoGPT fills from the user's credential store; the local runner never needs them.
CREDENTIAL_FIELDS = frozenset({"credentials"})


class BlockType(StrEnum):
    """AutoGPT's block kinds that change how the executor treats a node."""

    STANDARD = "STANDARD"
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    NOTE = "NOTE"
    AGENT = "AGENT"


class BlockSchema(BaseModel):
    """Base of block input/output schemas: unknown pins are ignored."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)


SubgraphRunner = Callable[[str, int | None, dict[str, Any]], Awaitable["GraphRun"]]
Transcribe = Callable[[bytes, str], Awaitable[str]]
"""Audio bytes and a file name in, the transcript out (the company's Whisper service)."""


@dataclass
class BlockServices:
    """Company services some blocks use; each is None where the runner was given none."""

    kv: Any = None  # key-value store for Persist/RetrieveInformationBlock (set by that module)
    transcribe: Transcribe | None = None
    user_id: str = "local"  # whose data "across agents" scopes mean


@dataclass
class BlockContext:
    """What a running block may use besides its input."""

    settings: GraphSettings
    llm: GraphLLM | None
    http: SafeHttpClient
    graph: Graph
    node_id: str
    node_exec_id: str
    run_subgraph: SubgraphRunner | None = None
    deadline: float | None = None  # time.monotonic() instant the run must end by
    services: BlockServices = field(default_factory=BlockServices)
    registry: BlockRegistry | None = None  # the blocks of this run (tool blocks are described
    # from it); None: the default registry


def _format_validation_error(err: ValidationError) -> str:
    parts = []
    for item in err.errors()[:5]:
        loc = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{loc}: {item['msg']}")
    return "; ".join(parts)


class Block:
    """A unit of work in a graph; subclasses set `id`, `Input`, `Output` and `run`."""

    id: ClassVar[str]
    description: ClassVar[str] = ""
    block_type: ClassVar[BlockType] = BlockType.STANDARD
    static_output: ClassVar[bool] = False
    needs_network: ClassVar[bool] = False
    """True for blocks that fetch from the network: when the network is down, a re-plan is not
    offered the catalogue graphs that use them."""
    prose_outputs: ClassVar[frozenset[str]] = frozenset()
    """Output pins whose value is text a model wrote for a reader (an answer, a summary): a
    report may pass it on as the answer instead of asking a model to say it again."""
    Input: ClassVar[type[BlockSchema]] = BlockSchema
    Output: ClassVar[type[BlockSchema]] = BlockSchema

    def __init__(self) -> None:
        self._coercions = [
            (name, field.annotation)
            for name, field in self.Input.model_fields.items()
            if is_convertible(field.annotation)
        ]
        self._required = frozenset(
            name
            for name, field in self.Input.model_fields.items()
            if field.is_required() and name not in CREDENTIAL_FIELDS
        )

    @property
    def name(self) -> str:
        """AutoGPT's block name (the class name)."""
        return type(self).__name__

    # ----- per-node shape (AgentExecutorBlock overrides these) -----

    def node_defaults(self, node: Node) -> dict[str, Any]:
        """Values that fill input pins no link filled."""
        return node.input_default

    def required_inputs(self, node: Node) -> frozenset[str]:
        """Input pins that must have a value for the node to run."""
        return self._required

    def input_pins(self, node: Node) -> set[str]:
        """Declared input pin names (links may target these or dynamic pins under them)."""
        return set(self.Input.model_fields)

    def output_pins(self, node: Node) -> set[str]:
        """Declared output pin names, including the implicit `error` pin."""
        return set(self.Output.model_fields) | {"error"}

    def build_input(self, node: Node, data: dict[str, Any]) -> dict[str, Any]:
        """Shape merged pin data into this block's input dict."""
        return data

    def missing_credentials(self, settings: GraphSettings) -> str | None:
        """What key this block lacks to run with these settings (the provider and the setting
        to fill), or None; checked for every node before a run starts."""
        return None

    # ----- validation and execution -----

    def validate_input(self, data: dict[str, Any]) -> BlockSchema:
        """Coerce pin values to the annotated types and validate them."""
        try:
            for name, annotation in self._coercions:
                value = data.get(name)
                if value and type(value) is not annotation:
                    data[name] = convert(value, annotation)
            return self.Input.model_validate(data)
        except ConversionError as err:
            raise InputValidationError(str(err)) from None
        except ValidationError as err:
            raise InputValidationError(_format_validation_error(err)) from None

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield `(pin, value)` pairs; yielding `error` or raising fails the node."""
        raise NotImplementedError
        yield  # pragma: no cover
