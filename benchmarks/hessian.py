"""Benchmark: the Hessian analyses, ours against their references, measured in one run.

Trains the model briefly (a Hessian at a trained point, as the analyses see it), then prints
one JSON line per measurement. Comparisons use benchmarks.common's form (`value`, its
`reference`, `reference_value` and `ratio` = value / reference_value); every line carries
the 1-minute load average before and after it (on a shared machine, a "quiet" figure is only
as quiet as its load says):

- ``setup``: model, data, device, threads, dimension;
- ``hvp_ms``: milliseconds per Hessian-vector product in passes of `--block` rows
  (`HessianOperator.matmat`) against one at a time, per mode (forward-over-reverse;
  reverse-over-reverse with the gradient graph kept), and products per second;
- ``top_k``: one line per backend: seconds (wall, and CPU time of all threads), products,
  products per second, the largest and k-th eigenvalue, and the largest relative difference
  from the ``arpack`` run (scipy's eigsh at the tight `--arpack-tol`) over all k;
- ``top_k_seconds``: ours (block Lanczos) against each other backend (ARPACK; the
  one-vector Lanczos it replaced, ``lanczos1``; PyHessian if asked for);
- ``trace_stderr``: Hutch++'s standard error against plain Hutchinson's at equal products;
- ``density_seconds``: SLQ with `--vectors` start vectors as one block against one at a time,
  in forward mode (where products batch; reverse mode runs them one at a time anyway).

Defaults (LeNet-300-100, 1,000 mnist5k images, k = 100, CPU) take about two minutes, most of
it ARPACK's. `--tiny` is the suite's smoke size (seconds). On a GPU, e.g.:
  python benchmarks/hessian.py --device cuda --model resnet20 --dataset synthetic_cifar10 --n 2048
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import emit
from engine import masks as M
from engine.analysis.hessian import (
    data_subset,
    hutchinson_trace,
    spectral_density,
    top_eigenvalues,
)
from engine.analysis.hvp import HessianOperator
from engine.analysis.point import LossPoint
from engine.data import batches, load_dataset
from engine.imp import resolve_device
from engine.models import build_model, prunable_names
from engine.settings import data_root

TINY = ["--n", "64", "--k", "4", "--sparsity", "0.9", "--epochs", "0", "--samples", "9"]
TINY += ["--vectors", "2", "--steps", "5", "--repeats", "1", "--block", "2"]


def line(**row: Any) -> None:
    print(json.dumps(row), flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """fn's result, and its wall and CPU seconds with the load average around it."""
    before, cpu, wall = os.getloadavg()[0], time.process_time(), time.perf_counter()
    out = fn()
    return out, {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "load_before": round(before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def trained_point(args, device):
    """(model, state, mask, data): a few epochs of Adam, then global magnitude pruning."""
    torch.manual_seed(args.seed)
    data = load_dataset(args.dataset, data_root(), False, device)
    model = build_model(args.model, data.in_shape, data.num_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    model.train()
    for epoch in range(args.epochs):
        g = torch.Generator().manual_seed(args.seed + epoch)
        for xb, yb in batches(data.train_x, data.train_y, args.batch, g, True, data.augment):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    weights = {k: state[k] for k in prunable_names(model)}
    mask = M.prune(weights, M.ones_mask(weights), args.sparsity)
    return model, state, mask, data


def hvp_ms(op: HessianOperator, rows: int, repeats: int) -> tuple[float, torch.Tensor]:
    """Median milliseconds per product in passes of `rows` vectors, and the products."""
    v = torch.stack([op.random_vector(torch.Generator().manual_seed(i)) for i in range(rows)])
    out = op.matmat(v)  # warm-up (and, in reverse mode, the graph is built here)
    times = []
    for _ in range(repeats):
        if op.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        op.matmat(v)
        if op.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / rows, out


def bench_hvp(args, point: LossPoint, kw: dict) -> None:
    """Products one at a time and in passes of `--block`, in both modes."""
    base = None
    for mode in ("forward", "reverse"):
        op = HessianOperator(point, chunk_size=kw["chunk_size"], mode=mode)
        op.batch = args.block
        (ms1, out), load = timed(lambda op=op: hvp_ms(op, 1, args.repeats))
        (msb, outb), _ = timed(lambda op=op: hvp_ms(op, args.block, args.repeats))
        base = out if base is None else base
        diff = float((outb[0] - base[0]).norm() / base[0].norm())
        emit(
            "hvp_ms",
            msb,
            "ms",
            "one at a time",
            ms1,
            mode=mode,
            batch=args.block,
            products_per_s=round(1000 / msb, 1),
            rel_diff_vs_forward=diff,
            load_before=load["load_before"],
            load_after=load["load_after"],
        )


def bench_top_k(args, point: LossPoint, kw: dict) -> None:
    runs, reference = {}, None
    for backend in args.backends.split(","):
        tol = args.arpack_tol if backend == "arpack" else args.tol
        block = args.block if backend == "lanczos" and args.block_top else None
        s, t = timed(
            lambda backend=backend, tol=tol, block=block: top_eigenvalues(
                point, k=args.k, backend=backend, tol=tol, block=block, **kw
            )
        )
        runs[backend] = t | {"n_hvp": s.n_hvp}
        values = np.array(s.eigenvalues)
        row = dict(
            what="top_k",
            backend=backend,
            seconds=round(s.seconds, 2),
            cpu_seconds=round(t["cpu"], 2),
            n_hvp=s.n_hvp,
            products_per_s=round(s.n_hvp / s.seconds, 1),
            k=s.k,
            tol=tol,
            lambda_1=values[0],
            lambda_k=values[-1],
            n_negative=s.n_negative,
            converged=s.converged,
            load_before=t["load_before"],
            load_after=t["load_after"],
        )
        if reference is not None:
            err = np.abs(values - reference) / np.abs(reference)
            row.update(max_rel_err=float(err.max()), tail_rel_err=float(err[-1]))
        elif backend == "arpack":
            reference = values
        line(**row)
    ours = runs.get("lanczos")
    for backend, t in runs.items():
        if ours is not None and backend != "lanczos":
            emit(
                "top_k_seconds",
                ours["wall"],
                "s",
                backend,
                t["wall"],
                k=args.k,
                cpu=round(ours["cpu"], 2),
                reference_cpu=round(t["cpu"], 2),
                n_hvp=ours["n_hvp"],
                reference_n_hvp=t["n_hvp"],
                load_before=ours["load_before"],
                load_after=t["load_after"],
            )


def bench_trace(args, point: LossPoint, kw: dict) -> None:
    """Equal products; the stderr is what a fixed budget buys."""
    out = {}
    for method in ("hutch++", "hutchinson"):
        out[method] = timed(
            lambda method=method: hutchinson_trace(
                point, n_samples=args.samples, method=method, **kw
            )
        )
    (ours, t), (ref, rt) = out["hutch++"], out["hutchinson"]
    emit(
        "trace_stderr",
        ours.stderr,
        "",
        "hutchinson",
        ref.stderr,
        n_samples=args.samples,
        mean=ours.mean,
        reference_mean=ref.mean,
        rank=ours.rank,
        seconds=round(t["wall"], 2),
        reference_seconds=round(rt["wall"], 2),
        load_before=t["load_before"],
        load_after=rt["load_after"],
    )


def bench_density(args, point: LossPoint, kw: dict) -> None:
    out = {}
    for block in (args.vectors, 1):
        out[block] = timed(
            lambda block=block: spectral_density(
                point, n_vectors=args.vectors, steps=args.steps, mode="forward", block=block, **kw
            )
        )[1]
    t, rt = out[args.vectors], out[1]
    emit(
        "density_seconds",
        t["wall"],
        "s",
        "one start at a time",
        rt["wall"],
        mode="forward",
        vectors=args.vectors,
        steps=args.steps,
        load_before=t["load_before"],
        load_after=rt["load_after"],
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    p.add_argument("--model", default="lenet_300_100")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--n", type=int, default=1000, help="training examples in the subset")
    p.add_argument("--k", type=int, default=100, help="eigenvalues to find")
    p.add_argument("--tol", type=float, default=1e-3, help="tolerance of ours and PyHessian")
    p.add_argument("--arpack-tol", type=float, default=1e-10, help="tolerance of eigsh")
    p.add_argument(
        "--backends",
        default="arpack,lanczos,lanczos1",
        help="comma-separated; ours is lanczos; add pyhessian for PyHessian (slow)",
    )
    p.add_argument("--sparsity", type=float, default=0.0, help="fraction of weights pruned")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1.2e-3)
    p.add_argument("--batch", type=int, default=60)
    p.add_argument("--chunk-size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5, help="timed passes per HVP measurement")
    p.add_argument("--block", type=int, default=8, help="rows per pass in the hvp lines")
    p.add_argument(
        "--block-top",
        action="store_true",
        help="use --block as the top-k block width (default: the solver's choice)",
    )
    p.add_argument("--samples", type=int, default=100, help="trace products")
    p.add_argument("--vectors", type=int, default=4, help="density start vectors")
    p.add_argument("--steps", type=int, default=80, help="density Lanczos steps per start")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--skip", default="", help="comma-separated: hvp,top_k,trace,density")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="the suite's smoke size: " + " ".join(TINY))
    args = p.parse_args(argv)
    if args.tiny:
        args = p.parse_args([*TINY, *(argv or [])])
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    model, state, mask, data = trained_point(args, device)
    x, y, _ = data_subset(data, size=args.n, seed=args.seed)
    line(
        what="setup",
        model=args.model,
        dataset=args.dataset,
        n=len(x),
        k=args.k,
        dim=HessianOperator(LossPoint(model, state, mask, x, y)).dim,
        sparsity=args.sparsity,
        device=str(device),
        gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        threads=torch.get_num_threads(),
        loadavg=os.getloadavg()[0],
        torch=torch.__version__,
    )
    benches = {
        "hvp": bench_hvp,
        "top_k": bench_top_k,
        "trace": bench_trace,
        "density": bench_density,
    }
    kw = dict(seed=args.seed, chunk_size=args.chunk_size)
    point = LossPoint(model, state, mask, x, y, device)
    for name, bench in benches.items():
        if name not in args.skip.split(","):
            bench(args, point, kw)


if __name__ == "__main__":
    main()
