"""Model registry: each family file registers its builders by name.

A builder is `fn(in_shape, num_classes) -> nn.Module` with `in_shape = (channels, height,
width)`, so one name serves MNIST and CIFAR alike. Adding a model is adding one file here
that decorates its builder with `register`: every module of this package is imported below
(`engine.plugins`), so there is no list to edit.
"""

from collections.abc import Callable

from torch import nn

from engine.plugins import import_submodules

Builder = Callable[[tuple[int, int, int], int], nn.Module]

MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to `MODELS` under `name`; a name can be taken only once."""

    def decorate(fn: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = fn
        return fn

    return decorate


def model_names() -> list[str]:
    return sorted(MODELS)


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}")
    return MODELS[name](tuple(in_shape), num_classes)


def prunable_names(model: nn.Module) -> list[str]:
    """Parameter names of every conv and linear weight, in definition order.

    Found from module types rather than declared per model, so any model (including ones
    added later) gets the paper's definition: no biases, no BatchNorm.
    """
    names = {id(p): n for n, p in model.named_parameters()}
    found = (names[id(m.weight)] for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    return list(dict.fromkeys(found))


def output_name(model: nn.Module) -> str:
    """Parameter name of the output layer's weight: the last nn.Linear in module order."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear output layer")
    names = {id(p): n for n, p in model.named_parameters()}
    return names[id(linear[-1].weight)]


# Last, because the modules import `register` from here.
import_submodules(__name__)
