"""Stacked training (engine.batched) against the same trainings one by one (train_level).

Tolerance: the stacked step computes each model's gradients with batched matrix products and
batched reductions, which add the same float32 terms in another order than the single
model's kernels, so each gradient differs by a few ulps (about 1e-7 relative). Sixteen steps
of SGD-momentum or Adam carried those differences into LeNet's weights at 1.2e-7 at most
(measured: one ulp of weights below 1), so ATOL = 1e-5 on weights leaves a hundredfold
margin and still fails at the first wrong batch, mask or learning rate, which move weights
by 1e-3 and more. Mean losses are sums of hundreds of float32 terms in another order
(measured: up to 5e-6 relative): REL = 1e-4. Accuracies are counts, allowed to differ by
one test image (a logit near a tie). Learning rates, epochs and iterations are exact, and
pruned weights are exactly zero (masking is a multiplication by 0 either way).
"""

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from engine import batched
from engine import masks as M
from engine.batched import can_batch, should_batch, train_batched
from engine.config import TrainSpec
from engine.data import load_dataset
from engine.models import build_model, prunable_names
from engine.store import LevelDir
from engine.train import Cancelled, NullReporter, train_level

ATOL, REL = 1e-5, 1e-4
SEEDS = [7, 3, 11]  # each model's data order
RECIPES = {
    "sgd": dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="step",
                milestones=("1ep",), gamma=0.5, warmup="5it"),
    "adam": dict(optimizer="adam", lr=2e-3, weight_decay=1e-4, schedule="cosine",
                 milestones=(), warmup="4it"),
}  # fmt: skip


@pytest.fixture(scope="module")
def data():
    """480 training and 200 test images of the real mnist5k: 8 batches of 60 an epoch."""
    full = load_dataset("mnist5k", "unused")
    return replace(
        full,
        train_x=full.train_x[:480],
        train_y=full.train_y[:480],
        test_x=full.test_x[:200],
        test_y=full.test_y[:200],
    )


def lenets(data):
    """Three LeNet-300-100s, each its own init under its own mask: dense, 50% global
    magnitude, 80% per-layer random."""
    starts, masks = [], []
    for seed, (rate, scope, criterion) in enumerate(
        [(None, "", ""), (0.5, "global", "smallest"), (0.8, "layer", "random")]
    ):
        torch.manual_seed(seed)
        net = build_model("lenet_300_100", data.in_shape, data.num_classes)
        names = prunable_names(net)
        weights = {k: v for k, v in net.state_dict().items() if k in names}
        mask = M.ones_mask(weights)
        if rate is not None:
            g = torch.Generator().manual_seed(seed)
            mask = M.prune(weights, mask, rate, scope, criterion, generator=g)
        starts.append(M.project(net.state_dict(), mask))
        masks.append(mask)
    return net, starts, masks


def one_by_one(net, starts, masks, data, spec, root):
    """`train_level` for each (start, mask, data seed), in its own folder under `root`."""
    results = []
    for i, (start, mask, seed) in enumerate(zip(starts, masks, SEEDS[: len(starts)], strict=True)):
        model = copy.deepcopy(net)
        model.load_state_dict(start)
        lv = LevelDir(root / str(i))
        results.append(train_level(model, mask, data, spec, lv, data_seed=seed))
    return results


def assert_same(batched_rows, batched_state, rows, state, n_test, atol=ATOL, rel=REL):
    assert len(batched_rows) == len(rows)
    for ours, ref in zip(batched_rows, rows, strict=True):
        assert set(ours) == set(ref)
        assert (ours["epoch"], ours["iteration"], ours["lr"]) == (
            ref["epoch"],
            ref["iteration"],
            ref["lr"],
        )
        for key in ("train_loss", "test_loss"):
            assert ours[key] == pytest.approx(ref[key], rel=rel), key
        for key in ("train_acc", "test_acc"):
            assert ours[key] == pytest.approx(ref[key], abs=1.01 / n_test), key
    assert list(batched_state) == list(state)
    for k in state:
        assert torch.allclose(batched_state[k], state[k], rtol=rel, atol=atol), k


