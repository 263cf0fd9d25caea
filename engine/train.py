"""One training loop for every level and baseline: masked, resumable, deterministic on CPU.

Pruned weights stay exactly zero: their gradients are masked before each step (so momentum
and Adam moments never see them) and the weights are re-masked after it (so weight decay
cannot revive them). The loop saves a resume point at every epoch end; data order depends only
on (data seed, epoch), so a resumed level reproduces an uninterrupted one bit for bit on CPU.
Each trained network is given its own data seed (the run's `data_order_seed`, or another
for a copy trained on a different order), independent of the seed its weights were drawn with.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.compiled import StepPath, make_stepper
from engine.config import TrainSpec
from engine.data.batches import batches, num_batches
from engine.data.bundle import DataBundle
from engine.store import LevelDir

PROGRESS_EVERY = 0.5  # seconds between a training's progress reports (epoch ends aside)


class Cancelled(RuntimeError):
    """Raised inside training when the reporter says the job was cancelled."""


class Reporter(Protocol):
    def progress(self, **fields: Any) -> None: ...
    def epoch_done(self, row: dict[str, float], label: str) -> None: ...
    def cancelled(self) -> bool: ...


class NullReporter:
    def progress(self, **fields: Any) -> None:
        pass

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def lr_at(iteration: int, spec: TrainSpec, iters_per_epoch: int) -> float:
    """Learning rate for `iteration` (0-based): linear warm-up, then constant/step/cosine."""
    warm = spec.warmup.iterations(iters_per_epoch)
    if iteration < warm:
        return spec.lr * (iteration + 1) / warm
    if spec.schedule == "step":
        passed = sum(iteration >= m.iterations(iters_per_epoch) for m in spec.milestones)
        return spec.lr * spec.gamma**passed
    if spec.schedule == "cosine":
        total = spec.length.iterations(iters_per_epoch)
        t = (iteration - warm) / max(total - warm, 1)
        return spec.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return spec.lr


def make_optimizer(params: list[Tensor], spec: TrainSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(
        params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def epoch_generator(data_seed: int, epoch: int) -> torch.Generator:
    """Data order and augmentation depend on (data seed, epoch) only: the same for every level
    trained with the same data seed."""
    return torch.Generator().manual_seed(data_seed * 1_000_003 + epoch)


def epoch_batches(
    data: DataBundle, spec: TrainSpec, data_seed: int, epoch: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """The training batches of `epoch` in the order `data_seed` draws: what `train_level`
    steps through, and each model of a stack (`engine.batched`) the same."""
    generator = epoch_generator(data_seed, epoch)
    return batches(
        data.train_x, data.train_y, spec.batch_size, generator, shuffle=True, augment=data.augment
    )


def epoch_row(
    epoch: int,
    iteration: int,
    spec: TrainSpec,
    ipe: int,
    seconds: float,
    *,
    train_loss: float,
    train_acc: float,
    test_loss: float,
    test_acc: float,
) -> dict[str, float]:
    """The metric row at the end of `epoch` (0-based), `iteration` steps done: its keys and
    their order are what the store's metrics and the charts read, stacked or not."""
    return {
        "epoch": float(epoch + 1),
        "iteration": float(iteration),
        "lr": lr_at(iteration - 1, spec, ipe),
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "seconds": seconds,
    }


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size])
        loss_sum += F.cross_entropy(out, y[i : i + batch_size], reduction="sum")
        correct += (out.argmax(1) == y[i : i + batch_size]).sum()
    model.train(was_training)
    n = max(len(x), 1)
    return loss_sum.item() / n, correct.item() / n


class MaskedParams:
    """The prunable parameters paired with their masks, applied in one fused call each."""

    def __init__(self, model: nn.Module, mask: dict[str, Tensor]):
        params = dict(model.named_parameters())
        self.params = [params[k] for k in mask]
        self.masks = [mask[k].to(params[k].device, params[k].dtype) for k in mask]

    @torch.no_grad()
    def apply_to_weights(self) -> None:
        torch._foreach_mul_(self.params, self.masks)

    @torch.no_grad()
    def apply_to_grads(self) -> None:
        grads = [p.grad for p in self.params]
        if all(g is not None for g in grads):
            torch._foreach_mul_(grads, self.masks)


@dataclass
class LevelResult:
    metrics: list[dict[str, float]]
    state: dict[str, Tensor]
    seconds: float
    step: StepPath  # which step ran (eager or compiled) and why


