"""What a run id hashes, and the content hash every cache key uses.

A run id must not change when the code gains a field, or every stored run would be renamed
and its results orphaned. So the fields hashed in the first stores always count, and a field
added since counts only when a spec sets it to something other than its default (OpenLTH's
`hparams` hash only what differs from the defaults). `tests/fixtures/store-2026-12-01` holds
specs as stores of that day wrote them; a test finds every one under its folder's id.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# What a run id hashed in the stores of 2026-12-01 (tests/fixtures/store-2026-12-01): these
# fields always count. Written out, not derived, so that a new field does not join them.
HASHED_SINCE_V1: dict[str, tuple[str, ...]] = {
    ".": ("seed",),
    "data": ("name",),
    "model": ("name",),
    "train": (
        "optimizer",
        "lr",
        "momentum",
        "weight_decay",
        "batch_size",
        "length",
        "schedule",
        "milestones",
        "gamma",
        "warmup",
        "checkpoint_every",
    ),
    "prune": ("levels", "rate", "output_rate", "scope", "criterion", "rewind"),
}
# Where data lives and whether to fetch it change no result; baselines are branches of a run.
# Whether the step is compiled (train.compile) changes results only in float rounding, as the
# device and thread count do, which no id holds either; `auto` picks by machine, and a run
# trained compiled is the same experiment as one trained eagerly. (train.precision=bf16
# changes results beyond rounding: it counts, as any later field does, when not the default.)
# Stacking trainings (train.stack, engine.stacking) likewise changes only the order in which
# float32 sums are added (tests/engine/test_batched.py states by how much).
NOT_HASHED = frozenset({"baselines", "data.root", "data.download", "train.compile", "train.stack"})


def hashed_fields(spec: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The part of a run spec's `to_dict()` its id hashes, given the defaults' `to_dict()`:
    every field of `HASHED_SINCE_V1`, and any other not in `NOT_HASHED` that differs from
    its default."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in NOT_HASHED:
            continue
        if isinstance(value, dict):
            always = HASHED_SINCE_V1.get(key, ())
            out[key] = {
                k: v
                for k, v in value.items()
                if k in always or (f"{key}.{k}" not in NOT_HASHED and v != defaults[key][k])
            }
        elif key in HASHED_SINCE_V1["."] or value != defaults[key]:
            out[key] = value
    return out


def content_hash(obj: Any) -> str:
    """SHA-256 of canonical JSON: the cache key of anything made of plain data."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
