"""SOP files: which roles, who watches what, react modes, limits, model and prompt overrides."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from company.config import CONFIG_DIR
from company.registry import ACTION_CLASSES, ROLE_CLASSES, known_causes

SOP_DIR = CONFIG_DIR / "sops"
ReactMode = Literal["by_order", "react", "plan_and_act"]


class SOPError(ValueError):
    """An SOP file is malformed; the message names the file and line."""


class RoleSpec(BaseModel):
    """One hired role and how it behaves."""

    model_config = ConfigDict(extra="forbid")

    name: str
    watch: list[str] | None = None
    actions: list[str] | None = None
    triggers: dict[str, list[str]] = Field(default_factory=dict)
    react_mode: ReactMode = "by_order"
    max_react_loop: int = Field(default=3, ge=1, le=20)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_names(self) -> RoleSpec:
        if self.name not in ROLE_CLASSES:
            raise ValueError(f"unknown role {self.name!r}; known: {', '.join(ROLE_CLASSES)}")
        causes = known_causes()
        for cause in self.watch or []:
            if cause not in causes:
                raise ValueError(f"unknown action {cause!r} in watch; known: {sorted(causes)}")
        for action in [*(self.actions or []), *self.triggers]:
            if action not in ACTION_CLASSES:
                raise ValueError(f"unknown action {action!r}; known: {sorted(ACTION_CLASSES)}")
        for cause_list in self.triggers.values():
            for cause in cause_list:
                if cause not in causes:
                    raise ValueError(f"unknown trigger {cause!r}; known: {sorted(causes)}")
        return self


class SOPLimits(BaseModel):
    """Limits an SOP sets for its runs."""

    model_config = ConfigDict(extra="forbid")

    n_round: int | None = Field(default=None, ge=1)
    max_llm_calls: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    investment: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class SOPLLM(BaseModel):
    """Model choices an SOP makes."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class SOP(BaseModel):
    """A standard operating procedure: the company's shape for a run."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    roles: list[RoleSpec] = Field(min_length=1)
    limits: SOPLimits = Field(default_factory=SOPLimits)
    llm: SOPLLM = Field(default_factory=SOPLLM)
    prompts: dict[str, str] = Field(default_factory=dict)
    source: str = Field(default="", exclude=True)
    text: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _unique_roles(self) -> SOP:
        names = [r.name for r in self.roles]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"role(s) hired twice: {', '.join(dupes)}")
        for action in self.prompts:
            if action not in ACTION_CLASSES:
                raise ValueError(f"prompt override for unknown action {action!r}")
        return self

    @property
    def digest(self) -> str:
        """SHA-256 of the SOP file's text (research rows carry it)."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def prompt_path(self, action: str) -> Path | None:
        """The override template for an action, resolved beside the SOP file."""
        value = self.prompts.get(action)
        if not value:
            return None
        path = Path(value)
        if not path.is_absolute() and self.source:
            beside = Path(self.source).parent / path
            path = beside if beside.exists() else Path(CONFIG_DIR.parent / value)
        return path


def resolve_sop_path(name_or_path: str) -> Path:
    """A path as given, or ``config/sops/<name>.yaml``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return SOP_DIR / f"{name_or_path}.yaml"


def load_sop(name_or_path: str) -> SOP:
    """Load and validate an SOP by name or path."""
    path = resolve_sop_path(name_or_path)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SOP_DIR.glob("*.yaml")))
        raise SOPError(f"{path}: no such SOP file (shipped SOPs: {known})")
    return parse_sop(path.read_text(), source=str(path))


def parse_sop(text: str, source: str = "<sop>") -> SOP:
    """Validate SOP YAML text; errors name the source and the line at fault (a parsed text is
    cached, so runs of the same SOP pay for YAML and validation once; each call gets a copy)."""
    return _parse_sop_cached(text, source).model_copy(deep=True)


@functools.lru_cache(maxsize=64)
def _parse_sop_cached(text: str, source: str) -> SOP:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise SOPError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise SOPError(f"{source}:1: an SOP is a mapping with name, roles, ...")
    try:
        sop = SOP.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            line = _line_of(root, err["loc"])
            loc = ".".join(str(p) for p in err["loc"]) or "(top)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown field {err['loc'][-1]!r}"
            problems.append(f"{source}:{line}: {loc}: {msg}")
        raise SOPError("\n".join(problems)) from None
    sop.source = source
    sop.text = text
    return sop


def _line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at a pydantic error location (best match)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
