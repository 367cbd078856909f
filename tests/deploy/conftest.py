"""Fixtures of the folding tests; the nets themselves live in :mod:`fold_nets`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from fold_nets import Net, randomize_


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """These models are tiny: one intra-op thread is much faster on a shared, busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def net() -> Callable[..., Net]:
    """``net(per_channel=False, identity_block=True, seed=0)``: a randomized :class:`Net`."""

    def build(per_channel: bool = False, identity_block: bool = True, seed: int = 0) -> Net:
        torch.manual_seed(seed)
        return randomize_(Net(per_channel, identity_block), seed)

    return build
