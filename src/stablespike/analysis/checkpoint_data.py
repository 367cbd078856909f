"""A trained model and its test batches from a training checkpoint.

The checkpoint (``RUN_DIR/best.pt`` or ``last.pt`` written by ``stablespike train``) holds the
run's config and the model configuration; the model is rebuilt from them and the weights,
BatchNorm statistics and MP-Init means are loaded. The batches are the test split of the run's
dataset (or of ``dataset``), time-major for event data, as ``stablespike eval`` sees them.

The model comes from :func:`stablespike.train.load_trained_model` and the batches from
:func:`stablespike.train.trained_model.test_batches` (both re-exported here; a whole evaluation
opens the checkpoint with :func:`stablespike.train.open_for_eval`).

Example::

    from stablespike.analysis import analyze_model
    from stablespike.analysis.checkpoint_data import load_trained_model, test_batches
    model, cfg = load_trained_model("runs/fashion-mnist/best.pt")
    result = analyze_model(model, test_batches(cfg, batch_size=128), max_batches=8)
"""

from __future__ import annotations

# both live in the training layer (one way to open a checkpoint for evaluation)
from ..train.trained_model import load_trained_model, test_batches

__all__ = ["load_trained_model", "test_batches"]