def store_epoch(
    out: LevelDir,
    spec: TrainSpec,
    total: int,
    metrics: list[dict[str, float]],
    row: dict[str, float],
    model_state: dict[str, Tensor],
    optimizer_state: dict,
) -> None:
    """What the store keeps of a training at an epoch's end, whichever loop trained it (this
    module's or a stack's, `engine.stacked_levels`): `row` appended to `metrics` and written,
    the ``ep<NNN>`` checkpoint at the spec's cadence (none at the last epoch: ``final`` is it),
    and the resume point, written last so a kill before it replays the epoch. One function,
    so resuming, progress and the analyses cannot tell the two loops apart."""
    metrics.append(row)
    out.write_metrics(metrics)
    epoch, iteration = int(row["epoch"]), int(row["iteration"])
    if spec.checkpoint_every and epoch % spec.checkpoint_every == 0 and iteration < total:
        out.save_checkpoint(f"ep{epoch:03d}", model_state, iteration=iteration, epoch=epoch)
    state = {"model": model_state, "optimizer": optimizer_state, "iteration": iteration}
    out.save_state(state | {"metrics": metrics, "seconds": row["seconds"]})


def store_final(
    out: LevelDir, state: dict[str, Tensor], iteration: int, ipe: int, path: StepPath
) -> None:
    """A finished training's ``final`` checkpoint, with the step that trained it."""
    epochs = math.ceil(iteration / ipe)
    out.save_checkpoint("final", state, iteration=iteration, epoch=epochs, step=path.record())


def train_level(
    model: nn.Module,
    mask: dict[str, Tensor],
    data: DataBundle,
    spec: TrainSpec,
    out: LevelDir,
    *,
    data_seed: int,
    start_iteration: int = 0,
    on_iteration: Callable[[int, nn.Module], None] | None = None,
    reporter: Reporter | None = None,
    label: str = "",
) -> LevelResult:
    """Train `model` under `mask` from `start_iteration` to the end of `spec.length`, seeing
    the data in the order `data_seed` draws.

    Resumes from `out`'s state if present. Saves checkpoints ``ep<NNN>`` at the configured
    cadence and ``final`` at the end, one metrics row per epoch. `on_iteration(it, model)` is
    called before each step (level 0 uses it to save the rewind point). The step is eager or
    compiled as `spec.compile` and `engine.compiled.choose` say; which one ran is in the
    progress (`step_path`), each epoch line and the final checkpoint's `step`.
    """
    reporter = reporter or NullReporter()
    ipe = num_batches(len(data.train_x), spec.batch_size, drop_last=False)
    total = spec.length.iterations(ipe)
    masked = MaskedParams(model, mask)
    optimizer = make_optimizer(list(model.parameters()), spec)
    iteration, metrics, elapsed = start_iteration, [], 0.0

    state = out.load_state()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        iteration, metrics, elapsed = state["iteration"], state["metrics"], state["seconds"]
    masked.apply_to_weights()
    stepper = make_stepper(
        model,
        masked,
        optimizer,
        setting=spec.compile,
        precision=spec.precision,
        total_steps=total,
        batch_size=spec.batch_size,
    )

    model.train()
    t0 = time.perf_counter() - elapsed
    last_report = 0.0
    while iteration < total:
        epoch = iteration // ipe
        skip = iteration - epoch * ipe
        loss_sum = torch.zeros((), device=data.train_x.device)
        correct = torch.zeros((), device=data.train_x.device)
        seen = 0
        for b, (xb, yb) in enumerate(epoch_batches(data, spec, data_seed, epoch)):
            if b < skip:
                continue
            if iteration >= total:
                break
            if on_iteration is not None:
                on_iteration(iteration, model)
            stepper.set_lr(lr_at(iteration, spec, ipe))
            out_b, loss = stepper.step(xb, yb)
            loss_sum += loss.detach() * len(yb)
            correct += (out_b.argmax(1) == yb).sum()
            seen += len(yb)
            iteration += 1
            now = time.perf_counter()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                reporter.progress(
                    label=label,
                    epoch=epoch + 1,
                    iteration=iteration,
                    total=total,
                    iters_per_epoch=ipe,
                    loss=loss.item(),
                    seconds=now - t0,
                    step_path=stepper.path.describe(),
                )
        test_loss, test_acc = evaluate(model, data.test_x, data.test_y)
        row = epoch_row(
            epoch,
            iteration,
            spec,
            ipe,
            time.perf_counter() - t0,
            train_loss=loss_sum.item() / max(seen, 1),
            train_acc=correct.item() / max(seen, 1),
            test_loss=test_loss,
            test_acc=test_acc,
        )
        store_epoch(out, spec, total, metrics, row, model.state_dict(), optimizer.state_dict())
        reporter.epoch_done(row | {"step": stepper.path.describe()}, label)
        if reporter.cancelled():
            raise Cancelled(f"cancelled at epoch {epoch + 1}")
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    store_final(out, final, iteration, ipe, stepper.path)
    seconds = time.perf_counter() - t0
    return LevelResult(metrics=metrics, state=final, seconds=seconds, step=stepper.path)
