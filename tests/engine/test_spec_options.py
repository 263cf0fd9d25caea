"""The spec's init scheme, input normalisation and data-order seed: each matches its
reference, changes the run id only when set, and reaches the CLI."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
from torch import nn

from engine.cli.specargs import add_spec_arguments, spec_from_args
from engine.config import DataSpec, ModelSpec, PruneSpec, RunSpec, SpecError, TrainSpec
from engine.data import load_dataset
from engine.data.bundle import DataBundle
from engine.data.normalize import normalize_inputs
from engine.imp import Context, run_imp, seeded
from engine.models import build_model
from engine.models.init import initialize
from engine.store import Store

WEIGHTED = (nn.Conv2d, nn.Linear)


def _reference(model: nn.Module, scheme: str, g: torch.Generator) -> dict[str, torch.Tensor]:
    """What torch.nn.init draws, module by module on generator `g`, for `scheme`."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, WEIGHTED):
            w = torch.empty_like(m.weight)
            if scheme == "xavier_uniform":
                nn.init.xavier_uniform_(w, generator=g)
            elif scheme == "xavier_normal":
                nn.init.xavier_normal_(w, generator=g)
            else:  # pytorch: the layers' documented default
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
            out[f"{name}.weight"] = w
            if m.bias is not None:
                b = torch.zeros_like(m.bias)
                if scheme == "pytorch":
                    fan_in = m.weight[0].numel()
                    nn.init.uniform_(b, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=g)
                out[f"{name}.bias"] = b
        elif isinstance(m, nn.BatchNorm2d):
            out[f"{name}.weight"] = torch.ones_like(m.weight)
            out[f"{name}.bias"] = torch.zeros_like(m.bias)
    return out


@pytest.mark.parametrize("scheme", ["pytorch", "xavier_uniform", "xavier_normal"])
@pytest.mark.parametrize("model_name", ["lenet_300_100", "resnet20"])
def test_init_schemes_match_torch_nn_init_on_a_fixed_generator(scheme, model_name):
    shape = (1, 28, 28) if model_name == "lenet_300_100" else (3, 32, 32)
    model = build_model(model_name, shape, 10)
    torch.manual_seed(123)
    initialize(model, scheme)
    expected = _reference(
        build_model(model_name, shape, 10), scheme, torch.Generator().manual_seed(123)
    )
    got = dict(model.named_parameters())
    assert set(expected) == set(got)
    for name, value in expected.items():
        assert torch.equal(got[name], value), name


def test_the_default_init_is_the_builders_own_so_nothing_is_redrawn():
    with seeded(5):
        built = build_model("conv2", (1, 28, 28), 10).state_dict()
    with seeded(5):
        model = initialize(build_model("conv2", (1, 28, 28), 10), "kaiming_normal")
    for k, v in model.state_dict().items():
        assert torch.equal(v, built[k]), k


def _first_weight(spec: RunSpec, store: Store, seed: int) -> torch.Tensor:
    data = load_dataset("synthetic_tiny", "unused")
    ctx = Context(spec, store, "r", data, torch.device("cpu"), None, 1)
    return next(iter(ctx.fresh_model(seed).parameters())).detach()


def test_the_runner_draws_the_init_and_the_fresh_weights_with_the_scheme(tmp_path):
    spec = RunSpec(
        data=DataSpec("synthetic_tiny"), model=ModelSpec("lenet_300_100", "xavier_normal")
    )
    w = _first_weight(spec, Store(tmp_path), 7)
    fan_out, fan_in = w.shape
    assert float(w.std()) == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.05)
    k = _first_weight(spec.replace(model=ModelSpec("lenet_300_100")), Store(tmp_path), 7)
    assert float(k.std()) == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)


def _bundle(train: torch.Tensor, test: torch.Tensor, info: dict) -> DataBundle:
    y = torch.zeros(len(train), dtype=torch.int64)
    return DataBundle("t", train, y, test, y[: len(test)], 2, tuple(train.shape[1:]), False, info)


