"""Spec files: a JSON or TOML file read as data (never executed) into a validated RunSpec."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from engine.config import RunSpec, SpecError


def load_spec_file(path: str | Path) -> RunSpec:
    """Parse a JSON or TOML file as data (never executed) into a validated RunSpec."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("config", f"no such file {str(p)!r}")
    try:
        text = p.read_text()
    except UnicodeDecodeError as e:
        raise SpecError(
            "config",
            f"{p.name} is not a text file (byte {e.start} is not UTF-8); give a .json or "
            ".toml spec",
        ) from None
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            raise SpecError("config", f"{p.name}: use a .json or .toml file")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise SpecError("config", f"{p.name} is not valid {p.suffix[1:].upper()}: {e}") from None
    return RunSpec.from_dict(data)
