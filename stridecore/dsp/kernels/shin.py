"""Shin-sensor gait kernel: initial contact, toe-off and per-step shank metrics, sample by sample.

Orientation-free: the sagittal axis ``u`` is the principal axis of the gyro's second moment (as
in the mount kernel), signed so the mid-swing peak is positive (the third moment of the rate
about ``u`` is positive: the shank's forward swing is the largest, one-sided rotation of the
cycle). Positive ``w = ω·u`` swings the foot forward (the shank angle "foot ahead" grows). The
long axis ``L`` (the vertical shank) is a standing period's specific-force direction once one
is seen, else the sensor axis nearest the slow mean of the acceleration (a mounting assumption:
one axis along the tibia; the mean itself leans back with the swing by tens of degrees).

Events:

- **Gyro present**: the swing's peak of ``w`` arms the contact search once ``w`` has fallen
  below ``P_LATE_FRAC`` of it. In terminal swing the shank decelerates (``w`` falls at a steady
  rate, through zero into the backward rotation); the contact stops that at once: the contact
  is the kink where the slope of ``w`` (over ``P_KINK_M``) has flattened to ``P_KINK_FRAC`` of
  its steepest since arming (steepest between ``P_KINK_FLOOR`` and ``P_KINK_CEIL``), placed
  back by the slope lag; else the local minimum of ``w`` (confirmed once ``w`` rose
  ``P_MIN_RISE`` above it). The kink must be sharp: one kink lag earlier the slope was still
  ``P_KINK_SHARP`` of the steepest (a gradual flattening is the shank turning round in the air,
  e.g. swing-leg retraction before a far-ahead downhill landing; the minimum then finds the
  contact). A candidate with the shank below ``P_IC_ANGLE_MIN`` (far back: a jolt in
  mid-swing) is refused and the swing goes on; one with less than ``P_SWING_MIN`` of forward
  shank rotation (∫ w dt above its lowest value since the last IC) is refused as no swing (a
  start from standing, a shuffle). Toe-off is decided when the next swing starts (the step
  record is emitted then): walking back from there, the early-swing trough of ``w`` (the last
  minimum with ``w < 0``: the knee flexes after toe-off and throws the shank back), then the
  push-off peak before it (at least ``P_TO_RISE`` above the trough, within ``P_TO_BACK``),
  plus ``P_TO_SHIFT``; without such a peak the trough itself (walking: the minimum before the
  swing, Aminian 2002, Salarian 2004; it lags foot-off, Catalfamo 2010). Swing peaks far below
  the level (``P_SWPK_KEEP``: an uphill push-off bump that crossed the arming level) do not
  update it. ``shin_flush`` emits the open step at the end of a stream.
- **Accelerometer alone**: after a refractory time (``P_REFRACT_FRAC`` of the last stride, at
  least ``P_REFRACT_MIN``) the next jerk burst above the adaptive threshold is the contact; the
  threshold follows the contacts' burst peaks and decays while armed. Toe-off, shank angle and
  loading rotation are NaN (not guessed); the step record is emitted ``P_PEAK_WIN`` after IC.

Metrics: peak axial (``a·L``, gravity included) and resultant |a| in ``P_PEAK_WIN`` after IC
(g); shank angle to vertical at IC (+ foot ahead): gravity is tracked in the sensor frame
(``dG/dt = −ω×G``, pulled toward the specific force with ``P_C_ALPHA``: the linear acceleration
averages out over strides, unlike a per-sample tilt) and the angle is that of ``G`` from ``L``
(projected into the sagittal plane) about ``u``; shank loading rotation = angle at IC minus
angle ``P_LOAD_FRAC`` of the contact later (+ shank rotating forward over the foot).

Params: float vector (``P_*``); state: ``F`` float64 / ``I`` int64 (layouts below) and rings.
Imports only numpy, numba and math. Units inside: m/s², rad/s, rad, samples.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from stridecore.dsp.kernels.axis import diag_start, moment_update, power_refresh
from stridecore.dsp.kernels.jerk import is_clipped, push_sample

G0 = 9.80665

# ---- params ------------------------------------------------------------------------------
P_FS = 0
P_JERK_K = 1  # jerk lag, samples
P_W_ALPHA = 2  # sagittal-rate EMA coefficient
P_L_ALPHA = 3  # long-axis (acc) EMA coefficient
P_M_DECAY = 4  # gyro second-moment forgetting per moving sample
P_MOVING = 5  # rad/s: |ω| above which a sample informs the axis
P_UPDATE = 6  # samples between eigenvector refreshes
P_READY = 7  # moving samples before the gyro axis is trusted
P_ARM_RADPS = 8  # swing peak floor
P_ARM_FRAC = 9  # swing starts at this fraction of the swing-peak EMA
P_MIN_CONTACT = 10  # samples from IC before toe-off may be taken
P_JERK_FLOOR = 11  # m/s³
P_JERK_FRAC = 12  # threshold = frac × burst-peak EMA
P_JERK_LO = 13  # walk-back level as a fraction of the threshold
P_WALKBACK = 14  # samples, max walk-back
P_WALK_RISE = 15  # walk-back stops where the jerk rises again by this factor
P_PEAK_WIN = 16  # samples after IC for the peaks
P_REFRACT_FRAC = 17  # acc-only: fraction of the last stride before a new IC
P_REFRACT_MIN = 18  # samples
P_STRIDE_MAX = 19  # samples without a contact: cycle lost
P_MIN_RISE = 20  # rad/s above the minimum that confirms it
P_IC_SHIFT = 21  # samples added to a burst onset
P_GYRO_SHIFT = 22  # samples added to a gyro minimum
P_LOAD_FRAC = 23  # loading rotation from IC to this fraction of the contact
P_RING = 24
P_KINK_M = 25  # samples: the slope of w for the contact kink is taken over this lag
P_DUTY_WALK = 26
P_J_DECAY = 27  # per armed sample decay of the burst-peak EMA
P_C_ALPHA = 28  # complementary filter coefficient (tilt from acc)
P_STILL_RADPS = 29
P_STILL_ACC = 30
P_STILL_N = 31
P_CLIP_MPS2 = 32
P_CLIP_PRE = 33
P_KINK_FRAC = 34  # contact: the slope of w flattened to this fraction of its steepest
P_LATE_FRAC = 35  # the contact search arms once w fell below this × the swing peak
P_JERK_KEEP = 36  # a contact's burst peak updates the level only above this × level
P_KINK_FLOOR = 37  # rad/s²: the terminal-swing deceleration must have reached this
P_KINK_CEIL = 38  # rad/s²: ... but no more (a faster drop is a jolt in mid-swing, not a swing)
P_IC_ANGLE_MIN = 39  # rad: shank angle below which a gyro contact is refused
P_KINK_SHARP = 40  # the slope KINK_M before the kink must still be this × the steepest
P_SWING_MIN = 41  # rad: a contact needs the shank to have swung forward this far
P_TO_TOL = 42  # rad/s: the toe-off walk-backs stop once w moved this far from their extreme
P_TO_RISE = 43  # rad/s: a push-off peak must stand this far above the early-swing trough
P_TO_BACK = 44  # samples: ... and lie at most this far before it
P_TO_SHIFT = 45  # samples added to a push-off peak
P_SWPK_KEEP = 46  # a swing peak updates the swing-peak level only above this × level
N_P = 47

# ---- step record fields ------------------------------------------------------------------
S_IC_IDX = 0
S_IC_TUS = 1
S_TO_IDX = 2  # -1 unknown
S_TO_TUS = 3  # NaN unknown
S_EMIT_IDX = 4
S_EMIT_TUS = 5
S_PREV_IC_TUS = 6  # previous IC of this shin (NaN: none in this cycle)
S_PEAK_AXIAL_G = 7
S_PEAK_G = 8
S_ANGLE_IC_DEG = 9
S_LOAD_ROT_DEG = 10
S_IC_KIND = 11  # 0 burst, 1 gyro minimum, 2 gyro minimum after waiting for a burst
S_CLIPPED = 12
S_GYRO = 13  # 1 if the gyro was used for this step
N_S = 14

# IC events: sample idx, t_us, emit sample idx, kind, emit t_us
N_E = 5

# ---- int state ---------------------------------------------------------------------------
I_N = 0
I_PHASE = 1  # 0 stance / waiting for a swing, 1 swing (before its peak passed), 2 armed
I_HAS_IC = 2
I_IC_N = 3
I_PREV_IC_N = 4
I_MOVING = 5
I_SINCE = 6
I_GYRO = 7  # gyro mode of the current cycle (1) or acc only (0)
I_TO_N = 8  # toe-off candidate (min of w after IC + min contact)
I_WMIN_N = 9  # gyro minimum in the armed phase
I_SPARE = 10
I_PENDING = 11  # acc-only: a step record waits for its peak window
I_IC_KIND = 12
I_MODE = 13  # 0 unknown, 1 walk, 2 run (last step)
I_LAST_CLIP_N = 14
I_STILL_RUN = 15
I_HAVE_STILL = 16
I_ARM_N = 17  # sample at which the contact search was armed
I_LAST_EV_N = 18  # last IC or swing: for the lost-cycle timeout
I_TH_INIT = 19
I_BAD_N = 20  # last missing sample or gap: no jerk or walk-back reaches across it
N_I = 21

# ---- float state -------------------------------------------------------------------------
F_M = 0  # 9: gyro second moment
F_AX = 9  # 3: principal axis (continuous sign)
F_S3 = 12  # third-moment EMA of ω·u
F_WSM = 13  # smoothed signed sagittal rate
F_L = 14  # 3: acc EMA (long axis, unnormalised)
F_LS = 17  # 3: still mean (long axis from a still period)
F_STILL_SUM = 20  # 3
F_SWPK = 23  # swing peak in this swing
F_SWPK_EMA = 24
F_JPK_EMA = 25
F_JPK_CUR = 26
F_WMIN = 27
F_TOMIN = 28
F_THETA = 29  # complementary-filter shank angle, rad
F_IC_TUS = 30
F_IC_IDX = 31
F_PREV_IC_TUS = 32
F_STRIDE = 33  # last stride, samples
F_PK_AX = 34
F_PK_N = 35
F_ANGLE_IC = 36
F_CONTACT = 37  # last contact, samples (for the mode)
F_SMIN = 38  # steepest (most negative) slope of w since the contact search armed, rad/s²
F_G = 39  # 3: tracked gravity ("up" specific force) in the sensor frame, m/s²
F_SWANG = 42  # rad: shank rotation since the last IC (∫ w dt; from the cycle start if none)
F_THMIN = 43  # rad: its lowest value since then
N_F = 44

# ring columns
R_TUS = 0
R_J = 1
R_AN = 2
R_W = 3  # signed sagittal rate (raw)
R_AX = 4  # axial acc a·L
R_TH = 5  # shank angle
N_R = 6


def init_state(ring: int) -> dict[str, np.ndarray]:
    """Fresh state arrays for a ring of ``ring`` samples."""
    F = np.zeros(N_F)
    F[F_AX] = 1.0
    F[F_PREV_IC_TUS] = np.nan
    F[F_IC_TUS] = np.nan
    F[F_SWANG] = 0.0
    F[F_THMIN] = 0.0
    I = np.zeros(N_I, np.int64)
    for k in (I_IC_N, I_PREV_IC_N, I_TO_N, I_WMIN_N, I_LAST_EV_N):
        I[k] = -1
    I[I_LAST_CLIP_N] = -(1 << 40)
    I[I_GYRO] = -1
    I[I_BAD_N] = -1
    return {"F": F, "I": I, "ring_f": np.zeros((ring, N_R)),
            "ring_acc": np.zeros((ring, 3)), "ring_idx": np.zeros(ring, np.int64)}


@njit
def _lose_cycle(F: np.ndarray, I: np.ndarray) -> None:
    I[I_PHASE] = 0
    I[I_HAS_IC] = 0
    I[I_IC_N] = -1
    I[I_PREV_IC_N] = -1
    I[I_TO_N] = -1
    I[I_WMIN_N] = -1
    I[I_PENDING] = 0
    I[I_LAST_EV_N] = -1
    F[F_PREV_IC_TUS] = np.nan
    F[F_SWPK] = 0.0
    F[F_TOMIN] = 0.0
    F[F_SWANG] = 0.0
    F[F_THMIN] = 0.0


@njit
def _burst_onset(P: np.ndarray, ring_f: np.ndarray, N: int, R: int, lo: float) -> int:
    m = 1
    while m <= P[P_WALKBACK] and m < R - 1 and N - m >= 0:
        jm = ring_f[(N - m) % R, R_J]
        if jm <= lo or jm > P[P_WALK_RISE] * ring_f[(N - m + 1) % R, R_J]:
            break
        m += 1
    return N - m + 1


@njit
def _toe_off(P: np.ndarray, ring_f: np.ndarray, N: int, lo: int, fallback: int) -> int:
    """Toe-off, decided at the swing start ``N``: walk back from ``N`` to the early-swing
    trough of w (the last minimum before the swing), then on to the push-off peak before it (w
    rises back toward the trough: the knee flexes after toe-off and throws the shank back); the
    trough itself if no such peak lies within ``P_TO_BACK`` (walking: the minimum before the
    swing, Aminian 2002 / Salarian 2004). ``lo``: earliest sample; ``fallback`` if no trough."""
    R = int(P[P_RING])
    tol = P[P_TO_TOL]
    m = N
    wt = ring_f[N % R, R_W]
    tr = N
    while m - 1 >= lo:
        m -= 1
        x = ring_f[m % R, R_W]
        if x < wt:
            wt = x
            tr = m
        elif x > wt + tol and wt < 0.0:
            break  # (a trough is the shank rotating back: a dip on the swing's rise is not)
    else:
        return fallback
    if tr == N:
        return fallback
    wp = wt
    pk = tr
    m = tr
    found = False
    while m - 1 >= lo and tr - (m - 1) <= P[P_TO_BACK]:
        m -= 1
        x = ring_f[m % R, R_W]
        if x > wp:
            wp = x
            pk = m
        elif x < wp - tol:
            found = True
            break
    if found and wp - wt >= P[P_TO_RISE]:
        return max(lo, pk + int(P[P_TO_SHIFT]))
    return tr


@njit
def _emit_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray,
               ring_idx: np.ndarray, to_n: int, N: int, emit_idx: int, emit_tus: float,
               out: np.ndarray, k: int) -> None:
    R = int(P[P_RING])
    fs = P[P_FS]
    for c in range(N_S):
        out[k, c] = np.nan
    ic_n = I[I_IC_N]
    out[k, S_IC_IDX] = F[F_IC_IDX]
    out[k, S_IC_TUS] = F[F_IC_TUS]
    out[k, S_EMIT_IDX] = emit_idx
    out[k, S_EMIT_TUS] = emit_tus
    out[k, S_PREV_IC_TUS] = F[F_PREV_IC_TUS]
    out[k, S_IC_KIND] = I[I_IC_KIND]
    out[k, S_GYRO] = 1.0 if I[I_GYRO] == 1 else 0.0
    out[k, S_TO_IDX] = -1.0
    # peaks in the window after IC (the window has passed: the ring holds it)
    pa = -np.inf
    pn = 0.0
    hi = min(N, ic_n + int(P[P_PEAK_WIN]))
    for m in range(ic_n, hi + 1):
        q = m % R
        if ring_f[q, R_AX] > pa:
            pa = ring_f[q, R_AX]
        if ring_f[q, R_AN] > pn:
            pn = ring_f[q, R_AN]
    out[k, S_PEAK_AXIAL_G] = pa / G0
    out[k, S_PEAK_G] = pn / G0
    out[k, S_CLIPPED] = 1.0 if I[I_LAST_CLIP_N] >= ic_n - P[P_CLIP_PRE] else 0.0
    if to_n >= 0:
        q = to_n % R
        out[k, S_TO_IDX] = ring_idx[q]
        out[k, S_TO_TUS] = ring_f[q, R_TUS]
        contact = to_n - ic_n
        F[F_CONTACT] = contact
        if I[I_GYRO] == 1:
            out[k, S_ANGLE_IC_DEG] = math.degrees(ring_f[ic_n % R, R_TH])
            lo_n = ic_n + int(P[P_LOAD_FRAC] * contact + 0.5)  # contact >= 0
            th = 0.0
            for m in range(ic_n + 1, lo_n + 1):
                th += ring_f[m % R, R_W]
            out[k, S_LOAD_ROT_DEG] = math.degrees(-th / fs)
        mode = 0
        if I[I_PREV_IC_N] >= 0:
            stride = ic_n - I[I_PREV_IC_N]
            if stride > 0:
                mode = 1 if contact / stride > P[P_DUTY_WALK] else 2
        if mode != 0:
            I[I_MODE] = mode


@njit
def shin_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray,
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
        ok = math.isfinite(a0) and math.isfinite(a1) and math.isfinite(a2)
        gok = math.isfinite(g0) and math.isfinite(g1) and math.isfinite(g2)
        if not ok:
            a0 = a1 = a2 = 0.0
        if not gok:
            g0 = g1 = g2 = 0.0
        # gyro mode: the gyro is finite and its axis trained; a change loses the cycle
        gm = 1 if (gok and I[I_MOVING] >= P[P_READY]) else 0
        if (not ok) or (flags[t] & 16) != 0:
            I[I_BAD_N] = N if ok else N + 1
        if (not ok) or (flags[t] & 16) != 0 or (I[I_GYRO] >= 0 and gm != I[I_GYRO]):
            _lose_cycle(F, I)
            I[I_STILL_RUN] = 0
        I[I_GYRO] = gm
        j, an = push_sample(ring_acc, ring_f, ring_idx, N, R, K, fs, a0, a1, a2,
                            sample_idx[t], t_us[t], R_TUS, R_J, R_AN)
        if N >= K and ((not ok) or N - K < I[I_BAD_N]):
            j = 0.0  # no jerk across a bad sample
            ring_f[r, R_J] = 0.0
        if is_clipped(flags[t], a0, a1, a2, P[P_CLIP_MPS2]):
            I[I_LAST_CLIP_N] = N
        # long axis: a still period's mean, else a slow EMA of the acceleration
        if ok:
            if I[I_TH_INIT] == 0:
                F[F_L] = a0
                F[F_L + 1] = a1
                F[F_L + 2] = a2
                F[F_G] = a0
                F[F_G + 1] = a1
                F[F_G + 2] = a2
            F[F_L] += P[P_L_ALPHA] * (a0 - F[F_L])
            F[F_L + 1] += P[P_L_ALPHA] * (a1 - F[F_L + 1])
            F[F_L + 2] += P[P_L_ALPHA] * (a2 - F[F_L + 2])
            wn = math.sqrt(g0 * g0 + g1 * g1 + g2 * g2)
            if gok and wn < P[P_STILL_RADPS] and abs(an - G0) < P[P_STILL_ACC]:
                if I[I_STILL_RUN] == 0:
                    F[F_STILL_SUM] = 0.0
                    F[F_STILL_SUM + 1] = 0.0
                    F[F_STILL_SUM + 2] = 0.0
                I[I_STILL_RUN] += 1
                F[F_STILL_SUM] += a0
                F[F_STILL_SUM + 1] += a1
                F[F_STILL_SUM + 2] += a2
                if I[I_STILL_RUN] == int(P[P_STILL_N]):
                    for c in range(3):
                        F[F_LS + c] = F[F_STILL_SUM + c]
                    I[I_HAVE_STILL] = 1
            else:
                I[I_STILL_RUN] = 0
        if I[I_HAVE_STILL] == 1:
            l0 = F[F_LS]
            l1 = F[F_LS + 1]
            l2 = F[F_LS + 2]
        else:
            # no standing yet: the sensor axis nearest the mean specific force (a shin strap
            # puts one axis along the tibia; the mean itself leans back with the swing)
            l0 = l1 = l2 = 0.0
            if abs(F[F_L]) >= abs(F[F_L + 1]) and abs(F[F_L]) >= abs(F[F_L + 2]):
                l0 = 1.0 if F[F_L] >= 0.0 else -1.0
            elif abs(F[F_L + 1]) >= abs(F[F_L + 2]):
                l1 = 1.0 if F[F_L + 1] >= 0.0 else -1.0
            else:
                l2 = 1.0 if F[F_L + 2] >= 0.0 else -1.0
        ln = math.sqrt(l0 * l0 + l1 * l1 + l2 * l2)
        if ln > 0.0:
            l0 /= ln
            l1 /= ln
            l2 /= ln
        axial = a0 * l0 + a1 * l1 + a2 * l2
        ring_f[r, R_AX] = axial
        # sagittal axis: principal gyro axis, signed by the third moment
        if gok:
            w2 = g0 * g0 + g1 * g1 + g2 * g2
            if w2 > P[P_MOVING] * P[P_MOVING]:
                d = P[P_M_DECAY]
                moment_update(F, F_M, d, g0, g1, g2)
                if I[I_MOVING] < 1 << 40:
                    I[I_MOVING] += 1
                I[I_SINCE] += 1
                if I[I_MOVING] == 1:
                    diag_start(F, F_M, F_AX)
                if I[I_SINCE] >= P[P_UPDATE]:
                    I[I_SINCE] = 0
                    power_refresh(F, F_M, F_AX)
        u0 = F[F_AX]
        u1 = F[F_AX + 1]
        u2 = F[F_AX + 2]
        wr = g0 * u0 + g1 * u1 + g2 * u2
        if gok:
            F[F_S3] = P[P_M_DECAY] * F[F_S3] + (1.0 - P[P_M_DECAY]) * wr * wr * wr
        if F[F_S3] < 0.0:
            u0 = -u0
            u1 = -u1
            u2 = -u2
            wr = -wr
        ring_f[r, R_W] = wr
        if N == 0:
            F[F_WSM] = wr
        F[F_WSM] += P[P_W_ALPHA] * (wr - F[F_WSM])
        w = F[F_WSM]
        # shank angle (+ foot ahead): gravity tracked in the sensor frame (dG/dt = -ω×G, pulled
        # toward the specific force: the linear acceleration averages out over strides), its
        # angle about u from the long axis (projected into the sagittal plane)
        if I[I_TH_INIT] == 1:
            G0_ = F[F_G]
            G1_ = F[F_G + 1]
            G2_ = F[F_G + 2]
            F[F_G] = G0_ - dt * (g1 * G2_ - g2 * G1_)
            F[F_G + 1] = G1_ - dt * (g2 * G0_ - g0 * G2_)
            F[F_G + 2] = G2_ - dt * (g0 * G1_ - g1 * G0_)
            if ok:
                F[F_G] += P[P_C_ALPHA] * (a0 - F[F_G])
                F[F_G + 1] += P[P_C_ALPHA] * (a1 - F[F_G + 1])
                F[F_G + 2] += P[P_C_ALPHA] * (a2 - F[F_G + 2])
        elif ok:
            I[I_TH_INIT] = 1
        lu = l0 * u0 + l1 * u1 + l2 * u2
        p0 = l0 - lu * u0
        p1 = l1 - lu * u1
        p2 = l2 - lu * u2
        c0 = F[F_G + 1] * p2 - F[F_G + 2] * p1
        c1 = F[F_G + 2] * p0 - F[F_G] * p2
        c2 = F[F_G] * p1 - F[F_G + 1] * p0
        th = math.atan2(c0 * u0 + c1 * u1 + c2 * u2,
                        F[F_G] * p0 + F[F_G + 1] * p1 + F[F_G + 2] * p2)
        F[F_THETA] = th
        ring_f[r, R_TH] = th

        # ---- events -----------------------------------------------------------------------
        thr = max(P[P_JERK_FLOOR], P[P_JERK_FRAC] * F[F_JPK_EMA])
        ic_n = -1
        kind = 0
        ph = I[I_PHASE]
        if I[I_HAS_IC] == 1 and N - I[I_IC_N] == int(P[P_PEAK_WIN]):
            # the burst-peak EMA follows the contacts' bursts (burst contacts only)
            jp = 0.0
            for m in range(I[I_IC_N], N + 1):
                if ring_f[m % R, R_J] > jp:
                    jp = ring_f[m % R, R_J]
            # (a burst far below the level, e.g. the other leg's shock, does not pull it down)
            if F[F_JPK_EMA] == 0.0:
                F[F_JPK_EMA] = jp
            elif I[I_IC_KIND] == 0 and jp > P[P_JERK_KEEP] * F[F_JPK_EMA]:
                F[F_JPK_EMA] = 0.75 * F[F_JPK_EMA] + 0.25 * jp
            if I[I_PENDING] == 1:
                _emit_step(P, F, I, ring_f, ring_idx, -1, N, sample_idx[t], t_us[t],
                           steps_out, n_steps)
                n_steps += 1
                I[I_PENDING] = 0
        if gm == 1:
            F[F_SWANG] += wr * dt
            if F[F_SWANG] < F[F_THMIN]:
                F[F_THMIN] = F[F_SWANG]
            if ph == 0:
                if I[I_HAS_IC] == 1 and N - I[I_IC_N] >= P[P_MIN_CONTACT]:
                    if I[I_TO_N] < 0 or w < F[F_TOMIN]:
                        F[F_TOMIN] = w
                        I[I_TO_N] = N
                arm = max(P[P_ARM_RADPS], P[P_ARM_FRAC] * F[F_SWPK_EMA])
                if w > arm and (I[I_HAS_IC] == 0 or N - I[I_IC_N] >= P[P_MIN_CONTACT]):
                    if I[I_HAS_IC] == 1 and I[I_TO_N] >= 0 and N - I[I_IC_N] > P[P_PEAK_WIN]:
                        to_n = _toe_off(P, ring_f, N, I[I_IC_N] + int(P[P_MIN_CONTACT]),
                                        I[I_TO_N])
                        _emit_step(P, F, I, ring_f, ring_idx, to_n, N, sample_idx[t],
                                   t_us[t], steps_out, n_steps)
                        n_steps += 1
                    I[I_HAS_IC] = 0
                    I[I_TO_N] = -1
                    I[I_PHASE] = 1
                    F[F_SWPK] = w
                    I[I_LAST_EV_N] = N
            elif ph == 1:
                if w > F[F_SWPK]:
                    F[F_SWPK] = w
                elif w < P[P_LATE_FRAC] * F[F_SWPK]:
                    I[I_PHASE] = 2
                    I[I_ARM_N] = N
                    # (a "swing" far below the level, e.g. an uphill push-off bump that
                    # crossed the arming level, does not pull it down)
                    if F[F_SWPK_EMA] == 0.0:
                        F[F_SWPK_EMA] = F[F_SWPK]
                    elif F[F_SWPK] > P[P_SWPK_KEEP] * F[F_SWPK_EMA]:
                        F[F_SWPK_EMA] = 0.75 * F[F_SWPK_EMA] + 0.25 * F[F_SWPK]
                    F[F_WMIN] = w
                    I[I_WMIN_N] = N
                    F[F_SMIN] = 0.0
            else:
                # the contact ends the terminal swing's backward rotation: the slope of w,
                # steepest while the shank decelerates, flattens at once (the kink: the slope
                # just before it was still steep; a gradual flattening is the shank turning
                # round in the air, e.g. swing-leg retraction before a far-ahead landing), else
                # the minimum of w once the rate rose past it
                km = int(P[P_KINK_M])
                if N - km >= 0 and N - km >= I[I_BAD_N] and N - km >= I[I_ARM_N]:
                    sl = (wr - ring_f[(N - km) % R, R_W]) * fs / km
                    if sl < F[F_SMIN]:
                        F[F_SMIN] = sl
                    elif -P[P_KINK_CEIL] < F[F_SMIN] < -P[P_KINK_FLOOR] \
                            and sl > P[P_KINK_FRAC] * F[F_SMIN]:
                        sharp = True
                        if N - 2 * km >= I[I_BAD_N] and N - 2 * km >= I[I_ARM_N]:
                            sl0 = (ring_f[(N - km) % R, R_W] - ring_f[(N - 2 * km) % R, R_W]) \
                                * fs / km
                            sharp = sl0 < P[P_KINK_SHARP] * F[F_SMIN]
                        if sharp:
                            ic_n = N - int(km * (1.0 - P[P_KINK_FRAC]) + 0.5) \
                                + int(P[P_GYRO_SHIFT])
                            kind = 1
                if ic_n < 0:
                    if w < F[F_WMIN]:
                        F[F_WMIN] = w
                        I[I_WMIN_N] = N
                    elif w > F[F_WMIN] + P[P_MIN_RISE]:
                        ic_n = I[I_WMIN_N] + int(P[P_GYRO_SHIFT])
                        kind = 2
                if ic_n > N:
                    ic_n = N
                if ic_n >= 0 and ic_n <= I[I_IC_N]:
                    ic_n = -1
                if ic_n >= 0 and ring_f[ic_n % R, R_TH] < P[P_IC_ANGLE_MIN]:
                    # the foot lands under or ahead of the knee: a shank still far back is a
                    # jolt in mid-swing: the swing goes on
                    ic_n = -1
                    I[I_PHASE] = 1
                    F[F_SWPK] = w
                elif ic_n >= 0 and F[F_SWANG] - F[F_THMIN] < P[P_SWING_MIN]:
                    # no real swing before it (a shuffle, a start from standing): no contact;
                    # wait for the next swing
                    ic_n = -1
                    I[I_PHASE] = 0
        else:
            # accelerometer alone (a finite gyro whose axis is still untrained gives no
            # contact: the first moving half second is a start, not a gait the jerk level knows)
            armed = not gok
            if armed and (I[I_HAS_IC] == 1 or I[I_PREV_IC_N] >= 0):
                since = N - I[I_IC_N]
                need = max(P[P_REFRACT_MIN], P[P_REFRACT_FRAC] * F[F_STRIDE])
                armed = I[I_IC_N] < 0 or since >= need
            if armed:
                F[F_JPK_EMA] *= P[P_J_DECAY]
                if j > thr:
                    ic_n = _burst_onset(P, ring_f, N, R, P[P_JERK_LO] * thr) \
                        + int(P[P_IC_SHIFT])
                    if ic_n > N:
                        ic_n = N
                    if I[I_IC_N] >= 0 and ic_n <= I[I_IC_N]:
                        ic_n = -1
        if ic_n >= 0 and ic_n < I[I_BAD_N]:
            ic_n = I[I_BAD_N]
        if ic_n >= 0:
            if I[I_PENDING] == 1:
                # acc-only: the previous step's window is cut short by this contact
                _emit_step(P, F, I, ring_f, ring_idx, -1, N, sample_idx[t], t_us[t],
                           steps_out, n_steps)
                n_steps += 1
                I[I_PENDING] = 0
            prev = I[I_IC_N]
            if prev >= 0 and ic_n - prev <= P[P_STRIDE_MAX]:
                I[I_PREV_IC_N] = prev
                F[F_PREV_IC_TUS] = F[F_IC_TUS]
                if F[F_STRIDE] == 0.0:
                    F[F_STRIDE] = ic_n - prev
                elif ic_n - prev > 0.75 * F[F_STRIDE]:
                    F[F_STRIDE] = 0.7 * F[F_STRIDE] + 0.3 * (ic_n - prev)
            else:
                I[I_PREV_IC_N] = -1
                F[F_PREV_IC_TUS] = np.nan
            rr = ic_n % R
            F[F_SWANG] = 0.0
            F[F_THMIN] = 0.0
            I[I_IC_N] = ic_n
            I[I_IC_KIND] = kind
            I[I_HAS_IC] = 1
            I[I_LAST_EV_N] = N
            F[F_IC_TUS] = ring_f[rr, R_TUS]
            F[F_IC_IDX] = ring_idx[rr]
            I[I_TO_N] = -1
            I[I_PHASE] = 0
            if gm == 0:
                I[I_PENDING] = 1
            ics_out[n_ics, 0] = ring_idx[rr]
            ics_out[n_ics, 1] = ring_f[rr, R_TUS]
            ics_out[n_ics, 2] = sample_idx[t]
            ics_out[n_ics, 3] = kind
            ics_out[n_ics, 4] = t_us[t]
            n_ics += 1
        elif I[I_LAST_EV_N] >= 0 and N - I[I_LAST_EV_N] > P[P_STRIDE_MAX]:
            _lose_cycle(F, I)
        I[I_N] = N + 1
    return n_steps, n_ics


@njit
def shin_flush(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray,
               ring_idx: np.ndarray, steps_out: np.ndarray) -> int:
    """End of stream: the open step (IC decided, record not yet emitted) with toe-off unknown.
    Returns the number of records written (0 or 1); the step is closed (a second flush is
    empty)."""
    N = I[I_N] - 1
    if N < 0 or I[I_HAS_IC] == 0 or I[I_IC_N] < 0:
        return 0
    if I[I_GYRO] == 0 and I[I_PENDING] == 0:
        return 0  # acc only: its record was already emitted
    R = int(P[P_RING])
    _emit_step(P, F, I, ring_f, ring_idx, -1, N, ring_idx[N % R], ring_f[N % R, R_TUS],
               steps_out, 0)
    I[I_HAS_IC] = 0
    I[I_PENDING] = 0
    I[I_TO_N] = -1
    return 1
