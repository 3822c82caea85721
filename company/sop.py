"""SOP files: which roles, who watches what, react modes, limits, model and prompt overrides."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from company.config import CONFIG_DIR

if TYPE_CHECKING:
    from company.action import Action
    from company.role import Role

SOP_DIR = CONFIG_DIR / "sops"
Problem = tuple[tuple[str | int, ...], str]
"""Where in the SOP (a pydantic-style location) and what is wrong."""


class SOPError(ValueError):
    """An SOP file is malformed; the message names the file and line."""


class RoleSpec(BaseModel):
    """One hired role and how it behaves. ``name`` is a shipped role's name or an import path
    (``my_package.roles:Critic``); actions, watch and triggers name action classes the same way."""

    model_config = ConfigDict(extra="forbid")

    name: str
    watch: list[str] | None = None
    actions: list[str] | None = None
    triggers: dict[str, list[str]] = Field(default_factory=dict)
    react_mode: str = "by_trigger"
    max_react_loop: int = Field(default=3, ge=1, le=20)
    profile: str | None = None
    goal: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    _role: Any = PrivateAttr(default=None)
    _actions: Any = PrivateAttr(default=None)

    @field_validator("react_mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        from company.role import react_mode_of

        return react_mode_of(value).value

    @property
    def role_class(self) -> type[Role]:
        """The resolved Role subclass (set when the SOP is parsed)."""
        assert self._role is not None, "parse the SOP with parse_sop to resolve its names"
        return self._role  # type: ignore[no-any-return]

    @property
    def action_classes(self) -> list[type[Action]] | None:
        """The resolved action classes, or None for the role's own defaults."""
        return self._actions  # type: ignore[no-any-return]

    def hire(self) -> Role:
        """A new, unbound role as this spec describes it."""
        return self.role_class(
            actions=self.action_classes, watch=self.watch, react_mode=self.react_mode,
            max_react_loop=self.max_react_loop, triggers=self.triggers, options=self.options,
            profile=self.profile, goal=self.goal,
        )


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

    def resolve(self) -> list[Problem]:
        """Resolve every role and action name to its class; return what cannot be resolved."""
        from company.names import action_class, actions_around, add_action, role_class

        problems: list[Problem] = []
        for n, spec in enumerate(self.roles):
            try:
                spec._role = role_class(spec.name)
            except ValueError as exc:
                problems.append((("roles", n, "name"), str(exc)))
        hired = [s._role for s in self.roles if s._role is not None]
        try:
            known = actions_around(hired)
        except ValueError as exc:
            return [*problems, (("roles",), str(exc))]
        for n, spec in enumerate(self.roles):
            refs = [*(spec.actions or []), *spec.triggers]
            for ref in refs:  # import paths first: they may bring names the others use
                try:
                    add_action(known, action_class(ref, known))
                except ValueError as exc:
                    if ref not in known:
                        problems.append((("roles", n, "actions"), str(exc)))
        names = [s._role.name for s in self.roles if s._role is not None]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append((("roles",), f"role(s) hired twice: {', '.join(dupes)}"))
        for n, spec in enumerate(self.roles):
            problems += _resolve_spec(spec, n, known)
        for action in self.prompts:
            if action not in known:
                problems.append((("prompts", action), "prompt override for unknown action "
                                 f"{action!r}"))
        return problems

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
    problems = sop.resolve()
    if problems:
        raise SOPError("\n".join(f"{source}:{_line_of(root, loc)}: {_dotted(loc)}: {msg}"
                                 for loc, msg in problems))
    sop.source = source
    sop.text = text
    return sop


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top)"


def _resolve_spec(spec: RoleSpec, n: int, known: dict[str, Any]) -> list[Problem]:
    """Resolve one role's action, watch and trigger names against the known actions."""
    from company.names import action_class, is_import_path

    def name_of(ref: str) -> str:
        try:
            return action_class(ref, known).name if is_import_path(ref) else ref
        except ValueError:
            return ref

    problems: list[Problem] = []
    if spec.actions is not None:
        spec._actions = [known[name_of(a)] for a in spec.actions if name_of(a) in known]
    for field, refs in (("watch", spec.watch or []),
                        ("triggers", [c for cs in spec.triggers.values() for c in cs])):
        for ref in refs:
            if name_of(ref) not in known:
                problems.append((("roles", n, field), f"unknown action {ref!r} in {field}; "
                                 f"known: {', '.join(sorted(known))}"))
    if spec.watch is not None:
        spec.watch = [name_of(w) for w in spec.watch]
    spec.triggers = {name_of(a): [name_of(c) for c in cs] for a, cs in spec.triggers.items()}
    return problems


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
