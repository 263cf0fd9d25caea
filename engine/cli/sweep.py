"""`python -m engine sweep|sweeps|ray-dispatch`: grids of runs, and running a queue on Ray."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rich.table import Table

from engine.cli.args import JSON, OWNER, arg, command, flag
from engine.cli.display import console
from engine.cli.specargs import add_spec_arguments, flag_values
from engine.cluster import BACKENDS, DEVICES, load_cluster_config, require_ray, shared_store_path
from engine.config import SpecError
from engine.jobs.queue import JobError, JobQueue
from engine.settings import store_root
from engine.store import Store
from engine.sweeps import expand_grid, list_sweeps, load_grid, load_sweep, submit_sweep

ENDED = ("done", "failed", "cancelled", "deleted")


RAY_FLAGS = (
    arg(
        "--address",
        default=None,
        help="Ray head to connect to, e.g. 10.0.0.1:6379, or auto (the cluster this node "
        "belongs to). Default: <store>/cluster.toml, $IMP_LAB_RAY_ADDRESS, else a Ray "
        "instance started on this machine.",
    ),
    arg(
        "--device",
        choices=DEVICES,
        default=None,
        help="What each Ray task asks for: one GPU (cuda) or one CPU; auto: a GPU when the "
        "cluster has any.",
    ),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    command(
        sub,
        "sweep",
        run_sweep,
        arg("--grid", required=True, help="Grid file (.toml or .json)."),
        arg("--seeds", default=None, help="Comma-separated seeds (replace the file's)."),
        add_spec_arguments,
        OWNER,
        flag("--dry-run", help="Validate and list the runs; queue nothing."),
        arg(
            "--backend",
            choices=BACKENDS,
            default=None,
            help="local (default): queue for local workers and return. ray: queue, then "
            "dispatch the queue to Ray until the sweep ends (Ctrl-C gives running jobs back to "
            "the queue).",
        ),
        *RAY_FLAGS,
        help="Queue a grid of runs (seeds x spec fields) from a grid file.",
        description="Expand a grid file (base spec, seeds, fields to vary) into runs, "
        "validate all of them, queue them and record the sweep so the dashboard overlays "
        "each group's seeds as a mean with a band. Submitting the same grid again resumes it. "
        "Spec flags fix a field in every run; --preset/--config replace the file's base.",
    )
    command(
        sub,
        "sweeps",
        show_sweeps,
        arg("sweep", nargs="?", help="Show this sweep's groups and runs."),
        JSON,
        help="List sweeps, or show one's groups and job states.",
    )
    command(
        sub,
        "ray-dispatch",
        run_dispatcher,
        *RAY_FLAGS,
        flag("--exit-when-idle", help="Exit once nothing is queued or running."),
        help="Run the store's queued jobs as Ray tasks on a cluster until stopped.",
        description="Turn every queued job (from `submit`, `sweep` or the app) into a Ray "
        "task asking for one GPU (or CPU); progress, errors and cancels go through the "
        "store's queue as with local workers. SIGTERM or Ctrl-C give running jobs back.",
    )


def _seeds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SpecError("seeds", f"{text!r}: write whole numbers separated by commas") from None


def _status(queue: JobQueue, job_id: str) -> str:
    try:
        return queue.get(job_id).status
    except JobError:
        return "deleted"


def run_sweep(args: argparse.Namespace) -> int:
    if args.seed is not None:
        raise SpecError("seed", "a sweep takes --seeds 0,1,2 (or seeds = [...] in the grid file)")
    root = shared_store_path(args.store or store_root())
    config = load_cluster_config(
        root, backend=args.backend, address=args.address, device=args.device
    )
    if config.backend == "ray":
        require_ray()  # before anything is queued
    base = args.preset or (str(Path(args.config).resolve()) if args.config else None)
    grid = load_grid(args.grid, base).with_overrides(flag_values(args), _seeds(args.seeds))
    if args.dry_run:
        cells = expand_grid(grid)
        table = Table(title=f"sweep {grid.name}: {len(cells)} runs (dry run, nothing queued)")
        for col in ("group", "seed", "run"):
            table.add_column(col)
        for c in cells:
            table.add_row(c.group, str(c.seed), c.spec.run_id)
        console.print(table)
        return 0
    queue = JobQueue(root)
    sweep = submit_sweep(queue, grid, owner=args.owner)
    table = Table(title=f"sweep {sweep.id}: {len(sweep.members)} runs in {root}")
    for col in ("group", "seed", "run", "job", "status"):
        table.add_column(col)
    for m in sweep.members:
        table.add_row(m.group, str(m.seed), m.run_id, m.job_id, _status(queue, m.job_id))
    console.print(table)
    if config.backend == "local":
        if not queue.live_workers():
            console.print(
                f"[yellow]no worker is running[/yellow]: start one with "
                f"`python -m engine worker --store {root}`, or dispatch to Ray with "
                f"`python -m engine ray-dispatch --store {root} --address HEAD`"
            )
        return 0
    from engine.jobs.ray_backend import RayDispatcher, dispatch_until

    ended = lambda: all(_status(queue, i) in ENDED for i in sweep.job_ids)  # noqa: E731
    dispatch_until(RayDispatcher(root, config.address, config.device), ended)
    counts = Counter(_status(queue, i) for i in sweep.job_ids)
    console.print(f"sweep {sweep.id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0 if counts["done"] == len(sweep.job_ids) else 1


def show_sweeps(args: argparse.Namespace) -> int:
    store = Store(args.store or store_root())
    queue = JobQueue(store.root)
    if args.sweep:
        sweep = load_sweep(store, args.sweep)
        if args.json:
            print(json.dumps(sweep.to_dict(), indent=2, default=str))
            return 0
        table = Table(title=f"sweep {sweep.id}")
        for col in ("group", "seed", "run", "job status"):
            table.add_column(col)
        order = list(sweep.groups())
        for m in sorted(sweep.members, key=lambda m: (order.index(m.group), m.seed)):
            table.add_row(m.group, str(m.seed), m.run_id, _status(queue, m.job_id))
        console.print(table)
        return 0
    sweeps, problems = list_sweeps(store)
    if args.json:
        print(json.dumps([s.to_dict() for s in sweeps], indent=2, default=str))
        return 0
    table = Table(title=f"sweeps in {store.root}")
    for col in ("sweep", "groups", "runs", "jobs"):
        table.add_column(col)
    for s in sweeps:
        counts = Counter(_status(queue, i) for i in s.job_ids)
        jobs = ", ".join(f"{n} {st}" for st, n in sorted(counts.items()))
        table.add_row(s.id, str(len(s.groups())), str(len(s.members)), jobs)
    console.print(table)
    for p in problems:
        console.print(f"[yellow]{p}[/yellow]", highlight=False)
    return 0


def run_dispatcher(args: argparse.Namespace) -> int:
    require_ray()
    root = shared_store_path(args.store or store_root())
    config = load_cluster_config(root, backend="ray", address=args.address, device=args.device)
    from engine.jobs.ray_backend import RayDispatcher, dispatch_until

    dispatcher = RayDispatcher(root, config.address, config.device)
    dispatch_until(dispatcher, dispatcher.idle if args.exit_when_idle else None)
    return 0
