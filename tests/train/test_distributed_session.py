"""``distributed_session``: joins and leaves the process group, errors propagate."""

from __future__ import annotations

import pytest

from stablespike.train.distributed import distributed_session


def test_single_process_session_and_errors_propagate(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed_session("cpu") as ctx:
        assert ctx.world_size == 1 and ctx.is_main
    with pytest.raises(RuntimeError, match="boom"), distributed_session("cpu"):
        raise RuntimeError("boom")
