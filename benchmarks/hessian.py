"""Benchmark: top-k Hessian eigenvalues, ours against PyHessian and plain scipy Lanczos.

Trains the model briefly (a Hessian at a trained point, as the analyses see it), then prints
one JSON line per measurement:

- ``setup``: model, data, device, threads, dimension, load average;
- ``hvp``: milliseconds per Hessian-vector product, forward-over-reverse against
  reverse-over-reverse with the gradient graph kept, and how far apart they are;
- ``top_k``: one per backend, seconds (wall, and CPU time of all threads: on a busy machine
  the wall time mostly measures the neighbours), products, the largest and k-th eigenvalue,
  negatives, and the largest relative difference from the reference over all k and at the
  k-th value.
  The reference is the ``arpack`` run when it comes first in `--backends` (scipy's eigsh at
  the tight `--arpack-tol`: the "plain Lanczos" of ANCHORS.md);
- ``ratio``: each backend's seconds and products over ours.

Defaults (LeNet-300-100, 1,000 mnist5k images, k = 100, CPU) take a few minutes, most of them
PyHessian's. On a GPU, e.g.:
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

import numpy as np
import torch
import torch.nn.functional as F

from engine import masks as M
from engine.analysis.hessian import data_subset, top_eigenvalues
from engine.analysis.hvp import HessianOperator
from engine.data import batches, load_dataset
from engine.imp import resolve_device
from engine.models import build_model, prunable_names
from engine.settings import data_root


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


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


def hvp_ms(op: HessianOperator, repeats: int) -> tuple[float, torch.Tensor]:
    v = op.random_vector(torch.Generator().manual_seed(0))
    out = op.matvec(v)  # warm-up (and, in reverse mode, the graph is built here)
    times = []
    for _ in range(repeats):
        if op.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        op.matvec(v)
        if op.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times), out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    p.add_argument("--model", default="lenet_300_100")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--n", type=int, default=1000, help="training examples in the subset")
    p.add_argument("--k", type=int, default=100, help="eigenvalues to find")
    p.add_argument("--tol", type=float, default=1e-3, help="tolerance of ours and PyHessian")
    p.add_argument("--arpack-tol", type=float, default=1e-10, help="tolerance of eigsh")
    p.add_argument("--backends", default="arpack,lanczos,pyhessian", help="comma-separated")
    p.add_argument("--sparsity", type=float, default=0.0, help="fraction of weights pruned")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1.2e-3)
    p.add_argument("--batch", type=int, default=60)
    p.add_argument("--chunk-size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5, help="timed products per HVP mode")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    model, state, mask, data = trained_point(args, device)
    x, y, _ = data_subset(data, size=args.n, seed=args.seed)
    common = dict(chunk_size=args.chunk_size, device=device)

    ops = {
        m: HessianOperator(model, state, mask, x, y, mode=m, **common)
        for m in ("forward", "reverse")
    }
    emit(
        what="setup",
        model=args.model,
        dataset=args.dataset,
        n=len(x),
        k=args.k,
        dim=ops["forward"].dim,
        sparsity=args.sparsity,
        device=str(device),
        gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        threads=torch.get_num_threads(),
        loadavg=os.getloadavg()[0],
        torch=torch.__version__,
    )
    ms = {m: hvp_ms(op, args.repeats) for m, op in ops.items()}
    base = ms["forward"][1]
    for m, (t, out) in ms.items():
        diff = float((out - base).norm() / base.norm())
        emit(what="hvp", mode=m, ms=round(t, 2), rel_diff_vs_forward=diff)
    del ops, ms

    runs, reference = {}, None
    for backend in args.backends.split(","):
        tol = args.arpack_tol if backend == "arpack" else args.tol
        cpu0 = time.process_time()
        s = top_eigenvalues(
            model, state, mask, x, y, k=args.k, backend=backend, tol=tol, seed=args.seed, **common
        )
        cpu = time.process_time() - cpu0  # all threads; on a busy machine, closer to the work
        runs[backend] = s
        values = np.array(s.eigenvalues)
        row = dict(
            what="top_k",
            backend=backend,
            seconds=round(s.seconds, 2),
            cpu_seconds=round(cpu, 2),
            n_hvp=s.n_hvp,
            k=s.k,
            tol=tol,
            lambda_1=values[0],
            lambda_k=values[-1],
            n_negative=s.n_negative,
            converged=s.converged,
        )
        if reference is not None:
            err = np.abs(values - reference) / np.abs(reference)
            row.update(max_rel_err=float(err.max()), tail_rel_err=float(err[-1]))
        elif backend == "arpack":
            reference = values
        emit(**row)
    if "lanczos" in runs:
        ours = runs["lanczos"]
        for backend, s in runs.items():
            if backend != "lanczos":
                emit(
                    what="ratio",
                    backend=backend,
                    seconds=round(s.seconds, 2),
                    ours_seconds=round(ours.seconds, 2),
                    speedup=round(s.seconds / ours.seconds, 2),
                    n_hvp=s.n_hvp,
                    ours_n_hvp=ours.n_hvp,
                )


if __name__ == "__main__":
    main()
