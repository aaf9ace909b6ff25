"""A segment's principal rotation axis from its gyro second moment (shared by the kernels).

The second-moment matrix M (9 values, row-major) and the axis (3 values) live in the caller's
float state at offsets ``m`` and ``a``. Power iteration from the current axis, sign kept
continuous (Falbriard 2018, Front Physiol 9:610, align a foot IMU by its principal gyro axis).
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit


@njit
def power_refresh(F: np.ndarray, m: int, a: int) -> None:
    """12 power iterations of M from the axis in force; the result keeps the axis's sign."""
    v0 = F[a]
    v1 = F[a + 1]
    v2 = F[a + 2]
    for _ in range(12):
        w0 = F[m] * v0 + F[m + 1] * v1 + F[m + 2] * v2
        w1 = F[m + 3] * v0 + F[m + 4] * v1 + F[m + 5] * v2
        w2 = F[m + 6] * v0 + F[m + 7] * v1 + F[m + 8] * v2
        n = math.sqrt(w0 * w0 + w1 * w1 + w2 * w2)
        if n <= 0.0:
            return
        v0 = w0 / n
        v1 = w1 / n
        v2 = w2 / n
    if v0 * F[a] + v1 * F[a + 1] + v2 * F[a + 2] < 0.0:
        v0, v1, v2 = -v0, -v1, -v2
    F[a] = v0
    F[a + 1] = v1
    F[a + 2] = v2


@njit
def diag_start(F: np.ndarray, m: int, a: int) -> None:
    """The first axis: the sensor axis with the largest diagonal element of M."""
    k = 0
    if F[m + 4] > F[m]:
        k = 1
    if F[m + 8] > F[m + 4 * k]:
        k = 2
    F[a] = 0.0
    F[a + 1] = 0.0
    F[a + 2] = 0.0
    F[a + k] = 1.0


@njit
def moment_update(F: np.ndarray, m: int, d: float, g0: float, g1: float, g2: float) -> None:
    """M <- d M + (1 − d) g gᵀ for one angular-rate sample g (rad/s)."""
    c = 1.0 - d
    F[m + 0] = d * F[m + 0] + c * g0 * g0
    F[m + 1] = d * F[m + 1] + c * g0 * g1
    F[m + 2] = d * F[m + 2] + c * g0 * g2
    F[m + 4] = d * F[m + 4] + c * g1 * g1
    F[m + 5] = d * F[m + 5] + c * g1 * g2
    F[m + 8] = d * F[m + 8] + c * g2 * g2
    F[m + 3] = F[m + 1]
    F[m + 6] = F[m + 2]
    F[m + 7] = F[m + 5]
