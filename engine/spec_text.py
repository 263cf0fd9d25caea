"""A spec field's value read from text, and the spec's sections by name.

The CLI's flags (`engine.cli.specargs`), the app's Launch form (`app.forms`) and any other face
that takes a field as typed text read it here, so "3", "yes" or "none" mean the same in each;
it is the spec's knowledge, so it lives beside the spec, below every face.
"""

from __future__ import annotations

from typing import Any

from engine.booleans import parse_bool
from engine.config import (
    BaselineSpec,
    DataSpec,
    ModelSpec,
    PruneSpec,
    SpecBase,
    SpecError,
    Step,
    TrainSpec,
)

SECTIONS: dict[str, type[SpecBase]] = {
    "data": DataSpec,
    "model": ModelSpec,
    "train": TrainSpec,
    "prune": PruneSpec,
    "baselines": BaselineSpec,
}


def parse_value(text: str, default: Any, path: str) -> Any:
    """A field's text as the type its field expects (`default` says which)."""
    low = text.strip().lower()
    if low in ("none", "null") and default is None:
        return None
    if isinstance(default, bool):
        try:
            return parse_bool(text)
        except ValueError as e:
            raise SpecError(path, str(e)) from None
    if isinstance(default, tuple):
        return tuple(x.strip() for x in text.split(",") if x.strip())
    if isinstance(default, Step):
        return text
    if isinstance(default, int) or path in ("baselines.level", "train.data_order_seed"):
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
