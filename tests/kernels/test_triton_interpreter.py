"""The Triton kernels' logic on the CPU, through Triton's interpreter (``TRITON_INTERPRET=1``).

Runs where the ``triton`` package is installed (the test extra installs it on Linux x86-64, and
CI fails rather than skips without it; it is not a dependency of stablespike); in a subprocess,
because the interpreter is chosen when the kernels are defined.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("triton") is None:
    # the test set-up installs triton where it has wheels: there CI must not skip silently
    if os.environ.get("CI") and platform.system() == "Linux" and platform.machine() == "x86_64":
        raise RuntimeError("triton is missing: `make test` installs it (pyproject test extra)")
    pytest.skip("triton is not installed", allow_module_level=True)

SCRIPT = """
import sys
from hypothesis import HealthCheck, given, settings
from kernel_cases import cases, check_parity
from stablespike.kernels import cpu, triton_lif
from stablespike.kernels.fused import lif_fused

cpu.forward = lambda *args: triton_lif.forward(*args[:8])  # CPU tensors -> Triton (no detach_reset)
cpu.backward = triton_lif.backward

@settings(max_examples=int(sys.argv[1]), deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test(case):
    check_parity(lif_fused, case)

test()

# MP-Init's per-layer statistic summed by the forward kernel, with non-finite potentials
import torch
from kernel_cases import assert_statistics_equal
from stablespike.functional import grouped_statistic

x = torch.randn(3, 5, 7, 301, generator=torch.Generator().manual_seed(0)) * 1.5 + 0.6
x.view(3, -1)[:, 5] = float("inf")
x.view(3, -1)[:, 9] = float("nan")
for shape in [(), (1, 1), (7, 1)]:
    got = lif_fused(x, 2.0, 0.8, statistic_shape=shape)
    assert_statistics_equal(grouped_statistic(got.v_last, got.fired, shape), got.mp_stat)
    assert float(got.mp_stat.nonfinite.sum()) == 1  # the inf neuron fires; NaN never does
print("interpreter parity ok")
"""


def test_triton_kernels_match_reference_in_the_interpreter() -> None:
    env = dict(os.environ, TRITON_INTERPRET="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "60"], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "interpreter parity ok" in proc.stdout
