"""Compiled training steps and Hessian-vector products (engine.compiled) against eager ones.

    .venv/bin/python benchmarks/compile.py [--models lenet_300_100,conv2] [--steps 60]
        [--images 1000] [--device cpu] [--tiny]

For each model, on mnist5k with the demo's recipe (Adam, batch 60) under a mask of IMP's
level-5 sparsity (67%), the masked step (forward, backward, masked gradients, Adam, weights
re-masked) is taken eager and compiled (`CompiledStepper`, what `train.compile=on` runs)
from one start, the two sides' timed steps interleaved. A third copy is compiled after
them: the first compile is cold (Inductor's on-disk cache is a fresh temporary folder), the
second is what each later training in the same process pays (each `train_level` compiles
its own model; Inductor's cache then holds the graphs). One JSON line per model: the
compiled step's median time against the eager one's (and both sides' quartiles), both
compile times (the 3 guarded first steps' wall time less 3 compiled steps'), the steps each
takes to repay (null when compiling saves nothing), and the largest difference between the
eager and compiled weights after the timed steps (float rounding, grown by training). Torch's
threads are set as `engine.threads` sets a worker's for the model and batch.

Then one line for the Hessian-vector product (`HessianOperator(compile=True)`, forward
mode) of LeNet-300-100 on `--images` images, one thread, against the eager forward product
and with the eager reverse product (what `auto` picks on a CPU) alongside. `--tiny` is the
suite's smoke size: LeNet-300-100's step, 3 timed steps, no products.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import copy
import os
import tempfile

# Before torch is imported: the first compile must not find graphs a previous run cached.
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="imp-lab-inductor-")
import statistics
import time

import torch

from benchmarks.common import emit
from engine import masks as M
from engine.analysis.hvp import HessianOperator
from engine.analysis.point import LossPoint
from engine.compiled import CompiledStepper, Stepper, choose
from engine.data import load_dataset
from engine.models import build_model, prunable_names
from engine.presets import preset
from engine.threads import choose as choose_threads
from engine.train import MaskedParams, make_optimizer

SPARSITY = 1 - 0.8**5  # the demo's level 5


def start(model_name: str, data) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    net = build_model(model_name, data.in_shape, data.num_classes)
    names = set(prunable_names(net))
    weights = {k: v for k, v in net.state_dict().items() if k in names}
    mask = M.prune(weights, M.ones_mask(weights), SPARSITY, "global")
    net.load_state_dict(M.project(net.state_dict(), mask))
    return net, mask


def timed_step(stepper: Stepper, xb, yb, lr: float) -> float:
    """Seconds of one step, the learning rate set as train_level sets it."""
    t0 = time.perf_counter()
    stepper.set_lr(lr)
    _, loss = stepper.step(xb, yb)
    loss.item()  # the loop reads the loss too; on CUDA this waits for the step
    return time.perf_counter() - t0


def stepper_for(kind: str, net, mask, spec, device, steps: int) -> Stepper:
    model = copy.deepcopy(net).to(device).train()
    masked = MaskedParams(model, mask)
    optimizer = make_optimizer(list(model.parameters()), spec)
    path = choose("off" if kind == "eager" else "on", device, steps, "fp32")
    if kind == "eager":
        return Stepper(model, masked, optimizer, path)
    return CompiledStepper(model, masked, optimizer, path, spec.batch_size)


def measure(model_name: str, data, spec, steps: int, device: torch.device) -> None:
    net, mask = start(model_name, data)
    n = spec.batch_size
    batches = [
        (data.train_x[i * n : (i + 1) * n].to(device), data.train_y[i * n : (i + 1) * n].to(device))
        for i in range(steps)
    ]
    kinds = ("eager", "compiled", "recompiled")
    steppers = {k: stepper_for(k, net, mask, spec, device, steps) for k in kinds}
    warm = {k: sum(timed_step(s, *b, spec.lr) for b in batches[:3]) for k, s in steppers.items()}
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for xb, yb in batches[3:]:  # interleaved, so a neighbour's burst hits both sides
        for kind in times:
            times[kind].append(timed_step(steppers[kind], xb, yb, spec.lr))
    eager, compiled = (statistics.median(times[k]) for k in ("eager", "compiled"))
    stepper = steppers["compiled"]
    cold, again = (warm[k] - 3 * compiled for k in ("compiled", "recompiled"))
    saving = eager - compiled
    weights = [dict(steppers[k].model.named_parameters()) for k in ("eager", "compiled")]
    gap = max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0])
    emit(
        f"{model_name} masked step compiled (train.compile=on)",
        compiled * 1e3,
        "ms",
        "the same step eager",
        eager * 1e3,
        device=str(device),
        path=stepper.path.describe(),
        compile_s=round(cold, 2),
        recompile_s=round(again, 2),
        break_even_steps=round(cold / saving) if saving > 0 else None,
        break_even_steps_recompiled=round(again / saving) if saving > 0 else None,
        timed_steps=len(times["eager"]),
        eager_ms_quartiles=quartiles(times["eager"]),
        compiled_ms_quartiles=quartiles(times["compiled"]),
        batch_size=n,
        optimizer=spec.optimizer,
        threads=choose_threads(1, model_name, n).describe(),
        max_weight_difference=gap,
        load_1m=round(os.getloadavg()[0], 2),
    )


def measure_products(images: int, repeat: int) -> None:
    """Hessian-vector products of LeNet-300-100 on `images` mnist5k images (one thread, as
    benchmarks/hessian.py): compiled forward-over-reverse against the same eager, and the
    eager reverse mode `auto` picks on a CPU, per product over blocks of 8 tangents."""
    data = load_dataset("mnist5k", "unused")
    net, mask = start("lenet_300_100", data)
    x, y = data.train_x[:images], data.train_y[:images]
    ops = {
        "compiled": HessianOperator(
            LossPoint(net, net.state_dict(), mask, x, y), mode="forward", compile=True
        ),
        "forward": HessianOperator(LossPoint(net, net.state_dict(), mask, x, y), mode="forward"),
        "reverse": HessianOperator(LossPoint(net, net.state_dict(), mask, x, y), mode="reverse"),
    }
    vectors = torch.randn(8, ops["forward"].dim, generator=torch.Generator().manual_seed(0))
    first, out, times = {}, {}, {k: [] for k in ops}
    for name, op in ops.items():
        t0 = time.perf_counter()
        out[name] = op.matmat(vectors)  # compiles, for the compiled one
        first[name] = time.perf_counter() - t0
    for _ in range(repeat):  # interleaved, so a neighbour's burst hits every side
        for name, op in ops.items():
            t0 = time.perf_counter()
            op.matmat(vectors)
            times[name].append((time.perf_counter() - t0) / len(vectors))
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    scale = out["forward"].abs().max().item()
    emit(
        f"LeNet-300-100 Hessian-vector product compiled (forward mode, {images} images)",
        ms["compiled"],
        "ms/product",
        "the same product eager",
        ms["forward"],
        reverse_eager_ms=round(ms["reverse"], 3),
        path=ops["compiled"].compiled,
        compile_s=round(first["compiled"] - first["forward"], 2),
        max_relative_difference=(out["compiled"] - out["forward"]).abs().max().item() / scale,
        threads=torch.get_num_threads(),
        load_1m=round(os.getloadavg()[0], 2),
    )


def quartiles(seconds: list[float]) -> list[float]:
    if len(seconds) < 2:
        return [round(1e3 * seconds[0], 3)] * 3
    return [round(1e3 * q, 3) for q in statistics.quantiles(seconds, n=4)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="lenet_300_100,conv2", help="comma-separated")
    p.add_argument("--steps", type=int, default=60, help="steps per side, 3 of them warm-up")
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=1000, help="the products' data (0: none)")
    p.add_argument("--tiny", action="store_true", help="LeNet-300-100, 3 timed steps")
    args = p.parse_args()
    if args.tiny:
        args.models, args.steps, args.images = "lenet_300_100", 6, 0
    if args.steps < 4:
        p.error("--steps must be at least 4: 3 warm-up steps and one timed")
    device = torch.device(args.device)
    data = load_dataset("mnist5k", "unused")
    spec = preset("demo").train
    for name in args.models.split(","):
        torch.set_num_threads(choose_threads(1, name, spec.batch_size).threads)
        measure(name, data, spec, args.steps, device)
    if args.images:
        torch.set_num_threads(1)
        measure_products(args.images, repeat=10)


if __name__ == "__main__":
    main()
