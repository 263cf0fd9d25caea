"""The model registry: every registered model builds for MNIST and CIFAR shapes and declares
its prunable weights as the paper defines them (conv and linear weights only); a model is one
file that registers itself, so the tests ask the registry what it holds, never a fixed list."""

import importlib
import sys

import pytest
import torch
from torch import nn

from engine import models
from engine.config import ModelSpec, SpecError
from engine.models import build_model, model_names, output_name, prunable_names, register
from engine.plugins import import_submodules

SHAPES = [(1, 28, 28), (3, 32, 32)]
NAMES = model_names()


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry for one test, so a throwaway model never outlives it."""
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))


def test_every_model_module_registers_itself() -> None:
    """Each module that calls `register` is found without an import list."""
    owners = {fn.__module__ for fn in models.MODELS.values()}
    assert owners <= set(import_submodules("engine.models"))
    assert {"engine.models.lenet", "engine.models.vgg"} <= owners


def test_a_registered_model_is_known_everywhere(scratch_registry) -> None:
    with pytest.raises(SpecError, match=r"^model\.name: 'probe_linear' is not allowed"):
        ModelSpec("probe_linear")

    @register("probe_linear")
    def probe(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], 3))

    assert "probe_linear" in model_names()
    assert ModelSpec("probe_linear").name == "probe_linear"
    assert build_model("probe_linear", (1, 2, 2), 3)(torch.zeros(5, 1, 2, 2)).shape == (5, 3)
    with pytest.raises(ValueError, match="'probe_linear' is registered twice"):
        register("probe_linear")(probe)


def test_a_new_file_in_a_plugin_package_is_imported(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "probe_plugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("FOUND = []\n")
    (pkg / "extra.py").write_text("from probe_plugins import FOUND\nFOUND.append('extra')\n")
    (pkg / "_private.py").write_text("raise RuntimeError('helpers are not plugins')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "probe_plugins", raising=False)
    assert import_submodules("probe_plugins") == ["probe_plugins.extra"]
    assert importlib.import_module("probe_plugins").FOUND == ["extra"]
    for name in ("probe_plugins", "probe_plugins.extra"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("in_shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", NAMES)
def test_forward_shape(name: str, in_shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(name, in_shape, 10)
    with torch.no_grad():
        out = model(torch.randn(2, *in_shape))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_prunable_and_output_names(name: str) -> None:
    model = build_model(name, (3, 32, 32), 10)
    modules = dict(model.named_modules())
    names = prunable_names(model)
    expected = [
        f"{module_name}.weight"
        for module_name, module in modules.items()
        if isinstance(module, nn.Conv2d | nn.Linear)
    ]
    assert names == expected
    params = dict(model.named_parameters())
    assert all(params[n].dim() in (2, 4) for n in names)
    last_linear = [n for n, m in modules.items() if isinstance(m, nn.Linear)][-1]
    assert output_name(model) == f"{last_linear}.weight" == names[-1]
    assert params[output_name(model)].shape[0] == 10


def test_prunable_names_works_for_any_model() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    assert prunable_names(model) == ["0.weight", "3.weight"]
    assert output_name(model) == "3.weight"
    assert prunable_names(nn.Linear(4, 2)) == ["weight"]


def test_resnet20_parameter_count() -> None:
    model = build_model("resnet20", (3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == 272_474


def test_init_is_kaiming_with_zero_bias_and_identity_batchnorm() -> None:
    torch.manual_seed(0)
    model = build_model("vgg11", (3, 32, 32), 10)
    conv = model[0]
    fan_in = conv.weight[0].numel()
    assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.2)
    assert torch.all(conv.bias == 0)
    bn = model[1]
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet21'") as info:
        build_model("resnet21", (3, 32, 32), 10)
    assert all(name in str(info.value) for name in NAMES)
