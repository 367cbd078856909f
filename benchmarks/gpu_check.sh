#!/usr/bin/env bash
# GPU checks of the fused TrLIF kernels (Triton), for a CUDA machine; about 2-3 minutes.
#
#   bash benchmarks/gpu_check.sh            # from anywhere; writes $OUT/gpu_check.log if OUT is set
#
# 1. the CUDA parity tests (tests/kernels/test_fused_cuda.py: hypothesis parity with the per-step
#    reference in float32/float64, every option on a conv layer, float16/bfloat16 inputs,
#    torch.compile without graph breaks);
# 2. the GPU benchmark: the fused ops alone (forward + backward) against a plain copy of the same
#    bytes, and the TrLIF layer (fused vs reference), for the standard layer shape
#    T=4,B=16,C=128,32x32 and a larger one (B=128).
# The repository need not be installed: src/ goes on PYTHONPATH. Needs torch (CUDA), triton,
# pytest, hypothesis.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/gpu_check.log") 2>&1
fi

echo "== gpu_check $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
"$PY" -c 'import torch, triton; print("torch", torch.__version__, "| triton", triton.__version__,
"| device", torch.cuda.get_device_name() if torch.cuda.is_available() else "NONE")'
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
  echo "no CUDA device: nothing to check"; exit 2; }

status=0
echo "== 1. CUDA parity tests"
timeout 150 "$PY" -m pytest -x -q -p no:cacheprovider tests/kernels/test_fused_cuda.py \
  -o addopts="" -rs --durations=5 || status=1

echo "== 2. GPU benchmark"
timeout 75 "$PY" -m stablespike.kernels.bench --device cuda --what kernel --what layer \
  --impl fused --impl reference --shape 4,16,128,32,32 --shape 4,128,128,32,32 --repeats 20 \
  ${OUT:+--json "$OUT/gpu_bench.jsonl"} || status=1

echo "== gpu_check finished with status $status"
exit $status
