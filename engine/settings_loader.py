"""The one reader of installation settings: environment, then ``imp-lab.toml``, then defaults.

Every group of settings is a typed, frozen dataclass that validates itself (`engine.settings`'
`Settings` and `Limits`, `engine.jobs.records.JobSettings`, `engine.cluster.ClusterConfig`);
`load_section` fills one from, in order of precedence:

1. its environment variable (a variable set to the empty string counts as unset);
2. its key in the config file, at the top level or in the group's table (``[limits]``,
   ``[jobs]``, ``[cluster]``);
3. any lower layer the caller passes (the deprecated ``<store>/cluster.toml``);
4. the dataclass default.

Command-line flags that are not None override all of these. The config file is
``$IMP_LAB_CONFIG`` when set, else ``imp-lab.toml`` in the working directory: not in the store,
because the file says where the store is. It is parsed as data (TOML), never executed. A bad
value is one `SpecError` whose field is the variable or key it came from (``IMP_LAB_WORKERS``,
``cluster.backend``) and whose message says what to write instead.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine.booleans import parse_bool
from engine.config import SpecError

CONFIG_ENV = "IMP_LAB_CONFIG"
CONFIG_DEFAULT = "imp-lab.toml"
TOP_LEVEL = ("store", "data", "workers", "hosted", "users")  # `engine.settings.Settings`
TABLES = ("limits", "jobs", "cluster")

T = TypeVar("T")


@dataclass(frozen=True)
class Layer:
    """Settings from one file: `values` (a table of it), named `prefix` + key in errors."""

    values: Mapping[str, Any]
    prefix: str
    path: Path | None = None


def config_path() -> Path | None:
    """The config file in use: $IMP_LAB_CONFIG (which must exist), else ./imp-lab.toml if any."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        if not Path(named).is_file():
            raise SpecError(CONFIG_ENV, f"no config file at {named}; fix the path or unset it")
        return Path(named)
    return Path(CONFIG_DEFAULT) if Path(CONFIG_DEFAULT).is_file() else None


def config_env() -> dict[str, str]:
    """$IMP_LAB_CONFIG naming the config file in use by its absolute path, for a process that
    starts in another folder (a Ray task, on a node that mounts the file at the same path)."""
    path = config_path()
    return {} if path is None else {CONFIG_ENV: str(path.resolve())}


def read_toml(path: Path, field: str) -> dict[str, Any]:
    """A TOML file's content; anything unreadable is one SpecError naming `field`."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SpecError(field, f"{path} is not valid TOML: {e}") from None


Config = tuple[dict[str, Any], Path | None]  # read_config's answer: content, path


def read_config() -> Config:
    """The config file's content (empty without one) and its path; an unknown top-level key
    or a group that is not a table is refused here, so it is never silently ignored."""
    path = config_path()
    if path is None:
        return {}, None
    data = read_toml(path, CONFIG_ENV)
    known = (*TOP_LEVEL, *TABLES)
    for key, value in data.items():
        if key not in known:
            raise SpecError(key, f"unknown setting in {path}; use one of: {', '.join(known)}")
        if key in TABLES and not isinstance(value, dict):
            raise SpecError(key, f"must be a table in {path}: write [{key}] and its keys below")
    return data, path


def config_layer(table: str | None, config: Config | None = None) -> Layer:
    """The config file's top level (`table` None) or one of its `TABLES`, from `config` (a
    `read_config()` a caller reading several layers made once) or the file read now."""
    data, path = config or read_config()
    if table is None:
        return Layer({k: v for k, v in data.items() if k in TOP_LEVEL}, "", path)
    return Layer(data.get(table, {}), f"{table}.", path)


def _kind(hint: Any) -> type:
    """The type a field's value converts to: `int | None` reads as int."""
    if isinstance(hint, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def convert(key: str, value: Any, kind: type, default: Any = None) -> Any:
    """`value` (environment text or a TOML value) as `kind`; else a SpecError naming `key`."""
    hint = "" if default is None else f" (default {default})"
    if kind is bool:
        if isinstance(value, bool):
            return value
        try:
            return parse_bool(str(value)) if str(value).strip() else False  # "": off
        except ValueError as e:
            raise SpecError(key, str(e)) from None
    if kind in (int, float) and not isinstance(value, bool):
        try:
            return kind(str(value).strip())
        except ValueError:
            pass
        what = "a whole number" if kind is int else "a number"
        raise SpecError(key, f"{value!r} is not {what}; write {what}{hint}")
    if kind is str and isinstance(value, str):
        return value
    raise SpecError(key, f"{value!r} is not {kind.__name__}; write one{hint}")


def read_values(
    cls: type,
    env: Mapping[str, str],
    layers: list[Layer],
    names: tuple[str, ...] | None = None,
    kinds: Mapping[str, type] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values set for `cls`'s fields (or `names` of them) and where each came from.

    `layers` are in precedence order, below the environment; `kinds` names the type a field
    is written as where that is not its own (a file's path, say). A key of a layer that is
    no field is refused: a typo must not fall back to the default unnoticed.
    """
    hints = typing.get_type_hints(cls) | dict(kinds or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if names is None or f.name in names}
    for layer in layers:
        for key in layer.values:
            if key not in fields:
                where = f" in {layer.path}" if layer.path else ""
                choices = ", ".join(fields)
                raise SpecError(
                    f"{layer.prefix}{key}", f"unknown setting{where}; use one of: {choices}"
                )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, f in fields.items():
        kind = _kind(hints[name])
        default = None if f.default is dataclasses.MISSING else f.default
        raw = os.environ.get(env[name], "") if name in env else ""
        if raw.strip():
            sources[name] = env[name]
            values[name] = convert(env[name], raw, kind, default)
            continue
        for layer in layers:
            if name in layer.values:
                sources[name] = f"{layer.prefix}{name}"
                values[name] = convert(sources[name], layer.values[name], kind, default)
                break
    return values, sources


def construct(cls: type[T], values: dict[str, Any], sources: Mapping[str, str]) -> T:
    """`cls(**values)`; a value its own checks refuse is named by where it came from."""
    try:
        return cls(**values)
    except SpecError as e:
        if e.field_path not in sources:
            raise
        raise SpecError(sources[e.field_path], str(e)[len(e.field_path) + 2 :]) from None


def load_section(
    cls: type[T],
    table: str,
    env: Mapping[str, str],
    below: list[Layer] | None = None,
    config: Config | None = None,
    **overrides: Any,
) -> T:
    """`cls` from the environment, the config file's `[table]` (of `config`, else the file
    read now), the layers `below`, its defaults; then the `overrides` that are not None
    (command-line flags)."""
    layers = [config_layer(table, config), *(below or [])]
    values, sources = read_values(cls, env, layers)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return construct(
        cls,
        values,
        {k: v for k, v in sources.items() if k not in overrides or overrides[k] is None},
    )
