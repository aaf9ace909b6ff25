"""Mounting kernel: the foot's pitch (medio-lateral) axis in the sensor frame, sample by sample.

The sagittal rotation dominates a shoe's angular velocity in swing, so the pitch axis is the
principal eigenvector of the gyro's second-moment matrix over moving samples (Falbriard 2018,
Front Physiol 9:610, use the same idea to align a foot IMU without calibration). The matrix is
an exponentially weighted sum (forgetting time ``tau`` of *moving* time, so standing still does
not age it); the eigenvector is refreshed by power iteration every ``update`` moving samples,
its sign kept continuous. The sign that makes the rotation toes-up positive is a gait matter and
is resolved downstream (the events kernel). A slow reference axis (forgetting ``10 tau``) flags
a mounting change when the fast axis leaves it by more than ``slip_cos``.

Params vector ``P`` (float64): see :data:`P_FIELDS`. State: ``F`` float64, ``I`` int64, layout
below. Kernels import only numpy, numba and math.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit

# params
P_MOVING_RADPS = 0  # |ω| above which a sample counts as moving
P_DECAY = 1  # per-moving-sample forgetting factor exp(-1 / (fs tau))
P_DECAY_REF = 2  # the reference axis' forgetting factor (per refresh)
P_UPDATE = 3  # refresh the eigenvector every this many moving samples
P_READY = 4  # moving samples before the axis is trusted
P_SLIP_COS = 5  # cos of the angle between fast and reference axis that flags a change
N_P = 6
P_FIELDS = ("moving_radps", "decay", "decay_ref", "update_samples", "ready_samples", "slip_cos")

# float state
F_M = 0  # 9: second moment matrix, row-major
F_AX = 9  # 3: current axis (unit)
F_REF = 12  # 3: reference axis (unit, slow)
N_F = 15
# int state
I_MOVING = 0  # moving samples seen (saturating)
I_SINCE = 1  # moving samples since the last refresh
I_SLIPPED = 2  # 1 while the axis is away from the reference
I_CHANGES = 3  # mounting changes flagged so far
N_I = 4


def init_state() -> tuple[np.ndarray, np.ndarray]:
    F = np.zeros(N_F)
    F[F_AX + 1] = 1.0
    F[F_REF + 1] = 1.0
    return F, np.zeros(N_I, np.int64)


@njit
def _refresh(F: np.ndarray) -> None:
    # power iteration from the current axis (and from the largest diagonal if degenerate)
    v0 = F[F_AX]
    v1 = F[F_AX + 1]
    v2 = F[F_AX + 2]
    for _ in range(12):
        w0 = F[F_M] * v0 + F[F_M + 1] * v1 + F[F_M + 2] * v2
        w1 = F[F_M + 3] * v0 + F[F_M + 4] * v1 + F[F_M + 5] * v2
        w2 = F[F_M + 6] * v0 + F[F_M + 7] * v1 + F[F_M + 8] * v2
        n = math.sqrt(w0 * w0 + w1 * w1 + w2 * w2)
        if n <= 0.0:
            return
        v0 = w0 / n
        v1 = w1 / n
        v2 = w2 / n
    if v0 * F[F_AX] + v1 * F[F_AX + 1] + v2 * F[F_AX + 2] < 0.0:
        v0, v1, v2 = -v0, -v1, -v2
    F[F_AX] = v0
    F[F_AX + 1] = v1
    F[F_AX + 2] = v2


@njit
def _diag_start(F: np.ndarray) -> None:
    k = 0
    if F[F_M + 4] > F[F_M + 0]:
        k = 1
    if F[F_M + 8] > F[F_M + 4 * k]:
        k = 2
    F[F_AX] = 0.0
    F[F_AX + 1] = 0.0
    F[F_AX + 2] = 0.0
    F[F_AX + k] = 1.0


@njit
def mount_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, gyr: np.ndarray,
               axis_out: np.ndarray, flags_out: np.ndarray) -> None:
    """Advance over ``gyr`` (n, 3) rad/s; write the axis in force per sample to ``axis_out``
    (n, 3) and per-sample bits to ``flags_out`` (1 = axis ready, 2 = mounting changed here)."""
    n = gyr.shape[0]
    for t in range(n):
        g0 = gyr[t, 0]
        g1 = gyr[t, 1]
        g2 = gyr[t, 2]
        fl = 0
        if math.isfinite(g0) and math.isfinite(g1) and math.isfinite(g2):
            w2 = g0 * g0 + g1 * g1 + g2 * g2
            if w2 > P[P_MOVING_RADPS] * P[P_MOVING_RADPS]:
                d = P[P_DECAY]
                c = 1.0 - d
                F[F_M + 0] = d * F[F_M + 0] + c * g0 * g0
                F[F_M + 1] = d * F[F_M + 1] + c * g0 * g1
                F[F_M + 2] = d * F[F_M + 2] + c * g0 * g2
                F[F_M + 4] = d * F[F_M + 4] + c * g1 * g1
                F[F_M + 5] = d * F[F_M + 5] + c * g1 * g2
                F[F_M + 8] = d * F[F_M + 8] + c * g2 * g2
                F[F_M + 3] = F[F_M + 1]
                F[F_M + 6] = F[F_M + 2]
                F[F_M + 7] = F[F_M + 5]
                if I[I_MOVING] < 1 << 40:
                    I[I_MOVING] += 1
                I[I_SINCE] += 1
                if I[I_MOVING] == 1:
                    _diag_start(F)
                if I[I_SINCE] >= P[P_UPDATE]:
                    I[I_SINCE] = 0
                    _refresh(F)
                    if I[I_MOVING] < P[P_READY]:
                        for k in range(3):
                            F[F_REF + k] = F[F_AX + k]
                    else:
                        dr = P[P_DECAY_REF]
                        s = 0.0
                        for k in range(3):
                            F[F_REF + k] = dr * F[F_REF + k] + (1.0 - dr) * F[F_AX + k]
                            s += F[F_REF + k] * F[F_REF + k]
                        s = math.sqrt(s)
                        cs = 0.0
                        for k in range(3):
                            F[F_REF + k] /= s
                            cs += F[F_REF + k] * F[F_AX + k]
                        if abs(cs) < P[P_SLIP_COS]:
                            if I[I_SLIPPED] == 0:
                                I[I_SLIPPED] = 1
                                I[I_CHANGES] += 1
                                fl |= 2
                                # adopt the new mounting
                                for k in range(3):
                                    F[F_REF + k] = F[F_AX + k]
                        else:
                            I[I_SLIPPED] = 0
        if I[I_MOVING] >= P[P_READY]:
            fl |= 1
        axis_out[t, 0] = F[F_AX]
        axis_out[t, 1] = F[F_AX + 1]
        axis_out[t, 2] = F[F_AX + 2]
        flags_out[t] = fl
