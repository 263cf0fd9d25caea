"""The model registry: every model builds for MNIST and CIFAR shapes and declares its
prunable weights as the paper defines them (conv and linear weights only)."""

import pytest
import torch
from torch import nn

from engine.models import MODELS, build_model, model_names, output_name, prunable_names

SHAPES = [(1, 28, 28), (3, 32, 32)]
EXPECTED = {
    "lenet_300_100",
    "conv2",
    "conv4",
    "conv6",
    "vgg11",
    "vgg16",
    "vgg19",
    "resnet20",
    "resnet56",
    "resnet18",
}


def test_registry_lists_every_model_sorted() -> None:
    assert set(MODELS) == EXPECTED
    assert model_names() == sorted(EXPECTED)


@pytest.mark.parametrize("in_shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_shape(name: str, in_shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(name, in_shape, 10)
    with torch.no_grad():
        out = model(torch.randn(2, *in_shape))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
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
    assert all(name in str(info.value) for name in EXPECTED)
