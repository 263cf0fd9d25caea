"""Initialisation schemes (`model.init`), shared so every model starts from the same recipe.

Every builder initialises with `kaiming_init` (OpenLTH's default), so a model built under a
seed is the "kaiming_normal" init of that seed. `initialize` redraws it with another scheme;
the runner calls it right after building, under the same seed, for the run's init and for the
fresh weights of RIPN and RPN_2 alike, so this module is the single place that says what "an
init" is.
"""

from torch import nn

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_WEIGHTED = (nn.Conv2d, nn.Linear)  # the prunable kinds (engine.models.prunable_names)
SCHEMES = ("kaiming_normal", "pytorch", "xavier_uniform", "xavier_normal")
DEFAULT = "kaiming_normal"


def _weights(model: nn.Module, draw) -> nn.Module:
    """`draw` each conv/linear weight in module order, zero biases, BatchNorm at identity."""
    for module in model.modules():
        if isinstance(module, _WEIGHTED):
            draw(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _BATCHNORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def kaiming_init(model: nn.Module) -> nn.Module:
    """Kaiming-normal conv/linear weights (fan-in, ReLU gain), zero biases, BatchNorm at
    identity; returns `model`."""
    return _weights(model, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))


def initialize(model: nn.Module, scheme: str) -> nn.Module:
    """Redraw `model`'s weights with `scheme` from torch's global generator; returns `model`.

    - ``kaiming_normal``: left as built (every builder ends with `kaiming_init`), so the
      default draws nothing more and a run's weights are what they were before this option.
    - ``pytorch``: each layer's own `reset_parameters` (conv/linear: Kaiming-uniform with
      a = √5 and uniform biases in ±1/√fan_in; BatchNorm at identity).
    - ``xavier_uniform`` / ``xavier_normal``: Glorot & Bengio with gain 1, zero biases.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"init {scheme!r} is not one of: {', '.join(SCHEMES)}")
    if scheme == "pytorch":
        for module in model.modules():
            if isinstance(module, _WEIGHTED + _BATCHNORMS):
                module.reset_parameters()
        return model
    if scheme == "xavier_uniform":
        return _weights(model, nn.init.xavier_uniform_)
    if scheme == "xavier_normal":
        return _weights(model, nn.init.xavier_normal_)
    return model
