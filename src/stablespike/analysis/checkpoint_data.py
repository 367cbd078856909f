"""A trained model and its test batches from a training checkpoint.

The checkpoint (``RUN_DIR/best.pt`` or ``last.pt`` written by ``stablespike train``) holds the
run's config and the model configuration; the model is rebuilt from them and the weights,
BatchNorm statistics and MP-Init means are loaded. The batches are the test split of the run's
dataset (or of ``dataset``), time-major for event data, as ``stablespike eval`` sees them.

The model comes from :func:`stablespike.train.load_trained_model` (re-exported here).

Example::

    from stablespike.analysis import analyze_model
    from stablespike.analysis.checkpoint_data import load_trained_model, test_batches
    model, cfg = load_trained_model("runs/fashion-mnist/best.pt")
    result = analyze_model(model, test_batches(cfg, batch_size=128), max_batches=8)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from ..train.trained_model import load_trained_model

__all__ = ["load_trained_model", "test_batches"]


def test_batches(
    cfg: Any,
    *,
    batch_size: int,
    dataset: str | None = None,
    data_dir: str | None = None,
    device: str = "cpu",
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Test batches of ``cfg``'s dataset (or ``dataset``) on ``device``, in a fixed order."""
    from ..train.batches import TrainData
    from ..train.distributed import DistContext

    changes: dict[str, Any] = {"eval_batch_size": batch_size, "device": device}
    if dataset:
        changes["dataset"] = dataset
    if data_dir:
        changes["data_dir"] = data_dir
    run_cfg = cfg.replace(**changes).validate()
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device(device))
    yield from TrainData.build(run_cfg, ctx).test_batches()