class CancelAfter(NullReporter):
    """Cancels at the first epoch's end: the run stops there with its resume point saved."""

    def cancelled(self) -> bool:
        return True


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_stacked_equals_one_by_one(tmp_path, data, optimizer):
    spec = TrainSpec(batch_size=60, length="2ep", **RECIPES[optimizer])
    net, starts, masks = lenets(data)
    result = train_batched(net, starts, masks, SEEDS, data, spec)
    reference = one_by_one(net, starts, masks, data, spec, tmp_path)
    for i, ref in enumerate(reference):
        assert_same(result.metrics[i], result.states[i], ref.metrics, ref.state, len(data.test_y))
        for k, m in masks[i].items():
            assert torch.all(result.states[i][k][m == 0] == 0), (i, k)
    assert result.metrics[0][-1]["iteration"] == 16
    # Warm-up reached: the first step ran at lr/warmup, the last row at the schedule's value.
    assert [r["lr"] for r in result.metrics[0]] == [r["lr"] for r in reference[0].metrics]


def cancelled_after_one_epoch(net, starts, masks, data, spec, root):
    """Both loops stopped at the first epoch's end: (stacked, one-by-one) resume points, as
    `train_level` saves them (the stack's through `on_epoch`)."""
    stacked = [LevelDir(root / "stack" / str(i)) for i in range(len(starts))]

    def save(epoch, rows, stack):
        for lv, row, model, opt in zip(
            stacked, rows, stack.model_states(), stack.optimizer_states(), strict=True
        ):
            lv.save_state(
                {"model": model, "optimizer": opt, "iteration": int(row["iteration"]),
                 "metrics": [row], "seconds": row["seconds"]}
            )  # fmt: skip

    with pytest.raises(Cancelled):
        train_batched(net, starts, masks, SEEDS, data, spec, on_epoch=save, reporter=CancelAfter())
    single = [LevelDir(root / "single" / str(i)) for i in range(len(starts))]
    for start, mask, seed, lv in zip(starts, masks, SEEDS, single, strict=True):
        model = copy.deepcopy(net)
        model.load_state_dict(start)
        with pytest.raises(Cancelled):
            train_level(model, mask, data, spec, lv, data_seed=seed, reporter=CancelAfter())
    return [lv.load_state() for lv in stacked], [lv.load_state() for lv in single]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_either_way(tmp_path, data, optimizer):
    """The optimizer state of model i is row i of the stacked one, in torch's format, with
    pruned weights' momentum and Adam moments exactly zero as train_level keeps them; so a
    stack's resume point resumes in train_level, and train_level's in a stack."""
    spec = TrainSpec(batch_size=60, length="2ep", **RECIPES[optimizer])
    net, starts, masks = lenets(data)
    whole = train_batched(net, starts, masks, SEEDS, data, spec)
    stacked, single = cancelled_after_one_epoch(net, starts, masks, data, spec, tmp_path)
    for ours, ref in zip(stacked, single, strict=True):
        assert ours["iteration"] == ref["iteration"] == 8
        torch.testing.assert_close(ours["model"], ref["model"], rtol=REL, atol=ATOL)
        # atol 1e-7: momenta are gradient-sized (1e-2), their entries near 0 cancel (measured
        # 1.3e-8 apart); Adam's second moments are squared gradients, 1e-4 and below.
        torch.testing.assert_close(ours["optimizer"]["state"], ref["optimizer"]["state"],
                                   rtol=REL, atol=1e-7)  # fmt: skip
        assert ours["optimizer"]["param_groups"] == ref["optimizer"]["param_groups"]
    names = [k for k, _ in net.named_parameters()]
    for state, mask in zip(stacked, masks, strict=True):
        for j, moments in state["optimizer"]["state"].items():
            for key, value in moments.items():
                if names[j] in mask and value.shape == mask[names[j]].shape:
                    assert torch.all(value[mask[names[j]] == 0] == 0), (names[j], key)

    for i, state in enumerate(stacked):
        model = copy.deepcopy(net)
        lv = LevelDir(tmp_path / "resumed" / str(i))
        lv.save_state(state)
        resumed = train_level(model, masks[i], data, spec, lv, data_seed=SEEDS[i])
        assert_same(whole.metrics[i][1:], whole.states[i], resumed.metrics[1:], resumed.state, 200)

    if optimizer == "adam":  # Adam's step count is shared by the stack: it must agree
        behind = copy.deepcopy([s["optimizer"] for s in single])
        behind[1]["state"][0]["step"] -= 1
        with pytest.raises(ValueError, match="same iteration"):
            train_batched(net, starts, masks, SEEDS, data, spec, optimizer_states=behind)
    after = train_batched(
        net,
        [s["model"] for s in single],
        masks,
        SEEDS,
        data,
        spec,
        start_iteration=single[0]["iteration"],
        optimizer_states=[s["optimizer"] for s in single],
    )
    for i in range(len(starts)):
        assert_same(after.metrics[i], after.states[i], whole.metrics[i][1:], whole.states[i], 200)


