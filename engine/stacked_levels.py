"""Several levels trained as one stack (`engine.batched.train_batched`), each stored exactly
as `engine.train.train_level` stores one: per epoch its metrics file, the ``ep<NNN>``
checkpoints at the spec's cadence and its resume point (model, optimizer in torch's
one-model format, iteration, metrics, seconds); at the end its ``final`` checkpoint with the
step that trained it. So progress, analyses, reports and resuming cannot tell a stacked
level from one trained alone, and either loop resumes what the other left: the resume
points are interchangeable (tests/engine/test_batched.py).

Resuming a group: every level's own resume point is loaded, and all must stand at the same
iteration (the runner groups levels by where they resume: a group killed between two of its
members' resume points is split into groups that each resume where their members stopped).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from engine.batched import Stack, train_batched
from engine.compiled import StepPath
from engine.config import TrainSpec
from engine.data.batches import num_batches
from engine.data.bundle import DataBundle
from engine.store import LevelDir
from engine.train import LevelResult, Reporter, store_epoch, store_final


def resume_point(out: LevelDir, start_iteration: int) -> tuple[int, bool]:
    """Where a level resumes: (its resume point's iteration, True), else (`start_iteration`,
    False). Levels stack only when these agree: a fresh optimizer and a resumed one do not."""
    state = out.load_state()
    return (start_iteration, False) if state is None else (int(state["iteration"]), True)


def train_levels(
    model: nn.Module,
    masks: Sequence[dict[str, Tensor]],
    starts: Sequence[dict[str, Tensor]],
    data: DataBundle,
    spec: TrainSpec,
    outs: Sequence[LevelDir],
    *,
    data_seeds: Sequence[int],
    start_iteration: int,
    path: StepPath,
    reporter: Reporter | None = None,
    labels: Sequence[str] = (),
) -> list[LevelResult]:
    """Train level i (start `starts[i]`, mask `masks[i]`, data order `data_seeds[i]`) into
    `outs[i]` from `start_iteration` to the end of `spec.length`, all in one stack; resume
    each from its resume point where `outs` hold them (all at one iteration). `model` gives
    the architecture and device. Returns each level's `LevelResult` (its `step` is `path`).
    """
    states = [out.load_state() for out in outs]
    at = {None if s is None else int(s["iteration"]) for s in states}  # None: not resumed
    if len(at) > 1:
        where = ", ".join(str(out.path) for out in outs)
        raise ValueError(
            f"the levels in {where} resume from different iterations; stack only levels "
            f"that resume from one (resume_point says where each does)"
        )
    saved = [s for s in states if s is not None]
    if saved:  # every level has one (checked above)
        starts = [s["model"] for s in saved]
        start_iteration = int(saved[0]["iteration"])
    ipe = num_batches(len(data.train_x), spec.batch_size, drop_last=False)
    total = spec.length.iterations(ipe)
    metrics = [list(s["metrics"]) if s else [] for s in states]
    elapsed = [s["seconds"] if s else 0.0 for s in states]

    def save_epoch(epoch: int, rows: list[dict[str, float]], stack: Stack) -> None:
        models, optimizers = stack.model_states(), stack.optimizer_states()
        for i, out in enumerate(outs):
            row = rows[i] | {"seconds": rows[i]["seconds"] + elapsed[i]}
            store_epoch(out, spec, total, metrics[i], row, models[i], optimizers[i])

    result = train_batched(
        model,
        starts,
        masks,
        data_seeds,
        data,
        spec,
        start_iteration=start_iteration,
        optimizer_states=[s["optimizer"] for s in saved] or None,
        on_epoch=save_epoch,
        reporter=reporter,
        labels=labels,
        path=path,
    )
    out_results = []
    for i, (out, final) in enumerate(zip(outs, result.states, strict=True)):
        store_final(out, final, total, ipe, path)
        out_results.append(LevelResult(metrics[i], final, elapsed[i] + result.seconds, path))
    return out_results
