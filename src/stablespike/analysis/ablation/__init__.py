"""The ablation grid of docs/METHOD.md §5.1 at a CPU-sized scale (``stablespike ablate``)."""
