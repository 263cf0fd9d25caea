"""OpenLTH's default initialisation, shared so every model starts from the same recipe."""

from torch import nn

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def kaiming_init(model: nn.Module) -> nn.Module:
    """Kaiming-normal conv/linear weights, zero biases, BatchNorm at identity; returns `model`.

    Rewinding and random re-initialisation (RIPN, RPN_2) redraw weights with this same
    function, so it must be the single place that defines what "an init" is.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _BATCHNORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model
