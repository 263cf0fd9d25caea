"""Stacked trainings (engine.batched) against the same trainings one by one (train_level).

    .venv/bin/python benchmarks/batched.py [--models 6] [--model lenet_300_100]
        [--dataset mnist5k] [--optimizer adam] [--length 1ep] [--repeat 3] [--tiny]

N networks of one architecture on mnist5k with the demo's recipe (Adam, batch 60; or SGD
with momentum), each from its own init under its own mask (IMP's level-5 sparsity, 67%) on
its own data order, are trained together by `train_batched` and one after another by
`train_level`. Both are the runner's own calls (`engine.stacked_levels.train_levels` for the
stack) and write what it keeps of a training (metrics, the resume point every epoch, the
final checkpoint) into a fresh folder, so the times compare what the runner pays. Torch's
threads are set as `engine.threads` sets a worker's for this model and batch (one worker on
the host). The two sides alternate `--repeat` times; the line gives the medians, every
sample, the 1-minute load average before the first pair and after each, and the largest
difference between the two sides' final test accuracies.
`--tiny` is the suite's smoke size: 2 models of 20 iterations, once.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import copy
import os
import statistics
import tempfile
import time

import torch

from benchmarks.common import emit
from engine import masks as M
from engine.batched import stacked_path
from engine.data import load_dataset
from engine.models import build_model, prunable_names
from engine.presets import preset
from engine.stacked_levels import train_levels
from engine.store import LevelDir
from engine.threads import choose
from engine.train import train_level

SPARSITY = 1 - 0.8**5  # the demo's level 5


def trainings(model_name: str, n: int, data) -> tuple[torch.nn.Module, list, list]:
    """(architecture, starts, masks) of `n` networks: init seed i, pruned by magnitude."""
    starts, masks = [], []
    for seed in range(n):
        torch.manual_seed(seed)
        net = build_model(model_name, data.in_shape, data.num_classes)
        names = set(prunable_names(net))
        weights = {k: v for k, v in net.state_dict().items() if k in names}
        mask = M.prune(weights, M.ones_mask(weights), SPARSITY, "global")
        starts.append(M.project(net.state_dict(), mask))
        masks.append(mask)
    return net, starts, masks


def one_by_one(net, starts, masks, data, spec, root: Path) -> list[float]:
    """Each training by `train_level` (its own files); the final test accuracies."""
    accs = []
    for i, (start, mask) in enumerate(zip(starts, masks, strict=True)):
        model = copy.deepcopy(net)
        model.load_state_dict(start)
        result = train_level(model, mask, data, spec, LevelDir(root / str(i)), data_seed=i)
        accs.append(result.metrics[-1]["test_acc"])
    return accs


def stacked(net, starts, masks, data, spec, root: Path) -> list[float]:
    """All trainings as one stack by the runner's `train_levels`, with its files."""
    dirs = [LevelDir(root / str(i)) for i in range(len(starts))]
    n = len(starts)
    results = train_levels(
        net,
        masks,
        starts,
        data,
        spec,
        dirs,
        data_seeds=list(range(n)),
        start_iteration=0,
        path=stacked_path(n, "on"),
    )
    return [r.metrics[-1]["test_acc"] for r in results]


def timed(train, *args) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="imp-lab-batched-") as tmp:
        t0 = time.perf_counter()
        accs = train(*args, Path(tmp))
        return time.perf_counter() - t0, accs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=6, help="trainings of one architecture")
    p.add_argument("--model", default="lenet_300_100")
    p.add_argument("--dataset", default="mnist5k", help="e.g. synthetic_tiny (8x8 images)")
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument("--length", default="1ep", help="each training's length")
    p.add_argument("--repeat", type=int, default=3, help="stacked/one-by-one pairs (medians)")
    p.add_argument("--tiny", action="store_true", help="2 models x 20 iterations, once")
    args = p.parse_args()
    if args.tiny:
        args.models, args.length, args.repeat = 2, "20it", 1
    data = load_dataset(args.dataset, "unused")
    demo = preset("demo").train
    spec = demo.replace(length=args.length, optimizer=args.optimizer, checkpoint_every=0)
    policy = choose(1, args.model, spec.batch_size)
    torch.set_num_threads(policy.threads)
    net, starts, masks = trainings(args.model, args.models, data)
    loads, ours, ref, gap = [os.getloadavg()[0]], [], [], 0.0
    for _ in range(args.repeat):  # interleaved, so a neighbour's burst hits both sides
        t_ours, acc_ours = timed(stacked, net, starts, masks, data, spec)
        t_ref, acc_ref = timed(one_by_one, net, starts, masks, data, spec)
        ours.append(t_ours)
        ref.append(t_ref)
        gap = max([gap] + [abs(a - b) for a, b in zip(acc_ours, acc_ref, strict=True)])
        loads.append(os.getloadavg()[0])
    emit(
        f"{args.models} {args.model} trainings stacked (train_batched)",
        statistics.median(ours),
        "s",
        "the same one by one (train_level)",
        statistics.median(ref),
        dataset=args.dataset,
        length=args.length,
        batch_size=spec.batch_size,
        optimizer=spec.optimizer,
        threads=policy.describe(),
        ours_s=[round(t, 3) for t in ours],
        reference_s=[round(t, 3) for t in ref],
        max_test_acc_difference=gap,
        load_1m=[round(x, 2) for x in loads],
    )


if __name__ == "__main__":
    main()
