"""Several trainings of one architecture as one stacked model: `torch.func` over a model axis.

The baselines of a level and the seeds of a sweep are N trainings of the same network with
the same recipe: stacked along a leading axis (`stack_module_state`), run with
`vmap(functional_call)` and stepped by one optimizer, they make one call per operation
instead of N, which pays where a step is launch- or dispatch-bound (`should_batch` says
where that was measured). Each model keeps everything `engine.train.train_level` gives it:
its own start, mask and data order (`epoch_generator(data_seed, epoch)`), the same
learning-rate schedule (`lr_at`), the same masking rules (gradients masked before the step,
weights re-masked after it, so pruned weights stay exactly zero), and the same metric rows.

The optimizer is `engine.train.make_optimizer` itself, given the stacked tensors: SGD (with
momentum and weight decay) and Adam are elementwise and every model shares the step count
and the learning rate, so stepping the stack is stepping each model, and the state of model
i is row i of the stacked state (`Stack.optimizer_states` gives it in torch's own format, so
`train_level` can resume what was trained here and the other way round). The results differ
from one-by-one training only by float32 reduction order: under `vmap` the weight gradients
are batched matrix products and the loss a batched mean, summed in another order than the
single model's (tests/engine/test_batched.py states the tolerance).

BatchNorm is supported with per-model buffers: the stacked running statistics are passed to
`functional_call`, which updates model i's row in place in training mode and reads it in
evaluation mode. Under vmap convolutions run grouped, on other kernels than a single
model's; where float32 gradients are ill-conditioned the two loops part by more than
rounding suggests (ResNet-20 at init on mnist5k: one model's stacked gradient 0.8% from
float64's, one-by-one 9e-5 with oneDNN, 1.5% without), neither more exact in general.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from engine.compiled import StepPath
from engine.config import TrainSpec
from engine.data.batches import num_batches
from engine.data.bundle import DataBundle
from engine.train import (
    PROGRESS_EVERY,
    Cancelled,
    NullReporter,
    Reporter,
    epoch_batches,
    epoch_row,
    lr_at,
    make_optimizer,
)

EVAL_BATCH = 1000  # engine.train.evaluate's batch, shared by the N models of a stack
# Per device type, the forward FLOPs of one training batch (as `engine.threads.forward_flops`
# counts them) below which stacking N >= 2 trainings was measured to beat training them one
# by one (benchmarks/batched.py); a device type not listed is never stacked automatically.
# CPU is not listed: on 2 cores at one thread (the worker policy for these models) 6
# LeNet-300-100s on mnist5k (1.1e8 FLOPs by that count, 3.2e7 on 28x28 images; the smallest
# registered model) took 0.96-1.11x the time of 6 in sequence with Adam (medians of 3-5
# pairs, load 1.1-1.8), 1.09x with SGD, and 0.96x on 8x8 synthetic_tiny images: one
# thread's matrix products are already arithmetic-bound, a batched product costs what N
# single ones do, and the optimizer's elementwise passes scale with the parameters either
# way. CUDA, where a small model's step is kernel-launch-bound, has not been measured yet.
PAYS_BELOW: dict[str, float] = {}


def can_batch(model: nn.Module, in_shape: tuple[int, ...]) -> bool:
    """Whether `model` can be trained stacked, on inputs of `in_shape` (C, H, W).

    BatchNorm can (per-model buffers). Refused: tied weights (`stack_module_state` keeps
    one name of a shared tensor and `functional_call` then leaves the other untied), and any
    forward that `vmap` cannot run, found by running one on meta tensors (no memory, no
    compute): random ops such as dropout (vmap refuses them rather than draw another stream
    than the one-by-one model's), data-dependent control flow, ops without batching rules.
    """
    if len(list(model.named_parameters(remove_duplicate=False))) != len(list(model.parameters())):
        return False
    meta = copy.deepcopy(model).to("meta").train()
    params, buffers = stack_module_state([meta, copy.deepcopy(meta)])
    x = torch.empty(2, *in_shape, device="meta")
    try:
        vmap(partial(_logits, meta), in_dims=(0, 0, None))(params, buffers, x)
    except (RuntimeError, NotImplementedError, ValueError):
        return False
    return True


def _logits(base: nn.Module, params: dict, buffers: dict, x: Tensor) -> Tensor:
    return functional_call(base, (params, buffers), (x,))


def should_batch(n: int, device: str, batch_flops: float | None) -> bool:
    """Whether `n` trainings of one architecture on a `device` type ("cpu", "cuda") should
    run stacked, given the forward FLOPs of one training batch as `PAYS_BELOW` counts them
    (None: unknown, never).

    Pure, so the runner and the Launch estimate agree: only where `PAYS_BELOW` records a
    measured gain for that device type, for a model under its threshold, and at least two
    trainings. Nothing is listed yet, so the answer is False everywhere (see `PAYS_BELOW`).
    """
    limit = PAYS_BELOW.get(device)
    return n >= 2 and limit is not None and batch_flops is not None and batch_flops < limit


@dataclass
class BatchedResult:
    """Per model, in the order given: its metric rows (`train_level`'s keys) and final
    state dict; `seconds` is the wall time of the whole stack, shared by every row."""

    metrics: list[list[dict[str, float]]]
    states: list[dict[str, Tensor]]
    seconds: float


class Stack:
    """N copies of one architecture: parameters, buffers, masks and optimizer stacked along a
    leading model axis. `model_states()` and `optimizer_states()` give model i's part in
    the format `train_level` saves (`state_dict()` and `optimizer.state_dict()`)."""

    def __init__(
        self,
        model: nn.Module,
        starts: Sequence[dict[str, Tensor]],
        masks: Sequence[dict[str, Tensor]],
        spec: TrainSpec,
        optimizer_states: Sequence[dict] | None = None,
    ):
        copies = [copy.deepcopy(model) for _ in starts]
        for i, (net, start) in enumerate(zip(copies, starts, strict=True)):
            try:
                net.load_state_dict(start)
            except RuntimeError as e:
                raise ValueError(f"starts[{i}] does not fit the model: {e}") from None
        self.n = len(copies)
        self.keys = list(model.state_dict())
        params, self.buffers = stack_module_state(copies)
        # Gradients come from torch.func.grad inside vmap, in the parameters' own layout.
        self.params = {k: p.detach() for k, p in params.items()}
        self._grads = vmap(grad_and_value(self._train_loss, has_aux=True))
        self.base = copy.deepcopy(model).to("meta")
        names = list(masks[0])
        for i, mask in enumerate(masks):
            if list(mask) != names or any(k not in self.params for k in names):
                raise ValueError(
                    f"masks[{i}] names {sorted(mask)}; every mask must name the same "
                    f"parameters of the model, as masks[0] does"
                )
        self.masked = [self.params[k] for k in names]
        self.masks = [
            torch.stack([m[k] for m in masks]).to(self.params[k].device, self.params[k].dtype)
            for k in names
        ]
        self.optimizer = make_optimizer(list(self.params.values()), spec)
        if optimizer_states is not None:
            self.optimizer.load_state_dict(self._stacked_optimizer(optimizer_states))
        self.apply_to_weights()

    @torch.no_grad()
    def apply_to_weights(self) -> None:
        torch._foreach_mul_(self.masked, self.masks)

    @torch.no_grad()
    def apply_to_grads(self) -> None:
        torch._foreach_mul_([p.grad for p in self.masked], self.masks)

    def _train_loss(self, params: dict, buffers: dict, x: Tensor, y: Tensor):
        out = _logits(self.base, params, buffers, x)
        return F.cross_entropy(out, y), out

    def _test_sums(self, params: dict, buffers: dict, x: Tensor, y: Tensor):
        out = _logits(self.base, params, buffers, x)
        return F.cross_entropy(out, y, reduction="sum"), (out.argmax(-1) == y).sum()

    def step(self, xs: Tensor, ys: Tensor, lr: float) -> tuple[Tensor, Tensor]:
        """One masked optimizer step of every model on its own batch (xs[i], ys[i]); returns
        each model's (mean loss, logits) before the step."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.base.train()
        grads, (loss, out) = self._grads(self.params, self.buffers, xs, ys)
        for p, g in zip(self.params.values(), grads.values(), strict=True):
            p.grad = g
        self.apply_to_grads()
        self.optimizer.step()
        self.apply_to_weights()
        return loss, out

    @torch.no_grad()
    def evaluate(self, x: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
        """Each model's mean cross-entropy and accuracy over (x, y), in eval mode, in chunks
        of EVAL_BATCH / N images so the stack holds no more activations than one model."""
        self.base.eval()
        loss_sum = torch.zeros(self.n, device=x.device)
        correct = torch.zeros(self.n, device=x.device)
        size = max(1, EVAL_BATCH // self.n)
        sums = vmap(self._test_sums, in_dims=(0, 0, None, None))
        for i in range(0, len(x), size):
            loss, hits = sums(self.params, self.buffers, x[i : i + size], y[i : i + size])
            loss_sum += loss
            correct += hits
        count = max(len(x), 1)
        return (loss_sum / count).tolist(), (correct / count).tolist()

    def model_states(self) -> list[dict[str, Tensor]]:
        """Model i's state dict (keys in `state_dict()` order), detached copies."""
        both = self.params | self.buffers
        return [{k: both[k][i].detach().clone() for k in self.keys} for i in range(self.n)]

    def optimizer_states(self) -> list[dict]:
        """Model i's `optimizer.state_dict()`, as a one-model optimizer would have it."""
        stacked = self.optimizer.state_dict()
        shapes = [p.shape for p in self.params.values()]

        def row(index: int, value, i: int):
            is_row = isinstance(value, Tensor) and value.shape == shapes[index]
            return value[i].clone() if is_row else copy.deepcopy(value)

        return [
            {
                "state": {
                    j: {k: row(j, v, i) for k, v in s.items()} for j, s in stacked["state"].items()
                },
                "param_groups": copy.deepcopy(stacked["param_groups"]),
            }
            for i in range(self.n)
        ]

    def _stacked_optimizer(self, states: Sequence[dict]) -> dict:
        """One optimizer state dict from N one-model ones (`optimizer_states`' inverse)."""
        if len(states) != self.n:
            raise ValueError(
                f"optimizer_states has {len(states)} entries for {self.n} models; give one "
                f"per model, or None to start fresh"
            )
        shapes = [p.shape[1:] for p in self.params.values()]
        state: dict = {}
        for j in states[0]["state"]:
            per = [s["state"][j] for s in states]
            state[j] = {}
            for k, v in per[0].items():
                if isinstance(v, Tensor) and v.shape == shapes[j]:
                    state[j][k] = torch.stack([p[k] for p in per])
                elif any(not torch.equal(torch.as_tensor(p[k]), torch.as_tensor(v)) for p in per):
                    raise ValueError(
                        f"optimizer_states disagree on {k!r} (e.g. Adam's step count): "
                        f"models stacked together must resume from the same iteration"
                    )
                else:
                    state[j][k] = v
        return {"state": state, "param_groups": states[0]["param_groups"]}


def stacked_batches(
    data: DataBundle, spec: TrainSpec, data_seeds: Sequence[int], epoch: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of batches for every model, stacked: model i's batch b is the one
    `train_level` with `data_seed=data_seeds[i]` sees at batch b of `epoch`."""
    streams = [epoch_batches(data, spec, seed, epoch) for seed in data_seeds]
    for pairs in zip(*streams, strict=True):
        yield torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])


def stacked_path(n: int, setting: str) -> StepPath:
    """The step a stack of `n` trainings takes under `train.stack=setting`, as `StepPath`
    records it: what progress, each epoch line and each final checkpoint say."""
    return StepPath("stacked", f"train.stack={setting}", f"{n} trainings, vmap, eager")


def train_batched(
    model: nn.Module,
    starts: Sequence[dict[str, Tensor]],
    masks: Sequence[dict[str, Tensor]],
    data_seeds: Sequence[int],
    data: DataBundle,
    spec: TrainSpec,
    *,
    start_iteration: int = 0,
    optimizer_states: Sequence[dict] | None = None,
    on_epoch: Callable[[int, list[dict[str, float]], Stack], None] | None = None,
    reporter: Reporter | None = None,
    labels: Sequence[str] = (),
    path: StepPath | None = None,
) -> BatchedResult:
    """Train N networks of `model`'s architecture together, as N `train_level` calls would.

    Model i starts from `starts[i]` (a full state dict; projected onto its mask here),
    trains under `masks[i]` (name -> 0/1 tensor; every mask names the same parameters) and
    sees the data in the order `data_seeds[i]` draws, from `start_iteration` (shared: the
    runner groups trainings by start point) to the end of `spec.length`. `model` gives the
    architecture and device only; its weights are not read or changed. `data` must be on
    that device.

    Resuming: pass `optimizer_states[i]` (`Stack.optimizer_states()[i]`, or the
    `"optimizer"` entry `train_level` saves) with the matching `starts` and iteration; the
    caller joins the metric rows of before and after.

    Hook, for the runner's files: `on_epoch(epoch, rows, stack)` after each
    epoch's evaluation with each model's row (checkpoints, `save_state`, `write_metrics`).
    `reporter` gets progress (`labels` joined) and each model's `epoch_done` under its own
    label, and is asked `cancelled()` after `on_epoch`, raising `Cancelled`. `path` is the
    step they are told ran (`stacked_path(n, "on")` unless the runner says which setting).

    The step is always eager and fp32: `spec.precision="bf16"` is refused, and
    `spec.compile` is not applied (leave to `train_level` the trainings that
    `engine.compiled.choose` would compile: that is faster than stacking on a CPU).

    Returns each model's metric rows (`train_level`'s keys: epoch, iteration, lr,
    train_loss, train_acc, test_loss, test_acc, seconds, the last being the stack's wall
    time since this call began) and final state dict (on the device, detached).
    Checkpoints and the store are the caller's: nothing is written here.
    """
    n = len(starts)
    if n < 1 or len(masks) != n or len(data_seeds) != n:
        raise ValueError(
            f"train_batched got {n} starts, {len(masks)} masks and {len(data_seeds)} "
            f"data_seeds; give one of each per model (at least one model)"
        )
    if not can_batch(model, data.in_shape):
        raise ValueError(
            f"{type(model).__name__} cannot be trained stacked (tied weights, random ops or "
            f"ops vmap cannot batch: see can_batch); train it with engine.train.train_level"
        )
    if spec.precision != "fp32":
        raise ValueError(
            f"train.precision={spec.precision}: stacked trainings run in fp32 only (bf16 is "
            f"part of the run id); train these with engine.train.train_level"
        )
    labels = list(labels) or [f"model {i}" for i in range(n)]
    step_text = (path or stacked_path(n, "on")).describe()
    reporter = reporter or NullReporter()
    ipe = num_batches(len(data.train_x), spec.batch_size, drop_last=False)
    total = spec.length.iterations(ipe)
    stack = Stack(model, starts, masks, spec, optimizer_states)
    metrics: list[list[dict[str, float]]] = [[] for _ in range(n)]
    iteration, device = start_iteration, data.train_x.device
    t0 = last_report = time.perf_counter()
    while iteration < total:
        epoch = iteration // ipe
        skip = iteration - epoch * ipe
        loss_sum = torch.zeros(n, device=device)
        correct = torch.zeros(n, device=device)
        seen = 0
        for b, (xs, ys) in enumerate(stacked_batches(data, spec, data_seeds, epoch)):
            if b < skip:
                continue
            if iteration >= total:
                break
            loss, out = stack.step(xs, ys, lr_at(iteration, spec, ipe))
            loss_sum += loss * ys.shape[1]
            correct += (out.argmax(-1) == ys).sum(-1)
            seen += ys.shape[1]
            iteration += 1
            now = time.perf_counter()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                reporter.progress(
                    label=", ".join(labels),
                    epoch=epoch + 1,
                    iteration=iteration,
                    total=total,
                    iters_per_epoch=ipe,
                    loss=loss.mean().item(),
                    seconds=now - t0,
                    step_path=step_text,
                )
        test_loss, test_acc = stack.evaluate(data.test_x, data.test_y)
        train_loss = (loss_sum / max(seen, 1)).tolist()
        train_acc = (correct / max(seen, 1)).tolist()
        seconds = time.perf_counter() - t0
        rows = [
            epoch_row(
                epoch,
                iteration,
                spec,
                ipe,
                seconds,
                train_loss=train_loss[i],
                train_acc=train_acc[i],
                test_loss=test_loss[i],
                test_acc=test_acc[i],
            )
            for i in range(n)
        ]
        for i, row in enumerate(rows):
            metrics[i].append(row)
        if on_epoch is not None:
            on_epoch(epoch + 1, rows, stack)
        for label, row in zip(labels, rows, strict=True):
            reporter.epoch_done(row | {"step": step_text}, label)
        if reporter.cancelled():
            raise Cancelled(f"cancelled at epoch {epoch + 1}")
    return BatchedResult(metrics, stack.model_states(), time.perf_counter() - t0)
