"""Foot-sensor gait kernel: contacts, toe-offs, flat-foot and per-step metrics, sample by sample.

One pass per sample over a small state machine (stance -> swing -> stance):

- **Toe-off** (TO): the peak toes-down (plantar-flexion) pitch rate after flat-foot, declared
  once the rate has fallen back to half of that peak (Mariani 2013, IEEE TBME 60:155: TO at the
  foot's peak pitch velocity at push-off). A toes-up rotation faster than ``lift`` that has
  turned the foot by ``lift_deg`` after flat-foot and before any push-off means the foot was
  lifted without one (a shuffling or turning step; a brief jolt on rough ground turns it
  less): the step ends there with its toe-off unknown, and the swing goes on to the next
  contact (otherwise that landing's foot slap would be read as the toe-off).
- **Initial contact** (IC), armed after the swing's toes-up lobe: the onset of the impact burst
  (5 ms jerk above an adaptive threshold and risen by ``burst_rise`` × that threshold within
  the 5 ms: an impact steps the acceleration, while the late swing's rotation ramps the jerk
  over tens of ms; walked back to where it began; Falbriard 2018, Front Physiol 9:610 refine
  IC on acceleration) or, in walking, the end of the swing's toes-up
  rotation (the pitch-rate zero crossing, Rampp 2015, IEEE TBME 62:1089), declared
  ``walk_wait`` later unless a burst 2.5 times this walker's foot slap says the runner has
  started running. In running a contact without a burst above the threshold within
  ``burst_wait`` takes the largest burst since the zero crossing, else the zero crossing.
- **Flat-foot** (FF): the minimum of the smoothed |ω| in stance (the zero-velocity instant).
- **Strike angle** to the ground: the pitch at IC relative to flat-foot, the integral of the
  pitch rate from IC to FF (Falbriard 2020, Front Bioeng Biotechnol 8:65; integrating to the
  *following* flat-foot keeps the integral short, so gyro drift is negligible).
- **Grade**: the sole's pitch at FF, the angle about the pitch axis from gravity at FF (raw
  acceleration averaged over ``gravity_window`` up to FF) to the
  level reference (gravity of the first ≥ ``still_s`` standing period, else the mean of the
  first ``level_steps`` flat-foot vectors, taken as level ground), checked against the
  **stride-path level**: the strapdown below gives each stride's path slope from flat-foot to
  flat-foot in the gravity frame set at the first one (atan(Δup / Δforward): independent of
  the mounting and of any level reference), so path slope + the angle from a fixed anchor
  (the first used flat-foot gravity) to this flat-foot's gravity is, stride by stride, where
  level ground lies (the mounting's pitch offset). Its median over the first ``path_strides``
  usable strides (path within ±``path_slope_max``, stride ≥ ``path_stride_min``, turning less
  than ``path_turn_max`` about the vertical: the strapdown is sagittal), then a slow clipped
  update (``path_gain``, ``path_step``: a running median's robustness), is the stride-path
  level. Once the reference is complete (standing, or all ``level_steps`` flat-foots), from
  ``path_strides_min`` strides on and while the first ``path_strides`` are learnt, when it
  lies further than ``path_disagree`` + 2 standard errors of its median (1.253 × max(1.4826
  MAD, ``path_noise_min``) / √n) from the reference, the reference was taken on a slope (a
  session that starts on a descent, standing on one) and the stride-path level replaces it
  for good (``S_LEVEL_KIND`` 3). Otherwise the reference stays: on level ground it is less
  noisy (the path slope carries the strapdown's errors). A provisional reference (flat-foot
  mean, no standing) gives no grade (NaN) until that check has run once (or, without usable
  strides, until ``level_skip + level_steps + path_strides`` flat-foots). A mounting change
  or a flip of the toes-up sign forgets it. Zero-velocity-update gait integration: Foxlin
  2005 (IEEE CG&A 25:38), Skog 2010 (IEEE TBME 57:2657, zero-velocity detection), Rampp 2015
  (IEEE TBME 62:1089, stride integration with linear dedrifting) and gaitmap's ``RtsKalman`` (an
  error-state Kalman filter with Rauch-Tung-Striebel smoothing; Küderle 2024, IEEE OJEMB
  5:163) give a stride's height change this way.
- **Stride length / push-off**: a sagittal-plane strapdown between flat-foot instants
  (zero-velocity update, Foxlin 2005, IEEE CG&A 25:38), linear velocity-drift removal; the
  path slope (``S_PATH_DEG``) comes with it.
- **Toes-up sign**: comes with the axis from the mounting kernel; angles are reported only while
  it is confirmed and did not flip during the step.

All times are in samples inside; the step record carries device sample indices and device times
(µs) looked up from a ring buffer. Units: acc m/s², gyro rad/s, angles rad inside, deg out.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from stridecore.dsp.kernels.jerk import is_clipped, push_sample

G0 = 9.80665

# ---- params (float64 vector) ---------------------------------------------------------------
P_FS = 0
P_JERK_K = 1  # jerk lag, samples
P_W_ALPHA = 2  # |ω| EMA coefficient
P_A_ALPHA = 3  # acc EMA coefficient
P_ARM_RADPS = 4  # toes-up swing peak needed to arm IC
P_MIN_SWING = 5  # samples from TO before IC may be armed
P_MIN_CONTACT = 6  # samples from IC before TO may be declared
P_FF_DELAY = 7  # samples after IC before FF may be taken
P_TO_RADPS = 8  # toes-down peak rate needed for TO
P_JERK_FLOOR = 9  # m/s³
P_JERK_FRAC = 10  # of the running burst-peak level
P_JERK_LO = 11  # walk-back threshold as a fraction of the high threshold
P_BURST_WAIT = 12  # samples after the zero crossing (running) before falling back to it
P_WALKBACK = 13  # samples, max walk back from the trigger to the burst onset
P_PEAK_WIN = 14  # samples after IC for peak |a|
P_STILL_RADPS = 15
P_STILL_ACC = 16  # m/s², | |a| - g | while still
P_STILL_N = 17  # samples of still for the level reference
P_STANCE_MAX = 18  # samples: a longer stance is standing (contact without TO)
P_SWING_MAX = 19  # samples: a longer swing loses the cycle
P_LEVEL_STEPS = 20
P_DUTY_WALK = 21  # contact / stride above this is walking
P_IC_SHIFT = 22  # samples added to a burst onset
P_CLIP_MPS2 = 23  # an axis at or above this is clipped (0: use flags only)
P_RING = 24  # ring length, samples
P_CLIP_PRE = 25  # samples before IC checked for clipping
P_FF_RADPS = 26  # smoothed |ω| below which the foot is flat (toe-off may follow)
P_LEVEL_SKIP = 27  # first steps not used for the provisional level
P_FF_HOLD = 28  # samples the foot must stay flat before toe-off may follow
P_WALK_FLAT = 29  # samples of flat stance before toe-off that say walking (no step yet)
P_WALK_WAIT = 31  # samples after the walking zero crossing before it is the contact
P_JERK_MIN = 30  # m/s³, smallest burst taken as a contact at the timeout
P_FF_ACC_TOL = 32  # m/s²: | |a| - g | at flat-foot above this voids angles and grade
P_GRADE_MAX = 33  # rad: a steeper flat-foot voids angles and grade
P_WALK_STRIDE = 34  # samples: a walking stride is longer than this
P_WALK_RISE = 35  # walking back from a burst stops where the jerk rises by this factor
P_RUN_JERK = 36  # m/s³: a burst this strong after a walking zero crossing is a running step
P_RUN_FACTOR = 37  # ... or this many times the walker's foot-slap jerk
P_GRAV_N = 38  # samples before the flat-foot instant averaged (with it) for its gravity
P_LEARN_MIN = 39  # strides before the stride-path level may replace the reference
P_LEARN_MAX = 40  # strides the stride-path level is learnt from (<= N_LBUF)
P_LEARN_T = 41  # rad: stride-path level vs the reference beyond this (+ 2 SE) replaces it
P_PATH_MAX = 42  # rad: a steeper stride path is not used for the level
P_PATH_MIN_M = 43  # m: a shorter stride is not used for the level
P_PATH_GAIN = 44  # after P_LEARN_MAX strides: the level moves this fraction toward each stride
P_PATH_STEP = 45  # rad: ... of its offset clipped to this (a running median's robustness)
P_PATH_YAW = 46  # rad: a stride that turns more than this is not used for the level
P_PATH_SD_MIN = 47  # rad: the per-stride spread taken at least this (few strides, tight MAD)
P_BURST_RISE = 48  # a burst's jerk rises by this × the threshold within the jerk lag
P_LIFT_RADPS = 49  # toes-up rate after flat-foot, before any push-off: the foot was lifted
P_LIFT_RAD = 50  # ... once that rotation has turned the foot this far (rad)
N_P = 51

# ---- step record fields --------------------------------------------------------------------
S_IC_IDX = 0
S_IC_TUS = 1
S_TO_IDX = 2
S_TO_TUS = 3
S_FF_IDX = 4
S_FF_TUS = 5
S_EMIT_IDX = 6
S_PREV_IC_TUS = 7
S_FSA_DEG = 8
S_FSA_WORLD_DEG = 9
S_GRADE_DEG = 10
S_PEAK_G = 11
S_PUSH_MPS = 12
S_STRIDE_M = 13
S_MODE = 14  # 1 walk, 2 run, 0 unknown
S_CLIPPED = 15
S_MOUNT_CHANGED = 16
S_IC_KIND = 17  # 0 impact burst, 1 zero crossing
S_LEVEL_KIND = 18  # 0 none, 1 provisional (flat-foot mean), 2 standing still, 3 stride path
S_EMIT_TUS = 19
S_FLAT_TUS = 20
S_PATH_DEG = 21  # slope of the stride path from the previous flat-foot (strapdown), + uphill
N_S = 22

# IC events: sample idx, t_us, emit sample idx, kind (0 burst, 1 zero crossing, 2 late burst),
# emit t_us
N_E = 5

# ---- integer state -------------------------------------------------------------------------
I_N = 0  # samples seen
I_PHASE = 1  # 0 init, 1 stance, 2 swing
I_HAS_IC = 2
I_IC_N = 3
I_FF_N = 4
I_PMIN_N = 5
I_TO_N = 6
I_ARMED = 7
I_ZC_N = 8
I_STILL_RUN = 9
I_LEVEL_KIND = 10
I_N_LEVEL = 11
I_MODE = 12  # gait mode of the last step (0 unknown, 1 walk, 2 run)
I_MOUNT_PENDING = 13
I_IC_KIND = 14
I_PREV_IC_N = 15
I_LAST_CLIP_N = 16
I_A_VALID = 17
I_B_VALID = 18
I_S_VALID = 19
I_SIGN_SURE = 20  # the mount stage's toes-up sign is confirmed
I_JPK_DONE = 21
I_N_FF = 22  # flat-foot steps seen
I_FLAT_N = 23  # first sample of the first flat period after IC
I_LOW_RUN = 24  # consecutive samples with smoothed |ω| below P_FF_RADPS
I_FF_OK = 25  # a flat period of P_FF_HOLD samples has been seen in this stance
I_CAND_N = 26  # onset of the largest sub-threshold burst since the zero crossing
I_FLIPPED = 27  # the toes-up sign flipped since this step's IC
I_RULE = 28  # IC rule of this swing: 1 walking, else running
I_N_PATH = 29  # strides in the stride-path level buffer
I_PATH_ON = 30  # the stride-path level has replaced the reference
N_I = 31

# ---- float state ---------------------------------------------------------------------------
F_WSM = 0
F_AEMA = 1  # 3
F_THETA_IC = 4
F_FF_BEST = 5
F_THETA_AT_FF = 6
F_GFF = 7  # 3
F_PMIN = 10
F_SWING_PEAK = 11
F_PEAK = 12
F_JPK_EMA = 13
F_JPK_CUR = 14
F_GREF = 15  # 3
F_LEVEL_SUM = 18  # 3
F_STILL_SUM = 21  # 3
F_IC_TUS = 25
F_IC_IDX = 26
F_PREV_IC_TUS = 27
F_G = 28  # gravity magnitude for the strapdown
# integrators: A (from the previous FF), B (from the current FF candidate), S (A at the FF)
F_A = 32
F_B = 48
F_S = 64
N_INT = 16
F_CAND_J = 81
F_SWING_LOW = 82  # most toes-down pitch rate of this swing
F_WIN_J = 83  # largest jerk since the walking zero crossing
F_WALK_JPK = 84  # this walker's foot-slap jerk (EMA)
F_ANCHOR = 85  # 3: unit flat-foot gravity the stride-path offsets are measured from
F_LAM = 88  # stride-path level: the level's angle from the anchor (median of the buffer)
F_LBUF = 89  # N_LBUF: per stride, path slope + angle from the anchor to the flat-foot gravity
N_LBUF = 64
F_UP = F_LBUF + N_LBUF  # rad: the toes-up rotation in progress (while faster than half lift)
N_F = F_UP + 1
# integrator layout (offsets)
J_THETA = 0
J_VF = 1
J_VU = 2
J_DF = 3
J_DU = 4
J_UP = 5  # 3
J_FW = 8  # 3
J_SUMTH = 11
J_COUNT = 12
J_N0 = 13
J_YAW = 14  # rotation about the vertical since the flat-foot (a turn)


def init_state(ring: int) -> dict[str, np.ndarray]:
    """Fresh state arrays for a ring of ``ring`` samples."""
    F = np.zeros(N_F)
    F[F_FF_BEST] = np.inf
    F[F_PREV_IC_TUS] = np.nan
    F[F_G] = G0
    I = np.zeros(N_I, np.int64)
    I[I_IC_N] = -1
    I[I_FF_N] = -1
    I[I_PMIN_N] = -1
    I[I_TO_N] = -1
    I[I_ZC_N] = -1
    I[I_PREV_IC_N] = -1
    I[I_CAND_N] = -1
    I[I_LAST_CLIP_N] = -(1 << 40)
    return {
        "F": F,
        "I": I,
        "ring_acc": np.zeros((ring, 3)),
        "ring_f": np.zeros((ring, 4)),  # t_us, jerk, |a|, pitch rate (signed in force)
        "ring_idx": np.zeros(ring, np.int64),
    }


@njit
def _int_reset(F: np.ndarray, o: int, aema: np.ndarray, u0: float, u1: float, u2: float,
               n0: int) -> bool:
    # frame at flat-foot: up = gravity direction with its pitch-axis part removed
    d = aema[0] * u0 + aema[1] * u1 + aema[2] * u2
    x0 = aema[0] - d * u0
    x1 = aema[1] - d * u1
    x2 = aema[2] - d * u2
    nn = math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
    for k in range(N_INT):
        F[o + k] = 0.0
    if nn < 1.0:
        return False
    x0 /= nn
    x1 /= nn
    x2 /= nn
    F[o + J_UP] = x0
    F[o + J_UP + 1] = x1
    F[o + J_UP + 2] = x2
    # forward = up x u (u toes-up axis)
    F[o + J_FW] = x1 * u2 - x2 * u1
    F[o + J_FW + 1] = x2 * u0 - x0 * u2
    F[o + J_FW + 2] = x0 * u1 - x1 * u0
    F[o + J_N0] = n0
    return True


@njit
def _int_step(F: np.ndarray, o: int, a0: float, a1: float, a2: float, g0: float, g1: float,
              g2: float, pt: float, dt: float, g: float) -> None:
    th = F[o + J_THETA] + pt * dt
    F[o + J_THETA] = th
    af = a0 * F[o + J_FW] + a1 * F[o + J_FW + 1] + a2 * F[o + J_FW + 2]
    au = a0 * F[o + J_UP] + a1 * F[o + J_UP + 1] + a2 * F[o + J_UP + 2]
    c = math.cos(th)
    s = math.sin(th)
    # the vertical in the sensor frame, pitched by th from the flat-foot: up c + forward s
    wf_ = g0 * F[o + J_FW] + g1 * F[o + J_FW + 1] + g2 * F[o + J_FW + 2]
    wu_ = g0 * F[o + J_UP] + g1 * F[o + J_UP + 1] + g2 * F[o + J_UP + 2]
    F[o + J_YAW] += (wu_ * c + wf_ * s) * dt
    wf = af * c - au * s
    wu = af * s + au * c - g
    F[o + J_VF] += wf * dt
    F[o + J_VU] += wu * dt
    F[o + J_DF] += F[o + J_VF] * dt
    F[o + J_DU] += F[o + J_VU] * dt
    F[o + J_SUMTH] += th
    F[o + J_COUNT] += 1.0


@njit
def _signed_angle(a0, a1, a2, b0, b1, b2, u0, u1, u2) -> float:
    # angle from a to b about u, both projected onto the plane normal to u
    da = a0 * u0 + a1 * u1 + a2 * u2
    db = b0 * u0 + b1 * u1 + b2 * u2
    a0, a1, a2 = a0 - da * u0, a1 - da * u1, a2 - da * u2
    b0, b1, b2 = b0 - db * u0, b1 - db * u1, b2 - db * u2
    c0 = a1 * b2 - a2 * b1
    c1 = a2 * b0 - a0 * b2
    c2 = a0 * b1 - a1 * b0
    return math.atan2(c0 * u0 + c1 * u1 + c2 * u2, a0 * b0 + a1 * b1 + a2 * b2)


@njit
def _path_reset(F: np.ndarray, I: np.ndarray) -> None:
    # forget the stride-path level (a mounting change, a flip of the toes-up sign)
    I[I_N_PATH] = 0
    I[I_PATH_ON] = 0
    F[F_LAM] = 0.0


@njit
def _path_learn(P: np.ndarray, F: np.ndarray, I: np.ndarray, gf0: float, gf1: float,
                gf2: float, u0: float, u1: float, u2: float, path: float,
                stride_m: float) -> bool:
    """One stride for the stride-path level: its path slope (from the previous flat-foot, in
    the gravity frame, so whatever the mounting) plus the angle about the pitch axis from the
    anchor to this flat-foot's gravity is where level ground lies from the anchor. Kept for the
    first ``P_LEARN_MAX`` usable strides; the level is their median. Returns whether used."""
    n = I[I_N_PATH]
    if not abs(path) <= P[P_PATH_MAX] or not stride_m >= P[P_PATH_MIN_M]:
        return False
    nn = math.sqrt(gf0 * gf0 + gf1 * gf1 + gf2 * gf2)
    if not nn > 0.0:
        return False
    if n == 0:
        F[F_ANCHOR] = gf0 / nn
        F[F_ANCHOR + 1] = gf1 / nn
        F[F_ANCHOR + 2] = gf2 / nn
    lam = path + _signed_angle(F[F_ANCHOR], F[F_ANCHOR + 1], F[F_ANCHOR + 2], gf0, gf1, gf2,
                               u0, u1, u2)
    if n >= P[P_LEARN_MAX]:
        # learnt: from now on a slow, clipped update (a running median's robustness)
        d = min(max(lam - F[F_LAM], -P[P_PATH_STEP]), P[P_PATH_STEP])
        F[F_LAM] += P[P_PATH_GAIN] * d
        I[I_N_PATH] = n + 1
        return True
    F[F_LBUF + n] = lam
    n += 1
    I[I_N_PATH] = n
    F[F_LAM] = np.median(F[F_LBUF:F_LBUF + n])
    return True


@njit
def _path_disagrees(P: np.ndarray, F: np.ndarray, I: np.ndarray, lam_ref: float) -> bool:
    """The stride-path level (``P_LEARN_MIN`` strides or more) is further than ``P_LEARN_T``
    plus two standard errors of its median (1.253 × max(1.4826 MAD, ``P_PATH_SD_MIN``) / √n)
    from ``lam_ref``."""
    n = I[I_N_PATH]
    if n < P[P_LEARN_MIN] or n < 1 or n > P[P_LEARN_MAX]:
        return False
    lam = F[F_LAM]
    mad = np.median(np.abs(F[F_LBUF:F_LBUF + n] - lam))
    se = 1.253 * max(1.4826 * mad, P[P_PATH_SD_MIN]) / math.sqrt(n)
    return abs(lam - lam_ref) > P[P_LEARN_T] + 2.0 * se


@njit
def _ring_pos(n: int, R: int) -> int:
    return n % R


@njit
def _burst_onset(P: np.ndarray, ring_f: np.ndarray, N: int, R: int, lo: float) -> int:
    """First sample of the jerk burst that is above ``lo`` at sample ``N``: walk back while the
    jerk stays above ``lo`` and does not rise again (a swing's jerk before the impact), at most
    ``P_WALKBACK`` samples."""
    m = 1
    while m <= P[P_WALKBACK] and m < R and N - m >= 0:
        jm = ring_f[(N - m) % R, 1]
        if jm <= lo or jm > P[P_WALK_RISE] * ring_f[(N - m + 1) % R, 1]:
            break
        m += 1
    return N - m + 1


@njit
def _begin_stance(F: np.ndarray, I: np.ndarray) -> None:
    I[I_PHASE] = 1
    I[I_FF_N] = -1
    I[I_PMIN_N] = -1
    I[I_FLAT_N] = -1
    I[I_LOW_RUN] = 0
    I[I_FF_OK] = 0
    F[F_FF_BEST] = np.inf
    F[F_PMIN] = 0.0
    F[F_THETA_IC] = 0.0
    F[F_UP] = 0.0


@njit
def _disarm(F: np.ndarray, I: np.ndarray) -> None:
    # no contact search in progress: not armed, no zero crossing, no candidate burst
    I[I_ARMED] = 0
    I[I_ZC_N] = -1
    I[I_CAND_N] = -1
    F[F_CAND_J] = 0.0


@njit
def _begin_swing(P: np.ndarray, F: np.ndarray, I: np.ndarray, to_n: int) -> None:
    # to swing from toe-off sample to_n. The IC rule follows the last step's gait mode; before
    # any step, a long flat stance (> P_WALK_FLAT) says walking
    I[I_RULE] = I[I_MODE]
    if I[I_MODE] == 0 and I[I_FLAT_N] >= 0:
        I[I_RULE] = 1 if to_n - I[I_FLAT_N] > P[P_WALK_FLAT] else 2
    I[I_TO_N] = to_n
    I[I_PHASE] = 2
    I[I_HAS_IC] = 0
    _disarm(F, I)
    F[F_SWING_PEAK] = 0.0
    F[F_SWING_LOW] = 0.0
    for k in range(N_INT):
        F[F_A + k] = F[F_B + k]
    I[I_A_VALID] = I[I_B_VALID]
    I[I_B_VALID] = 0


@njit
def _lose_cycle(F: np.ndarray, I: np.ndarray) -> None:
    # a gap, or a swing/stance too long: forget the cycle, keep calibration
    I[I_HAS_IC] = 0
    I[I_A_VALID] = 0
    I[I_B_VALID] = 0
    I[I_S_VALID] = 0
    _disarm(F, I)
    I[I_IC_N] = -1
    I[I_PREV_IC_N] = -1
    F[F_PREV_IC_TUS] = np.nan
    _begin_stance(F, I)


@njit
def foot_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_acc: np.ndarray,
              ring_f: np.ndarray, ring_idx: np.ndarray, sample_idx: np.ndarray,
              t_us: np.ndarray, acc: np.ndarray, gyr: np.ndarray, flags: np.ndarray,
              axis: np.ndarray, mflags: np.ndarray, steps_out: np.ndarray,
              ics_out: np.ndarray) -> tuple[int, int]:
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
        ok = (math.isfinite(a0) and math.isfinite(a1) and math.isfinite(a2)
              and math.isfinite(g0) and math.isfinite(g1) and math.isfinite(g2))
        if not ok:
            a0 = a1 = a2 = 0.0
            g0 = g1 = g2 = 0.0
        if (not ok) or (flags[t] & 16) != 0:  # missing data or GAP_BEFORE: no event across
            _lose_cycle(F, I)
            I[I_STILL_RUN] = 0
        j, an = push_sample(ring_acc, ring_f, ring_idx, N, R, K, fs, a0, a1, a2,
                            sample_idx[t], t_us[t], 0, 1, 2)
        wn = math.sqrt(g0 * g0 + g1 * g1 + g2 * g2)
        if N == 0:
            F[F_WSM] = wn
            F[F_AEMA] = a0
            F[F_AEMA + 1] = a1
            F[F_AEMA + 2] = a2
        F[F_WSM] += P[P_W_ALPHA] * (wn - F[F_WSM])
        F[F_AEMA] += P[P_A_ALPHA] * (a0 - F[F_AEMA])
        F[F_AEMA + 1] += P[P_A_ALPHA] * (a1 - F[F_AEMA + 1])
        F[F_AEMA + 2] += P[P_A_ALPHA] * (a2 - F[F_AEMA + 2])
        u0 = axis[t, 0]  # the toes-up pitch axis (signed by the mount stage)
        u1 = axis[t, 1]
        u2 = axis[t, 2]
        I[I_SIGN_SURE] = 1 if (mflags[t] & 4) != 0 else 0
        if mflags[t] & 8:
            # the sign flipped: what was integrated with the old sign is void, the swing's
            # toes-up peak is the old toes-down one
            I[I_FLIPPED] = 1
            F[F_SWING_PEAK] = -F[F_SWING_LOW]
            I[I_A_VALID] = 0
            I[I_B_VALID] = 0
            I[I_S_VALID] = 0
            # strides learnt with the other sign are void
            _path_reset(F, I)
            if I[I_PHASE] == 2:
                # the mount stage votes at a heel rise just after a flat foot: a "swing" in
                # force then was read with the wrong sign (its toe-off was a toes-up peak, the
                # foot was down). Back to a stance without contact whose flat part has just
                # ended, so the toe-off that follows starts the first real swing
                _lose_cycle(F, I)
                I[I_FF_OK] = 1
        pt = g0 * u0 + g1 * u1 + g2 * u2
        ring_f[r, 3] = pt
        if mflags[t] & 2:
            I[I_MOUNT_PENDING] = 1
            I[I_LEVEL_KIND] = 0
            I[I_N_LEVEL] = 0
            I[I_N_FF] = 0
            F[F_LEVEL_SUM] = 0.0
            F[F_LEVEL_SUM + 1] = 0.0
            F[F_LEVEL_SUM + 2] = 0.0
            _path_reset(F, I)
        # clipping
        if is_clipped(flags[t], a0, a1, a2, P[P_CLIP_MPS2]):
            I[I_LAST_CLIP_N] = N
        # standing still: the level reference
        if ok and wn < P[P_STILL_RADPS] and abs(an - G0) < P[P_STILL_ACC]:
            if I[I_STILL_RUN] == 0:
                F[F_STILL_SUM] = 0.0
                F[F_STILL_SUM + 1] = 0.0
                F[F_STILL_SUM + 2] = 0.0
            I[I_STILL_RUN] += 1
            F[F_STILL_SUM] += a0
            F[F_STILL_SUM + 1] += a1
            F[F_STILL_SUM + 2] += a2
            if I[I_STILL_RUN] == int(P[P_STILL_N]) and I[I_LEVEL_KIND] < 2:
                m = int(P[P_STILL_N])
                x0 = F[F_STILL_SUM] / m
                x1 = F[F_STILL_SUM + 1] / m
                x2 = F[F_STILL_SUM + 2] / m
                F[F_GREF] = x0
                F[F_GREF + 1] = x1
                F[F_GREF + 2] = x2
                F[F_G] = math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
                I[I_LEVEL_KIND] = 2
        else:
            I[I_STILL_RUN] = 0
        # strapdown integrators
        if I[I_A_VALID]:
            _int_step(F, F_A, a0, a1, a2, g0, g1, g2, pt, dt, F[F_G])
        if I[I_B_VALID]:
            _int_step(F, F_B, a0, a1, a2, g0, g1, g2, pt, dt, F[F_G])

        ph = I[I_PHASE]
        if ph == 0:
            _begin_stance(F, I)
            ph = 1
        if ph == 1:
            dur = N - I[I_IC_N]
            F[F_THETA_IC] += pt * dt
            if pt > 0.5 * P[P_LIFT_RADPS]:
                F[F_UP] += pt * dt
            else:
                F[F_UP] = 0.0
            if I[I_HAS_IC] == 1:
                if dur <= P[P_PEAK_WIN]:
                    if an > F[F_PEAK]:
                        F[F_PEAK] = an
                    if j > F[F_JPK_CUR]:
                        F[F_JPK_CUR] = j
                elif I[I_JPK_DONE] == 0:
                    I[I_JPK_DONE] = 1
                    if I[I_IC_KIND] == 0:
                        F[F_JPK_EMA] = 0.75 * F[F_JPK_EMA] + 0.25 * F[F_JPK_CUR]
            can_ff = I[I_HAS_IC] == 0 or dur >= P[P_FF_DELAY]
            if can_ff and F[F_WSM] < P[P_FF_RADPS]:
                I[I_LOW_RUN] += 1
                if I[I_LOW_RUN] >= P[P_FF_HOLD] and I[I_FF_OK] == 0:
                    I[I_FF_OK] = 1
                    I[I_FLAT_N] = N - I[I_LOW_RUN] + 1
            else:
                I[I_LOW_RUN] = 0
            if can_ff and F[F_WSM] < F[F_FF_BEST] and F[F_PMIN] > -P[P_TO_RADPS]:
                F[F_FF_BEST] = F[F_WSM]
                I[I_FF_N] = N
                # trapezoid rule: the flat-foot sample counts half
                F[F_THETA_AT_FF] = F[F_THETA_IC] - 0.5 * pt * dt
                F[F_GFF] = F[F_AEMA]
                F[F_GFF + 1] = F[F_AEMA + 1]
                F[F_GFF + 2] = F[F_AEMA + 2]
                for k in range(N_INT):
                    F[F_S + k] = F[F_A + k]
                I[I_S_VALID] = I[I_A_VALID]
                I[I_B_VALID] = 1 if _int_reset(F, F_B, F[F_AEMA:F_AEMA + 3], u0, u1, u2,
                                               N) else 0
                F[F_PMIN] = 0.0
                I[I_PMIN_N] = -1
            if I[I_FF_N] >= 0 and I[I_FF_OK] == 1:
                if pt < F[F_PMIN]:
                    F[F_PMIN] = pt
                    I[I_PMIN_N] = N
                if (F[F_PMIN] < -P[P_TO_RADPS] and pt > 0.5 * F[F_PMIN]
                        and (I[I_HAS_IC] == 0 or dur >= P[P_MIN_CONTACT])):
                    if I[I_HAS_IC] == 1:
                        _finish_step(P, F, I, ring_acc, ring_f, ring_idx, u0, u1, u2, N,
                                     sample_idx[t], t_us[t], steps_out, n_steps)
                        n_steps += 1
                    _begin_swing(P, F, I, I[I_PMIN_N])
                elif (I[I_HAS_IC] == 1 and P[P_LIFT_RADPS] > 0.0 and pt > P[P_LIFT_RADPS]
                      and F[F_UP] > P[P_LIFT_RAD] and F[F_PMIN] > -P[P_TO_RADPS]
                      and dur >= P[P_MIN_CONTACT]):
                    # a toes-up rotation after flat-foot, before any push-off: the foot was
                    # lifted without one (a shuffling or turning step) and is already swinging
                    # to its next contact. The step ends with its toe-off unknown
                    I[I_PMIN_N] = -1
                    _finish_step(P, F, I, ring_acc, ring_f, ring_idx, u0, u1, u2, N,
                                 sample_idx[t], t_us[t], steps_out, n_steps)
                    n_steps += 1
                    _begin_swing(P, F, I, N)
                    F[F_SWING_PEAK] = pt
            if I[I_HAS_IC] == 1 and dur > P[P_STANCE_MAX]:
                # standing after the contact: emit it without toe-off, keep the stance
                I[I_PMIN_N] = -1
                _finish_step(P, F, I, ring_acc, ring_f, ring_idx, u0, u1, u2, N, sample_idx[t],
                             t_us[t], steps_out, n_steps)
                n_steps += 1
                I[I_HAS_IC] = 0
                I[I_IC_N] = -1
                I[I_PREV_IC_N] = -1
                F[F_PREV_IC_TUS] = np.nan
        elif ph == 2:
            sw = N - I[I_TO_N]
            if pt > F[F_SWING_PEAK]:
                F[F_SWING_PEAK] = pt
            if pt < F[F_SWING_LOW]:
                F[F_SWING_LOW] = pt
            if (I[I_ARMED] == 0 and sw >= P[P_MIN_SWING] and F[F_SWING_PEAK] >= P[P_ARM_RADPS]
                    and pt < 0.5 * F[F_SWING_PEAK]):
                I[I_ARMED] = 1
            ic_n = -1
            kind = 0
            if I[I_ARMED] == 1 and I[I_RULE] == 1 and I[I_ZC_N] >= 0:
                # walking, past the end of the toes-up rotation: the contact is the zero
                # crossing unless, within P_WALK_WAIT, a burst far stronger than this walker's
                # foot slap says the runner has started running (then its onset)
                if j > F[F_WIN_J]:
                    F[F_WIN_J] = j
                strong = max(P[P_RUN_JERK], P[P_RUN_FACTOR] * F[F_WALK_JPK])
                if j > strong:
                    lo = P[P_JERK_LO] * strong
                    ic_n = _burst_onset(P, ring_f, N, R, lo)
                elif N - I[I_ZC_N] >= P[P_WALK_WAIT]:
                    ic_n = I[I_ZC_N]
                    kind = 1
                    if F[F_WALK_JPK] == 0.0:
                        F[F_WALK_JPK] = F[F_WIN_J]
                    else:
                        F[F_WALK_JPK] = 0.75 * F[F_WALK_JPK] + 0.25 * F[F_WIN_J]
            elif I[I_ARMED] == 1:
                thr = max(P[P_JERK_FLOOR], P[P_JERK_FRAC] * F[F_JPK_EMA])
                # an impact is a step in acceleration: its jerk rises within one jerk lag (the
                # late swing's rotation ramps it up over tens of ms, a later burst is the contact)
                if j > thr and j - (ring_f[(N - K) % R, 1] if N >= K else 0.0) \
                        > P[P_BURST_RISE] * thr:
                    lo = P[P_JERK_LO] * thr
                    ic_n = _burst_onset(P, ring_f, N, R, lo) + int(P[P_IC_SHIFT])
                    if ic_n > N:
                        ic_n = N
                if ic_n < 0 and I[I_ZC_N] < 0 and pt <= 0.0:
                    # the toes-up rotation has ended: the sample nearer to zero
                    zc = N
                    if N >= 1 and abs(ring_f[(N - 1) % R, 3]) < abs(pt):
                        zc = N - 1
                    I[I_ZC_N] = zc
                    F[F_WIN_J] = j
                if ic_n < 0 and I[I_ZC_N] >= 0 and I[I_RULE] != 1:
                    # running, no burst above the adaptive threshold yet: remember the
                    # largest burst since the zero crossing (its onset), take it at the timeout
                    if j > F[F_CAND_J] and j > P[P_JERK_MIN]:
                        F[F_CAND_J] = j
                        lo = P[P_JERK_LO] * j
                        I[I_CAND_N] = _burst_onset(P, ring_f, N, R, lo)
                    if N - I[I_ZC_N] >= P[P_BURST_WAIT]:
                        if I[I_CAND_N] >= 0:
                            ic_n = I[I_CAND_N]
                            kind = 2
                        else:
                            ic_n = I[I_ZC_N]
                            kind = 1
            if ic_n >= 0:
                # initial contact at sample ic_n (<= N)
                I[I_PREV_IC_N] = I[I_IC_N] if I[I_IC_N] >= 0 else -1
                F[F_PREV_IC_TUS] = F[F_IC_TUS] if I[I_IC_N] >= 0 else np.nan
                if N - I[I_TO_N] > P[P_SWING_MAX]:
                    I[I_PREV_IC_N] = -1
                    F[F_PREV_IC_TUS] = np.nan
                I[I_IC_N] = ic_n
                I[I_IC_KIND] = kind
                rr = ic_n % R
                F[F_IC_TUS] = ring_f[rr, 0]
                F[F_IC_IDX] = ring_idx[rr]
                I[I_HAS_IC] = 1
                I[I_FLIPPED] = 0
                _begin_stance(F, I)
                # the contact lies, on average, half a sample before the first sample that
                # shows it: that half sample plus the trapezoid's half of sample ic_n
                th = ring_f[ic_n % R, 3] * dt
                pk = 0.0
                jp = 0.0
                for m in range(ic_n + 1, N + 1):
                    q = m % R
                    th += ring_f[q, 3] * dt
                    if m - ic_n > P[P_PEAK_WIN]:
                        continue
                    if ring_f[q, 2] > pk:
                        pk = ring_f[q, 2]
                    if ring_f[q, 1] > jp:
                        jp = ring_f[q, 1]
                if ring_f[rr, 2] > pk:
                    pk = ring_f[rr, 2]
                F[F_THETA_IC] = th
                F[F_PEAK] = pk
                F[F_JPK_CUR] = jp
                I[I_JPK_DONE] = 0
                ics_out[n_ics, 0] = ring_idx[rr]
                ics_out[n_ics, 1] = ring_f[rr, 0]
                ics_out[n_ics, 2] = sample_idx[t]
                ics_out[n_ics, 3] = kind
                ics_out[n_ics, 4] = t_us[t]
                n_ics += 1
            elif sw > P[P_SWING_MAX]:
                _lose_cycle(F, I)
        I[I_N] = N + 1
    return n_steps, n_ics


@njit
def _finish_step(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_acc: np.ndarray,
                 ring_f: np.ndarray, ring_idx: np.ndarray, u0: float, u1: float, u2: float, N: int,
                 emit_idx: int, emit_tus: float, out: np.ndarray, k: int,
                 final: bool = True) -> None:
    R = int(P[P_RING])
    fs = P[P_FS]
    for c in range(N_S):
        out[k, c] = np.nan
    out[k, S_IC_IDX] = F[F_IC_IDX]
    out[k, S_IC_TUS] = F[F_IC_TUS]
    out[k, S_EMIT_IDX] = emit_idx
    out[k, S_EMIT_TUS] = emit_tus
    out[k, S_PREV_IC_TUS] = F[F_PREV_IC_TUS]
    out[k, S_IC_KIND] = I[I_IC_KIND]
    to_n = I[I_PMIN_N]
    if to_n >= 0:
        q = to_n % R
        out[k, S_TO_IDX] = ring_idx[q]
        out[k, S_TO_TUS] = ring_f[q, 0]
    else:
        out[k, S_TO_IDX] = -1.0
    if I[I_FLAT_N] >= 0:
        out[k, S_FLAT_TUS] = ring_f[I[I_FLAT_N] % R, 0]
    ff_n = I[I_FF_N]
    if ff_n >= 0:
        q = ff_n % R
        out[k, S_FF_IDX] = ring_idx[q]
        out[k, S_FF_TUS] = ring_f[q, 0]
        fsa = -F[F_THETA_AT_FF]
        # the toes-up sign is confirmed (mount stage) and did not flip during this step
        sure = I[I_SIGN_SURE] == 1 and I[I_FLIPPED] == 0
        if sure:
            out[k, S_FSA_DEG] = math.degrees(fsa)
        v0 = u0
        v1 = u1
        v2 = u2
        # gravity at flat-foot: the raw acceleration averaged over P_GRAV_N samples up to the
        # flat-foot instant (the minimum of the smoothed |ω| comes late in the flat period, the
        # heel is rising after it; the window is fixed in time, so the same at any rate)
        h = int(P[P_GRAV_N])
        gf0 = 0.0
        gf1 = 0.0
        gf2 = 0.0
        cnt = 0
        for m in range(ff_n - h, ff_n + 1):
            if m < 0 or N - m >= R:
                continue
            q = m % R
            gf0 += ring_acc[q, 0]
            gf1 += ring_acc[q, 1]
            gf2 += ring_acc[q, 2]
            cnt += 1
        if cnt > 0:
            gf0 /= cnt
            gf1 /= cnt
            gf2 /= cnt
        # a flat foot reads gravity alone; otherwise the flat-foot instant is not trusted
        if abs(math.sqrt(gf0 * gf0 + gf1 * gf1 + gf2 * gf2) - G0) > P[P_FF_ACC_TOL]:
            sure = False
        if I[I_LEVEL_KIND] < 2 and sure:
            nn = math.sqrt(gf0 * gf0 + gf1 * gf1 + gf2 * gf2)
            I[I_N_FF] += 1
            if (nn > 0.0 and I[I_N_LEVEL] < P[P_LEVEL_STEPS] and I[I_N_FF] > P[P_LEVEL_SKIP]
                    and I[I_FF_OK] == 1):
                F[F_LEVEL_SUM] += gf0 / nn
                F[F_LEVEL_SUM + 1] += gf1 / nn
                F[F_LEVEL_SUM + 2] += gf2 / nn
                I[I_N_LEVEL] += 1
                F[F_GREF] = F[F_LEVEL_SUM]
                F[F_GREF + 1] = F[F_LEVEL_SUM + 1]
                F[F_GREF + 2] = F[F_LEVEL_SUM + 2]
                I[I_LEVEL_KIND] = 1
        # stride: the strapdown from the previous flat-foot to this one
        if I[I_S_VALID] == 1 and F[F_S + J_COUNT] > 0.0:
            T = F[F_S + J_COUNT] / fs
            df = F[F_S + J_DF] - F[F_S + J_VF] * T / 2.0
            du = F[F_S + J_DU] - F[F_S + J_VU] * T / 2.0
            sm = math.sqrt(df * df + du * du)
            path = math.atan2(du, df)
            out[k, S_STRIDE_M] = sm
            out[k, S_PATH_DEG] = math.degrees(path)
            if (sure and final and I[I_FF_OK] == 1
                    and abs(F[F_S + J_YAW]) <= P[P_PATH_YAW]):
                _path_learn(P, F, I, gf0, gf1, gf2, v0, v1, v2, path, sm)
        if (I[I_PATH_ON] == 0 and sure and I[I_N_PATH] > 0
                and (I[I_LEVEL_KIND] == 2 or I[I_N_LEVEL] >= P[P_LEVEL_STEPS])):
            # the reference (standing, or the whole flat-foot mean) taken as level against the
            # stride path's level: far apart, the reference was on a slope
            lam_ref = _signed_angle(F[F_ANCHOR], F[F_ANCHOR + 1], F[F_ANCHOR + 2], F[F_GREF],
                                    F[F_GREF + 1], F[F_GREF + 2], v0, v1, v2)
            if _path_disagrees(P, F, I, lam_ref):
                I[I_PATH_ON] = 1
        # a provisional reference (flat-foot mean) gives no grade until the stride path has
        # been checked against it: a session that starts on a descent read it as level for its
        # first ~10 strides, and the coach took the flat settings there
        checked = (I[I_PATH_ON] == 1 or I[I_LEVEL_KIND] == 2
                   or (I[I_N_LEVEL] >= P[P_LEVEL_STEPS] and I[I_N_PATH] >= P[P_LEARN_MIN])
                   or I[I_N_FF] > P[P_LEVEL_SKIP] + P[P_LEVEL_STEPS] + P[P_LEARN_MAX])
        if (I[I_LEVEL_KIND] > 0 or I[I_PATH_ON] == 1) and sure and checked:
            if I[I_PATH_ON] == 1:
                gr = F[F_LAM] - _signed_angle(F[F_ANCHOR], F[F_ANCHOR + 1], F[F_ANCHOR + 2],
                                              gf0, gf1, gf2, v0, v1, v2)
            else:
                gr = _signed_angle(gf0, gf1, gf2, F[F_GREF], F[F_GREF + 1], F[F_GREF + 2],
                                   v0, v1, v2)
            if abs(gr) <= P[P_GRADE_MAX]:
                out[k, S_GRADE_DEG] = math.degrees(gr)
                out[k, S_FSA_WORLD_DEG] = math.degrees(fsa + gr)
            else:
                # no ground is that steep: the flat-foot instant was not flat, and the strike
                # angle measured to it is void too
                out[k, S_FSA_DEG] = np.nan
        out[k, S_LEVEL_KIND] = 3 if I[I_PATH_ON] == 1 else I[I_LEVEL_KIND]
        if I[I_B_VALID] == 1 and to_n >= 0:
            # the foot's speed at toe-off: none without one
            out[k, S_PUSH_MPS] = F[F_B + J_VF]
    out[k, S_PEAK_G] = F[F_PEAK] / G0
    out[k, S_CLIPPED] = 1.0 if I[I_LAST_CLIP_N] >= I[I_IC_N] - P[P_CLIP_PRE] else 0.0
    out[k, S_MOUNT_CHANGED] = I[I_MOUNT_PENDING]
    I[I_MOUNT_PENDING] = 0
    mode = 0
    if I[I_PREV_IC_N] >= 0 and to_n >= 0:
        stride = I[I_IC_N] - I[I_PREV_IC_N]
        if stride > 0:
            duty = (to_n - I[I_IC_N]) / stride
            # walking has double support (duty > 0.5) and long strides; a late toe-off alone
            # (a weak push-off) must not make a run a walk
            mode = 1 if duty > P[P_DUTY_WALK] and stride > P[P_WALK_STRIDE] else 2
    out[k, S_MODE] = mode
    if mode != 0:
        I[I_MODE] = mode


@njit
def foot_flush(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_acc: np.ndarray,
               ring_f: np.ndarray, ring_idx: np.ndarray, u0: float, u1: float, u2: float,
               steps_out: np.ndarray) -> int:
    """End of the stream: the contact in progress (its IC already emitted) becomes a step
    record without toe-off, as a stance into standing does. Returns the rows written (0/1)."""
    N = I[I_N] - 1
    if I[I_HAS_IC] == 0 or N < 0 or I[I_PHASE] != 1:
        return 0
    R = int(P[P_RING])
    q = N % R
    I[I_PMIN_N] = -1
    _finish_step(P, F, I, ring_acc, ring_f, ring_idx, u0, u1, u2, N, ring_idx[q],
                 ring_f[q, 0], steps_out, 0, False)
    # the stance was cut: its flat-foot (the minimum of |ω| over the stance) is not final, so
    # no angle or stride is reported (on Marpino most such last steps read as midfoot)
    steps_out[0, S_FSA_DEG] = np.nan
    steps_out[0, S_FSA_WORLD_DEG] = np.nan
    steps_out[0, S_GRADE_DEG] = np.nan
    steps_out[0, S_STRIDE_M] = np.nan
    I[I_HAS_IC] = 0
    I[I_IC_N] = -1
    I[I_PREV_IC_N] = -1
    F[F_PREV_IC_TUS] = np.nan
    return 1
