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


def test_fmnist_cnn_fits_a_small_batch(small_model):
    net, x = small_model("fmnist-cnn", timesteps=2, batch=10, dropout=0.0)
    labels = torch.arange(10) % 5
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(30):
        logits = time_mean_logits(net(x))
        loss = torch.nn.functional.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (logits.argmax(1) == labels).all()
    assert loss.item() < 0.5
