"""The fused backend as a custom op: registry, validation, saved memory, torch.compile, opcheck."""

from __future__ import annotations

import pytest
import torch

import stablespike.kernels as kernels
from stablespike import TrLIF
from stablespike.functional import lif_sequence
from stablespike.kernels import ops
from stablespike.kernels.fused import lif_fused


def test_auto_resolves_to_fused_on_cpu_with_a_toolchain() -> None:
    assert "fused" in kernels.available_backends()
    expected = "fused" if kernels.cpu_build.toolchain_available() else "reference"
    assert kernels.resolve_backend("auto", "cpu") == expected
    assert kernels.resolve_backend("auto", "mps") == "reference"
    assert kernels.get_backend("fused", "cpu") is lif_fused


def test_bad_inputs_raise_clear_errors() -> None:
    tau, vth = torch.tensor(2.0), torch.tensor(1.0)
    with pytest.raises(TypeError, match="float16/bfloat16/float32/float64"):
        lif_fused(torch.zeros(2, 3, dtype=torch.int64), tau, vth)
    with pytest.raises(ValueError, match="T >= 1"):
        lif_fused(torch.zeros(0, 3), tau, vth)
    with pytest.raises(ValueError, match="does not broadcast"):
        lif_fused(torch.zeros(2, 4, 3), torch.full((4,), 2.0), vth)
    with pytest.raises(ValueError, match="unknown surrogate"):
        lif_fused(torch.zeros(2, 3), tau, vth, surrogate="sigmoid")
    with pytest.raises(ValueError, match="unknown reset"):
        lif_fused(torch.zeros(2, 3), tau, vth, reset="zero")


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages saved for backward while ``fn()`` runs."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_saves_one_input_sized_tensor_for_backward() -> None:
    x = torch.randn(4, 2, 8, 16, 16, requires_grad=True)
    a = torch.zeros(8, requires_grad=True)
    r = torch.zeros(8)

    def layer(backend):
        tau = (1.0 / torch.sigmoid(a)).view(8, 1, 1)
        return lambda: backend(x, tau, torch.tensor(1.0), r.view(8, 1, 1).expand(2, 8, 16, 16))

    fused = _saved_bytes(layer(lif_fused))
    reference = _saved_bytes(layer(lif_sequence))
    # x itself (one T x N tensor) plus the compact constants; the reference keeps 3 T x N tensors
    assert x.numel() * 4 <= fused <= x.numel() * 4 + 1024
    assert fused * 3 <= reference + 1024


def test_trlif_uses_the_fused_backend_and_keeps_mp_init_working() -> None:
    torch.manual_seed(0)
    layers = [TrLIF(per_channel=True, channels=3, backend=b) for b in ("reference", "fused")]
    x = torch.randn(4, 2, 3, 5, 5) * 2
    outs = []
    for _ in range(2):  # the second call starts from the updated running mean
        outs.append([lif(x) for lif in layers])
    for ref, got in outs:
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    torch.testing.assert_close(layers[1].mp_mean, layers[0].mp_mean)
    for lif in layers:
        lif(x).sum().backward()
    for p_ref, p_got in zip(layers[0].parameters(), layers[1].parameters(), strict=True):
        torch.testing.assert_close(p_got.grad, p_ref.grad, rtol=1e-5, atol=1e-5)


def test_torch_compile_without_graph_breaks() -> None:
    torch._dynamo.reset()
    lif = TrLIF(per_channel=True, channels=4, backend="fused").eval()
    x = torch.randn(3, 2, 4, 6, requires_grad=True)

    def step(x: torch.Tensor) -> torch.Tensor:
        return lif(torch.relu(x) * 2).sum()

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    loss = compiled(x)
    (gx,) = torch.autograd.grad(loss, [x])
    (gx_ref,) = torch.autograd.grad(step(x), [x])
    torch.testing.assert_close(loss, step(x))
    torch.testing.assert_close(gx, gx_ref)


def test_custom_ops_pass_opcheck() -> None:
    x = torch.randn(3, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    k = torch.full((4, 1), 0.4, dtype=torch.float64, requires_grad=True)
    vth = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    v0 = torch.full((4, 1), 0.1, dtype=torch.float64)
    torch.library.opcheck(ops.lif_forward, (x, k, vth, v0, "trsg", True, "soft", False))
    g = torch.randn(3, 2, 4, 5, dtype=torch.float64)
    args = (
        g,
        None,
        x.detach(),
        k.detach(),
        vth.detach(),
        v0,
        "rs",
        False,
        "hard",
        True,
        True,
        True,
    )
    torch.library.opcheck(ops.lif_backward, args)
