"""Mounting kernel: the foot's pitch (medio-lateral) axis in the sensor frame, sample by sample.

The sagittal rotation dominates a shoe's angular velocity in swing, so the pitch axis is the
principal eigenvector of the gyro's second-moment matrix over moving samples (Falbriard 2018,
Front Physiol 9:610, use the same idea to align a foot IMU without calibration). The matrix is
an exponentially weighted sum (forgetting time ``tau`` of *moving* time, so standing still does
not age it); the eigenvector is refreshed by power iteration every ``update`` moving samples,
its sign kept continuous. A slow reference axis flags a mounting change when the fast axis
leaves it by more than ``slip_cos``; the old mounting's moments are then forgotten and the
reference follows the re-estimated axis for a settling time, so one change is one flag.

The output axis is signed so that rotation about it is toes-up: after a flat-foot period
(smoothed |ω| below ``flat_radps`` and |a| within ``flat_acc`` of g for ``flat_hold`` samples;
no event detection needed, and a swing's pause is not flat) the first clear rotation
(``vote_rad``) is the heel rising, toes-down, in walking and running alike. Each stride votes
before its toe-off; the votes decay by 0.7 per stride, a negative total flips the sign and
``sign_sure`` confirms it.

Params vector ``P`` (float64): the ``P_*`` indices below. State: ``F`` float64, ``I`` int64, layout
below. Kernels import only numpy, numba and math.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from stridecore.dsp.kernels.axis import diag_start, moment_update, power_refresh

# params
P_MOVING_RADPS = 0  # |ω| above which a sample counts as moving
P_DECAY = 1  # per-moving-sample forgetting factor exp(-1 / (fs tau))
P_DECAY_REF = 2  # the reference axis' forgetting factor (per refresh)
P_UPDATE = 3  # refresh the eigenvector every this many moving samples
P_READY = 4  # moving samples before the axis is trusted
P_SLIP_COS = 5  # cos of the angle between fast and reference axis that flags a change
P_W_ALPHA = 6  # |ω| EMA coefficient for the flat-foot test
P_FLAT_RADPS = 7  # smoothed |ω| below which the foot is flat
P_FLAT_HOLD = 8  # samples of flat that make a flat period
P_FLAT_ACC = 9  # m/s²: | |a| - g | below this while flat (a swing's pause is not flat)
P_VOTE_MAX = 10  # samples between flat periods for a sign vote (longer: ignored)
P_SIGN_SURE = 11  # vote (decay 0.7 per stride) that confirms the sign
P_VOTE_RAD = 12  # pitch since heel-off that casts the stride's sign vote
P_DT = 13  # s per sample
P_HOLD = 14  # moving samples of settling after a mounting change
N_P = 15

# float state
F_M = 0  # 9: second moment matrix, row-major
F_AX = 9  # 3: current axis (unit)
F_REF = 12  # 3: reference axis (unit, slow)
F_WSM = 15  # smoothed |ω|
F_THETA = 16  # pitch since the last flat period ended (rad, toes-up with the sign in force)
F_VOTE = 17  # the toes-up sign's vote (decays 0.7 per stride)
N_F = 18
# int state
I_MOVING = 0  # moving samples seen (saturating)
I_SINCE = 1  # moving samples since the last refresh
I_SLIPPED = 2  # 1 while the axis is away from the reference
I_CHANGES = 3  # mounting changes flagged so far
I_SIGN = 4  # +1 / -1: the toes-up sign of the axis
I_LOW_RUN = 5  # consecutive flat samples
I_TRACK = 6  # samples since the last flat period ended (-1: not tracking)
I_N = 7  # samples seen
I_HOLD = 8  # moving samples left in the settling after a mounting change
N_I = 9


def init_state() -> tuple[np.ndarray, np.ndarray]:
    F = np.zeros(N_F)
    F[F_AX + 1] = 1.0
    F[F_REF + 1] = 1.0
    I = np.zeros(N_I, np.int64)
    I[I_SIGN] = 1
    I[I_TRACK] = -1
    return F, I


@njit
def mount_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, gyr: np.ndarray,
               acc: np.ndarray, axis_out: np.ndarray, flags_out: np.ndarray) -> None:
    """Advance over ``gyr`` (n, 3) rad/s and ``acc`` (n, 3) m/s²; write the toes-up axis in
    force per sample to ``axis_out`` (n, 3) and per-sample bits to ``flags_out`` (1 = axis
    ready, 2 = mounting changed here, 4 = toes-up sign confirmed, 8 = sign flipped here)."""
    n = gyr.shape[0]
    for t in range(n):
        g0 = gyr[t, 0]
        g1 = gyr[t, 1]
        g2 = gyr[t, 2]
        fl = 0
        fin = math.isfinite(g0) and math.isfinite(g1) and math.isfinite(g2)
        if fin:
            wn = math.sqrt(g0 * g0 + g1 * g1 + g2 * g2)
            if I[I_N] == 0:
                F[F_WSM] = wn
            F[F_WSM] += P[P_W_ALPHA] * (wn - F[F_WSM])
            sg = I[I_SIGN]
            if I[I_TRACK] >= 0:
                F[F_THETA] += sg * (g0 * F[F_AX] + g1 * F[F_AX + 1] + g2 * F[F_AX + 2]) * P[P_DT]
                I[I_TRACK] += 1
                if abs(F[F_THETA]) > P[P_VOTE_RAD]:
                    # the first clear rotation after a flat foot is the heel rising (toes-down)
                    # in walking and running alike: vote. Voting before toe-off gives even the
                    # first stride its sign.
                    vote = 1.0 if F[F_THETA] < 0.0 else -1.0
                    F[F_VOTE] = 0.7 * F[F_VOTE] + vote
                    if F[F_VOTE] < 0.0:
                        I[I_SIGN] = -I[I_SIGN]
                        F[F_VOTE] = -F[F_VOTE]
                        fl |= 8
                    I[I_TRACK] = -1
                elif I[I_TRACK] > P[P_VOTE_MAX]:
                    I[I_TRACK] = -1
            a0 = acc[t, 0]
            a1 = acc[t, 1]
            a2 = acc[t, 2]
            an = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)  # NaN fails the test below
            if F[F_WSM] < P[P_FLAT_RADPS] and abs(an - 9.80665) < P[P_FLAT_ACC]:
                I[I_LOW_RUN] += 1
            else:
                if I[I_LOW_RUN] >= P[P_FLAT_HOLD]:
                    # a flat period has ended (heel-off): start a stride for the vote
                    I[I_TRACK] = 0
                    F[F_THETA] = 0.0
                I[I_LOW_RUN] = 0
        else:
            I[I_TRACK] = -1
            I[I_LOW_RUN] = 0
        I[I_N] += 1
        if fin:
            w2 = g0 * g0 + g1 * g1 + g2 * g2
            if w2 > P[P_MOVING_RADPS] * P[P_MOVING_RADPS]:
                d = P[P_DECAY]
                moment_update(F, F_M, d, g0, g1, g2)
                if I[I_MOVING] < 1 << 40:
                    I[I_MOVING] += 1
                I[I_SINCE] += 1
                if I[I_HOLD] > 0:
                    I[I_HOLD] -= 1
                if I[I_MOVING] == 1:
                    diag_start(F, F_M, F_AX)
                if I[I_SINCE] >= P[P_UPDATE]:
                    I[I_SINCE] = 0
                    power_refresh(F, F_M, F_AX)
                    if I[I_MOVING] < P[P_READY] or I[I_HOLD] > 0:
                        # not yet trusted, or settling after a mounting change: the reference
                        # follows the axis, nothing is flagged
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
                                # a new mounting: forget the old one's gyro moments (the axis
                                # is re-estimated from what follows) and let it settle
                                for k in range(9):
                                    F[F_M + k] = 0.0
                                I[I_HOLD] = int(P[P_HOLD])
                                for k in range(3):
                                    F[F_REF + k] = F[F_AX + k]
                        else:
                            I[I_SLIPPED] = 0
        if I[I_MOVING] >= P[P_READY]:
            fl |= 1
        if F[F_VOTE] >= P[P_SIGN_SURE]:
            fl |= 4
        sg = I[I_SIGN]
        axis_out[t, 0] = sg * F[F_AX]
        axis_out[t, 1] = sg * F[F_AX + 1]
        axis_out[t, 2] = sg * F[F_AX + 2]
        flags_out[t] = fl
