"""Which of a run's trainings train together as one stack (`train.stack`), and in what order.

Trainings can share a stack when none needs another's result and they run the same steps:
one run's trainings share the architecture, the recipe and the end, so what remains is
that all their starts exist and that they start (or resume) at one iteration. IMP's levels
never stack: each prunes the one before. A baseline's training needs IMP's levels (trained
first: `engine.plan` lists them first) and the earlier trainings of its own branch (FT's
chain), nothing of another baseline (`engine.baselines.base.Baseline`). So the baselines'
pending trainings go in rounds, round j holding the j-th of each branch (one-shot, FT's
first level, RIPN, RPN_1 and RPN_2; then FT's second level; ...), and a round splits by the
iteration its trainings start or resume from (a rewind point k: one-shot, FT, RPN_1; a whole
recipe: RIPN, RPN_2).

Whether a group of two or more stacks is `decide`'s answer: `off` never, `on` wherever
stacking can run (fp32, a step `engine.compiled` would not compile, a model
`engine.batched.can_batch` accepts), `auto` only where `engine.batched.should_batch` says
it was measured to pay. Where nothing stacks the trainings keep the plan's order, so such a
run trains exactly as it did before `train.stack` existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from engine.baselines.base import IMP, Training
from engine.batched import can_batch, should_batch
from engine.compiled import choose
from engine.run_context import Context
from engine.stacked_levels import resume_point
from engine.threads import forward_flops


@dataclass(frozen=True)
class Group:
    """Trainings the runner trains in one go, stacked or (one alone) by `train_level`."""

    trainings: tuple[Training, ...]
    stacked: bool


def log_line(trainings: Sequence[Training], stacked: bool, reason: str) -> str:
    """What the run's log says of trainings that could stack: which path and why."""
    names = ", ".join(f"{t.branch} level {t.level}" for t in trainings)
    if stacked:
        return f"stacked: {len(trainings)} trainings as one ({reason}): {names}"
    return f"one by one: {len(trainings)} trainings that could stack ({reason}): {names}"


def decide(ctx: Context, model: nn.Module, n: int) -> tuple[bool, str]:
    """Whether `n` trainings of the run stack under its `train.stack` (auto or on: under off
    `schedule` asks nothing), and why."""
    train = ctx.spec.train
    setting = train.stack
    if setting == "auto" and not should_batch(n, ctx.device.type, batch_flops(ctx)):
        return False, (
            f"train.stack=auto: stacking {n} trainings of {ctx.spec.model.name} on "
            f"{ctx.device.type} has not been measured to pay (engine.batched.should_batch)"
        )
    if train.precision != "fp32":
        return False, f"train.precision={train.precision}: a stack trains in fp32 only"
    total = train.length.iterations(ctx.iters_per_epoch)
    if choose(train.compile, ctx.device, total, train.precision).kind == "compiled":
        return False, f"train.compile={train.compile} compiles each step, a stack's is eager"
    if not can_batch(model, ctx.data.in_shape):
        return False, (
            f"{ctx.spec.model.name} cannot be stacked (tied weights, random ops or ops vmap "
            f"cannot batch: engine.batched.can_batch)"
        )
    return True, f"train.stack={setting}"


def batch_flops(ctx: Context) -> float | None:
    """One training batch's forward FLOPs as `should_batch` counts them (None: unknown)."""
    try:
        return forward_flops(ctx.spec.model.name, ctx.spec.train.batch_size)
    except Exception:  # a model the counter cannot run on meta tensors is not called small
        return None


def rounds(pending: Sequence[Training]) -> list[list[Training]]:
    """Round j: the j-th pending training of each branch, in plan order."""
    out: list[list[Training]] = []
    seen: dict[str, int] = {}
    for t in pending:
        j = seen[t.branch] = seen.get(t.branch, -1) + 1
        if j == len(out):
            out.append([])
        out[j].append(t)
    return out


def schedule(
    ctx: Context, model: nn.Module, trainings: Sequence[Training]
) -> tuple[list[Group], list[str]]:
    """The baselines' pending `trainings` (plan order; IMP's levels not among them) as the
    groups the runner trains, in an order that trains every start before it is needed, and
    a log line for each set that could stack (none under `train.stack=off`)."""
    if any(t.branch == IMP for t in trainings):
        raise ValueError("IMP's levels depend on one another and never stack; pass baselines")
    pending = [t for t in trainings if not ctx.level(t.level, t.branch).done]
    alone = [Group((t,), False) for t in pending]  # the plan's order
    if ctx.spec.train.stack == "off":  # nothing to decide, no resume point to read
        return alone, []
    candidates: list[list[Training]] = []
    for round_ in rounds(pending):
        by_start: dict[tuple[int, bool], list[Training]] = {}
        for t in round_:
            start = t.start.iterations(ctx.iters_per_epoch)
            at = resume_point(ctx.level(t.level, t.branch), start)
            by_start.setdefault(at, []).append(t)
        candidates += by_start.values()
    groups, notes = [], []
    for members in candidates:
        stacked, reason = decide(ctx, model, len(members)) if len(members) > 1 else (False, "")
        groups.append(Group(tuple(members), stacked))
        if len(members) > 1:
            notes.append(log_line(members, stacked, reason))
    return (groups if any(g.stacked for g in groups) else alone), notes
