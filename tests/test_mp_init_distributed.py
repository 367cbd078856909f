"""Under torch.distributed, MP-Init's statistic is that of the global batch on every rank."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from stablespike import TrLIF


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch() -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(4, 6, 3, 5, generator=gen) + 0.6
    x[:, :3] *= 2.0  # the two halves differ, so a mean of means would be wrong
    return x


def _worker(rank: int, port: int, out: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        lif = TrLIF(per_channel=True, channels=3)
        x = _batch()[:, rank * 3 : (rank + 1) * 3]
        for _ in range(2):
            lif(x)
        out[rank] = lif.mp_mean.clone()
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built")
def test_two_ranks_hold_the_global_batch_statistic() -> None:
    single = TrLIF(per_channel=True, channels=3)
    for _ in range(2):
        single(_batch())
    with mp.Manager() as manager:
        out = manager.dict()
        mp.start_processes(_worker, args=(_free_port(), out), nprocs=2, start_method="spawn")
        r0, r1 = out[0], out[1]
    assert torch.equal(r0, r1)
    torch.testing.assert_close(r0, single.mp_mean, atol=1e-6, rtol=1e-6)
    assert (single.mp_mean != 0).all()
