#!/usr/bin/env bash
# CPU-scale runs of the tiny spiking transformers on a Fashion-MNIST subset (docs/RESULTS.md):
# MP-Init + TrSG vs the baseline (AS-SG, U0 = 0), one epoch, T = 4, one thread per run.
#   bash benchmarks/transformers_fmnist.sh OUT_DIR "0 1 2"
# Needs OUT_DIR/fmnist-8k.npz from benchmarks/fmnist_subset.py. Two runs go in parallel.
set -euo pipefail
out=${1:?OUT_DIR}
seeds=${2:-0}
data="npz:$out/fmnist-8k.npz"
for seed in $seeds; do
  for model in spikformer-tiny qkformer-tiny spikingresformer-tiny; do
    common=(--dataset "$data" --model "$model" --epochs 1 --timesteps 4 --threads 1
            --seed "$seed" --progress off --no-tensorboard --overwrite)
    stablespike train "${common[@]}" --run-dir "$out/$model-mpinit-trsg-s$seed" \
      > "$out/$model-mpinit-trsg-s$seed.log" 2>&1 &
    stablespike train "${common[@]}" --surrogate as --no-mp-init \
      --run-dir "$out/$model-baseline-s$seed" > "$out/$model-baseline-s$seed.log" 2>&1 &
    wait
  done
done
