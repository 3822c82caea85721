"""The graphs a Planner may choose from: names, descriptions and input/output schemas."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from company.graphs.blocks.registry import BlockRegistry, default_registry
from company.graphs.config import GraphSettings
from company.graphs.convert import ConversionError, convert
from company.graphs.errors import GraphLoadError
from company.graphs.interface import InputSpec, OutputSpec, graph_inputs, graph_outputs
from company.graphs.model import Graph, load_graph

_PY_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


class CatalogueEntry(BaseModel):
    """One graph of the catalogue."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    description: str
    path: Path
    graph: Graph
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    needs_network: bool = False
    """Some block of the graph (or of a sub-graph it calls) fetches from the network."""

    def input_schema(self) -> dict[str, Any]:
        """The inputs as a JSON schema object."""
        props: dict[str, Any] = {}
        for spec in self.inputs:
            prop: dict[str, Any] = {"description": spec.description}
            if spec.type != "any":
                prop["type"] = spec.type
            if spec.options:
                prop["enum"] = spec.options
            if not spec.required:
                prop["default"] = spec.default
            props[spec.name] = prop
        required = [s.name for s in self.inputs if s.required]
        return {"type": "object", "properties": props, "required": required}

    def output_schema(self) -> dict[str, Any]:
        """The outputs as a JSON schema object (each output is a list of values)."""
        props = {o.name: {"type": "array", "description": o.description} for o in self.outputs}
        return {"type": "object", "properties": props}

    def signature(self) -> str:
        """Compact one-line form: `name(a: number, b: number = 1) -> result`."""
        params = []
        for spec in self.inputs:
            kind = "|".join(spec.options) if spec.options else spec.type
            text = f"{spec.name}: {kind}"
            if not spec.required:
                text += f" = {spec.default!r}"
            params.append(text)
        outs = ", ".join(o.name for o in self.outputs) or "nothing"
        return f"{self.name}({', '.join(params)}) -> {outs}"


def uses_network(graph: Graph, registry: BlockRegistry) -> bool:
    """Whether a block of the graph or of its sub-graphs fetches from the network."""
    from company.graphs.validation import iter_graphs

    return any(getattr(registry.get(node.block_id), "needs_network", False)
               for g in iter_graphs(graph) for node in g.nodes)


class Catalogue:
    """Graph files of a directory, by file stem."""

    def __init__(self, entries: dict[str, CatalogueEntry]):
        self.entries = entries

    def without(self, names: Collection[str]) -> Catalogue:
        """The same catalogue minus these graphs (a re-plan after they failed offers the
        others only)."""
        return Catalogue({n: e for n, e in self.entries.items() if n not in names})

    @classmethod
    def load(
        cls,
        directory: str | Path,
        registry: BlockRegistry | None = None,
        settings: GraphSettings | None = None,
    ) -> Catalogue:
        """Load every `*.json` graph of a directory (a malformed file raises GraphLoadError)."""
        registry = registry or default_registry()
        directory = Path(directory)
        if not directory.is_dir():
            raise GraphLoadError(f"{directory}: graph catalogue directory not found")
        entries: dict[str, CatalogueEntry] = {}
        for path in sorted(directory.glob("*.json")):
            graph = load_graph(path, settings)
            entries[path.stem] = CatalogueEntry(
                name=path.stem,
                description=" ".join((graph.description or graph.name).split()),
                path=path,
                graph=graph,
                inputs=graph_inputs(graph, registry),
                outputs=graph_outputs(graph, registry),
                needs_network=uses_network(graph, registry),
            )
        return cls(entries)

    def network_graphs(self) -> set[str]:
        """The graphs that fetch from the network (none of them works while it is down)."""
        return {name for name, entry in self.entries.items() if entry.needs_network}

    def names(self) -> list[str]:
        """Graph names in alphabetical order."""
        return sorted(self.entries)

    def get(self, name: str) -> CatalogueEntry:
        """The entry with this name (KeyError listing the known names when absent)."""
        try:
            return self.entries[name]
        except KeyError:
            raise KeyError(
                f"unknown graph '{name}'; known graphs: {', '.join(self.names())}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def validate_step(self, name: str, inputs: dict[str, Any]) -> str | None:
        """None when a plan step can run; else a message the Planner can correct from."""
        entry = self.entries.get(name)
        if entry is None:
            return f"Unknown graph '{name}'. Known graphs: {', '.join(self.names())}."
        problems = []
        known = {s.name: s for s in entry.inputs}
        if missing := [s.name for s in entry.inputs if s.required and inputs.get(s.name) is None]:
            problems.append(f"missing required inputs: {', '.join(missing)}")
        if unknown := [k for k in inputs if k not in known]:
            problems.append(f"unknown inputs: {', '.join(unknown)}")
        for key, value in inputs.items():
            spec = known.get(key)
            if spec is None or value is None:
                continue
            if spec.options and str(value) not in spec.options:
                problems.append(f"{key} must be one of {', '.join(spec.options)} (got {value!r})")
            elif spec.type in ("integer", "number") and not isinstance(value, bool):
                try:
                    convert(value, _PY_TYPES[spec.type])
                except ConversionError:
                    problems.append(f"{key} must be a {spec.type} (got {value!r})")
        if not problems:
            return None
        return f"Graph '{name}': {'; '.join(problems)}. Expected: {entry.signature()}."

    def describe(self) -> str:
        """Compact text for a prompt: one line per graph with its signature and description."""
        return "\n".join(
            f"- {self.entries[n].signature()}: {self.entries[n].description}" for n in self.names()
        )
