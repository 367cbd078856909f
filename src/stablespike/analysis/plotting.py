"""Lazy access to matplotlib's pyplot with the non-interactive Agg backend.

matplotlib is optional (``pip install stablespike[plots]``): importing stablespike never imports
it; :func:`pyplot` does, on first use, and raises a clear ``ImportError`` when it is missing.

Example::

    from stablespike.analysis.plotting import pyplot
    plt = pyplot()
    fig, ax = plt.subplots()
"""

from __future__ import annotations

from types import ModuleType


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` with the Agg backend selected."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install 'stablespike[plots]' (or pass --no-plots)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
