"""Weight initialisation shared by every registered model.

Convolutions: Kaiming normal (fan-out, ReLU gain), as in torchvision's ResNets. BatchNorm:
weight 1, bias 0. Linear layers: Kaiming normal (fan-in) weights and zero bias, so a hidden FC
layer feeding a LIF gets inputs of a similar scale to a conv + BN layer.

Example:
    >>> from torch import nn
    >>> from stablespike.models.init import init_weights
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4))
    >>> init_weights(net)
    >>> net[1].weight.mean().item(), net[1].bias.abs().sum().item()
    (1.0, 0.0)
"""

from __future__ import annotations

from torch import nn


def init_weights(model: nn.Module) -> None:
    """Initialise every conv, BN and linear layer of ``model`` in place."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
