"""The CPU kernel's huge-page hint for large outputs, and ``STABLESPIKE_HUGE_PAGES=0``.

Observable only where transparent huge pages are in ``madvise`` mode (with ``always`` every
large region gets them, with ``never`` none): skipped elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

SCRIPT = """
import torch
from stablespike.kernels.fused import lif_fused

out = lif_fused(torch.randn(4, 8, 64, 32, 32), 2.0, 1.0).output  # 8 MiB per step
inner = out.data_ptr() + out.nbytes // 2  # inside the 2 MiB-aligned interior of the output
inside = False
for line in open("/proc/self/smaps"):
    first = line.split()[0]
    if "-" in first and all(c in "0123456789abcdef-" for c in first):
        lo, hi = (int(v, 16) for v in first.split("-"))
        inside = lo <= inner < hi
    elif inside and line.startswith("AnonHugePages:"):
        print(int(line.split()[1]))
        break
"""


def _huge_kib(setting: str) -> int:
    env = dict(os.environ, STABLESPIKE_HUGE_PAGES=setting)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(
    not THP.is_file() or "[madvise]" not in THP.read_text(),
    reason="transparent huge pages are not in madvise mode here",
)
def test_large_outputs_get_huge_pages_unless_turned_off() -> None:
    assert _huge_kib("1") > 0
    assert _huge_kib("0") == 0