def test_standardised_inputs_have_mean_0_and_sd_1_per_channel_on_the_training_split():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.5, 3.0, 10.0]).view(1, 3, 1, 1)
    shift = torch.tensor([-2.0, 0.0, 7.0]).view(1, 3, 1, 1)
    train = torch.randn(50, 3, 4, 4, generator=g) * scale + shift
    test = torch.randn(20, 3, 4, 4, generator=g) * scale + shift
    out = normalize_inputs(_bundle(train, test, {}), "standardize")
    x = out.train_x.numpy().transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(x.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(x.std(1, ddof=1), 1, rtol=1e-5)
    # the test split is moved by the training split's numbers, not its own
    ref = train.numpy().transpose(1, 0, 2, 3).reshape(3, -1)
    mean, sd = ref.mean(1), ref.std(1, ddof=1)
    expected = (test.numpy() - mean.reshape(1, 3, 1, 1)) / sd.reshape(1, 3, 1, 1)
    np.testing.assert_allclose(out.test_x.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert out.info["standardized_by"]["mean"] == pytest.approx(mean.tolist(), rel=1e-6)


def test_none_undoes_the_loaders_constants_and_loader_changes_nothing():
    loaded = load_dataset("mnist5k", "unused")
    assert load_dataset("mnist5k", "unused", normalize="loader").train_x.equal(loaded.train_x)
    raw = load_dataset("mnist5k", "unused", normalize="none")
    assert float(raw.train_x.min()) == pytest.approx(0, abs=1e-5)
    assert float(raw.train_x.max()) == pytest.approx(1, abs=1e-5)
    # pixels are multiples of 1/255 as stored
    pixels = raw.test_x * 255
    assert torch.allclose(pixels, pixels.round(), atol=1e-3)
    std = load_dataset("mnist5k", "unused", normalize="standardize")
    assert float(std.train_x.mean()) == pytest.approx(0, abs=1e-5)
    assert float(std.train_x.std()) == pytest.approx(1, abs=1e-5)


def _level0(seed: int, data_seed: int | None, store: Store):
    spec = RunSpec(
        data=DataSpec("synthetic_tiny"),
        train=TrainSpec(
            lr=0.05,
            batch_size=64,
            length="1it",
            schedule="constant",
            milestones=(),
            data_order_seed=data_seed,
        ),
        prune=PruneSpec(levels=0),
        seed=seed,
    )
    run_imp(spec, store, "cpu")
    lv = store.level(spec.run_id, 0)
    return spec, lv.load_checkpoint("start"), lv.load_checkpoint("final")


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_runs_differing_only_in_data_order_start_identical_and_diverge_after_one_step(tmp_path):
    store = Store(tmp_path)
    a, start_a, final_a = _level0(1, None, store)
    b, start_b, final_b = _level0(1, 99, store)
    c, _, final_c = _level0(1, 1, store)  # the run's own seed, named
    assert len({a.run_id, b.run_id, c.run_id}) == 3
    assert _same(start_a, start_b)  # same init
    assert not _same(final_a, final_b)  # one step on another first batch
    assert _same(final_a, final_c)  # None means the run's seed


def test_new_fields_at_their_defaults_keep_the_run_id_and_count_when_set():
    base = RunSpec()
    keys = {k for v in base.identity().values() if isinstance(v, dict) for k in v}
    assert not keys & {"normalize", "init", "data_order_seed"}
    changed = [
        base.replace(data=base.data.replace(normalize="standardize")),
        base.replace(model=base.model.replace(init="pytorch")),
        base.replace(train=base.train.replace(data_order_seed=3)),
    ]
    assert len({s.run_id for s in [base, *changed]}) == 4


def test_the_cli_sets_the_new_fields_and_refuses_bad_values():
    parser = argparse.ArgumentParser()
    add_spec_arguments(parser)
    args = parser.parse_args(
        ["--data-normalize", "standardize", "--model-init", "xavier_uniform",
         "--train-data-order-seed", "5"]
    )  # fmt: skip
    spec = spec_from_args(args)
    assert (spec.data.normalize, spec.model.init, spec.train.data_order_seed) == (
        "standardize", "xavier_uniform", 5
    )  # fmt: skip
    assert spec.data_order_seed == 5 and spec.seed == 0
    for flag, value, path in (
        ("--model-init", "orthogonal", "model.init"),
        ("--data-normalize", "minmax", "data.normalize"),
        ("--train-data-order-seed", "1.5", "train.data_order_seed"),
    ):
        with pytest.raises(SpecError) as e:
            spec_from_args(parser.parse_args([flag, value]))
        assert e.value.field_path == path
    with pytest.raises(SpecError, match=r"train\.data_order_seed"):
        TrainSpec(data_order_seed=True)
