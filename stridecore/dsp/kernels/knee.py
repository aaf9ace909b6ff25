"""Knee kernel: sagittal knee flexion from a thigh and a shank IMU, sample by sample.

Method (Seel, Raisch & Schauer 2014, "IMU-based joint angle measurement for gait analysis",
Sensors 14:6891, reduced to the sagittal plane; the attitude part is a one-axis Mahony-style
complementary filter, Mahony, Hamel & Pflimlin 2008, IEEE TAC 53:1203):

1. Each segment's sagittal (medio-lateral) axis ``j`` in its sensor frame is the principal
   eigenvector of the exponentially weighted gyro second moment over moving samples (the same
   estimate as :mod:`stridecore.dsp.kernels.mount`), refreshed by power iteration, its sign kept
   continuous between refreshes.
2. The shank axis is signed "distal end forward" by the skewness of its rate (gait rotates the
   shank forward fast and briefly in swing, backward slowly in stance: positive skewness,
   hysteresis ``sign_skew``). The thigh is signed by the candidate knee RATE (thigh ±1, shank
   signed) with the more positive skewness: rates need no offset, so restarts (NaN gaps, ~1 s
   windows) do not disturb the moments (the earlier rule used the candidate knee angle, whose
   moments the restarts corrupted: it chose the wrong thigh sign on Tan 2022).
3. Each segment's sagittal inclination ``α`` about ``j``: gyro integration ``α += (ω·j) dt``
   corrected toward the accelerometer's gravity inclination ``α_acc = −atan2(a·v, a·u)``
   (``u`` the first quiet gravity direction projected on the plane ⊥ ``j``, ``v = j × u``) with
   gain ``dt / tau`` on low-dynamics samples (| |a| − g | < ``dyn_acc``). For ``settle`` samples
   after an (re)initialisation the time constant ramps up from ``tau_settle`` (a fast start, as
   in the x-io Fusion AHRS initialisation).
4. With a standing reference: knee = sign_thigh·α_thigh − sign_shank·α_shank − offset, the
   offset from quiet standing (both segments still for ``still_n`` samples, |a| ≈ g; the knee
   then is ``standing_knee``, default 0°).
5. Without one (Allseits et al. 2018, "A novel method for estimating knee angle using two
   leg-mounted gyroscopes ...", Sensors 18:2759: gyro-only knee with a zero-angle update at a
   characteristic point of every stride): the knee is the integral of the relative sagittal
   rate sign_thigh·ω_thigh·j_thigh − sign_shank·ω_shank·j_shank (held while both segments are
   still), anchored at the terminal-swing extension minimum: the detector arms once the knee
   has extended ``P_EV_DROP`` below its maximum since the last event, tracks the minimum and
   takes it when the knee flexes again by ``P_EV_RISE`` (or after ``P_EV_TIMEOUT``). The
   knee assumed there: ``P_EV_KNEE`` at the first event after a restart (no stride seen: it
   sets the offset), then per stride from the stride's knee range (maximum since the last
   event − minimum; gait decided from the stream): below ``P_EV_WALK_RANGE`` walking,
   ``P_EV_WALK_KNEE``; else running, ``P_EV_RUN_A + P_EV_RUN_B · range`` clipped (fitted on
   simulated dev seeds 1–6: the running end-of-swing knee falls as the range grows, r = −0.82,
   residual SD 3.3° against 5.8° for a constant); later events move the offset by
   ``P_EV_GAIN`` of the innovation. Drift: at each event the change of (accelerometer-aided
   inclination knee − gyro knee) since the previous event, per time, is the residual relative
   gyro bias; ``P_EV_BIAS_GAIN`` of it goes into the bias subtracted from the rate (the integral
   term of Mahony 2008, measured per stride on the knee). Invalid from a restart to its first
   event, unless a standing reference exists: standing anchors the gyro knee (knee =
   ``P_STAND_KNEE`` while standing, or the standing-offset inclination knee when the gyro knee
   (re)starts), events update it afterwards (``P_STAND_ANCHOR``; 0 = the inclination knee of
   step 4 is the output whenever a standing offset exists).

A non-finite sample in either stream invalidates both inclinations; they restart from the
accelerometer at the next finite sample (with the fast settle), the gyro knee restarts unanchored.
Axes, signs and the standing offset are kept.

Params vector ``P`` (float64) and state ``F`` (float64) / ``I`` (int64): the indices below; each
segment's block starts at ``seg * N_FS`` / ``seg * N_IS`` (0 = thigh, 1 = shank), shared entries
after ``2 * N_FS`` / ``2 * N_IS``. Kernels import only numpy, numba and math.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from stridecore.dsp.kernels.axis import diag_start, moment_update, power_refresh

G0 = 9.80665

# params
P_DT = 0  # s per sample
P_MOVING_RADPS = 1  # |ω| above which a sample informs the axis and the sign
P_DECAY = 2  # per-moving-sample forgetting factor of the gyro second moment
P_UPDATE = 3  # refresh the eigenvector every this many moving samples
P_READY = 4  # moving samples before the axis (and the sign) is trusted
P_SKEW_DECAY = 5  # per-moving-sample forgetting factor of the rate moments (sign)
P_SIGN_SKEW = 6  # |skewness| beyond which the sign is confirmed / flipped
P_GAIN = 7  # complementary gain dt / tau
P_GAIN_SETTLE = 8  # gain right after an (re)initialisation, dt / tau_settle
P_SETTLE = 9  # samples over which the gain ramps from P_GAIN_SETTLE to P_GAIN
P_DYN_ACC = 10  # m/s²: | |a| - g | below this: the accelerometer corrects the inclination
P_W_ALPHA = 11  # |ω| EMA coefficient (standing test)
P_STILL_RADPS = 12  # smoothed |ω| below this on both segments ...
P_STILL_ACC = 13  # ... and | |a| - g | below this: still
P_STILL_N = 14  # samples of still that make quiet standing
P_STAND_KNEE = 15  # rad: the knee angle assumed while standing
P_EV_KNEE = 16  # rad: the knee assumed at the terminal-swing extension event (zero-angle update)
P_EV_DROP = 17  # rad: extension from the running maximum that arms the event detector
P_EV_RISE = 18  # rad: re-flexion above the tracked minimum that confirms the event
P_OFF_ALPHA = 19  # EMA coefficient of the standing offset while standing continues
P_QUIET_RADPS = 20  # |ω| below this (with P_DYN_ACC): the accelerometer corrects
P_REJECT_RAD = 21  # ... unless it disagrees by more than this (after settling)
P_RECOVER = 22  # rejected quiet samples in a row that restart the settling
P_SIGN_FLIP = 23  # |skewness| against a confirmed sign that flips it (hysteresis)
P_EV_GAIN = 24  # share of the offset innovation taken at each later event (1 = hard reset)
P_EV_TIMEOUT = 25  # armed samples after which the tracked minimum is taken (leg stays straight)
P_EV_BIAS_GAIN = 26  # share of the measured drift rate (gyro knee vs accelerometer-aided knee
# between two events) taken into the relative-rate bias estimate at each event
P_EV_BIAS_MAX = 27  # rad/s: bound on the relative-rate bias estimate
P_EV_WALK_RANGE = 28  # rad: stride knee range (swing peak − end-of-swing min) below this: walk
P_EV_WALK_KNEE = 29  # rad: the end-of-swing knee assumed when walking
P_EV_RUN_A = 30  # rad: running end-of-swing knee = P_EV_RUN_A + P_EV_RUN_B · range ...
P_EV_RUN_B = 31  # (dimensionless slope) ...
P_EV_RUN_LO = 32  # rad: ... clipped to [P_EV_RUN_LO, P_EV_RUN_HI]
P_EV_RUN_HI = 33
P_STAND_ANCHOR = 34  # > 0: with a standing reference the output is still the event-updated
# gyro knee, anchored at standing (the standing-offset inclination knee only fills gaps)
N_P = 35

# float state, per segment
FS_M = 0  # 9: gyro second moment, row-major
FS_AX = 9  # 3: raw principal axis (unit, continuous sign)
FS_GREF = 12  # 3: reference gravity direction (sensor frame)
FS_M2 = 15  # EMA of (ω·ax)² over moving samples
FS_M3 = 16  # EMA of (ω·ax)³ over moving samples
FS_ALPHA = 17  # inclination about the raw axis (rad)
FS_WSM = 18  # smoothed |ω|
N_FS = 19
# float state, shared (after 2 * N_FS)
F_OFFSET = 2 * N_FS + 0  # rad: knee offset in force
F_LOW = 2 * N_FS + 1  # (unused)
F_STAND_G = 2 * N_FS + 2  # 6: mean specific force while standing, thigh then shank
F_KM = 2 * N_FS + 8  # 6: EMA of r, r², r³ of the candidate knee rate, thigh sign +1, then -1
F_KG = 2 * N_FS + 14  # rad: gyro-integrated knee (relative sagittal rate) since the restart
F_KG_MAX = 2 * N_FS + 15  # rad: its maximum since the last event (or restart)
F_KG_MIN = 2 * N_FS + 16  # rad: its minimum while the event detector is armed
F_KG_OFF = 2 * N_FS + 17  # rad: offset of the gyro-integrated knee (from the events)
F_KG_BIAS = 2 * N_FS + 18  # rad/s: bias of the relative sagittal rate (from the events)
F_KG_D0 = 2 * N_FS + 19  # rad: accelerometer-aided knee − gyro knee at the drift reference event
N_F = 2 * N_FS + 20
# int state, per segment
IS_MOVING = 0  # moving samples seen (saturating)
IS_SINCE = 1  # moving samples since the last refresh
IS_SIGN = 2  # +1 / -1: the distal-forward sign of the raw axis
IS_SIGN_SURE = 3  # 1 once the skewness passed the threshold
IS_HAVE_GREF = 4  # 1 once the reference gravity direction is set
IS_ALPHA_OK = 5  # 1 while the inclination is initialised
IS_SETTLE = 6  # samples since the inclination was (re)initialised (saturating)
IS_REJECT = 7  # quiet samples rejected in a row (innovation gate)
N_IS = 8
# int state, shared (after 2 * N_IS)
I_OFF_KIND = 2 * N_IS + 0  # 0 none, 1 gait prior, 2 standing
I_STILL_RUN = 2 * N_IS + 1  # consecutive still samples
I_KG_OK = 2 * N_IS + 2  # 1 while the gyro-integrated knee runs (0 after a restart)
I_KG_ANCH = 2 * N_IS + 3  # 1 once an event anchored it since the restart
I_N = 2 * N_IS + 4  # samples seen
I_HAVE_STAND = 2 * N_IS + 5  # 1 once a quiet standing period was seen
I_KM_N = 2 * N_IS + 6  # samples in the candidate-knee-rate moments
I_EV_ARMED = 2 * N_IS + 7  # armed samples of the event detector (0 = not armed)
I_KG_SINCE = 2 * N_IS + 8  # samples since the drift reference event (0: none)
N_I = 2 * N_IS + 9

# output flag bits
FLAG_VALID = 1  # axes ready, signs confirmed, inclinations and offset in force
FLAG_STANDING_OFFSET = 2  # the offset comes from quiet standing (else the gait event)
FLAG_STILL = 4  # quiet standing at this sample
FLAG_RESTART = 8  # inclinations (re)initialised at this sample
FLAG_SIGN_FLIP = 16  # a segment's sign flipped at this sample (offset re-learnt)
FLAG_EVENT = 32  # a terminal-swing extension event was confirmed at this sample


def init_state() -> tuple[np.ndarray, np.ndarray]:
    F = np.zeros(N_F)
    I = np.zeros(N_I, np.int64)
    for s in range(2):
        F[s * N_FS + FS_AX + 1] = 1.0
        I[s * N_IS + IS_SIGN] = 1
    return F, I


@njit
def _acc_incl(F: np.ndarray, b: int, a0: float, a1: float, a2: float) -> float:
    """Gravity inclination about the raw axis: −atan2(a·v, a·u), u = gref ⊥ axis, v = ax × u."""
    j0 = F[b + FS_AX]
    j1 = F[b + FS_AX + 1]
    j2 = F[b + FS_AX + 2]
    g0 = F[b + FS_GREF]
    g1 = F[b + FS_GREF + 1]
    g2 = F[b + FS_GREF + 2]
    d = g0 * j0 + g1 * j1 + g2 * j2
    u0 = g0 - d * j0
    u1 = g1 - d * j1
    u2 = g2 - d * j2
    n = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
    if n < 1e-6:
        return 0.0
    u0 /= n
    u1 /= n
    u2 /= n
    v0 = j1 * u2 - j2 * u1
    v1 = j2 * u0 - j0 * u2
    v2 = j0 * u1 - j1 * u0
    return -math.atan2(a0 * v0 + a1 * v1 + a2 * v2, a0 * u0 + a1 * u1 + a2 * u2)


@njit
def _wrap(x: float) -> float:
    return (x + math.pi) % (2.0 * math.pi) - math.pi


@njit
def _stand_offset(P: np.ndarray, F: np.ndarray, I: np.ndarray) -> float:
    """Offset of the inclination-difference knee from the standing gravity directions."""
    return (I[IS_SIGN] * _acc_incl(F, 0, F[F_STAND_G], F[F_STAND_G + 1], F[F_STAND_G + 2])
            - I[N_IS + IS_SIGN] * _acc_incl(F, N_FS, F[F_STAND_G + 3], F[F_STAND_G + 4],
                                            F[F_STAND_G + 5])
            - P[P_STAND_KNEE])


@njit
def _segment(P: np.ndarray, F: np.ndarray, I: np.ndarray, s: int, a0: float, a1: float,
             a2: float, g0: float, g1: float, g2: float) -> int:
    """One finite sample of segment ``s``; returns flag bits (restart, sign flip)."""
    b = s * N_FS
    c = s * N_IS
    fl = 0
    wn = math.sqrt(g0 * g0 + g1 * g1 + g2 * g2)
    an = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
    if I[I_N] == 0:
        F[b + FS_WSM] = wn
    F[b + FS_WSM] += P[P_W_ALPHA] * (wn - F[b + FS_WSM])
    # axis: exponentially weighted second moment over moving samples
    if wn > P[P_MOVING_RADPS]:
        moment_update(F, b + FS_M, P[P_DECAY], g0, g1, g2)
        if I[c + IS_MOVING] < 1 << 40:
            I[c + IS_MOVING] += 1
        I[c + IS_SINCE] += 1
        if I[c + IS_MOVING] == 1:
            diag_start(F, b + FS_M, b + FS_AX)
        if I[c + IS_SINCE] >= P[P_UPDATE]:
            I[c + IS_SINCE] = 0
            power_refresh(F, b + FS_M, b + FS_AX)
        # sign: skewness of the rate about the raw axis
        wj = g0 * F[b + FS_AX] + g1 * F[b + FS_AX + 1] + g2 * F[b + FS_AX + 2]
        k = P[P_SKEW_DECAY]
        F[b + FS_M2] = k * F[b + FS_M2] + (1.0 - k) * wj * wj
        F[b + FS_M3] = k * F[b + FS_M3] + (1.0 - k) * wj * wj * wj
        if s == 1 and I[c + IS_MOVING] >= P[P_READY] and F[b + FS_M2] > 0.0:
            sk = F[b + FS_M3] / F[b + FS_M2] ** 1.5
            flip = P[P_SIGN_FLIP] if I[c + IS_SIGN_SURE] == 1 else P[P_SIGN_SKEW]
            if sk * I[c + IS_SIGN] < -flip:
                I[c + IS_SIGN] = -I[c + IS_SIGN]
                I[c + IS_SIGN_SURE] = 1
                fl |= FLAG_SIGN_FLIP
            elif sk * I[c + IS_SIGN] > P[P_SIGN_SKEW]:
                I[c + IS_SIGN_SURE] = 1
    # inclination: complementary filter about the raw axis
    quiet = abs(an - G0) < P[P_DYN_ACC]
    if I[c + IS_HAVE_GREF] == 0:
        if quiet:
            F[b + FS_GREF] = a0 / an
            F[b + FS_GREF + 1] = a1 / an
            F[b + FS_GREF + 2] = a2 / an
            I[c + IS_HAVE_GREF] = 1
        else:
            return fl
    if I[c + IS_ALPHA_OK] == 0:
        if not quiet:
            return fl
        F[b + FS_ALPHA] = _acc_incl(F, b, a0, a1, a2)
        I[c + IS_ALPHA_OK] = 1
        I[c + IS_SETTLE] = 0
        return fl | FLAG_RESTART
    wj = g0 * F[b + FS_AX] + g1 * F[b + FS_AX + 1] + g2 * F[b + FS_AX + 2]
    F[b + FS_ALPHA] += wj * P[P_DT]
    if quiet and wn < P[P_QUIET_RADPS]:
        gain = P[P_GAIN]
        if I[c + IS_SETTLE] < P[P_SETTLE]:
            r = I[c + IS_SETTLE] / P[P_SETTLE]
            gain = P[P_GAIN_SETTLE] + r * (P[P_GAIN] - P[P_GAIN_SETTLE])
        err = _wrap(_acc_incl(F, b, a0, a1, a2) - F[b + FS_ALPHA])
        if I[c + IS_SETTLE] >= P[P_SETTLE] and abs(err) > P[P_REJECT_RAD]:
            # a quiet-looking sample far from the gyro's inclination: rejected (|a| ≈ g
            # with the wrong direction happens in swing); many in a row: start again
            I[c + IS_REJECT] += 1
            if I[c + IS_REJECT] >= P[P_RECOVER]:
                I[c + IS_SETTLE] = 0
                I[c + IS_REJECT] = 0
                fl |= FLAG_RESTART
        else:
            I[c + IS_REJECT] = 0
            F[b + FS_ALPHA] += gain * err
    if I[c + IS_SETTLE] < 1 << 40:
        I[c + IS_SETTLE] += 1
    return fl


@njit
def knee_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, acc_t: np.ndarray, gyr_t: np.ndarray,
              acc_s: np.ndarray, gyr_s: np.ndarray, knee_out: np.ndarray,
              flags_out: np.ndarray) -> None:
    """Advance over time-aligned thigh (``acc_t``, ``gyr_t``) and shank (``acc_s``, ``gyr_s``)
    blocks, (n, 3) each, m/s² and rad/s; write knee flexion (deg, + flexed; NaN while not
    valid) to ``knee_out`` (n,) and the ``FLAG_*`` bits to ``flags_out`` (n,)."""
    n = acc_t.shape[0]
    for t in range(n):
        fl = 0
        fin = True
        for q in range(3):
            if not (math.isfinite(acc_t[t, q]) and math.isfinite(gyr_t[t, q])
                    and math.isfinite(acc_s[t, q]) and math.isfinite(gyr_s[t, q])):
                fin = False
        if not fin:
            I[IS_ALPHA_OK] = 0
            I[N_IS + IS_ALPHA_OK] = 0
            I[I_STILL_RUN] = 0
            I[I_KG_OK] = 0
            I[I_N] += 1
            knee_out[t] = math.nan
            flags_out[t] = 0
            continue
        fl |= _segment(P, F, I, 0, acc_t[t, 0], acc_t[t, 1], acc_t[t, 2],
                       gyr_t[t, 0], gyr_t[t, 1], gyr_t[t, 2])
        fl |= _segment(P, F, I, 1, acc_s[t, 0], acc_s[t, 1], acc_s[t, 2],
                       gyr_s[t, 0], gyr_s[t, 1], gyr_s[t, 2])
        I[I_N] += 1
        # sagittal rates about the raw axes
        wt = gyr_t[t, 0] * F[FS_AX] + gyr_t[t, 1] * F[FS_AX + 1] + gyr_t[t, 2] * F[FS_AX + 2]
        ws = (gyr_s[t, 0] * F[N_FS + FS_AX] + gyr_s[t, 1] * F[N_FS + FS_AX + 1]
              + gyr_s[t, 2] * F[N_FS + FS_AX + 2])
        # the thigh's sign: the candidate knee RATE (thigh ±1, shank signed) with the more
        # positive skewness (rates need no offset, so restarts do not disturb the moments)
        if fl & FLAG_SIGN_FLIP:
            for q in range(6):
                F[F_KM + q] = 0.0
            I[I_KM_N] = 0
        if I[N_IS + IS_SIGN_SURE] == 1 and F[N_FS + FS_WSM] > P[P_MOVING_RADPS]:
            kd = P[P_SKEW_DECAY]
            for h in range(2):
                x = (1.0 - 2.0 * h) * wt - I[N_IS + IS_SIGN] * ws
                o = F_KM + 3 * h
                F[o] = kd * F[o] + (1.0 - kd) * x
                F[o + 1] = kd * F[o + 1] + (1.0 - kd) * x * x
                F[o + 2] = kd * F[o + 2] + (1.0 - kd) * x * x * x
            I[I_KM_N] += 1
            if I[I_KM_N] >= P[P_READY]:
                d = 0.0  # skewness(thigh +1) − skewness(thigh −1), scalars (no allocation)
                for h in range(2):
                    o = F_KM + 3 * h
                    m1 = F[o]
                    var = F[o + 1] - m1 * m1
                    c3 = F[o + 2] - 3.0 * m1 * F[o + 1] + 2.0 * m1 * m1 * m1
                    skh = c3 / var ** 1.5 if var > 1e-12 else 0.0
                    d += skh if h == 0 else -skh
                want = 1 if d > 0.0 else -1
                thr = P[P_SIGN_FLIP] if I[IS_SIGN_SURE] == 1 else P[P_SIGN_SKEW]
                if abs(d) > thr:
                    if want != I[IS_SIGN]:
                        I[IS_SIGN] = want
                        fl |= FLAG_SIGN_FLIP
                    I[IS_SIGN_SURE] = 1
        if fl & FLAG_SIGN_FLIP:
            # the uncalibrated knee changed meaning: learn the offsets again
            I[I_OFF_KIND] = 0
            I[I_KG_OK] = 0
            F[F_KG_BIAS] = 0.0
        signs_ok = (I[IS_SIGN_SURE] == 1 and I[N_IS + IS_SIGN_SURE] == 1
                    and I[IS_MOVING] >= P[P_READY] and I[N_IS + IS_MOVING] >= P[P_READY])
        # gyro-integrated knee: relative sagittal rate, held while both segments are still
        ok = (I[IS_ALPHA_OK] == 1 and I[N_IS + IS_ALPHA_OK] == 1)
        raw = (I[IS_SIGN] * F[FS_ALPHA]) - (I[N_IS + IS_SIGN] * F[N_FS + FS_ALPHA])
        if not ok or (fl & FLAG_RESTART) or I[I_KG_OK] == 0 or not signs_ok:
            I[I_KG_SINCE] = 0  # the drift reference needs both continuous
        if not signs_ok:
            I[I_KG_OK] = 0
        elif I[I_KG_OK] == 0:
            F[F_KG] = 0.0
            F[F_KG_MAX] = 0.0
            I[I_KG_OK] = 1
            I[I_KG_ANCH] = 0
            I[I_EV_ARMED] = 0
            if I[I_HAVE_STAND] == 1 and ok and P[P_STAND_ANCHOR] > 0.0:
                # a standing reference: start the gyro knee from the standing-offset knee
                F[F_KG_OFF] = -_wrap(raw - _stand_offset(P, F, I))
                I[I_KG_ANCH] = 1
        else:
            if F[FS_WSM] >= P[P_STILL_RADPS] or F[N_FS + FS_WSM] >= P[P_STILL_RADPS]:
                F[F_KG] += (I[IS_SIGN] * wt - I[N_IS + IS_SIGN] * ws - F[F_KG_BIAS]) * P[P_DT]
            if I[I_KG_SINCE] > 0:
                I[I_KG_SINCE] += 1
            kg = F[F_KG]
            # terminal-swing extension event (zero-angle update, Allseits 2018): armed once
            # the knee extended by P_EV_DROP from its maximum, the tracked minimum is taken
            # when the knee flexes again by P_EV_RISE (or after P_EV_TIMEOUT armed samples)
            if kg > F[F_KG_MAX]:
                F[F_KG_MAX] = kg
            if I[I_EV_ARMED] == 0:
                if F[F_KG_MAX] - kg >= P[P_EV_DROP]:
                    I[I_EV_ARMED] = 1
                    F[F_KG_MIN] = kg
            else:
                I[I_EV_ARMED] += 1
                if kg < F[F_KG_MIN]:
                    F[F_KG_MIN] = kg
                if kg - F[F_KG_MIN] >= P[P_EV_RISE] or I[I_EV_ARMED] >= P[P_EV_TIMEOUT]:
                    # the knee assumed there: the fixed prior for the first event of a run
                    # (no full stride seen), then decided per stride from its range
                    prior = P[P_EV_KNEE]
                    if I[I_KG_ANCH] == 1:
                        rng = F[F_KG_MAX] - F[F_KG_MIN]
                        if rng < P[P_EV_WALK_RANGE]:
                            prior = P[P_EV_WALK_KNEE]
                        else:
                            prior = min(P[P_EV_RUN_HI], max(P[P_EV_RUN_LO],
                                                            P[P_EV_RUN_A] + P[P_EV_RUN_B] * rng))
                    off = F[F_KG_MIN] - prior
                    if I[I_KG_ANCH] == 0:
                        F[F_KG_OFF] = off
                        I[I_KG_ANCH] = 1
                    else:
                        F[F_KG_OFF] += P[P_EV_GAIN] * (off - F[F_KG_OFF])
                    if ok:
                        # drift: the gyro knee's change since the reference event minus the
                        # accelerometer-aided (drift-free) knee's change is the integrated
                        # relative gyro bias (the integral term of Mahony 2008, measured
                        # per stride on the knee)
                        d = raw - kg
                        if I[I_KG_SINCE] > 0:
                            b = (F[F_KG_BIAS] - P[P_EV_BIAS_GAIN] * (d - F[F_KG_D0])
                                 / (I[I_KG_SINCE] * P[P_DT]))
                            F[F_KG_BIAS] = min(P[P_EV_BIAS_MAX], max(-P[P_EV_BIAS_MAX], b))
                        F[F_KG_D0] = d
                        I[I_KG_SINCE] = 1
                    I[I_EV_ARMED] = 0
                    F[F_KG_MAX] = kg
                    fl |= FLAG_EVENT
        # quiet standing: both segments still, |a| ≈ g
        at = math.sqrt(acc_t[t, 0] ** 2 + acc_t[t, 1] ** 2 + acc_t[t, 2] ** 2)
        ash = math.sqrt(acc_s[t, 0] ** 2 + acc_s[t, 1] ** 2 + acc_s[t, 2] ** 2)
        if (F[FS_WSM] < P[P_STILL_RADPS] and F[N_FS + FS_WSM] < P[P_STILL_RADPS]
                and abs(at - G0) < P[P_STILL_ACC] and abs(ash - G0) < P[P_STILL_ACC]):
            I[I_STILL_RUN] += 1
        else:
            I[I_STILL_RUN] = 0
        if I[I_STILL_RUN] >= P[P_STILL_N]:
            # remember both gravity directions: the offset is their inclination difference
            # about the axes in force (so standing before the axes are known still counts)
            fl |= FLAG_STILL
            first = I[I_STILL_RUN] == P[P_STILL_N]
            e = 1.0 if first else P[P_OFF_ALPHA]
            for q in range(3):
                F[F_STAND_G + q] += e * (acc_t[t, q] - F[F_STAND_G + q])
                F[F_STAND_G + 3 + q] += e * (acc_s[t, q] - F[F_STAND_G + 3 + q])
            I[I_HAVE_STAND] = 1
        if I[I_HAVE_STAND] == 1 and signs_ok:
            F[F_OFFSET] = _stand_offset(P, F, I)
            I[I_OFF_KIND] = 2
            if (fl & FLAG_STILL) and I[I_KG_OK] == 1 and P[P_STAND_ANCHOR] > 0.0:
                # standing now: the gyro knee is the standing knee
                F[F_KG_OFF] = F[F_KG] - P[P_STAND_KNEE]
                F[F_KG_MAX] = F[F_KG]
                I[I_KG_ANCH] = 1
                I[I_EV_ARMED] = 0
        elif signs_ok and I[I_KG_OK] == 1 and I[I_KG_ANCH] == 1:
            I[I_OFF_KIND] = 1
        gyro_ok = signs_ok and I[I_KG_OK] == 1 and I[I_KG_ANCH] == 1
        if I[I_OFF_KIND] == 2 and ok and not (gyro_ok and P[P_STAND_ANCHOR] > 0.0):
            fl |= FLAG_STANDING_OFFSET | FLAG_VALID
            knee_out[t] = math.degrees(_wrap(raw - F[F_OFFSET]))
        elif gyro_ok and (I[I_OFF_KIND] != 2 or P[P_STAND_ANCHOR] > 0.0):
            fl |= FLAG_VALID
            knee_out[t] = math.degrees(F[F_KG] - F[F_KG_OFF])
        else:
            knee_out[t] = math.nan
        flags_out[t] = fl
