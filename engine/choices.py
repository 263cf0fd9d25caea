"""Choices read from a registry when asked, so a spec field's allowed values (its validation,
the CLI help, the Launch form) include plugins registered after the spec module loaded.

The registry is named, not imported, so a light module (the specs) can list the names of a
heavy one (a registry whose plugins import torch) without loading it until they are read."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any


class RegisteredNames(Sequence[str]):
    """The names `module.function()` returns at the moment they are read."""

    def __init__(self, module: str, function: str):
        self.module, self.function = module, function

    def _names(self) -> list[str]:
        return list(getattr(importlib.import_module(self.module), self.function)())

    def __getitem__(self, i: Any) -> Any:
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())
