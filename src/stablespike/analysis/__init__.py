"""Diagnostics of trained SNNs: temporal covariate shift, gradient stability, energy.

Python API (each works on any model that contains :class:`~stablespike.TrLIF` layers):

* :class:`NeuronMonitor` — per layer and timestep: firing rate, histogram of the pre-spike
  potential ``H[t]`` and its TV distance to the last step, AbsStr / RatioAG / GradCV of ``dL/dH``;
* :class:`TimestepGradients` — cosine similarity of the parameter gradients of each timestep;
* :class:`EarlyExitAccuracy` — accuracy when the output is read after ``t`` steps;
* :class:`SynOpsCounter` — accumulates / multiply-accumulates per layer and the energy estimate;
* :func:`neuron_parameters` — learned ``tau``, ``Vthr`` and MP-Init mean per layer;
* :func:`analyze_model` runs them all over a few batches, :func:`save_analysis` writes
  ``analysis.json``, the text report, the AC/MAC/energy table and the plots.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.analysis import NeuronMonitor
    >>> model = nn.Sequential(nn.Linear(3, 8), TrLIF(), nn.Linear(8, 2)).eval()
    >>> with NeuronMonitor(model) as mon:
    ...     model(torch.randn(4, 2, 3)).sum().backward()
    >>> sorted(mon.summary()["1"])[:3]
    ['firing_rate', 'grad', 'grad_per_step']
"""

from .analyzer import analyze_model
from .early_exit import EarlyExitAccuracy, early_exit_correct
from .gradients import GradStats, TimestepGradients, cosine_matrix
from .histogram import StreamingHistogram, tv_distance
from .layers import neuron_layers, neuron_parameters  # neuron_layers: deprecated alias
from .monitor import NeuronMonitor
from .report import format_report, save_analysis
from .synops import E_AC_PJ, E_MAC_PJ, SynOpsCounter, energy_pj

__all__ = [
    "E_AC_PJ",
    "E_MAC_PJ",
    "EarlyExitAccuracy",
    "GradStats",
    "NeuronMonitor",
    "StreamingHistogram",
    "SynOpsCounter",
    "TimestepGradients",
    "analyze_model",
    "cosine_matrix",
    "early_exit_correct",
    "energy_pj",
    "format_report",
    "neuron_layers",
    "neuron_parameters",
    "save_analysis",
    "tv_distance",
]
