"""Command-line flags generated from the spec dataclasses, so the CLI never drifts from them."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from engine.config import RunSpec, SpecError
from engine.presets import PRESETS, preset
from engine.settings import data_root
from engine.spec_files import load_spec_file
from engine.spec_text import SECTIONS, parse_value


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
    parser.add_argument(
        "--seed", type=int, help="Seed for init, random masks and (by default) data order."
    )
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings")
        for f in dataclasses.fields(cls):
            group.add_argument(
                flag(section, f.name), dest=f"{section}.{f.name}", metavar="V", help=_describe(f)
            )


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


def join_dash_values(argv: list[str]) -> list[str]:
    """``--train-length -5ep`` as ``--train-length=-5ep``.

    argparse takes a value that starts with '-' for the next option (and answers "expected one
    argument") unless it looks like a negative number; a spec flag's value is never an option,
    so it is attached to its flag and the spec says what is wrong with it.
    """
    flags = {flag(s, f.name) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    out: list[str] = []
    rest = iter(range(len(argv)))
    for i in rest:
        token, nxt = argv[i], argv[i + 1] if i + 1 < len(argv) else ""
        if token in flags and nxt.startswith("-") and not nxt.startswith("--"):
            out.append(f"{token}={nxt}")
            next(rest)
        else:
            out.append(token)
    return out


def check_device(text: str) -> str:
    """`--device` as given, once it names a device this machine has (else a SpecError)."""
    import torch

    name = text.strip().lower()
    if name == "auto":
        return name
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SpecError("--device", f"{text!r} is not a device; use auto, cpu or cuda:N") from None
    count = torch.cuda.device_count()
    if device.type == "cuda" and count == 0:
        raise SpecError("--device", f"{text!r}: no CUDA device is visible here; use auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= count:
        have = ", ".join(f"cuda:{i}" for i in range(count))
        raise SpecError("--device", f"{text!r}: no such device; this machine has {have}")
    if device.type not in ("cpu", "cuda"):
        raise SpecError("--device", f"{text!r} is not supported; use auto, cpu or cuda:N")
    return name
