"""numba kernel of the decoder's output: accepted IMU6 frames → SI sample columns in one pass.

For frame ``k`` with ``n[k]`` samples whose raw counts start at byte ``raw_at[k]`` of ``buf``
(little-endian int16, ``ax ay az gx gy gz`` per sample): sample ``i`` gets index
``first_idx[k] + i``, device time ``t_us[k] + i · period_us[k]`` (µs), specific force and angular
rate ``count × scale`` (m/s², rad/s; a NaN scale, an unknown configuration, gives NaN and the
UNKNOWN_CFG flag), the frame's flags (GAP_BEFORE on its first sample only) and CLIPPED_ACC /
CLIPPED_GYR where an axis sits at the int16 limit. The same floating-point operations as the
numpy formulation it replaces, so the results are identical.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from firmware_protocol.batch import SampleFlag
from firmware_protocol.imu6 import RAW_MAX, RAW_MIN

GAP_BEFORE = np.uint8(SampleFlag.GAP_BEFORE)
CLIPPED_ACC = np.uint8(SampleFlag.CLIPPED_ACC)
CLIPPED_GYR = np.uint8(SampleFlag.CLIPPED_GYR)
UNKNOWN_CFG = np.uint8(SampleFlag.UNKNOWN_CFG)


@njit
def imu6_si(buf, raw_at, n, first_idx, t_us, period_us, fflags, acc_scale, gyr_scale,
            out_idx, out_t, out_acc, out_gyr, out_flags):  # pragma: no cover - compiled
    """Fill the output columns (length ``n.sum()``) frame after frame; returns rows written."""
    r = np.int64(0)
    for k in range(n.size):
        p = raw_at[k]
        sa = acc_scale[k]
        sg = gyr_scale[k]
        base = fflags[k] & ~GAP_BEFORE
        unknown = math.isnan(sa)
        for i in range(n[k]):
            out_idx[r] = first_idx[k] + i
            out_t[r] = t_us[k] + np.float64(i) * period_us[k]
            fl = base
            if i == 0:
                fl |= fflags[k] & GAP_BEFORE
            for a in range(6):
                lo = np.int64(buf[p])
                hi = np.int64(buf[p + 1])
                v = lo | (hi << 8)
                if v >= 32768:
                    v -= 65536
                p += 2
                if a < 3:
                    out_acc[r, a] = np.float64(v) * sa
                    if v >= RAW_MAX or v <= RAW_MIN:
                        fl |= CLIPPED_ACC
                else:
                    out_gyr[r, a - 3] = np.float64(v) * sg
                    if v >= RAW_MAX or v <= RAW_MIN:
                        fl |= CLIPPED_GYR
            if unknown:
                fl |= UNKNOWN_CFG
            out_flags[r] = fl
            r += 1
    return r
