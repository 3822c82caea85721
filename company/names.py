"""Names in SOP files → classes: the shipped roles and actions by name, anything else by import
path (``package.module:Class``), so a researcher's own roles run without editing the package."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from typing import Any

from company.action import Action
from company.boss import BOSS_ACTIONS
from company.role import Role

SHIPPED_ROLES = "roles"
SHIPPED_ACTIONS = "actions"


def is_import_path(ref: str) -> bool:
    """True for ``module:Class`` (or ``package.module.Class``), False for a bare name."""
    return ":" in ref or "." in ref


def load_object(path: str) -> Any:
    """The object an import path names; a clear ValueError when it cannot be loaded."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for {path!r}: {exc}") from None
    found: Any = module
    try:
        for part in attr.split("."):  # a nested class: Outer.Inner
            found = getattr(found, part)
    except AttributeError:
        raise ValueError(f"{module_name} has no {attr!r} (from {path!r})") from None
    return found


def _defined_in(package: str, base: type) -> dict[str, Any]:
    """The subclasses of ``base`` defined in the modules of a package, by their ``name``."""
    found: dict[str, Any] = {}
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__:
                found[obj.name] = obj
    return found


@functools.cache
def shipped_roles() -> dict[str, type[Role]]:
    """The roles that come with the company, by name."""
    return _defined_in(SHIPPED_ROLES, Role)


@functools.cache
def shipped_actions() -> dict[str, type[Action]]:
    """The actions that come with the company (the Boss's included), by name."""
    return {**{a.name: a for a in BOSS_ACTIONS}, **_defined_in(SHIPPED_ACTIONS, Action)}


def role_class(ref: str) -> type[Role]:
    """A shipped role's class by name, or any Role subclass by import path."""
    return _class_of(ref, shipped_roles(), Role, "role", "my_package.roles:Critic")


def action_class(ref: str, known: dict[str, type[Action]]) -> type[Action]:
    """An action's class: by name among ``known``, or any Action subclass by import path."""
    return _class_of(ref, known, Action, "action", "my_package.actions:Critique")


def _class_of(ref: str, known: dict[str, Any], base: type, kind: str, example: str) -> Any:
    if not is_import_path(ref):
        if ref not in known:
            raise ValueError(f"unknown {kind} {ref!r}; known: {', '.join(sorted(known))}, or "
                             f"an import path such as {example}")
        return known[ref]
    cls = load_object(ref)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"{ref!r} is not a{'n' if kind == 'action' else ''} "
                         f"{base.__name__} subclass")
    return cls


def actions_around(roles: Iterable[type[Role]]) -> dict[str, type[Action]]:
    """Every action class the shipped set and these roles bring (their actions, and the
    action classes their actions and watch sets name), by name."""
    known = dict(shipped_actions())
    for role in roles:
        refs = [*role.default_actions, *role.default_watch]
        refs += [t for action in role.default_actions for t in action.triggers]
        for ref in refs:
            if isinstance(ref, type):
                add_action(known, ref)
    return known


def add_action(known: dict[str, type[Action]], cls: type[Action]) -> None:
    """Make an action class known by its name (refusing a clash with another class)."""
    existing = known.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"two actions are named {cls.name!r}: {_path(existing)} and "
                         f"{_path(cls)}; give one another name")
    known[cls.name] = cls


def path_of(cls: type) -> str:
    """The import path to name a class in an SOP (a shipped class by its bare name)."""
    if cls.__module__.split(".")[0] in (SHIPPED_ROLES, SHIPPED_ACTIONS, "company"):
        return str(getattr(cls, "name", cls.__name__))
    return _path(cls)


def _path(cls: type) -> str:
    if "<locals>" in cls.__qualname__:
        raise ValueError(f"{cls.__qualname__} is defined inside a function, so a stored task "
                         "cannot import it again: define it at the top of a module")
    return f"{cls.__module__}:{cls.__qualname__}"
