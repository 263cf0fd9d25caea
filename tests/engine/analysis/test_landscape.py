"""Landscape directions: masked, filter-normalised, reproducible; the centre is the point."""

import pytest
import torch
from torch import nn

from engine.analysis import landscape
from engine.analysis.point import LossPoint
from engine.train import evaluate


def _masked_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    g = torch.Generator().manual_seed(1)
    mask = {
        k: (torch.rand(p.shape, generator=g) > 0.5).float()
        for k, p in model.named_parameters()
        if k.endswith("weight")
    }
    mask["0.weight"][1] = 0  # a filter pruned entirely
    state = {k: v * mask[k] if k in mask else v for k, v in model.state_dict().items()}
    return model, state, mask


def test_direction_is_zero_where_pruned_and_filter_normalised():
    _, state, mask = _masked_state()
    d = landscape.filter_normalised_direction(state, mask, torch.Generator().manual_seed(3))
    assert set(d) == set(mask)  # biases are left out of the directions
    for k, m in mask.items():
        assert torch.all(d[k][m == 0] == 0)
        for f in range(m.shape[0]):  # each output filter / unit
            assert d[k][f].norm().item() == pytest.approx(state[k][f].norm().item(), rel=1e-5)
    assert torch.all(d["0.weight"][1] == 0)
    again = landscape.filter_normalised_direction(state, mask, torch.Generator().manual_seed(3))
    assert all(torch.equal(d[k], again[k]) for k in d)


def test_surface_centre_is_the_loss_at_the_point():
    model, state, mask = _masked_state()
    x, y = torch.randn(32, 2, 6, 6), torch.randint(0, 3, (32,))
    surf = landscape.surface(LossPoint(model, state, mask, x, y), grid=5, span=0.5, seed=0)
    assert surf["coords"] == [-0.5, -0.25, 0.0, 0.25, 0.5]
    model.load_state_dict(state)
    assert surf["train_loss"][2][2] == evaluate(model, x, y)[0]
    assert len(surf["train_loss"]) == 5 and all(len(r) == 5 for r in surf["train_loss"])
    assert surf == landscape.surface(LossPoint(model, state, mask, x, y), grid=5, span=0.5, seed=0)
