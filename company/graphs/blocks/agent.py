"""AgentExecutorBlock: runs one of the graph's `sub_graphs` and yields its outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema, BlockType
from company.graphs.results import ExecutionStatus

if TYPE_CHECKING:
    from company.graphs.model import Node


class AgentExecutorBlock(Block):
    """Executes a sub-graph; linked pins are the sub-graph's input names (AutoGPT's shape)."""

    id = "e189baac-8c20-45a1-94a7-55177ea42565"
    block_type = BlockType.AGENT

    class Input(BlockSchema):
        """Input pins."""

        user_id: str = ""
        graph_id: str
        graph_version: int
        agent_name: str | None = None
        inputs: dict[str, Any] = {}
        input_schema: dict[str, Any] = {}
        output_schema: dict[str, Any] = {}
        nodes_input_masks: dict[str, Any] | None = None

    class Output(BlockSchema):
        """Output pins: the sub-graph's output names (dynamic)."""

    def node_defaults(self, node: Node) -> dict[str, Any]:
        """The sub-graph inputs stored on the node (`input_default.inputs`)."""
        inputs = node.input_default.get("inputs")
        return inputs if isinstance(inputs, dict) else {}

    def required_inputs(self, node: Node) -> frozenset[str]:
        """The sub-graph's required inputs (from the node's `input_schema`)."""
        schema = node.input_default.get("input_schema") or {}
        return frozenset(schema.get("required") or [])

    def config_missing(self, node: Node) -> list[str]:
        """Block settings the node itself must carry (`graph_id`, `graph_version`)."""
        return [k for k in ("graph_id", "graph_version") if node.input_default.get(k) in (None, "")]

    def input_pins(self, node: Node) -> set[str]:
        """The sub-graph's input names."""
        schema = node.input_default.get("input_schema") or {}
        return set((schema.get("properties") or {}).keys()) | set(self.node_defaults(node))

    def output_pins(self, node: Node) -> set[str]:
        """The sub-graph's output names, and `error`."""
        schema = node.input_default.get("output_schema") or {}
        return set((schema.get("properties") or {}).keys()) | {"error"}

    def build_input(self, node: Node, data: dict[str, Any]) -> dict[str, Any]:
        """Put the linked values under `inputs`; the rest comes from the node's settings."""
        return {**node.input_default, "inputs": data}

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Run the sub-graph; yield each output value under its output name."""
        if ctx.run_subgraph is None:
            raise RuntimeError("sub-graphs cannot be run in this context")
        run = await ctx.run_subgraph(
            input_data.graph_id, input_data.graph_version, dict(input_data.inputs)
        )
        if run.status != ExecutionStatus.COMPLETED:
            raise RuntimeError(
                f"sub-graph {input_data.agent_name or input_data.graph_id} ended "
                f"{run.status.value}: {run.error or 'no error message'}"
            )
        for name, values in run.outputs.items():
            for value in values:
                yield name, value


BLOCKS: list[type[Block]] = [AgentExecutorBlock]
