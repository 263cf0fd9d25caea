"""What the job benchmarks share: the JSON line each measurement prints (with its reference
and the ratio), one busy process to run beside a measurement, and a no-op job kind.
Importing this module registers the kind; worker processes load it through
$IMP_LAB_JOB_MODULES=`MODULE`."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator

from engine.jobs.queue import KINDS, JobKind, Prepared, register_kind

MODULE = "benchmarks.common"
NOOP = "bench_noop"
BUSY = [sys.executable, "-c", "while True: pass"]  # what a server and a browser are to a worker

if NOOP not in KINDS:
    register_kind(JobKind(NOOP, lambda store, p: Prepared(dict(p), p), lambda *a: {"ok": True}))


def emit(name: str, value: float, unit: str, ref_name: str = "", ref: float = 0.0, **extra):
    """One measurement as a JSON line; with a reference, its value and value / reference."""
    line = {"name": name, "value": round(value, 6), "unit": unit, **extra}
    if ref_name:
        line |= {"reference": ref_name, "reference_value": round(ref, 6)}
        line["ratio"] = round(value / ref, 3) if ref else None
    print(json.dumps(line), flush=True)


@contextlib.contextmanager
def busy_process(on: bool = True) -> Iterator[None]:
    """One process spinning on a core beside the body (none when `on` is false): the issue's
    "beside one busy process"."""
    hog = subprocess.Popen(BUSY) if on else None
    try:
        yield
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
