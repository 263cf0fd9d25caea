"""Model registry: each family file registers its builders by name.

A builder is `fn(in_shape, num_classes) -> nn.Module` with `in_shape = (channels, height,
width)`, so one name serves MNIST and CIFAR alike. Adding a model is adding one file here
that decorates its builder with `register`: every module of this package is imported below
(`engine.plugins`), so there is no list to edit.
"""

import functools
from collections.abc import Callable, Iterable

from torch import nn

from engine.plugins import import_submodules, lookup, registrar

Builder = Callable[[tuple[int, int, int], int], nn.Module]

MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to `MODELS` under `name`; a name can be taken only once."""
    return registrar(MODELS, "model", name)


def register_sizes(
    name: str, build: Callable[[int, tuple[int, int, int], int], nn.Module], sizes: Iterable[int]
) -> None:
    """Register `build(size, in_shape, num_classes)` once per size, as `name.format(size)`:
    one builder serves a family of depths (conv2/4/6, resnet20/56). Each builder keeps
    `build`'s name and module (`functools.update_wrapper`)."""
    for size in sizes:
        builder = functools.update_wrapper(functools.partial(build, size), build)
        register(name.format(size))(builder)


def model_names() -> list[str]:
    return sorted(MODELS)


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return lookup(MODELS, "model", name)(tuple(in_shape), num_classes)


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
