"""Sandboxed Jinja2 rendering for text templates in graphs (AutoGPT's TextFormatter).

Besides Jinja's sandbox (no private attributes, no unsafe callables), every operation that
can build a large value (operators, `~`, filters, string methods, str.format, slices, block
captures, the output itself) is sized *before* it runs and charged to a per-render
`RenderBudget`; every loop counts its iterations and checks the render's deadline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import BaseLoader, Template, nodes, pass_environment
from jinja2.runtime import Undefined
from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup, escape, soft_str

from company.graphs.sizes import ITEM_BYTES, shallow_size
from company.graphs.template_budget import (
    INT_LIMIT_MESSAGE,
    MAX_INT_BITS,
    GuardedLoopContext,
    RenderBudget,
    TemplateLimitError,
    TemplateLimits,
    TemplateTimeoutError,
    active_budget,
    current_budget,
    guard_generated,
    guard_iter,
)
from company.graphs.template_sizes import (
    FILTERS,
    STR_METHODS,
    STRINGIFYING_FILTERS,
    deep_size,
    format_field_size,
    int_result_bits,
    join_size,
    printf_size,
    repeat_size,
    sequence_size,
)

if TYPE_CHECKING:
    from company.graphs.blocks.base import BlockContext
    from company.graphs.config import GraphSettings

__all__ = [
    "TemplateLimitError",
    "TemplateLimits",
    "TemplateTimeoutError",
    "limits_from_settings",
    "render_for_block",
    "render_template",
]

_UNSAFE_FILTERS = ("pprint", "urlize", "xmlattr", "tojson")
_MUTATORS = frozenset({"append", "extend", "insert", "update", "add", "setdefault"})
_CALL_EXTRAS = ("_loop_vars", "_block_vars")
_GUARD_ITER = f"{guard_iter.__module__}.{guard_iter.__name__}"
_CACHED_SOURCE_CHARS = 64 * 1024


def _format_filter(value: Any, format_string: str | None = None) -> Any:
    return format_string % float(value) if format_string else value


def _checked_text(value: Any, budget: RenderBudget, what: str) -> str:
    """`str(value)`, refused when the text would be over the value limit."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Undefined):
        budget.check_value(deep_size(value, budget.limits.max_value_bytes), what)
    return soft_str(value)


def _finalize(value: Any) -> Any:
    """Applied to every `{{ ... }}` before it is written: size non-text values first."""
    if isinstance(value, (str, Undefined)):
        return value
    budget = current_budget()
    budget.check_value(deep_size(value, budget.limits.max_value_bytes), "the text of a value")
    return value


def _charged(result: Any, budget: RenderBudget, what: str, deep: bool = False) -> Any:
    """Charge what an operation built; lazily produced items are charged as they come."""
    if isinstance(result, (str, bytes)):
        budget.charge(len(result), what)
    elif isinstance(result, (list, tuple, dict, set)):
        limit = budget.limits.max_value_bytes
        budget.charge(deep_size(result, limit) if deep else shallow_size(result), what)
    elif isinstance(result, Iterator):
        return guard_generated(result)
    return result


def _guarded_str_join(seq: Iterable[Any]) -> str:
    """`a ~ b` without autoescape."""
    budget = current_budget()
    parts = [_checked_text(part, budget, "an operand of ~") for part in seq]
    budget.charge(sum(map(len, parts)), "a ~ concatenation")
    return "".join(parts)


def _guarded_markup_join(seq: Iterable[Any]) -> str:
    """`a ~ b` with autoescape: escapes everything once any part is markup."""
    budget = current_budget()
    parts = [_checked_text(part, budget, "an operand of ~") for part in seq]
    if any(hasattr(part, "__html__") for part in parts):
        escaped = [escape(part) for part in parts]
        budget.charge(sum(map(len, escaped)), "a ~ concatenation")
        return Markup("".join(escaped))
    budget.charge(sum(map(len, parts)), "a ~ concatenation")
    return "".join(parts)


