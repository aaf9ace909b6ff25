"""Pelvis-sensor kernel: steps of both legs, side, pelvic drop and push-off, sample by sample.

A sensor over the sacrum, mounted any way round, sees every step of both legs.

- **Vertical**: gravity tracked in the sensor frame, ``G`` (``dG/dt = −(ω − b)×G`` with a
  gyro, pulled toward the specific force with ``P_C_ALPHA``: the linear acceleration averages
  out over strides; the gyro bias ``b`` is the integral of that pull, ``P_B_GAIN``, the
  integral term of Mahony, Hamel & Pflimlin 2008, IEEE TAC 53:1203; without a gyro only the
  pull, i.e. a slow mean of the specific force);
  ``û = G/|G|``, vertical specific force ``a_v = a·û``. ``û_ref`` is a much slower mean of
  ``û`` (``P_REF_ALPHA``; the tilt correction of trunk accelerometry, Moe-Nilssen 1998,
  Clin Biomech 13:320): the pelvis's mean posture, the zero of the roll angle (a constant
  tilt of the mounting and the gyro bias's steady tilt error cancel in it).
- **Contact** (a sacral sensor's vertical acceleration rises sharply at each foot contact:
  Lee, Mellifont & Burkett 2010, J Sci Med Sport 13:270, running; Zijlstra & Hof 2003, Gait
  Posture 18:1, walking): after a refractory time
  (``P_REFRACT_FRAC`` of the last step, at least ``P_REFRACT_MIN``) the next rise of ``a_v``
  faster than the threshold (``P_JERK_FRAC`` × the running mean of the contacts' steepest
  rises, at least ``P_JERK_FLOOR``; the mean decays while the search is armed, so a softer
  landing after a steep descent is found again within a few steps) is a contact, placed at
  the foot of the rise: walking back while ``a_v`` keeps falling and stays more than
  ``P_FOOT_MPS2`` above its lowest value in the walk-back window (at most ``P_WALKBACK``).
- **Forward axis** ``f``: the braking direction. The mean horizontal specific force over the
  first ``P_BRAKE_FRAC`` of each step points backward (a landing brakes the body; the lateral
  parts alternate from step to step and cancel in the mean over steps), so ``f`` is its
  negated running mean (``P_F_STEPS`` steps before it is used). ``l = û_ref × f`` (left).
- **Roll** (gyro only): the angle of ``Ĝ`` about ``f`` from ``û_ref``, + left side up.
- **Sensor slipped**: while running (a contact within ``2 P_STEP_MAX``), ``Ĝ`` more than
  ``acos(P_SLIP_COS)`` from ``û_ref`` for ``P_SLIP_N`` samples more than not (a slip turns
  the tracked vertical at once, the posture follows over tens of seconds; bending over
  happens when standing): the posture, the forward axis and the sway restart from ``Ĝ`` and
  the next record has ``S_MOUNT_CHANGED``.
- **Side of a step** (gyro only): over the first ``P_SIDE_FRAC`` of a left step the roll is
  positive (the right side drops while the left leg carries the body), over a right one
  negative; a weak mean (below ``P_SIDE_MIN_RAD``) takes the side opposite the previous
  step's. Without a gyro the side is unknown: the lateral specific force mixes the body's
  sideways acceleration with gravity tilted by the roll itself, of opposite signs and similar
  size (~1 m/s²), so its sign is not a side.

A step's record is emitted at the next contact (or at the end of the stream / a lost cycle):
pelvic drop = the largest ``s·roll`` over the step (``s`` = +1 left, −1 right), degrees (the
contralateral drop, frontal-plane pelvic obliquity); toe-off (running) = the start of the low
run of ``a_v`` (below ``P_FLIGHT_G``, at least ``P_FLIGHT_MIN`` samples) that ends the step:
flight; gait mode = run with such a flight, else walk; push-off (running) = the forward
velocity gained from its lowest point in stance to toe-off (∫ ``a·f`` dt from the contact;
``f`` is horizontal to the accelerometer's own slow mean vertical ``P_UA_ALPHA``, free of the
gyro bias's tilt error, which would add ~0.06 m/s per degree; reported once the forward
axis has ``P_PUSH_STEPS`` steps in its mean); sideways sway (gyro) = the
largest excursion toward the stance leg over the step of the pelvis's lateral position (the
specific force along the horizontal left axis, level to the gyro-tracked vertical, integrated
twice through leaky integrators ``P_SWAY_LEAK``, plus ``P_SWAY_ARM`` × sin(roll) for a
sensor above the roll axis; used ``P_SWAY_SETTLE`` after each restart), about the mean of the
stride that ends with the step (the integrators' slow offset cancels), m; peak |a| in
``P_PEAK_WIN``.

Params: float vector (``P_*``); state: ``F`` float64 / ``I`` int64 (layouts below) and rings.
Imports only numpy, numba and math. Units inside: m/s², rad/s, rad, samples.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from stridecore.dsp.kernels.jerk import is_clipped
from stridecore.dsp.kernels.tilt import turn_gravity

G0 = 9.80665

# ---- params ------------------------------------------------------------------------------
P_FS = 0
P_JERK_K = 1  # samples: the rise of a_v is taken over this lag
P_C_ALPHA = 2  # gravity tracking: pull toward the specific force per sample
P_REF_ALPHA = 3  # reference posture: EMA coefficient of û per sample
P_JERK_FLOOR = 4  # m/s³
P_JERK_FRAC = 5  # threshold = frac × the contacts' rise level
P_JERK_KEEP = 6  # weight of a contact's steepest rise in the level (EMA per contact)
P_J_DECAY = 7  # per armed sample decay of the rise level
P_REFRACT_FRAC = 8  # of the last step
P_REFRACT_MIN = 9  # samples
P_STEP_MAX = 10  # samples without a contact: cycle lost
P_WALKBACK = 11  # samples
P_IC_SHIFT = 12  # samples added to the foot of the rise
P_PEAK_WIN = 13  # samples after IC for the peak |a|
P_BRAKE_FRAC = 14  # of the step: braking window for the forward axis
P_F_STEPS = 15  # steps before the forward axis is used
P_SIDE_FRAC = 16  # of the step: window for the side decision
P_SIDE_MIN_RAD = 17  # a weaker mean roll takes the side opposite the last one
P_FLIGHT_G = 18  # a_v below this × g is unloaded (flight)
P_FLIGHT_MIN = 19  # samples of flight for a running step
P_RING = 20
P_CLIP_MPS2 = 21
P_CLIP_PRE = 22
P_WARMUP = 23  # samples before the first contact (the vertical settles, the level starts)
P_FOOT_MPS2 = 24  # the walk-back stops this close to the lowest a_v of its window
P_UA_ALPHA = 25  # EMA coefficient of the specific force (the accelerometer's vertical)
P_SWAY_LEAK = 26  # per-sample leak of the lateral velocity and position integrators
P_SWAY_SETTLE = 27  # samples of gyro after a restart before the position is used
P_SWAY_ARM = 28  # m: the sensor's height above the pelvis's roll axis
P_SLIP_COS = 29  # cos of the tilt from the posture that means the sensor moved
P_SLIP_N = 30  # samples that tilt must last (while running)
P_PUSH_STEPS = 31  # steps in the forward-axis mean before push-off is reported
P_B_GAIN = 32  # gyro bias integral gain per sample (0: no bias estimate)
P_GB_SNAP = 33  # samples between bias snapshots
P_GB_HOLD = 34  # samples the bias integral is held after a slip
N_P = 35

# ---- step record fields ------------------------------------------------------------------
S_IC_IDX = 0
S_IC_TUS = 1
S_TO_IDX = 2  # -1 unknown
S_TO_TUS = 3  # NaN unknown
S_EMIT_IDX = 4
S_EMIT_TUS = 5
S_PREV_IC_TUS = 6  # previous step's IC (the other leg), NaN none
S_END_TUS = 7  # the next contact (the step's end)
S_PEAK_G = 8
S_CLIPPED = 9
S_SIDE = 10  # 0 left, 1 right, -1 unknown
S_MODE = 11  # 1 walk, 2 run
S_DROP_DEG = 12
S_PUSH_MPS = 13
S_GYRO = 14  # 1 if the roll was measured over the whole step
S_SWAY_M = 15  # sideways excursion toward the stance leg
S_MOUNT_CHANGED = 16  # the sensor moved on the body since the last record
N_S = 17

# IC events: sample idx, t_us, emit sample idx, kind (0), emit t_us
N_E = 5

# ---- int state ---------------------------------------------------------------------------
I_N = 0
I_INIT = 1
I_IC_N = 2  # the open step's contact (-1 none)
I_BAD_N = 3  # last missing sample or gap
I_LAST_CLIP_N = 4
I_NF = 5  # steps in the forward-axis mean
I_SIDE = 6  # side of the last emitted step (-1 unknown)
I_JPK_N = 7  # sample until which the rise peak of the open contact is tracked
I_NO_GYRO_N = 8  # last sample without roll
I_Y_SINCE = 9  # first sample of the lateral integrators' current run
I_TILT_RUN = 10  # tilted samples minus untilted ones (at least 0)
I_SLIPPED = 11  # the mounting changed; flagged on the next record
I_LAST_IC_N = 12  # the last contact (not forgotten with a lost cycle)
I_REF_SINCE = 13  # first sample of the posture's current mean
I_GB_HOLD = 14  # the bias integral resumes at this sample (held after a slip)
I_GB_SNAP = 15  # samples since the last bias snapshot
N_I = 16

# ---- float state -------------------------------------------------------------------------
F_G = 0  # 3: tracked gravity ("up" specific force), m/s²
F_UR = 3  # 3: reference up (EMA of û)
F_B = 6  # 3: mean early-step horizontal specific force (braking), m/s²
F_JPK_EMA = 9  # m/s³
F_JPK_CUR = 10
F_PREV_IC_TUS = 11
F_STEP = 12  # last step, samples
F_UA = 13  # 3: slow mean of the specific force (the accelerometer's vertical; no gyro bias)
F_VY = 16  # lateral velocity (leaky integral), m/s
F_Y = 17  # lateral position (leaky integral), m
F_GB = 18  # 3: gyro bias estimate, rad/s (sensor frame)
F_GB_OLD = 21  # 6: two snapshots of it, P_GB_SNAP apart (a slip restores the older)
N_F = 27

# ring columns
R_TUS = 0
R_AV = 1  # vertical specific force a·û, m/s²
R_J = 2  # its rise over P_JERK_K, m/s³
R_AN = 3  # |a|
R_ROLL = 4  # rad, NaN unknown
R_AF = 5  # forward specific force, NaN unknown
R_Y = 6  # lateral position, m (+ left), NaN unknown
N_R = 7


def init_state(ring: int) -> dict[str, np.ndarray]:
    """Fresh state arrays for a ring of ``ring`` samples."""
    F = np.zeros(N_F)
    F[F_PREV_IC_TUS] = np.nan
    I = np.zeros(N_I, np.int64)
    I[I_IC_N] = -1
    I[I_BAD_N] = -1
    I[I_SIDE] = -1
    I[I_JPK_N] = -1
    I[I_NO_GYRO_N] = -1
    I[I_Y_SINCE] = -1
    I[I_LAST_IC_N] = -1
    I[I_LAST_CLIP_N] = -(1 << 40)
    return {"F": F, "I": I, "ring_f": np.zeros((ring, N_R)),
            "ring_acc": np.zeros((ring, 3)), "ring_idx": np.zeros(ring, np.int64)}


@njit
def _unit(x0: float, x1: float, x2: float) -> tuple[float, float, float, float]:
    n = math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
    if n <= 1e-12:
        return 0.0, 0.0, 0.0, 0.0
    return 1.0, x0 / n, x1 / n, x2 / n


@njit
def _ref_frame(F: np.ndarray) -> tuple[float, float, float, float, float, float, float,
                                       float, float, float]:
    """(ok, u_ref, f, l) (unit, sensor frame): the reference up (posture), the forward axis
    (the braking direction, horizontal to the accelerometer's mean vertical) and the left
    axis ``l = u_ref × f``."""
    okr, u0, u1, u2 = _unit(F[F_UR], F[F_UR + 1], F[F_UR + 2])
    oka, v0, v1, v2 = _unit(F[F_UA], F[F_UA + 1], F[F_UA + 2])
    if okr == 0.0 or oka == 0.0:
        return 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0
    bv = F[F_B] * v0 + F[F_B + 1] * v1 + F[F_B + 2] * v2
    okf, f0, f1, f2 = _unit(-(F[F_B] - bv * v0), -(F[F_B + 1] - bv * v1),
                            -(F[F_B + 2] - bv * v2))
    if okf == 0.0:
        return 0.0, u0, u1, u2, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0
    okl, l0, l1, l2 = _unit(u1 * f2 - u2 * f1, u2 * f0 - u0 * f2, u0 * f1 - u1 * f0)
    if okl == 0.0:
        return 0.0, u0, u1, u2, f0, f1, f2, 0.0, 1.0, 0.0
    return 1.0, u0, u1, u2, f0, f1, f2, l0, l1, l2


@njit
def _signed_max(ring_f: np.ndarray, col: int, lo: int, hi: int, s: float) -> float:
    """max of ``s·x`` over ring samples lo..hi of column ``col``; NaN if any is NaN."""
    R = ring_f.shape[0]
    best = -np.inf
    for m in range(lo, hi + 1):
        x = ring_f[m % R, col]
        if not math.isfinite(x):
            return np.nan
        if s * x > best:
            best = s * x
    return best


@njit
def _emit_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray,
               ring_acc: np.ndarray, ring_idx: np.ndarray, end_n: int, emit_idx: int,
               emit_tus: float, out: np.ndarray, k: int) -> None:
    """Write the record of the open step [I_IC_N, end_n) into ``out[k]``; update the forward
    axis mean and the side memory."""
    R = int(P[P_RING])
    dt = 1.0 / P[P_FS]
    ic = I[I_IC_N]
    L = end_n - ic
    for c in range(N_S):
        out[k, c] = np.nan
    q = ic % R
    out[k, S_IC_IDX] = ring_idx[q]
    out[k, S_IC_TUS] = ring_f[q, R_TUS]
    out[k, S_TO_IDX] = -1.0
    out[k, S_EMIT_IDX] = emit_idx
    out[k, S_EMIT_TUS] = emit_tus
    out[k, S_PREV_IC_TUS] = F[F_PREV_IC_TUS]
    out[k, S_END_TUS] = ring_f[end_n % R, R_TUS]
    out[k, S_SIDE] = -1.0
    pk = 0.0
    for m in range(ic, min(end_n, ic + int(P[P_PEAK_WIN]) + 1)):
        if ring_f[m % R, R_AN] > pk:
            pk = ring_f[m % R, R_AN]
    out[k, S_PEAK_G] = pk / G0
    clip = I[I_LAST_CLIP_N] >= ic - P[P_CLIP_PRE] and I[I_LAST_CLIP_N] <= ic + P[P_PEAK_WIN]
    out[k, S_CLIPPED] = 1.0 if clip else 0.0
    out[k, S_MOUNT_CHANGED] = float(I[I_SLIPPED])
    I[I_SLIPPED] = 0
    # flight: the low run of a_v that ends the step -> toe-off, gait mode
    lo = P[P_FLIGHT_G] * G0
    m = end_n - 1
    while m > ic and ring_f[m % R, R_AV] < lo:
        m -= 1
    run = end_n - 1 - m
    to_n = m + 1 if run >= P[P_FLIGHT_MIN] else -1
    if run >= P[P_FLIGHT_MIN]:
        out[k, S_MODE] = 2.0
        qt = (m + 1) % R
        out[k, S_TO_IDX] = ring_idx[qt]
        out[k, S_TO_TUS] = ring_f[qt, R_TUS]
    else:
        out[k, S_MODE] = 1.0
    # side: the sign of the mean roll over the early step (gyro only)
    gyro = I[I_NO_GYRO_N] < ic
    out[k, S_GYRO] = 1.0 if gyro else 0.0
    w = max(1, int(P[P_SIDE_FRAC] * L + 0.5))
    side = -1
    if gyro:
        sr = 0.0
        for m in range(ic, ic + w):
            sr += ring_f[m % R, R_ROLL]
        sr /= w
        if math.isfinite(sr) and abs(sr) >= P[P_SIDE_MIN_RAD]:
            side = 0 if sr > 0.0 else 1
    if side < 0 and I[I_SIDE] >= 0:
        side = 1 - I[I_SIDE]
    I[I_SIDE] = side
    out[k, S_SIDE] = float(side)
    # pelvic drop and sway: the largest s·roll, s·y over the step (gyro, side known)
    if gyro and side >= 0:
        s = 1.0 if side == 0 else -1.0
        out[k, S_DROP_DEG] = math.degrees(_signed_max(ring_f, R_ROLL, ic, end_n, s))
        # about the mean of the stride that ends here (the integrators' slow offset cancels)
        lo = max(ic - int(F[F_STEP]) if F[F_STEP] > 0 else ic, end_n - R + 2)
        ym = 0.0
        for m in range(lo, end_n + 1):
            ym += ring_f[m % R, R_Y]
        ym /= end_n + 1 - lo
        out[k, S_SWAY_M] = _signed_max(ring_f, R_Y, ic, end_n, s) - s * ym
    # push-off: the forward velocity gained from its lowest point in stance to toe-off
    if to_n > ic and I[I_NF] >= P[P_PUSH_STEPS]:
        v = 0.0
        low = 0.0
        for m in range(ic + 1, to_n + 1):
            x = ring_f[m % R, R_AF]
            if not math.isfinite(x):
                v = np.nan
                break
            v += x * dt
            if v < low:
                low = v
        out[k, S_PUSH_MPS] = v - low
    # forward axis: the braking direction, mean over steps
    oka, u0, u1, u2 = _unit(F[F_UA], F[F_UA + 1], F[F_UA + 2])
    if oka > 0.0:
        wb = max(1, int(P[P_BRAKE_FRAC] * L + 0.5))
        b0 = 0.0
        b1 = 0.0
        b2 = 0.0
        for m in range(ic, ic + wb):
            q = m % R
            b0 += ring_acc[q, 0]
            b1 += ring_acc[q, 1]
            b2 += ring_acc[q, 2]
        b0 /= wb
        b1 /= wb
        b2 /= wb
        bu = b0 * u0 + b1 * u1 + b2 * u2
        b0 -= bu * u0
        b1 -= bu * u1
        b2 -= bu * u2
        wt = max(0.1, 1.0 / (I[I_NF] + 1))
        F[F_B] += wt * (b0 - F[F_B])
        F[F_B + 1] += wt * (b1 - F[F_B + 1])
        F[F_B + 2] += wt * (b2 - F[F_B + 2])
        I[I_NF] += 1


@njit
def _lose_cycle(I: np.ndarray, F: np.ndarray) -> None:
    I[I_IC_N] = -1
    I[I_SIDE] = -1
    I[I_JPK_N] = -1
    F[F_PREV_IC_TUS] = np.nan


@njit
def pelvis_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray,
                ring_acc: np.ndarray, ring_idx: np.ndarray, sample_idx: np.ndarray,
                t_us: np.ndarray, acc: np.ndarray, gyr: np.ndarray, flags: np.ndarray,
                steps_out: np.ndarray, ics_out: np.ndarray) -> tuple[int, int]:
    """Advance over one block. Returns (steps written to ``steps_out``, ICs to ``ics_out``)."""
    R = int(P[P_RING])
    K = int(P[P_JERK_K])
    fs = P[P_FS]
    dt = 1.0 / fs
    n_steps = 0
    n_ics = 0
    for t in range(acc.shape[0]):
        N = I[I_N]
        r = N % R
        a0 = acc[t, 0]
        a1 = acc[t, 1]
        a2 = acc[t, 2]
        g0 = gyr[t, 0]
        g1 = gyr[t, 1]
        g2 = gyr[t, 2]
        # a two-axis accelerometer reads NaN on its missing axis: that axis counts as 0
        n_fin = (1 if math.isfinite(a0) else 0) + (1 if math.isfinite(a1) else 0) \
            + (1 if math.isfinite(a2) else 0)
        ok = n_fin >= 2
        if not math.isfinite(a0):
            a0 = 0.0
        if not math.isfinite(a1):
            a1 = 0.0
        if not math.isfinite(a2):
            a2 = 0.0
        gok = math.isfinite(g0) and math.isfinite(g1) and math.isfinite(g2)
        if not gok:
            g0 = g1 = g2 = 0.0
            I[I_NO_GYRO_N] = N
        if (not ok) or (flags[t] & 16) != 0:
            I[I_BAD_N] = N if ok else N + 1
            I[I_NO_GYRO_N] = N
            _lose_cycle(I, F)
        if is_clipped(flags[t], a0, a1, a2, P[P_CLIP_MPS2]):
            I[I_LAST_CLIP_N] = N
        # gravity tracking and the reference posture
        if ok:
            if I[I_INIT] == 0:
                F[F_G] = a0
                F[F_G + 1] = a1
                F[F_G + 2] = a2
                an0 = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
                if an0 > 0.0:
                    F[F_UR] = a0 / an0
                    F[F_UR + 1] = a1 / an0
                    F[F_UR + 2] = a2 / an0
                I[I_INIT] = 1
            else:
                # the gyro bias: the integral of the pull (Mahony 2008), once the start's
                # running mean has become the slow pull and not while held after a slip
                bias_on = (N + 1) * P[P_C_ALPHA] >= 1.0 and N >= I[I_GB_HOLD]
                turn_gravity(F, F_G, F_GB, g0, g1, g2, gok, a0, a1, a2,
                             P[P_B_GAIN] if bias_on else 0.0, dt)
                # the running mean of the specific force at first (a stream may start in
                # flight or mid-stance), then the slow pull
                ca = max(P[P_C_ALPHA], 1.0 / (N + 1))
                F[F_G] += ca * (a0 - F[F_G])
                F[F_G + 1] += ca * (a1 - F[F_G + 1])
                F[F_G + 2] += ca * (a2 - F[F_G + 2])
        gn = math.sqrt(F[F_G] * F[F_G] + F[F_G + 1] * F[F_G + 1] + F[F_G + 2] * F[F_G + 2])
        if gn > 0.0:
            h0 = F[F_G] / gn
            h1 = F[F_G + 1] / gn
            h2 = F[F_G + 2] / gn
        else:
            h0 = h1 = 0.0
            h2 = 1.0
        # a slipped sensor: the tracked vertical stays far from the posture for a while when
        # running (a slip turns the gyro-tracked vertical at once, the posture follows over
        # tens of seconds): start the posture, forward axis and sway afresh, flag it
        cu = h0 * F[F_UR] + h1 * F[F_UR + 1] + h2 * F[F_UR + 2]
        un = math.sqrt(F[F_UR] * F[F_UR] + F[F_UR + 1] * F[F_UR + 1] + F[F_UR + 2] * F[F_UR + 2])
        running = I[I_LAST_IC_N] >= 0 and N - I[I_LAST_IC_N] <= 2 * P[P_STEP_MAX]
        if ok and running and un > 0.0 and cu < P[P_SLIP_COS] * un:
            I[I_TILT_RUN] += 1
        elif I[I_TILT_RUN] > 0:
            I[I_TILT_RUN] -= 1  # (a leaky count: the tracked vertical swings with the stride)
        I[I_GB_SNAP] += 1
        if I[I_GB_SNAP] >= P[P_GB_SNAP]:
            I[I_GB_SNAP] = 0
            for q in range(3):
                F[F_GB_OLD + 3 + q] = F[F_GB_OLD + q]
                F[F_GB_OLD + q] = F[F_GB + q]
        if I[I_TILT_RUN] >= P[P_SLIP_N]:
            I[I_TILT_RUN] = 0
            I[I_SLIPPED] = 1
            # the pull toward a turned specific force fed the bias integral while the slip
            # went unnoticed: back to the older snapshot, held while the vertical converges
            for q in range(3):
                F[F_GB + q] = F[F_GB_OLD + 3 + q]
                F[F_GB_OLD + q] = F[F_GB_OLD + 3 + q]
            I[I_GB_SNAP] = 0
            I[I_GB_HOLD] = N + int(P[P_GB_HOLD])
            gn_ = math.sqrt(F[F_UA] * F[F_UA] + F[F_UA + 1] * F[F_UA + 1]
                            + F[F_UA + 2] * F[F_UA + 2])
            F[F_UR] = h0
            F[F_UR + 1] = h1
            F[F_UR + 2] = h2
            F[F_UA] = h0 * gn_
            F[F_UA + 1] = h1 * gn_
            F[F_UA + 2] = h2 * gn_
            F[F_B] = 0.0
            F[F_B + 1] = 0.0
            F[F_B + 2] = 0.0
            I[I_NF] = 0
            I[I_Y_SINCE] = -1
            I[I_REF_SINCE] = N  # the means start again: running means at first
        if ok and I[I_INIT] == 1:
            ra = max(P[P_REF_ALPHA], 1.0 / (N - I[I_REF_SINCE] + 1))
            F[F_UR] += ra * (h0 - F[F_UR])
            F[F_UR + 1] += ra * (h1 - F[F_UR + 1])
            F[F_UR + 2] += ra * (h2 - F[F_UR + 2])
        if ok:
            va = max(P[P_UA_ALPHA], 1.0 / (N - I[I_REF_SINCE] + 1))
            F[F_UA] += va * (a0 - F[F_UA])
            F[F_UA + 1] += va * (a1 - F[F_UA + 1])
            F[F_UA + 2] += va * (a2 - F[F_UA + 2])
        av = a0 * h0 + a1 * h1 + a2 * h2
        an = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
        # the ring: time, a_v, its rise, |a|, roll, forward force
        ring_idx[r] = sample_idx[t]
        ring_acc[r, 0] = a0
        ring_acc[r, 1] = a1
        ring_acc[r, 2] = a2
        ring_f[r, R_TUS] = t_us[t]
        ring_f[r, R_AV] = av
        ring_f[r, R_AN] = an
        j = 0.0
        if N >= K and N - K > I[I_BAD_N] and ok:
            j = (av - ring_f[(N - K) % R, R_AV]) * fs / K
        ring_f[r, R_J] = j
        okf, u0, u1, u2, f0, f1, f2, l0, l1, l2 = _ref_frame(F)
        if ok and okf > 0.0 and I[I_NF] >= P[P_F_STEPS]:
            ring_f[r, R_AF] = a0 * f0 + a1 * f1 + a2 * f2
            if gok:
                ring_f[r, R_ROLL] = math.atan2(h0 * l0 + h1 * l1 + h2 * l2,
                                               h0 * u0 + h1 * u1 + h2 * u2)
                # sideways motion: the specific force along the horizontal left axis (level
                # to the gyro-tracked vertical, so the roll's tilt of gravity is out of it),
                # integrated twice with leaks (a high-pass: the position is about the path)
                lh = l0 * h0 + l1 * h1 + l2 * h2
                oky, y0, y1, y2 = _unit(l0 - lh * h0, l1 - lh * h1, l2 - lh * h2)
                if I[I_Y_SINCE] < 0:
                    I[I_Y_SINCE] = N
                    F[F_VY] = 0.0
                    F[F_Y] = 0.0
                if oky > 0.0:
                    F[F_VY] += (a0 * y0 + a1 * y1 + a2 * y2) * dt - P[P_SWAY_LEAK] * F[F_VY]
                F[F_Y] += F[F_VY] * dt - P[P_SWAY_LEAK] * F[F_Y]
                settled = N - I[I_Y_SINCE] >= P[P_SWAY_SETTLE]
                # the sensor sits P_SWAY_ARM above the pelvis's roll axis: rolling left-up
                # moves it right by that × sin(roll)
                ring_f[r, R_Y] = (F[F_Y] + P[P_SWAY_ARM] * math.sin(ring_f[r, R_ROLL])
                                  if settled else np.nan)
            else:
                ring_f[r, R_ROLL] = np.nan
                ring_f[r, R_Y] = np.nan
                I[I_NO_GYRO_N] = N
                I[I_Y_SINCE] = -1
        else:
            ring_f[r, R_AF] = np.nan
            ring_f[r, R_ROLL] = np.nan
            ring_f[r, R_Y] = np.nan
            I[I_NO_GYRO_N] = N
            I[I_Y_SINCE] = -1
        I[I_N] = N + 1

        # ---- events -----------------------------------------------------------------------
        ic_open = I[I_IC_N]
        # the open contact's steepest rise updates the level once its window has passed
        if I[I_JPK_N] >= 0:
            if j > F[F_JPK_CUR]:
                F[F_JPK_CUR] = j
            if N >= I[I_JPK_N]:
                jp = F[F_JPK_CUR]
                if F[F_JPK_EMA] == 0.0:
                    F[F_JPK_EMA] = jp
                else:
                    F[F_JPK_EMA] += P[P_JERK_KEEP] * (jp - F[F_JPK_EMA])
                I[I_JPK_N] = -1
        if ic_open >= 0 and N - ic_open > P[P_STEP_MAX]:
            # no contact for too long (a stop, a lost cycle): close the step at its usual
            # length if the ring still holds it, then forget the cycle
            end = ic_open + int(min(F[F_STEP], P[P_STEP_MAX])) if F[F_STEP] > 0 else -1
            if end > ic_open and N - ic_open < R - 1:
                _emit_step(P, F, I, ring_f, ring_acc, ring_idx, end, sample_idx[t], t_us[t],
                           steps_out, n_steps)
                n_steps += 1
            _lose_cycle(I, F)
            ic_open = -1
        if ic_open < 0:
            refr = 0.0
        else:
            refr = max(P[P_REFRACT_MIN], P[P_REFRACT_FRAC] * F[F_STEP])
        armed = ic_open < 0 or N - ic_open >= refr
        if armed and I[I_JPK_N] < 0 and F[F_JPK_EMA] > 0.0:
            F[F_JPK_EMA] *= P[P_J_DECAY]
        if N < P[P_WARMUP] and j > F[F_JPK_EMA]:
            F[F_JPK_EMA] = j  # the level starts at the steepest rise of the warm-up
        thr = max(P[P_JERK_FLOOR], P[P_JERK_FRAC] * F[F_JPK_EMA])
        if armed and ok and j > thr and N >= P[P_WARMUP]:
            # the foot of the rise: walk back while a_v keeps falling
            m = N
            lim = max(N - int(P[P_WALKBACK]), I[I_BAD_N] + 1)
            if ic_open >= 0:
                lim = max(lim, ic_open + 1)
            mn = ring_f[N % R, R_AV]
            for q in range(lim, N):
                mn = min(mn, ring_f[q % R, R_AV])
            floor = mn + P[P_FOOT_MPS2]
            while m - 1 >= lim and floor < ring_f[(m - 1) % R, R_AV] < ring_f[m % R, R_AV]:
                m -= 1
            ic = min(N, max(lim, m + int(P[P_IC_SHIFT])))
            if ic_open >= 0 and ic > ic_open:
                _emit_step(P, F, I, ring_f, ring_acc, ring_idx, ic, sample_idx[t], t_us[t],
                           steps_out, n_steps)
                n_steps += 1
                # a step much longer than the last is most likely a missed contact: the
                # refractory time would otherwise keep missing every other one
                # (and one much shorter is most likely a second rise within the contact)
                iv = ic - ic_open
                if F[F_STEP] <= 0.0 or 0.6 * F[F_STEP] <= iv <= 1.6 * F[F_STEP]:
                    F[F_STEP] = iv
                elif iv > 1.6 * F[F_STEP]:
                    F[F_STEP] *= 1.25
                F[F_PREV_IC_TUS] = ring_f[ic_open % R, R_TUS]
            I[I_IC_N] = ic
            I[I_LAST_IC_N] = ic
            I[I_JPK_N] = N + int(P[P_PEAK_WIN])
            F[F_JPK_CUR] = j
            q = ic % R
            ics_out[n_ics, 0] = ring_idx[q]
            ics_out[n_ics, 1] = ring_f[q, R_TUS]
            ics_out[n_ics, 2] = sample_idx[t]
            ics_out[n_ics, 3] = 0.0
            ics_out[n_ics, 4] = t_us[t]
            n_ics += 1
    return n_steps, n_ics


@njit
def pelvis_flush(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray,
                 ring_acc: np.ndarray, ring_idx: np.ndarray, steps_out: np.ndarray) -> int:
    """End of stream: the open step, ended at the last sample. Returns the records written
    (0 or 1); the cycle is closed (a second flush is empty)."""
    N = I[I_N] - 1
    ic = I[I_IC_N]
    R = int(P[P_RING])
    if N < 0 or ic < 0 or N <= ic or N - ic >= R - 1:
        return 0
    _emit_step(P, F, I, ring_f, ring_acc, ring_idx, N, ring_idx[N % R], ring_f[N % R, R_TUS],
               steps_out, 0)
    _lose_cycle(I, F)
    return 1
