"""Registries find their plugins by themselves: importing every module of a package lets each
module register what it defines (with a decorator or a module-level object), so adding a
model, a data set or any other plugin is adding one file; there is no import list to forget."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


def import_submodules(package: str) -> list[str]:
    """Import every module directly inside `package` (by dotted name), in name order; return
    their dotted names. Modules whose names start with ``_`` are private helpers and skipped."""
    path = importlib.import_module(package).__path__
    names = [
        f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.name.startswith("_")
    ]
    for name in sorted(names):
        importlib.import_module(name)
    return sorted(names)


def registrar(table: dict[str, T], kind: str, name: str) -> Callable[[T], T]:
    """A decorator putting what it decorates into `table` under `name` (a `kind` of plugin,
    for the message): a name can be taken only once."""

    def add(item: T) -> T:
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = item
        return item

    return add


def lookup(table: Mapping[str, T], kind: str, name: str) -> T:
    """`table[name]`, or a ValueError naming the `kind` and listing the names there are."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(table))}")
    return table[name]
