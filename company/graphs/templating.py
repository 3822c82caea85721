"""Sandboxed Jinja2 rendering for text templates in graphs (AutoGPT's TextFormatter)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import BaseLoader, Template
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_REPEAT_LENGTH = 1_000_000
MAX_EXPONENT = 10_000
_UNSAFE_FILTERS = ("pprint", "urlize", "xmlattr", "tojson")


def _format_filter(value: Any, format_string: str | None = None) -> Any:
    return format_string % float(value) if format_string else value


class _GraphSandbox(SandboxedEnvironment):
    """A sandbox with no globals, no unsafe filters, and bounded `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse huge repetitions and exponents, then apply the operator."""
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                    if len(seq) * count > MAX_REPEAT_LENGTH:
                        raise SecurityError("template repeats a sequence beyond the size limit")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError("template exponent beyond the limit")
        return super().call_binop(context, operator, left, right)


def _make_env(autoescape: bool) -> SandboxedEnvironment:
    env = _GraphSandbox(loader=BaseLoader(), autoescape=autoescape)
    env.globals.clear()
    for name in _UNSAFE_FILTERS:
        env.filters.pop(name, None)
    env.filters["format"] = _format_filter
    return env


_ENVS = {True: _make_env(True), False: _make_env(False)}


@lru_cache(maxsize=512)
def _compile(template: str, autoescape: bool) -> Template:
    return _ENVS[autoescape].from_string(template)


def render_template(template: str, values: Mapping[str, Any], *, autoescape: bool = False) -> str:
    """Render a Jinja2 template in the sandbox with `values` as its variables."""
    return _compile(template, autoescape).render(dict(values))