@pass_environment
def _guarded_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """The `sum` filter, in linear time and charged when it adds up lists or tuples."""
    if attribute is not None:
        getter = environment.getattr
        iterable = (getter(item, attribute) for item in iterable)
    if not isinstance(start, (list, tuple)):
        return sum(iterable, start)
    budget = current_budget()
    items = list(start)
    for part in iterable:
        if not isinstance(part, type(start)):
            raise TypeError(
                f'can only concatenate {type(start).__name__} (not "{type(part).__name__}")'
            )
        budget.check_value((len(items) + len(part)) * ITEM_BYTES, "a |sum of sequences")
        budget.charge(len(part) * ITEM_BYTES, "a |sum of sequences")
        items.extend(part)
    return items if isinstance(start, list) else tuple(items)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline, sizes its result first and charges what it built."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    estimate = FILTERS.get(name)
    stringifies = name in STRINGIFYING_FILTERS
    what = f"the result of |{name}"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if len(args) > offset:
            value = args[offset]
            if isinstance(value, Iterator):
                value = guard_generated(value)
                args = (*args[:offset], value, *args[offset + 1 :])
            if name == "join":
                items = list(value)
                separator = args[offset + 1] if len(args) > offset + 1 else kwargs.get("d", "")
                limit = budget.limits.max_value_bytes
                budget.check_value(join_size(str(separator), items, limit), what)
                args = (*args[:offset], items, *args[offset + 1 :])
            elif stringifies:
                for arg in (*args[offset:], *kwargs.values()):
                    if not isinstance(arg, (str, int, float)):
                        _checked_text(arg, budget, f"the text of a value given to |{name}")
            if estimate is not None:
                try:
                    size = estimate(*args[offset:], **kwargs)
                except (TypeError, ValueError, AttributeError):
                    size = 0
                budget.check_value(size, what)
        return _charged(func(*args, **kwargs), budget, what)

    return guarded


class _GuardedFormatterMixin:
    """str.format with every field sized before it is written."""

    _total = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        """Format, counting the size of the whole result."""
        self._total = len(format_string)
        return super().vformat(format_string, args, kwargs)  # type: ignore[misc]

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        """Size a value before `!r`, `!s` or `!a` writes it."""
        if conversion is not None:
            _checked_text(value, current_budget(), "a formatted field")
        return super().convert_field(value, conversion)  # type: ignore[misc]

    def format_field(self, value: Any, format_spec: str) -> Any:
        """Size one field (width and precision included) before formatting it."""
        budget = current_budget()
        budget.check_time()
        self._total += format_field_size(value, format_spec, budget.limits.max_value_bytes)
        budget.charge(self._total, "a formatted text")
        return super().format_field(value, format_spec)  # type: ignore[misc]


class _SizedFormatter(_GuardedFormatterMixin, SandboxedFormatter):
    pass


class _SizedEscapeFormatter(_GuardedFormatterMixin, SandboxedEscapeFormatter):
    pass


class _GuardedTemplate(Template):
    """A template whose compiled code joins texts and runs loops through the guards."""

    @classmethod
    def _from_namespace(
        cls,
        environment: Any,
        namespace: MutableMapping[str, Any],
        globals: MutableMapping[str, Any],
    ) -> Template:
        namespace["str_join"] = _guarded_str_join
        namespace["markup_join"] = _guarded_markup_join
        namespace["LoopContext"] = GuardedLoopContext
        return super()._from_namespace(environment, namespace, globals)


class _GraphSandbox(SandboxedEnvironment):
    """A sandbox with no globals, no unsafe filters, and every size and loop bounded."""

    intercepted_binops = frozenset({"+", "*", "%", "**"})
    template_class = _GuardedTemplate

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then route every `for` loop's iterable through `guard_iter`."""
        tree = super()._parse(source, name, filename)
        for loop in list(tree.find_all(nodes.For)):
            loop.iter = nodes.Call(
                nodes.ImportedName(_GUARD_ITER), [loop.iter], [], None, None, lineno=loop.lineno
            )
        return tree

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Join a captured block (`set` blocks, macros, filter and call blocks)."""
        parts = parts if isinstance(parts, list) else list(parts)
        current_budget().charge(sum(map(len, parts)), "a captured block")
        return "".join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Size `+`, `*`, `%` and `**` results before computing them."""
        budget = current_budget()
        budget.check_time()
        if operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(
                right, (str, bytes, list, tuple)
            ):
                budget.charge(sequence_size(left) + sequence_size(right), "a concatenation")
        elif operator == "*":
            if size := repeat_size(left, right):
                budget.charge(size, "a repetition")
            elif (bits := int_result_bits("*", left, right)) > MAX_INT_BITS:
                raise TemplateLimitError(INT_LIMIT_MESSAGE.format(bits=bits))
        elif operator == "%":
            if isinstance(left, str):
                size = printf_size(left, right, budget.limits.max_value_bytes)
                budget.charge(size * 6 if isinstance(left, Markup) else size, "a % format")
        elif (bits := int_result_bits("**", left, right)) > MAX_INT_BITS:
            raise TemplateLimitError(INT_LIMIT_MESSAGE.format(bits=bits))
        return super().call_binop(context, operator, left, right)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Subscript; a slice is charged as a new value."""
        result = super().getitem(obj, argument)
        if type(argument) is slice:
            current_budget().charge(shallow_size(result), "a slice")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format / format_map through a formatter that sizes every field."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        text = value.__self__
        formatter: SandboxedFormatter = (
            _SizedEscapeFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else _SizedFormatter(self)
        )
        is_format_map = value.__name__ == "format_map"

        def sized(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(sized, value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call from the sandbox: size string methods and container growth beforehand."""
        if __obj is guard_iter:
            return guard_iter(*args)
        budget = current_budget()
        budget.check_time()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        limit = budget.limits.max_value_bytes
        deep = False
        if isinstance(owner, (str, bytes)):
            deep = True
            plain = {k: v for k, v in kwargs.items() if k not in _CALL_EXTRAS}
            if name == "join" and args:
                items = list(args[0])
                budget.check_value(join_size(owner, items, limit), "a joined text")
                args = (items, *args[1:])
            elif estimate := STR_METHODS.get(name):
                try:
                    size = estimate(owner, *args, **plain)
                except (TypeError, ValueError, AttributeError):
                    size = 0
                budget.check_value(size, f"the result of .{name}()")
        elif isinstance(owner, (list, dict, set)) and name in _MUTATORS:
            if name in ("extend", "update") and args and hasattr(args[0], "__len__"):
                items = (len(owner) + len(args[0])) * ITEM_BYTES
                budget.check_value(items, f"a container after .{name}()")
            added = [*args, *(v for k, v in kwargs.items() if k not in _CALL_EXTRAS)]
            budget.charge(sum(deep_size(a, limit) for a in added), f"what .{name}() keeps")
        result = super().call(__context, __obj, *args, **kwargs)
        return _charged(result, budget, "a call's result", deep)


