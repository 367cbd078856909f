"""Every model is traceable by torch.fx with TrLIF and `_fx_leaf` modules as leaves."""

import pytest
import torch
from torch import fx, nn

from stablespike import TrLIF
from stablespike.models import available_models, spiking_layers


class LeafTracer(fx.Tracer):
    """The tracer a folding pass uses: TrLIF and `_fx_leaf` modules are not traced through."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, TrLIF) or getattr(type(m), "_fx_leaf", False):
            return True
        return super().is_leaf_module(m, qualname)


@pytest.mark.parametrize("name", available_models())
def test_traced_model_matches_eager(name, small_model):
    net, x = small_model(name, timesteps=2)
    net(x)  # one training step so MP-Init and BN buffers are not trivial
    net.eval()
    traced = fx.GraphModule(net, LeafTracer().trace(net))
    with torch.no_grad():
        torch.testing.assert_close(traced(x), net(x), rtol=0, atol=0)
        seq = torch.randn(3, *x.shape)
        torch.testing.assert_close(traced(seq), net(seq), rtol=0, atol=0)
    called = {n.target for n in traced.graph.nodes if n.op == "call_module"}
    assert {n for n, _ in spiking_layers(net)} <= called  # every TrLIF is an explicit node
    convs = {n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    assert convs - called == {"stem.conv"}  # every conv but the leaf stem's is explicit
