"""Spiking attention and MLP blocks of Spikformer and QKFormer on ``[T, B, C, H, W]``.

Tokens are the ``N = H * W`` positions; heads split the channels (``C = heads * d``). Every
neuron is made by the model's :class:`~stablespike.models.NeuronFactory`; the attention-output
neurons start from ``Vthr = 0.5`` (:func:`~.layers.attention_neuron`).

* :class:`SpikingSelfAttention` (SSA, Spikformer; QKFormer's last stage):
  ``Q, K, V = LIF(BN(W x))``; ``A = LIF_0.5(scale * Q K^T V)``; ``out = LIF(BN(W_p A))``, with
  ``scale = 0.125`` and no softmax. ``order="qk_v"`` computes ``(Q K^T) V`` (Spikformer,
  quadratic in ``N``), ``"q_kv"`` computes ``Q (K^T V)`` (QKFormer, linear in ``N``): the same
  numbers up to float rounding.
* :class:`TokenQKAttention` (QKFormer's early stages): ``Q, K = LIF(BN(W x))``; a token mask
  ``m = LIF_0.5(sum over each head's channels of Q)`` of shape ``[T, B, heads, 1, N]``;
  ``out = LIF(BN(W_p (m * K)))``: linear in ``N``, no ``V``.
* :class:`SpikingMLP`: ``LIF(BN(W_2 LIF(BN(W_1 x))))`` with 1x1 convs (with bias, as in the
  originals).
* :class:`TransformerBlock`: ``x + DropPath(attn(x))``, then ``x + DropPath(mlp(x))``.

**TrSG inside the products.** A TrSG neuron outputs ``Vthr * S``. With per-layer (scalar)
thresholds, ``Q K^T V = (Vq Vk Vv) * (S_q S_k^T S_v)``: the integer product of the spike tensors
times one scalar, which multiplies the fixed ``scale`` (an effective, learnable attention scale
``0.125 * Vq * Vk * Vv``) before the attention-output neuron. Likewise the token mask's input is
``Vq * (spike count)``. The products are computed as they stand (no rescaling), so the forward
pass is exactly the TrSG network. Per-channel thresholds would put a different factor on each
channel inside a sum over channels (``Q K^T`` and ``Q (K^T V)`` sum over Q's and K's channels;
the mask sums Q's channels), so the product is no longer a scaled spike product: building such a
model raises ``ValueError`` naming the layer (``PER_LAYER_NEURONS``). V's neuron (summed over
tokens only), the mask neuron (one value per head) and all other neurons may be per-channel.

Example:
    >>> import torch
    >>> from stablespike.models import NeuronFactory
    >>> from stablespike.models.transformers.attention import SpikingSelfAttention
    >>> ssa = SpikingSelfAttention(16, heads=2, neuron=NeuronFactory())
    >>> ssa(torch.randn(2, 3, 16, 4, 4)).shape
    torch.Size([2, 3, 16, 4, 4])
    >>> float(ssa.attn_lif.threshold.detach())
    0.5
"""

from __future__ import annotations

import torch
from torch import nn

from ..factory import NeuronFactory
from .layers import ConvBN, DropPath, SpikeMatmul, attention_neuron

_ORDERS = ("qk_v", "q_kv")
SSA_SCALE = 0.125
"""The fixed attention scale of Spikformer's and QKFormer's SSA."""


def _check_heads(dim: int, heads: int) -> None:
    if heads < 1 or dim % heads:
        raise ValueError(f"dim {dim} must be divisible by the number of heads {heads}")


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[T, B, C, H, W] -> [T, B, heads, C / heads, N]`` (channels of a head, then tokens)."""
    return x.flatten(3).unflatten(2, (heads, -1))


def merge_heads(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``[T, B, heads, d, N] -> [T, B, C, H, W]`` with the spatial size of ``like``."""
    return x.flatten(2, 3).unflatten(3, like.shape[-2:])


