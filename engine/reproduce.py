"""Reproducing the paper: train one seed of a `REPRODUCE` experiment, then every analysis behind
Figures 1-5 of the paper (distances, projected trajectories, pruned starts, Hessian spectra at
min_L and Pr_L(min_(L−1)) for every IMP level and at the baselines' solutions) and the controls
beside them (the loss-matched control of C3, interpolation between Pr_L(min_(L−1)) and min_L
and between successive levels, and the instability of every level).

The "reproduce" job (`engine.jobs.kinds.reproduce`) runs `reproduce`. Training resumes from the
store and every analysis unit is cached, so submitting the same payload again after an
interruption only computes what is missing. The Hessian options (k,
subset) are part of the payload and of the job's identity: they change the numbers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.analysis import registry
from engine.config import RunSpec, SpecError
from engine.presets import REPRODUCE, reproduce_specs
from engine.run_progress import RunProgress, is_trained
from engine.settings import data_root
from engine.store import Store

if TYPE_CHECKING:
    from engine.train import Reporter

# Hessian sizes: the paper's top-100 where the budget allows it (LeNet: 276 products, 90 s
# per point on 2 busy CPU cores; the CIFAR experiments run on a GPU). Conv-2's 2.7M unpruned
# coordinates take 1.5-2.3 s per product on 256 images: top-20 took 115 s (50 products),
# top-100 would take ~10 min per point, 18 points per seed (docs/reproduction/README.md).
# Unlisted experiments: FALLBACK.
HESSIAN_DEFAULTS: dict[str, dict[str, int]] = {
    "lenet-mnist5k": {"k": 100, "subset": 1000},
    "conv2-mnist5k": {"k": 20, "subset": 256},
    "paper-resnet20-cifar10": {"k": 100, "subset": 2048},
    "paper-vgg16-cifar10": {"k": 100, "subset": 2048},
}
FALLBACK = {"k": 20, "subset": 1000}
SEEDS: dict[str, tuple[int, ...]] = {  # the seeds `reproduce` and `report` use by default
    "lenet-mnist5k": (0, 1, 2, 3, 4),
    "conv2-mnist5k": (0, 1, 2, 3, 4),
}
DEFAULT_SEEDS = (0, 1, 2)
# `--smoke`: one short level of an experiment on synthetic data of its shape, on a CPU
SMOKE_DATA = {(3, 32, 32): "synthetic_cifar10_small", (1, 28, 28): "synthetic_tiny"}
SMOKE_HESSIAN = {"k": 2, "subset": 16}


def _analyses():
    """Imported when used, so loading the job kinds stays light (no torch)."""
    from engine.analysis import jobs

    return jobs


def parse_seeds(text: str | list | tuple, name: str = "seeds") -> tuple[int, ...]:
    """`0,1,2` (or a list) as distinct whole numbers >= 0, in the order given."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    out: list[int] = []
    for s in items:
        if s == "":
            continue
        if isinstance(s, bool) or not str(s).isdigit():
            raise SpecError(name, f"{s!r} is not a seed; write whole numbers, e.g. 0,1,2")
        if int(s) not in out:
            out.append(int(s))
    if not out:
        raise SpecError(name, "name at least one seed, e.g. 0,1,2")
    return tuple(out)


def default_seeds(name: str) -> tuple[int, ...]:
    return SEEDS.get(name, DEFAULT_SEEDS)


def smoke_spec(spec: RunSpec) -> RunSpec:
    """`spec` cut to one short level on synthetic data of its data set's shape: the same
    model, optimizer, schedule kind, pruning and baselines, two epochs of a few images, the
    rewind at iteration 1 and a checkpoint every epoch. A test of the pipeline, not a result."""
    from engine.work_plan import data_shape

    shape = data_shape(spec.data.name)[0]
    data = spec.data.replace(name=SMOKE_DATA.get(shape, "synthetic_cifar10_small"))
    train = spec.train.replace(
        length="2ep", batch_size=64, milestones=("1ep",), warmup="0it", checkpoint_every=1
    )
    prune = spec.prune.replace(levels=1, rewind="1it")
    return spec.replace(data=data, train=train, prune=prune)


def experiment_spec(name: str, seed: int, smoke: bool = False) -> RunSpec:
    """The run of `name` for one seed (its smoke version with `smoke`), reading data from this
    installation's data folder (where data lives is not part of the run id)."""
    spec = reproduce_specs(name, (seed,))[0]
    spec = smoke_spec(spec) if smoke else spec
    return spec.replace(data=spec.data.replace(root=str(Path(data_root()).resolve())))


def payload_spec(payload: dict[str, Any]) -> RunSpec:
    """The run a reproduce job's payload (experiment, seed, smoke) trains."""
    return experiment_spec(payload["experiment"], payload["seed"], payload.get("smoke", False))