def _make_env(autoescape: bool) -> SandboxedEnvironment:
    env = _GraphSandbox(loader=BaseLoader(), autoescape=autoescape, finalize=_finalize)
    env.globals.clear()
    for name in _UNSAFE_FILTERS:
        env.filters.pop(name, None)
    env.filters["format"] = _format_filter
    env.filters["sum"] = _guarded_sum
    env.filters = {name: _guard_filter(name, func) for name, func in env.filters.items()}
    return env


_ENVS = {True: _make_env(True), False: _make_env(False)}


@lru_cache(maxsize=256)
def _compile_cached(template: str, autoescape: bool) -> Template:
    return _ENVS[autoescape].from_string(template)


def _compile(template: str, autoescape: bool) -> Template:
    if len(template) <= _CACHED_SOURCE_CHARS:
        return _compile_cached(template, autoescape)
    return _ENVS[autoescape].from_string(template)


def limits_from_settings(settings: GraphSettings) -> TemplateLimits:
    """The template limits a graph run's settings ask for."""
    return TemplateLimits(
        max_value_bytes=settings.max_value_bytes,
        max_work_bytes=settings.template_max_work_bytes,
        max_loop_iterations=settings.template_max_loop_iterations,
        timeout_s=settings.block_cpu_timeout_s,
    )


def render_template(
    template: str,
    values: Mapping[str, Any],
    *,
    autoescape: bool = False,
    limits: TemplateLimits | None = None,
    deadline: float | None = None,
) -> str:
    """Render a Jinja2 template in the sandbox with `values` as its variables.

    `deadline` is a `time.monotonic()` instant (default: now + `limits.timeout_s`); going over
    a limit raises `TemplateLimitError`, past the deadline `TemplateTimeoutError`.
    """
    budget = RenderBudget(limits or TemplateLimits(), deadline)
    limit = budget.limits.max_value_bytes
    with active_budget(budget):
        compiled = _compile(template, autoescape)
        parts: list[str] = []
        total = 0
        for chunk in compiled.generate(dict(values)):
            total += len(chunk)
            if total > limit:
                raise TemplateLimitError(
                    f"template output is over the size limit of {limit:,} bytes "
                    "(max_value_bytes)"
                )
            parts.append(chunk)
        return "".join(parts)


def _copy_containers(value: Any) -> Any:
    """A copy of nested lists, dicts and sets that shares everything else (strings...)."""
    if isinstance(value, list):
        return [_copy_containers(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy_containers(item) for key, item in value.items()}
    if isinstance(value, set):
        return set(value)
    return value


async def render_for_block(
    ctx: BlockContext, template: str, values: Mapping[str, Any], *, autoescape: bool = False
) -> str:
    """Render on a worker thread with the run's limits, stopping at the block's deadline."""
    from company.graphs.offload import run_cpu_bound

    limits = limits_from_settings(ctx.settings)

    def work(deadline: float) -> str:
        # Templates may mutate lists and dicts: give them copies, so the run's recorded
        # values never change under the event loop's feet.
        own = {key: _copy_containers(value) for key, value in values.items()}
        return render_template(
            template, own, autoescape=autoescape, limits=limits, deadline=deadline
        )

    return await run_cpu_bound(ctx, "template rendering", work)
