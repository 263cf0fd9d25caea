"""`python -m engine reproduce EXPERIMENT --seeds 0,1,2`: print the planned work and an
estimate of its GPU hours, then train every seed of a `reproduce` experiment and compute the
analyses behind Figures 1-5 and their controls (or queue them with --submit; only print with
--plan)."""

from __future__ import annotations

import argparse
import time

from engine.cli.args import DEVICE, Arg, arg, command, flag, submit
from engine.cli.display import ProgressReporter, console, make_progress
from engine.presets import REPRODUCE
from engine.reproduce import (
    HESSIAN_DEFAULTS,
    default_seeds,
    experiment_spec,
    normalize_payload,
    parse_seeds,
    reproduce,
)
from engine.settings import store_root
from engine.store import Store
from engine.work_plan import DEFAULT_TFLOPS, describe, plan_work


def _per_experiment(name: str, what: str) -> Arg:
    """A Hessian setting whose default each experiment sets (`HESSIAN_DEFAULTS`)."""
    defaults = ", ".join(f"{n} {d[name]}" for n, d in HESSIAN_DEFAULTS.items())
    return arg(
        f"--{name}", type=int, default=None, help=f"{what} (default per experiment: {defaults})."
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "reproduce",
        main,
        arg("experiment", choices=list(REPRODUCE), help="Which experiment."),
        arg(
            "--seeds",
            default=None,
            help="Seeds, comma-separated (default: 0-4 for the mnist5k experiments, 0,1,2 else).",
        ),
        _per_experiment("k", "Top Hessian eigenvalues per point"),
        _per_experiment("subset", "Training examples for the Hessian and trajectory losses"),
        DEVICE,
        submit("Queue one job per seed instead."),
        flag("--plan", help="Print the planned work and stop."),
        flag(
            "--smoke",
            help="One short level of the experiment on synthetic data of its shape (a CPU check "
            "of the pipeline; its runs are separate from the experiment's).",
        ),
        arg(
            "--gpu-tflops",
            type=float,
            default=DEFAULT_TFLOPS,
            help="Sustained TFLOP/s assumed by the GPU-hour estimate "
            f"(default {DEFAULT_TFLOPS:g}).",
        ),
        help="Train and analyse one experiment of the paper for several seeds.",
        description="Train one `reproduce` experiment per seed (resuming what is stored), then "
        "compute every analysis behind Figures 1-5; `report` renders them. Experiments: "
        + "; ".join(f"{k}: {v[0]}" for k, v in REPRODUCE.items()),
    )


def main(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    seeds = parse_seeds(args.seeds) if args.seeds else default_seeds(args.experiment)
    given = {"experiment": args.experiment, "k": args.k, "subset": args.subset}
    given |= {"smoke": True} if args.smoke else {}
    payloads = [normalize_payload({**given, "seed": s}) for s in seeds]
    first = payloads[0]
    spec = experiment_spec(args.experiment, first["seed"], args.smoke)
    work = plan_work(spec, first["k"], first["subset"])
    console.print(f"[bold]{args.experiment}[/bold]{' (smoke)' if args.smoke else ''}, seeds "
                  f"{', '.join(map(str, seeds))}:")  # fmt: skip
    for line in describe(spec, work, len(seeds), args.gpu_tflops):
        console.print(f"  {line}")
    if args.plan:
        return 0
    if args.submit:
        from engine.jobs.queue import JobQueue

        queue = JobQueue(store.root)
        for p in payloads:
            job = queue.submit("reproduce", p, owner="cli")
            console.print(
                f"job [bold]{job.id}[/bold] (seed {p['seed']}, {job.run_id}): {job.status}"
            )
        return 0
    t0 = time.perf_counter()
    for p in payloads:
        console.print(f"{p['experiment']} seed {p['seed']} (k={p['k']}, subset={p['subset']})")
        with make_progress() as progress:
            result = reproduce(store, p, args.device, ProgressReporter(progress))
        done = ", ".join(
            f"{a['what']} {a['computed']} new/{a['cached']} cached" for a in result["analyses"]
        )
        console.print(f"run [bold]{result['run_id']}[/bold]: {done}")
    console.print(
        f"finished in {time.perf_counter() - t0:.1f} s; render with `python -m engine report "
        f"--experiment {args.experiment} --seeds {','.join(map(str, seeds))}"
        f"{' --smoke' if args.smoke else ''} --out DIR`"
    )
    return 0
