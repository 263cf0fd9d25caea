"""Command-line flags generated from the spec dataclasses, so the CLI never drifts from them."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from engine.config import (
    BaselineSpec,
    DataSpec,
    ModelSpec,
    PruneSpec,
    RunSpec,
    SpecBase,
    SpecError,
    Step,
    TrainSpec,
    load_spec_file,
)
from engine.presets import PRESETS, preset
from engine.settings import data_root

SECTIONS: dict[str, type[SpecBase]] = {
    "data": DataSpec,
    "model": ModelSpec,
    "train": TrainSpec,
    "prune": PruneSpec,
    "baselines": BaselineSpec,
}


def flag(section: str, name: str) -> str:
    return f"--{section}-{name.replace('_', '-')}"


def _describe(f: dataclasses.Field) -> str:
    text = f.metadata.get("help", "")
    choices = f.metadata.get("choices")
    if choices:
        text += f" One of: {', '.join(map(str, choices))}."
        if f.metadata.get("multiple"):
            text += " Comma-separated."
    default = f.default
    if isinstance(default, tuple):
        default = ",".join(map(str, default)) or "(none)"
    return f"{text} Default: {default}."


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=list(PRESETS), help="Start from a named spec.")
    src.add_argument("--config", help="Start from a .json or .toml spec file.")
    parser.add_argument("--seed", type=int, help="Seed for init, data order and random masks.")
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings")
        for f in dataclasses.fields(cls):
            group.add_argument(
                flag(section, f.name), dest=f"{section}.{f.name}", metavar="V", help=_describe(f)
            )


def parse_value(text: str, default: Any, path: str) -> Any:
    """A flag's text as the type its field expects."""
    low = text.strip().lower()
    if low in ("none", "null") and default is None:
        return None
    if isinstance(default, bool):
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise SpecError(path, f"{text!r} is not true/false")
        return low in ("true", "1", "yes")
    if isinstance(default, tuple):
        return tuple(x.strip() for x in text.split(",") if x.strip())
    if isinstance(default, Step):
        return text
    if isinstance(default, int) or path in ("baselines.level",):
        try:
            return int(text)
        except ValueError:
            raise SpecError(path, f"{text!r} is not a whole number") from None
    if isinstance(default, float) or path == "prune.output_rate":
        try:
            return float(text)
        except ValueError:
            raise SpecError(path, f"{text!r} is not a number") from None
    return text


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields given as flags, by dotted path (``train.lr``), parsed to their types."""
    out: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            text = getattr(args, f"{section}.{f.name}", None)
            if text is not None:
                out[f"{section}.{f.name}"] = parse_value(text, f.default, f"{section}.{f.name}")
    return out


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """Preset or config file (or defaults), then every flag given on top."""
    base = (
        preset(args.preset)
        if args.preset
        else (load_spec_file(args.config) if args.config else RunSpec())
    )
    d = base.to_dict()
    d["data"]["root"] = data_root() if not args.config else d["data"]["root"]
    for path, value in flag_values(args).items():
        section, name = path.split(".")
        d[section][name] = value
    if args.seed is not None:
        d["seed"] = args.seed
    return RunSpec.from_dict(d)
