"""Energy estimate from synaptic-operation counts (45 nm CMOS figures, docs/METHOD.md §5.3).

A spike-driven synapse performs an accumulate (AC), a real-valued one a multiply-accumulate
(MAC)::

    E = E_AC * #AC + E_MAC * #MAC,      E_AC = 0.9 pJ,  E_MAC = 4.6 pJ

Example:
    >>> from stablespike.analysis.energy import energy_pj
    >>> energy_pj(ac=1000, mac=10)       # 900 + 46 pJ
    946.0
"""

from __future__ import annotations

E_AC_PJ = 0.9
"""Energy of one accumulate, picojoules (45 nm)."""

E_MAC_PJ = 4.6
"""Energy of one multiply-accumulate, picojoules (45 nm)."""


def energy_pj(ac: float, mac: float, *, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> float:
    """``e_ac * ac + e_mac * mac`` in picojoules; counts must be >= 0."""
    if ac < 0 or mac < 0:
        raise ValueError(f"operation counts must be >= 0, got ac={ac}, mac={mac}")
    return e_ac * ac + e_mac * mac
