"""Gradients reach every parameter of every model through the surrogate."""

import pytest
import torch

from stablespike.models import available_models, time_mean_logits


@pytest.mark.parametrize("name", available_models())
def test_gradients_reach_every_parameter(name, small_model):
    # batch 8: BN over a tiny batch bounds the normalised inputs and may keep a layer silent
    net, x = small_model(name, timesteps=2, batch=8, dropout=0.0)
    labels = torch.arange(x.shape[0]) % 5
    loss = torch.nn.functional.cross_entropy(time_mean_logits(net(x)), labels)
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing
    zero = [n for n, p in net.named_parameters() if not p.grad.abs().sum() > 0]
    assert not zero
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