class SpikingSelfAttention(nn.Module):
    """SSA: ``LIF(BN(W_p LIF_0.5(0.125 * Q K^T V)))`` (see the module docstring)."""

    PER_LAYER_NEURONS = {
        "q_lif": "Q's channels are summed inside Q K^T",
        "k_lif": "K's channels are summed inside Q K^T",
    }

    def __init__(
        self,
        dim: int,
        heads: int,
        neuron: NeuronFactory,
        *,
        qkv_bias: bool = False,
        order: str = "qk_v",
        scale: float = SSA_SCALE,
    ) -> None:
        super().__init__()
        _check_heads(dim, heads)
        if order not in _ORDERS:
            raise ValueError(f"order must be one of {_ORDERS}, got {order!r}")
        self.heads, self.order, self.scale = heads, order, float(scale)
        self.q = ConvBN(dim, dim, bias=qkv_bias)
        self.q_lif = neuron(dim)
        self.k = ConvBN(dim, dim, bias=qkv_bias)
        self.k_lif = neuron(dim)
        self.v = ConvBN(dim, dim, bias=qkv_bias)
        self.v_lif = neuron(dim)
        if order == "qk_v":
            self.qk = SpikeMatmul("q@k^T")
            self.qkv = SpikeMatmul("(qk^T)@v")
        else:
            self.kv = SpikeMatmul("k^T@v")
            self.qkv = SpikeMatmul("q@(k^Tv)")
        self.attn_lif = attention_neuron(neuron, dim)
        self.proj = ConvBN(dim, dim, bias=True)
        self.proj_lif = neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = split_heads(self.q_lif(self.q(x)), self.heads).transpose(-1, -2)  # [T, B, h, N, d]
        k = split_heads(self.k_lif(self.k(x)), self.heads).transpose(-1, -2)
        v = split_heads(self.v_lif(self.v(x)), self.heads).transpose(-1, -2)
        if self.order == "qk_v":
            out = self.qkv(self.qk(q, k.transpose(-1, -2)), v)
        else:
            out = self.qkv(q, self.kv(k.transpose(-1, -2), v))
        out = merge_heads((out * self.scale).transpose(-1, -2), x)
        return self.proj_lif(self.proj(self.attn_lif(out)))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, order={self.order!r}, scale={self.scale}"


class TokenQKAttention(nn.Module):
    """QKFormer's Q-K token attention: ``LIF(BN(W_p (LIF_0.5(sum_c Q) * K)))``."""

    PER_LAYER_NEURONS = {"q_lif": "Q's channels are summed into the token mask"}

    def __init__(self, dim: int, heads: int, neuron: NeuronFactory) -> None:
        super().__init__()
        _check_heads(dim, heads)
        self.heads = heads
        self.q = ConvBN(dim, dim)
        self.q_lif = neuron(dim)
        self.k = ConvBN(dim, dim)
        self.k_lif = neuron(dim)
        self.attn_lif = attention_neuron(neuron, heads)  # input [T, B, heads, 1, N]
        self.proj = ConvBN(dim, dim, bias=True)
        self.proj_lif = neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = split_heads(self.q_lif(self.q(x)), self.heads)  # [T, B, h, d, N]
        k = split_heads(self.k_lif(self.k(x)), self.heads)
        mask = self.attn_lif(q.sum(3, keepdim=True))  # [T, B, h, 1, N]: which tokens pass
        return self.proj_lif(self.proj(merge_heads(mask * k, x)))

    def extra_repr(self) -> str:
        return f"heads={self.heads}"


class SpikingMLP(nn.Module):
    """``LIF(BN(conv1x1(LIF(BN(conv1x1(x))))))``, hidden width ``hidden``, biases as originals."""

    def __init__(self, dim: int, hidden: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.fc1 = ConvBN(dim, hidden, bias=True)
        self.fc1_lif = neuron(hidden)
        self.fc2 = ConvBN(hidden, dim, bias=True)
        self.fc2_lif = neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2_lif(self.fc2(self.fc1_lif(self.fc1(x))))


class TransformerBlock(nn.Module):
    """``x = x + DropPath(attn(x)); x = x + DropPath(mlp(x))`` (no layer norm, as originals)."""

    def __init__(self, attn: nn.Module, mlp: nn.Module, drop_path: float = 0.0) -> None:
        super().__init__()
        self.attn = attn
        self.mlp = mlp
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))
