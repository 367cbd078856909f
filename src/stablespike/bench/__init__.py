"""Benchmarks of the neuron implementations, behind ``stablespike bench``.

* :mod:`~stablespike.bench.impls`: the implementations compared (stablespike fused and
  reference, SpikingJelly, snnTorch), each as a time-major layer;
* :mod:`~stablespike.bench.tools`: measuring tools (median times, saved bytes, peak memory,
  copy bandwidth, glibc's allocator setting);
* :mod:`~stablespike.bench.runs`: the layer, kernel and ResNet-19 step measurements;
* :mod:`~stablespike.bench.suite`: their options, printed tables and result document.

A layer above the models (it builds ResNet-19) and below the command
(:mod:`stablespike.cli.bench`, which runs each allocator setting in a fresh process).
"""
