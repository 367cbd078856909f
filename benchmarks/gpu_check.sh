#!/usr/bin/env bash
# GPU checks of the fused TrLIF kernels (Triton), for a CUDA machine; about 4-8 minutes.
#
#   bash benchmarks/gpu_check.sh            # from anywhere; writes $OUT/gpu_check.log if OUT is set
#
# 1. the CUDA parity tests (tests/kernels/test_fused_cuda.py: hypothesis parity with the per-step
#    reference in float32/float64, every option on a conv layer, float16/bfloat16 inputs,
#    torch.compile without graph breaks; tests/train/test_train_cuda.py: training on CUDA);
# 2. the GPU benchmark: the fused ops alone (forward + backward) against a plain copy of the same
#    bytes, and the TrLIF layer (fused vs reference), for the standard layer shape
#    T=4,B=16,C=128,32x32 and a larger one (B=128);
# 3. whole-model torch.compile (Inductor) on CUDA with AMP (fp16): fmnist-cnn training steps
#    through batch sizes 64, 37, 20 and T 4, 2, the self-check of the fused backend, and eager vs
#    compiled step times;
# 4. a ResNet-19 training step, fused vs reference neurons (stablespike bench --what network).
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
  tests/train/test_train_cuda.py \
  -o addopts="" -rs --durations=5 || status=1

echo "== 2. GPU benchmark"
timeout 75 "$PY" -m stablespike bench --device cuda --what kernel --what layer \
  --impl fused --impl reference --shape 4,16,128,32,32 --shape 4,128,128,32,32 --repeats 20 \
  ${OUT:+--json "$OUT/gpu_bench_layer.json"} || status=1

echo "== 3. torch.compile + AMP on CUDA"
timeout 240 "$PY" - <<'PYEOF' || status=1
import time, torch
from stablespike import kernels
from stablespike.models import build_model
print("self-check (cuda):", kernels.self_check("cuda") or "passed")
torch.manual_seed(0)
model = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cuda")
for name, run in (("eager", model), ("compiled", torch.compile(model, dynamic=True))):
    times = []
    for batch, steps in ((64, None), (37, None), (20, 2), (64, None), (64, None), (64, None)):
        x = torch.randn(batch, 1, 28, 28, device="cuda")
        if steps:
            x = x.unsqueeze(0).repeat(steps, 1, 1, 1, 1)
        y = torch.randint(0, 10, (batch,), device="cuda")
        torch.cuda.synchronize(); t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(run(x).float().mean(0), y)
        opt.zero_grad(); scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
        torch.cuda.synchronize(); times.append(time.perf_counter() - t0)
        assert torch.isfinite(loss), (name, batch, steps)
    print(f"{name}: first step {times[0]:.2f} s, B=64 steady {min(times[3:]) * 1e3:.1f} ms")
PYEOF

echo "== 4. ResNet-19 training step, fused vs reference"
timeout 120 "$PY" -m stablespike bench --device cuda --what network \
  --impl fused --impl reference ${OUT:+--json "$OUT/gpu_bench_network.json"} || status=1

echo "== gpu_check finished with status $status"
exit $status
