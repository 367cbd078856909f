"""Exceptions of the threshold-folding pass.

:class:`FoldError` is what users see. :class:`Refusal` is internal: a propagation rule raises it
with the reason only, and the planner turns it into a :class:`FoldError` that also names the
neuron(s) and the graph node concerned.

Example:
    >>> from stablespike.deploy import FoldError
    >>> issubclass(FoldError, ValueError)
    True
"""

from __future__ import annotations


class FoldError(ValueError):
    """The thresholds of a model cannot be folded exactly (or a folded model failed its check)."""


class Refusal(Exception):
    """Internal: a pending scale cannot pass a node; ``reason`` says why, ``hint`` what to do."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
