"""Test-only job kinds (worker processes load them through $IMP_LAB_JOB_MODULES) and the
small run specs the job tests use."""

import os
import time

from engine.config import RunSpec, SpecError
from engine.jobs.records import KINDS, JobKind, Prepared, register_kind
from tests.engine.conftest import tiny_spec


def small_spec(seed=0, levels=1, length="2ep", batch_size=64, kinds=()) -> RunSpec:
    """`tiny_spec` resized: a few seconds of training at most."""
    d = tiny_spec().to_dict()
    d["seed"], d["prune"]["levels"], d["baselines"]["kinds"] = seed, levels, list(kinds)
    d["train"]["length"], d["train"]["batch_size"] = length, batch_size
    return RunSpec.from_dict(d)


def _prepare(store, payload):
    return Prepared(dict(payload), payload)


def _record(job, store, device, reporter):
    """One file per execution, so a test can count how often each job ran."""
    out = store.root / "executions"
    out.mkdir(exist_ok=True)
    (out / f"{job.id}.{os.getpid()}.{time.time_ns()}").write_text(job.worker or "")
    time.sleep(job.payload.get("sleep", 0.0))
    return {"n": job.payload.get("n")}


def _crash(job, store, device, reporter):
    raise RuntimeError(f"boom {job.payload.get('n')}")


def _refuse(job, store, device, reporter):
    raise SpecError("payload.n", "cannot be used; a retry would not help")


for kind in (
    JobKind("test_record", _prepare, _record),
    JobKind("test_crash", _prepare, _crash),
    JobKind("test_refuse", _prepare, _refuse),
):
    if kind.name not in KINDS:
        register_kind(kind)
