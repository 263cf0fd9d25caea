"""The training loop: schedules, the zero-stays-zero invariant, determinism."""

import pytest
import torch

from engine import masks as M
from engine.config import TrainSpec
from engine.data import load_dataset
from engine.models import build_model, prunable_names
from engine.store import LevelDir
from engine.train import lr_at, train_level


def test_lr_schedules():
    step = TrainSpec(
        lr=0.1, schedule="step", milestones=("2ep", "3ep"), gamma=0.1, warmup="4it", length="4ep"
    )
    assert lr_at(0, step, 10) == pytest.approx(0.025)
    assert lr_at(3, step, 10) == pytest.approx(0.1)
    assert lr_at(19, step, 10) == pytest.approx(0.1)
    assert lr_at(20, step, 10) == pytest.approx(0.01)
    assert lr_at(35, step, 10) == pytest.approx(0.001)
    cos = TrainSpec(lr=0.2, schedule="cosine", length="100it", milestones=())
    assert lr_at(0, cos, 10) == pytest.approx(0.2)
    assert lr_at(50, cos, 10) == pytest.approx(0.1)
    assert lr_at(100, cos, 10) == pytest.approx(0.0, abs=1e-12)


def _setup(seed=0):
    data = load_dataset("synthetic_tiny", "data")
    torch.manual_seed(seed)
    model = build_model("lenet_300_100", data.in_shape, data.num_classes)
    names = prunable_names(model)
    weights = {k: v for k, v in model.state_dict().items() if k in names}
    mask = M.prune(weights, M.ones_mask(weights), 0.6, "global")
    return data, model, mask


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_pruned_weights_stay_exactly_zero(tmp_path, optimizer):
    data, model, mask = _setup()
    model.load_state_dict(M.project(model.state_dict(), mask))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = TrainSpec(
        optimizer=optimizer,
        lr=0.05 if optimizer == "sgd" else 1e-2,
        momentum=0.9,
        weight_decay=5e-2,
        batch_size=16,
        length="6ep",
        schedule="constant",
        milestones=(),
    )
    result = train_level(model, mask, data, spec, LevelDir(tmp_path), data_seed=0)
    assert result.metrics[-1]["iteration"] == 6 * 32  # many steps with momentum and decay
    for k, m in mask.items():
        w = result.state[k]
        assert torch.all(w[m == 0] == 0), k
        assert not torch.equal(w[m == 1], before[k][m == 1]), f"{k} did not train"


def test_same_seed_same_metrics_and_weights(tmp_path):
    runs = []
    for i in range(2):
        data, model, mask = _setup()
        spec = TrainSpec(
            optimizer="sgd",
            lr=0.05,
            batch_size=32,
            length="3ep",
            schedule="constant",
            milestones=(),
        )
        runs.append(train_level(model, mask, data, spec, LevelDir(tmp_path / str(i)), data_seed=4))
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in run.metrics] for run in runs]
    assert strip[0] == strip[1]
    for k in runs[0].state:
        assert torch.equal(runs[0].state[k], runs[1].state[k])


def test_checkpoint_cadence_and_metrics_file(tmp_path):
    data, model, mask = _setup()
    spec = TrainSpec(
        optimizer="sgd",
        lr=0.05,
        batch_size=64,
        length="5ep",
        schedule="constant",
        milestones=(),
        checkpoint_every=2,
    )
    lv = LevelDir(tmp_path)
    train_level(model, mask, data, spec, lv, data_seed=0)
    assert lv.checkpoint_tags() == ["ep002", "ep004", "final"]
    rows = lv.read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr"} <= set(rows[0])