def small_bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 7 * 7, 10),
    )


def test_batchnorm_has_per_model_buffers(tmp_path, data):
    """Each model normalises by its own batch and keeps its own running statistics, which
    evaluation reads. The reference is `train_level` in float64: one-by-one float32 training
    of this net is itself 6e-5 to 1e-4 away from it after 8 steps (oneDNN's convolution
    gradients), the stacked one 8e-7 (measured), so the LeNet tolerances apply."""
    spec = TrainSpec(batch_size=60, length="1ep", schedule="constant", milestones=(), lr=0.05)
    starts, masks = [], []
    for seed in range(2):
        torch.manual_seed(seed)
        net = small_bn_net()
        names = prunable_names(net)
        weights = {k: v for k, v in net.state_dict().items() if k in names}
        masks.append(M.prune(weights, M.ones_mask(weights), 0.3 + 0.4 * seed, "global"))
        starts.append(M.project(net.state_dict(), masks[-1]))
    result = train_batched(net, starts, masks, SEEDS[:2], data, spec)
    exact = replace(data, train_x=data.train_x.double(), test_x=data.test_x.double())
    starts64 = [
        {k: v.double() if v.is_floating_point() else v for k, v in s.items()} for s in starts
    ]
    reference = one_by_one(net.double(), starts64, masks, exact, spec, tmp_path)
    for i, ref in enumerate(reference):
        state = {k: v.float() if v.is_floating_point() else v for k, v in ref.state.items()}
        assert_same(result.metrics[i], result.states[i], ref.metrics, state, 200)
    assert result.states[0]["1.num_batches_tracked"] == 8
    assert not torch.allclose(result.states[0]["1.running_var"], result.states[1]["1.running_var"])


def test_bad_input_is_refused(data):
    net, starts, masks = lenets(data)
    spec = TrainSpec(batch_size=60, length="1it", schedule="constant", milestones=())
    with pytest.raises(ValueError, match="one of each per model"):
        train_batched(net, starts, masks[:2], SEEDS, data, spec)
    odd = [masks[0], masks[1], {k: v for k, v in list(masks[2].items())[:1]}]
    with pytest.raises(ValueError, match=r"masks\[2\]"):
        train_batched(net, starts, odd, SEEDS, data, spec)
    with pytest.raises(ValueError, match=r"train\.precision=bf16"):
        train_batched(net, starts, masks, SEEDS, data, spec.replace(precision="bf16"))
    with pytest.raises(ValueError, match=r"starts\[1\]"):
        train_batched(net, [starts[0], {}, starts[2]], masks, SEEDS, data, spec)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x.flatten(1)))


def test_can_batch():
    assert can_batch(build_model("lenet_300_100", (1, 28, 28), 10), (1, 28, 28))
    assert can_batch(build_model("resnet20", (3, 32, 32), 10), (3, 32, 32))  # BatchNorm
    assert not can_batch(Tied(), (1, 2, 2))
    dropout = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.Dropout(0.5))
    assert not can_batch(dropout, (1, 2, 2))
    assert can_batch(nn.Sequential(nn.Flatten(), nn.Linear(4, 4)), (1, 2, 2))


def test_should_batch_only_where_measured(monkeypatch):
    assert not should_batch(6, "cpu", 1.1e8)  # measured: no gain on CPU (PAYS_BELOW)
    monkeypatch.setitem(batched.PAYS_BELOW, "cuda", 1e9)
    assert should_batch(6, "cuda", 1.1e8)
    assert not should_batch(1, "cuda", 1.1e8)  # nothing to stack
    assert not should_batch(6, "cuda", 5e9)  # above the measured threshold
    assert not should_batch(6, "cuda", None)  # unknown size
    assert not should_batch(6, "mps", 1.1e8)  # never measured
