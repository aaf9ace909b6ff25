"""Stream-health counters of a block of samples in one pass (numba).

:func:`block_stats` returns the largest squared |specific force| (m²/s⁴) and |angular rate|
(rad²/s²) — NaN samples skipped, -inf if none — and the number of samples carrying each of
three flag masks. numpy, numba and math only.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit


@njit
def block_stats(acc, gyr, flags, mask_a, mask_b, mask_c):  # pragma: no cover - compiled
    """(peak |acc|², peak |gyr|², count flags & mask_a, & mask_b, & mask_c)."""
    pa = -np.inf
    pg = -np.inf
    na = 0
    nb = 0
    nc = 0
    for i in range(flags.size):
        a2 = acc[i, 0] * acc[i, 0] + acc[i, 1] * acc[i, 1] + acc[i, 2] * acc[i, 2]
        g2 = gyr[i, 0] * gyr[i, 0] + gyr[i, 1] * gyr[i, 1] + gyr[i, 2] * gyr[i, 2]
        if not math.isnan(a2) and a2 > pa:
            pa = a2
        if not math.isnan(g2) and g2 > pg:
            pg = g2
        f = flags[i]
        if f & mask_a:
            na += 1
        if f & mask_b:
            nb += 1
        if f & mask_c:
            nc += 1
    return pa, pg, na, nb, nc
