"""The base layer: what every other package shares, importing nothing else of stablespike.

* :mod:`~stablespike.core.errors`: the one exception hierarchy (:class:`StableSpikeError` and
  its subclasses; the CLI prints any of them as one line and exits 1);
* :mod:`~stablespike.core.fileio`: atomic file and folder writes;
* :mod:`~stablespike.core.registry`: :class:`Registry`, behind ``--model``, ``--dataset``,
  ``--backend`` and the commands;
* :mod:`~stablespike.core.options`: dataclass fields as command-line options, used by every
  command.

Nothing here imports torch.
"""

__version__ = "0.1.0"
"""The version of stablespike (also ``stablespike.__version__``)."""
