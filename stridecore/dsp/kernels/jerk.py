"""The look-back ring of the contact kernels (foot, shin): jerk, |a| and times per sample.

``ring_acc`` (R, 3) keeps the last R accelerations, ``ring_f`` (R, ≥ 3) per sample the device
time (µs), the jerk |a[n] − a[n − K]| · fs / K (m/s³) and |a| (m/s²) in columns
``c_t, c_j, c_a``; ``ring_idx`` the device sample index.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit


@njit
def push_sample(ring_acc: np.ndarray, ring_f: np.ndarray, ring_idx: np.ndarray, N: int,
                R: int, K: int, fs: float, a0: float, a1: float, a2: float, idx: int,
                t_us: float, c_t: int, c_j: int, c_a: int) -> tuple[float, float]:
    """Store sample ``N`` (acc m/s²) in the ring; returns (jerk m/s³, |a| m/s²)."""
    r = N % R
    an = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
    j = 0.0
    if N >= K:
        rk = (N - K) % R
        d0 = a0 - ring_acc[rk, 0]
        d1 = a1 - ring_acc[rk, 1]
        d2 = a2 - ring_acc[rk, 2]
        j = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) * fs / K
    ring_acc[r, 0] = a0
    ring_acc[r, 1] = a1
    ring_acc[r, 2] = a2
    ring_idx[r] = idx
    ring_f[r, c_t] = t_us
    ring_f[r, c_j] = j
    ring_f[r, c_a] = an
    return j, an


@njit
def is_clipped(flag: int, a0: float, a1: float, a2: float, clip_mps2: float) -> bool:
    """CLIPPED_ACC flag set, or an axis at or above ``clip_mps2`` (0: flag only)."""
    if (flag & 1) != 0:
        return True
    return clip_mps2 > 0.0 and (abs(a0) >= clip_mps2 or abs(a1) >= clip_mps2
                                or abs(a2) >= clip_mps2)
