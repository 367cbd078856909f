"""Pure functions: the readable definitions of the neuron math.

* :mod:`.surrogate` — spike functions with TrSG / AS-SG / RS-SG gradients;
* :mod:`.lif` — one LIF step and the per-step reference over a sequence;
* :mod:`.mp_init` — MP-Init's running-mean statistic and update;
* :mod:`.params` — ``tau`` and ``Vthr`` parameterisations.
"""

from .lif import RESETS, LIFSequence, LIFStep, check_reset, lif_sequence, lif_step
from .mp_statistic import (
    MPStatistic,
    all_reduce_statistic,
    grouped_statistic,
    mp_batch_statistic,
    mp_update_,
)
from .params import tau_from_raw, tau_to_raw, threshold_from_raw, threshold_to_raw
from .surrogate import SURROGATES, check_surrogate, scales_output, spike, surrogate_grads

__all__ = [
    "RESETS",
    "SURROGATES",
    "LIFSequence",
    "LIFStep",
    "MPStatistic",
    "all_reduce_statistic",
    "check_reset",
    "check_surrogate",
    "lif_sequence",
    "lif_step",
    "grouped_statistic",
    "mp_batch_statistic",
    "mp_update_",
    "scales_output",
    "spike",
    "surrogate_grads",
    "tau_from_raw",
    "tau_to_raw",
    "threshold_from_raw",
    "threshold_to_raw",
]
