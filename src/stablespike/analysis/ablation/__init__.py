"""The ablation grid of method.md 5 at a CPU-sized scale (``stablespike ablate``)."""
