"""What the job benchmarks share: the JSON line each measurement prints (with its reference
and the ratio), and a no-op job kind. Importing this module registers the kind; worker
processes load it through $IMP_LAB_JOB_MODULES=`MODULE`."""

from __future__ import annotations

import json

from engine.jobs.queue import KINDS, JobKind, Prepared, register_kind

MODULE = "benchmarks.common"
NOOP = "bench_noop"

if NOOP not in KINDS:
    register_kind(JobKind(NOOP, lambda store, p: Prepared(dict(p), p), lambda *a: {"ok": True}))


def emit(name: str, value: float, unit: str, ref_name: str = "", ref: float = 0.0, **extra):
    """One measurement as a JSON line; with a reference, its value and value / reference."""
    line = {"name": name, "value": round(value, 6), "unit": unit, **extra}
    if ref_name:
        line |= {"reference": ref_name, "reference_value": round(ref, 6)}
        line["ratio"] = round(value / ref, 3) if ref else None
    print(json.dumps(line), flush=True)