def run_ids(name: str, seeds: tuple[int, ...], smoke: bool = False) -> list[str]:
    return [experiment_spec(name, s, smoke).run_id for s in seeds]


def normalize_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """`{"experiment", "seed", "k", "subset", "smoke"}` checked, with the experiment's defaults
    filled (`smoke` only where it is true, so other payloads keep their job keys)."""
    name = payload.get("experiment")
    if name not in REPRODUCE:
        raise SpecError(
            "experiment", f"unknown experiment {name!r}; choose one of: {', '.join(REPRODUCE)}"
        )
    unknown = sorted(set(payload) - {"experiment", "seed", "k", "subset", "smoke"})
    if unknown:
        raise SpecError(
            unknown[0], "is not a reproduce option; use experiment, seed, k, subset, smoke"
        )
    out: dict[str, Any] = {
        "experiment": name,
        "seed": parse_seeds([payload.get("seed", 0)], "seed")[0],
    }
    smoke = payload.get("smoke", False)
    if not isinstance(smoke, bool):
        raise SpecError("smoke", f"{smoke!r} is not true/false")
    if smoke:
        out["smoke"] = True
    defaults = SMOKE_HESSIAN if smoke else HESSIAN_DEFAULTS.get(name, FALLBACK)
    for opt in ("k", "subset"):
        value = payload.get(opt)
        option = registry.options()[opt]
        out[opt] = option.parse(opt, defaults[opt] if value is None else value)
    return out


def analysis_requests(store: Store, run_id: str, k: int, subset: int) -> list[dict[str, Any]]:
    """Every analysis behind Figures 3-5 for a finished run (Figs. 1-2 read training logs),
    the loss-matched control, the interpolations (Pr_L(min_(L−1)) to min_L, and successive
    levels) and the instability copies."""
    spec = store.load_spec(run_id)
    hessian = {"k": k, "subset": subset}
    out: list[dict[str, Any]] = [
        {"run_id": run_id, "what": "distances"},
        {"run_id": run_id, "what": "trajectory", "subset": subset},
        {"run_id": run_id, "what": "pruned_start"},
        {"run_id": run_id, "what": "spectrum", **hessian},
        {"run_id": run_id, "what": "loss_matched", **hessian},
        {"run_id": run_id, "what": "interpolation"},
        {"run_id": run_id, "what": "instability"},
    ]
    at = spec.baseline_level
    baselines = [b for b in spec.baselines.kinds if at in store.levels(run_id, b)]
    if baselines:
        levels = {b: [at] for b in baselines}
        out.append(
            {
                "run_id": run_id,
                "what": "spectrum",
                "branches": baselines,
                "levels": levels,
                "points": ["solution"],
                **hessian,
            }
        )
    return out


class _Prefixed:
    """A reporter that names the experiment step in each progress label."""

    def __init__(self, inner: Any, prefix: str):
        self.inner, self.prefix = inner, prefix

    def progress(self, **fields: Any) -> None:
        self.inner.progress(**{**fields, "label": f"{self.prefix} {fields.get('label', '')}"})

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        self.inner.epoch_done(row, f"{self.prefix} {label}")

    def cancelled(self) -> bool:
        return self.inner.cancelled()


def reproduce(
    store: Store, payload: dict[str, Any], device: Any = None, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Train (or resume) one seed of an experiment, then compute its missing analyses."""
    from engine.imp import open_run, train_run
    from engine.train import Cancelled, NullReporter

    reporter = reporter or NullReporter()
    p = normalize_payload(payload)
    spec = payload_spec(p)
    t0 = time.perf_counter()
    ctx = open_run(spec, store, device, RunProgress(reporter, spec, store))
    try:
        train_run(ctx)
    except (Cancelled, Exception) as e:  # as the run job: the run list shows what happened
        store.touch(spec.run_id, status="cancelled" if isinstance(e, Cancelled) else "failed")
        raise
    summaries = []
    requests = analysis_requests(store, spec.run_id, p["k"], p["subset"])
    requests = [_analyses().checked_request(store, r) for r in requests]  # all before any runs
    for request in requests:
        summary = _analyses().execute(store, request, device, _Prefixed(reporter, "analysis"))
        summaries.append({k: summary[k] for k in ("what", "units", "computed", "cached")})
    return {"run_id": spec.run_id, **p, "analyses": summaries, "seconds": time.perf_counter() - t0}


def is_reproduced(store: Store, payload: dict[str, Any]) -> bool:
    """Whether the run is finished and every analysis of it is stored."""
    p = normalize_payload(payload)
    spec = payload_spec(p)
    if not is_trained(store, spec):
        return False
    requests = analysis_requests(store, spec.run_id, p["k"], p["subset"])
    return all(_analyses().is_stored(store, r) for r in requests)
