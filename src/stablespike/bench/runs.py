"""The three measurements of ``stablespike bench``, each returning plain dict rows.

* :func:`bench_layer` — one neuron layer ``[T, B, C, H, W]``, forward + backward, per
  implementation: median time, forward-only time, saved-for-backward bytes, peak memory;
* :func:`bench_kernel` — the fused ops alone (no autograd) against a plain copy that moves the
  same bytes, and against the memory-bandwidth floor;
* :func:`bench_network` — one ResNet-19 training step (SGD, cross-entropy on the time-mean
  logits) per implementation: median time, peak memory, saved-for-backward bytes; with
  ``bound=True`` also the step with no neuron at all (identity), which bounds every speed-up.

The fused kernels move ``5 x T x N`` values per forward + backward (forward: read ``X``, write
``O``; backward: read ``X`` and ``dL/dO``, write ``dL/dX``): :func:`layer_bytes`.

Example:
    >>> rows = bench_layer((2, 2, 4, 8, 8), ["reference"], "cpu", repeats=1)
    >>> sorted(rows[0])[:3]
    ['fwd_bwd_s', 'fwd_s', 'impl']
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .impls import NO_NEURON, Unavailable, make_layer
from .tools import copy_seconds, median_times, peak_bytes, saved_bytes

Row = dict[str, Any]


def layer_bytes(shape: Sequence[int], itemsize: int = 4) -> int:
    """Bytes a fused forward + backward must move: five ``T x N`` tensors."""
    n = 1
    for s in shape:
        n *= int(s)
    return 5 * n * itemsize


def _layers(impls: Sequence[str], device: str) -> tuple[dict[str, nn.Module], list[Row]]:
    layers: dict[str, nn.Module] = {}
    skipped: list[Row] = []
    for name in impls:
        try:
            layers[name] = make_layer(name).to(device).train()
        except Unavailable as err:
            skipped.append({"impl": name, "skipped": str(err)})
    return layers, skipped


def bench_layer(shape: Sequence[int], impls: Sequence[str], device: str, repeats: int) -> list[Row]:
    """Forward + backward of one layer per implementation (see the module docs)."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(tuple(shape), generator=gen) + 0.5).to(device)
    grad = torch.randn(tuple(shape), generator=gen).to(device)
    layers, rows = _layers(impls, device)

    def fwd_bwd(layer: nn.Module) -> None:
        layer(x.detach().requires_grad_()).backward(grad)

    def fwd(layer: nn.Module) -> None:
        with torch.no_grad():
            layer(x)

    mods = list(layers.values())
    both = median_times(
        [functools.partial(fwd_bwd, m) for m in mods], repeats, warmup=2, device=device
    )
    fwd_only = median_times(
        [functools.partial(fwd, m) for m in mods], repeats, warmup=1, device=device
    )
    for (name, layer), t_both, t_fwd in zip(layers.items(), both, fwd_only, strict=True):
        rows.append(
            {
                "impl": name,
                "fwd_bwd_s": t_both,
                "fwd_s": t_fwd,
                "saved_bytes": saved_bytes(functools.partial(layer, x.detach().requires_grad_())),
                "peak_bytes": peak_bytes(functools.partial(fwd_bwd, layer), device),
            }
        )
    return rows


def bench_kernel(shape: Sequence[int], device: str, repeats: int) -> Row:
    """The fused forward + backward ops alone vs a copy of the same bytes (per-layer constants)."""
    from ..kernels import ops  # noqa: F401  (registers torch.ops.stablespike)

    x = torch.randn(tuple(shape), device=device) + 0.5
    grad = torch.randn_like(x)
    k, vth, v0 = (torch.tensor(v, device=device) for v in (0.5, 1.0, 0.0))
    flags = ("trsg", True, "soft", False)

    def forward_backward() -> None:
        torch.ops.stablespike.lif_forward(x, k, vth, v0, *flags)
        torch.ops.stablespike.lif_backward(grad, None, x, k, vth, v0, *flags, True, False)

    nbytes = layer_bytes(shape, x.element_size())
    inner = 10 if device == "cuda" else 1
    (t_kernel,) = median_times([forward_backward], repeats, warmup=2, device=device, inner=inner)
    t_copy = copy_seconds(nbytes, device, repeats)
    return {"shape": list(shape), "bytes": nbytes, "kernel_s": t_kernel, "copy_s": t_copy}


def resnet19_with(name: str, device: str, timesteps: int) -> nn.Module:
    """ResNet-19 (10 classes, 3 input channels) in training mode with neurons of impl ``name``."""
    from ..models import build_model

    if name in ("fused", "reference"):
        neuron: dict = {"neuron_kwargs": {"backend": name}}
    else:  # another package's neuron (or none): the zoo builds its layers with it
        neuron = {"neuron": lambda channels: make_layer(name)}
    net = build_model("resnet19", num_classes=10, in_channels=3, timesteps=timesteps, **neuron)
    return net.to(device).train()


def bench_network(
    impls: Sequence[str],
    device: str,
    batch: int,
    timesteps: int,
    repeats: int,
    bound: bool = False,
) -> list[Row]:
    """One ResNet-19 training step per implementation (see the module docs)."""
    from ..models import time_mean_logits

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 32, 32, generator=gen).to(device)
    labels = torch.randint(0, 10, (batch,), generator=gen).to(device)
    nets: dict[str, nn.Module] = {}
    rows: list[Row] = []
    for name in [*impls, NO_NEURON] if bound else impls:
        torch.manual_seed(0)
        try:
            nets[name] = resnet19_with(name, device, timesteps)
        except Unavailable as err:
            rows.append({"impl": name, "skipped": str(err)})
    optims = {n: torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9) for n, m in nets.items()}
    loss_fn = nn.CrossEntropyLoss()

    def step(name: str) -> None:
        optims[name].zero_grad(set_to_none=True)
        loss = loss_fn(time_mean_logits(nets[name](images)), labels)
        loss.backward()
        optims[name].step()

    names = list(nets)
    times = median_times(
        [functools.partial(step, n) for n in names], repeats, warmup=1, device=device
    )
    for name, t in zip(names, times, strict=True):
        net = nets[name]
        rows.append(
            {
                "impl": name,
                "step_s": t,
                "peak_bytes": peak_bytes(functools.partial(step, name), device),
                "saved_bytes": saved_bytes(functools.partial(net, images)),
            }
        )
    return rows
