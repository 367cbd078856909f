"""The CPU kernel's builds: every instruction set the host runs, the cache key, the lock, the log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from kernel_cases import Case, cases, check_parity

from stablespike.kernels import cpu_build
from stablespike.kernels.fused import lif_fused

pytestmark = pytest.mark.skipif(
    not cpu_build.toolchain_available(), reason="no C++ compiler to build the CPU kernel"
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OTHER_ISAS = cpu_build.host_isas()[1:]  # the host's best is what the rest of the suite runs


@pytest.mark.parametrize("isa", OTHER_ISAS)
def test_each_instruction_set_build_has_its_vector_width(isa: str) -> None:
    variant = cpu_build.Variant(torch.float32, "trsg", True, True, False)
    lib = cpu_build.library(variant, isa)
    assert lib.stablespike_lif_vector_bytes() == {"avx512": 64, "avx2": 32, "sse2": 16}[isa]


@pytest.mark.parametrize("isa", OTHER_ISAS)
@SETTINGS
@given(case=cases())
def test_each_instruction_set_matches_the_reference(isa: str, case: Case) -> None:
    """The builds the kernel can select on other CPUs (forced here): exact forward, gradients
    within the parity tolerance, the same as the host's best build."""
    with cpu_build.use_isa(isa):
        check_parity(lif_fused, case)


@pytest.mark.parametrize("isa", OTHER_ISAS)
def test_every_build_gives_the_same_bits(isa: str) -> None:
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(6, 4, 8, 37, generator=gen) * 1.5).requires_grad_()
    tau, vth = torch.full((8, 1), 2.5), torch.rand(8, 1, generator=gen) + 0.5

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        res = lif_fused(x, tau, vth, reset="hard")
        (grad,) = torch.autograd.grad((res.output * torch.arange(37.0)).sum(), x)
        return res.output, grad

    best = run()
    with cpu_build.use_isa(isa):
        other = run()
    assert torch.equal(best[0], other[0]) and torch.equal(best[1], other[1])


def test_an_isa_the_cpu_cannot_run_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLESPIKE_KERNEL_ISA", "avx1024")
    with pytest.raises(ValueError, match="STABLESPIKE_KERNEL_ISA='avx1024' is not one of"):
        cpu_build.active_isa()
    if "avx512" not in cpu_build.host_isas():
        monkeypatch.setenv("STABLESPIKE_KERNEL_ISA", "avx512")
        with pytest.raises(RuntimeError, match="cannot run on this CPU"):
            cpu_build.active_isa()


def test_cache_key_follows_source_flags_and_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    v = cpu_build.Variant(torch.float32, "trsg", True, True, False)
    key = cpu_build.build_key(v, "sse2")
    assert cpu_build.build_key(v, "sse2") == key
    assert cpu_build.build_key(v, "avx2") != key
    assert cpu_build.build_key(v._replace(detach_reset=True), "sse2") != key
    monkeypatch.setattr(cpu_build, "_identity", "another compiler 1.0")
    assert cpu_build.build_key(v, "sse2") != key


_CHILD = textwrap.dedent(
    """
    import logging, sys, torch
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from stablespike import TrLIF
    TrLIF(surrogate="as", reset="hard")(torch.randn(3, 2, 5))
    from stablespike.kernels import cpu_build
    print("BUILDS", cpu_build.build_info()["builds"] - (1 if sys.argv[1] == "one" else 0))
    """
)


def _start(cache: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, STABLESPIKE_KERNEL_CACHE=str(cache))
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_processes_starting_at_once_build_each_library_once(tmp_path: Path) -> None:
    """Two processes with a fresh cache at the same moment: one builds, the other waits on the
    lock and loads it; both announce nothing more than that build."""
    procs = [_start(tmp_path, "two"), _start(tmp_path, "two")]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    builds = [int(out.split("BUILDS")[1]) for out, _ in results]
    # the `as`/hard library is built by exactly one process; build_info's default (TrSG) too
    assert sum(builds) == 2, builds
    libraries = sorted(p.name for p in tmp_path.glob("*.so"))
    assert len(libraries) == 2 and not list(tmp_path.glob(".*.tmp"))
    announced = "".join(err for _, err in results)
    assert announced.count("building the fused CPU LIF kernel") == 2


def test_first_build_is_announced_before_and_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STABLESPIKE_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(cpu_build, "_libraries", {})
    monkeypatch.setitem(cpu_build._info, "builds", 0)
    variant = cpu_build.Variant(torch.float64, "rs", False, False, True)
    with caplog.at_level(logging.INFO, logger="stablespike.kernels"):
        cpu_build.library(variant, "sse2")
        cpu_build.library(variant, "sse2")  # loaded: nothing more
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and messages[0].startswith("stablespike: building")
    assert str(tmp_path) in messages[0] and "built the fused CPU LIF kernel in" in messages[1]
    assert caplog.records[0].levelno == logging.WARNING


def test_a_failing_build_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLESPIKE_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(cpu_build, "_libraries", {})
    monkeypatch.setattr(
        cpu_build, "BASE_FLAGS", [*cpu_build.BASE_FLAGS, "-include", str(tmp_path / "missing.h")]
    )
    with pytest.raises(
        RuntimeError, match=r"building the fused CPU kernel failed.*backend='reference'"
    ):
        cpu_build.library(cpu_build.Variant(torch.float32, "trsg", True, True, False), "sse2")
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob(".*.tmp"))
