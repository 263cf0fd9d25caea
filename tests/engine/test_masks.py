"""Masks: hand-computed pruning cases, projection and sparsity reports."""

import pytest
import torch

from engine import masks as M


def w():
    return {
        "a": torch.tensor([1.0, -5.0, 3.0]),
        "b": torch.tensor([[0.5, 4.0], [2.0, -0.1]]),
    }


def test_global_smallest_by_hand():
    # 7 weights, rate 0.4 -> prune round(2.8) = 3 smallest magnitudes: 0.1, 0.5, 1.0.
    m = M.prune(w(), M.ones_mask(w()), 0.4, "global", "smallest")
    assert m["a"].tolist() == [0.0, 1.0, 1.0]
    assert m["b"].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_layerwise_smallest_by_hand():
    # a: 3 alive, prune round(1.5) = 2 -> keep -5; b: 4 alive, prune 2 -> keep 4, 2.
    m = M.prune(w(), M.ones_mask(w()), 0.5, "layer", "smallest")
    assert m["a"].tolist() == [0.0, 1.0, 0.0]
    assert m["b"].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_largest_prunes_big_weights():
    m = M.prune(w(), M.ones_mask(w()), 0.4, "global", "largest")
    # prune the 3 largest magnitudes: 5, 4, 3
    assert m["a"].tolist() == [1.0, 0.0, 0.0]
    assert m["b"].tolist() == [[1.0, 0.0], [1.0, 1.0]]


def test_prunes_a_fraction_of_the_remaining_weights_only():
    mask = {"a": torch.tensor([0.0, 1.0, 1.0]), "b": torch.tensor([[1.0, 1.0], [1.0, 0.0]])}
    weights = w()
    weights["a"][0] = 100.0  # a pruned weight, however large, stays pruned
    m = M.prune(weights, mask, 0.2, "global", "smallest")
    # 5 alive (-5, 3, 0.5, 4, 2): prune round(1.0) = 1 -> 0.5
    assert m["a"].tolist() == [0.0, 1.0, 1.0]
    assert m["b"].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_layer_rates_prune_the_output_layer_apart():
    weights = {"h": torch.arange(1.0, 11.0), "out": torch.arange(1.0, 11.0) / 100}
    m = M.prune(weights, M.ones_mask(weights), 0.2, "global", "smallest", layer_rates={"out": 0.1})
    # out is tiny but only loses 10% (1 weight) within itself; h loses 20% of its own 10.
    assert m["out"].sum() == 9 and m["out"][0] == 0
    assert m["h"].sum() == 8 and m["h"][:2].sum() == 0


def test_random_criterion_counts_and_determinism():
    weights = {"x": torch.randn(100)}
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    m1 = M.prune(weights, M.ones_mask(weights), 0.3, "layer", "random", generator=g1)
    m2 = M.prune(weights, M.ones_mask(weights), 0.3, "layer", "random", generator=g2)
    assert int(m1["x"].sum()) == 70
    assert torch.equal(m1["x"], m2["x"])
    smallest = M.prune(weights, M.ones_mask(weights), 0.3, "layer", "smallest")
    assert not torch.equal(m1["x"], smallest["x"])


def test_prune_to_counts_global_and_fixed_layers():
    weights = {
        "a": torch.tensor([1.0, -5.0, 3.0]),
        "b": torch.tensor([0.5, 4.0, 2.0, -0.1]),
        "out": torch.tensor([0.01, 0.02, 0.03]),
    }
    m = M.prune_to_counts(
        weights, {"a": 2, "b": 1, "out": 2}, "global", "smallest", pooled=frozenset({"a", "b"})
    )
    # a and b share 3 kept weights: the 3 largest of {1,5,3,0.5,4,2,0.1} are 5, 4, 3.
    assert m["a"].tolist() == [0.0, 1.0, 1.0]
    assert m["b"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert m["out"].tolist() == [0.0, 1.0, 1.0]


def test_random_mask_like_keeps_exact_counts():
    g = torch.Generator().manual_seed(0)
    m = M.random_mask_like({"a": 3, "b": 0}, {"a": torch.Size([2, 4]), "b": torch.Size([5])}, g)
    assert m["a"].shape == (2, 4) and int(m["a"].sum()) == 3
    assert int(m["b"].sum()) == 0


def test_project_zeroes_pruned_and_passes_unmasked():
    state = {"a": torch.tensor([1.0, 2.0]), "bias": torch.tensor([7.0])}
    out = M.project(state, {"a": torch.tensor([0.0, 1.0])})
    assert out["a"].tolist() == [0.0, 2.0]
    assert out["bias"].tolist() == [7.0]


def test_sparsity_report():
    mask = {"a": torch.tensor([0.0, 1.0, 1.0, 1.0]), "b": torch.zeros(4)}
    rows = M.sparsity_report(mask)
    assert rows[0] == {"layer": "a", "kept": 3, "total": 4, "sparsity": 0.25}
    assert rows[-1]["kept"] == 3 and rows[-1]["sparsity"] == pytest.approx(5 / 8)
    assert M.sparsity(mask) == pytest.approx(5 / 8)


def test_unknown_criterion():
    with pytest.raises(ValueError, match="criterion"):
        M.prune(w(), M.ones_mask(w()), 0.2, "global", "median")
