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
  contact). When the rate has already turned upward, a contact inside the last lag is also
  sharp if two lags earlier the slope was ``P_KINK_SHARP`` of the steepest in the
  ``P_KINK_LOCAL`` before that (a terminal swing that decelerates more gently at its end than
  after the swing peak: 16 % of the steps of simulated −15 % descents were otherwise found at
  the minimum, ~40 ms late). A candidate with the shank below ``P_IC_ANGLE_MIN`` (far back:
  a jolt in mid-swing) is refused and the swing goes on; one with less than ``P_SWING_MIN``
  of forward shank rotation (∫ w dt above its lowest value since the last IC) is refused as no
  swing (a start from standing, a shuffle). Toe-off is decided when the next swing starts (the step
  record is emitted then): walking back from there, the early-swing trough of ``w`` (the last
  minimum with ``w < 0``: the knee flexes after toe-off and throws the shank back), then the
  push-off peak before it (at least ``P_TO_RISE`` above the trough, within ``P_TO_BACK``),
  plus ``P_TO_SHIFT``; without such a peak the trough itself (walking: the minimum before the
  swing, Aminian 2002, Salarian 2004; it lags foot-off, Catalfamo 2010). Swing peaks far below
  the level (``P_SWPK_KEEP``: an uphill push-off bump that crossed the arming level) do not
  update it. ``shin_flush`` emits the open step at the end of a stream.
- **Accelerometer alone** (orientation- and sign-free): the tibial shock. The acceleration
  vector is high-passed (2nd-order Butterworth, ``P_HP_*``, above the swing's few Hz) and its
  magnitude averaged over ``P_SH_W`` samples gives the shock energy ``E``. After a refractory
  time (``P_REFRACT_FRAC`` of the last stride, at least ``P_REFRACT_MIN``, from the last shock
  peak) the first ``E`` above the adaptive threshold (``P_SH_FRAC`` × the level of the
  contacts' shock peaks, which decays while armed; at least ``P_SH_FLOOR``) starts a
  candidate; a larger ``E`` replaces it; it is the contact's shock once ``P_SH_D`` passed with
  no larger one, no sooner than one stride (``P_SH_HOLD``) after the last shock peak (a swing
  burst far ahead of the contact waits for it), and, for the first contact of a cycle, no
  sooner than ``P_SH_START`` after the first candidate (the largest burst of the first stride,
  not the first one above the floor). Locked onto the wrong phase (e.g. walking's push-off
  burst), the refractory windows (from ``P_SH_OFF`` after a shock peak) hold the larger
  shocks: once their level (EMA of each window's largest) exceeds ``P_SH_RELOCK`` × the
  contacts' level, a shock in that window is a candidate and relocks. The contact is the
  shock's onset: from the largest high-passed sample of the peak's window, walk back (at most
  ``P_SH_BACK``) over samples of at least ``P_SH_BETA`` of it, across gaps of up to
  ``P_SH_GAP`` samples; plus ``P_IC_SHIFT`` (the shank's shock starts after touchdown). This
  is the tibial-shock family of shank-accelerometer methods (IC at the start of the shank
  acceleration's rise before its impact peak: Mercer et al. 2003, Sinclair et al. 2013; two
  of the 18 methods compared by Kiernan et al. 2023, Sensors 23:5022), made streaming and
  free of axis and sign (the high-passed vector instead of one axis). The decision comes
  ``P_SH_D`` after the shock peak, itself ~40 ms after IC. The stride for the refractory time
  and the hold is the shock signal's rhythm when it has one (normalised autocorrelation of
  ``P_AC_BIN``-sample bins over the last ``P_AC_NB``, the shortest strong lag: gait
  regularity as in Moe-Nilssen & Helbostad 2004), else the last contacts' (EMA). Once
  ``P_SH_MISS`` strides pass without a shock, the level halves every ``P_SH_MISS_HALF``
  strides (a several-fold drop of the shocks, e.g. a climb after a descent). Toe-off,
  shank angle and loading rotation are NaN (not guessed); the step record is emitted with the
  decision (the peak window has passed by then).

Metrics: peak axial (``a·L``, gravity included) and resultant |a| in ``P_PEAK_WIN`` after IC
(g); shank angle to vertical at IC (+ foot ahead): gravity is tracked in the sensor frame
(``dG/dt = −(ω − b)×G``, pulled toward the specific force with ``P_C_ALPHA``: the linear
acceleration averages out over strides, unlike a per-sample tilt; the gyro bias ``b`` is the
integral of that pull, ``db/dt = k_I G×a/|G|²``, the integral term of Mahony, Hamel &
Pflimlin 2008, IEEE TAC 53:1203: without it a bias tilts ``G`` by bias × the pull's time
constant, 4.6° for 0.02 rad/s) and the angle is that of ``G`` from ``L``
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
from stridecore.dsp.kernels.tilt import turn_gravity

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
# 11–15: unused (the acc-only jerk detector before the shock detector)
P_PEAK_WIN = 16  # samples after IC for the peaks
P_REFRACT_FRAC = 17  # acc-only: fraction of the last stride before a new shock search
P_REFRACT_MIN = 18  # samples
P_STRIDE_MAX = 19  # samples without a contact: cycle lost
P_MIN_RISE = 20  # rad/s above the minimum that confirms it
P_IC_SHIFT = 21  # samples added to a shock onset (acc only)
P_GYRO_SHIFT = 22  # samples added to a gyro minimum
P_LOAD_FRAC = 23  # loading rotation from IC to this fraction of the contact
P_RING = 24
P_KINK_M = 25  # samples: the slope of w for the contact kink is taken over this lag
P_DUTY_WALK = 26
P_J_DECAY = 27  # per armed sample decay of the acc-only shock level
P_C_ALPHA = 28  # complementary filter coefficient (tilt from acc)
P_STILL_RADPS = 29
P_STILL_ACC = 30
P_STILL_N = 31
P_CLIP_MPS2 = 32
P_CLIP_PRE = 33
P_KINK_FRAC = 34  # contact: the slope of w flattened to this fraction of its steepest
P_LATE_FRAC = 35  # the contact search arms once w fell below this × the swing peak
P_KINK_LOCAL = 36  # samples: the window for the steepest slope of the turned-rate test
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
P_HP_B0 = 47  # acc-only shock: high-pass biquad (b0, b1, b2, a1, a2; a0 = 1)
P_HP_B1 = 48
P_HP_B2 = 49
P_HP_A1 = 50
P_HP_A2 = 51
P_SH_W = 52  # samples: the shock energy is the high-passed magnitude averaged over this
P_SH_D = 53  # samples: a candidate is confirmed once no larger energy followed for this long
P_SH_START = 54  # samples: first contact of a cycle: the largest burst of this window
P_SH_HOLD = 55  # ... and no sooner than this × the last stride after the last shock peak
P_SH_FLOOR = 56  # m/s²: least shock energy
P_SH_FRAC = 57  # threshold = this × the shock level
P_SH_KEEP = 58  # a shock below this × the level does not update it
P_SH_BETA = 59  # onset: walk back over samples at least this × the window's largest
P_SH_GAP = 60  # samples: ... across gaps of up to this
P_SH_BACK = 61  # samples: ... at most this far back
P_SH_RELOCK = 62  # wrong phase: the off-phase level above this × the level (0: never)
P_SH_OFF = 63  # samples: the off-phase window starts this long after a shock peak
P_AC_BIN = 64  # samples per bin of the shock signal for the stride autocorrelation
P_AC_NB = 65  # bins in the autocorrelation window
P_AC_KLO = 66  # bins: shortest stride
P_AC_KHI = 67  # bins: longest stride
P_AC_MIN = 68  # least normalised autocorrelation of a stride
P_AC_PICK = 69  # the stride: the shortest local maximum at least this × the largest
P_AC_KEEP = 70  # ... or, once known, the local maximum nearest it if at least this × the largest
P_ANGLE_SETTLE = 71  # samples of gravity tracking before the shank angle counts (no stand)
P_B_GAIN = 72  # gyro bias integral gain per sample (1/s² · dt; 0: no bias estimate)
P_SH_MISS = 73  # acc-only: strides without a shock after which the level falls faster (0: never)
P_SH_MISS_HALF = 74  # ... halving every this many strides
N_P = 75

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
I_G_N = 10  # gravity-tracking updates since the start
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
I_SH_CAND = 21  # acc-only: candidate shock peak (-1 none)
I_SH_CSTART = 22  # sample of the first candidate of the current search
I_SH_LASTPK = 23  # last confirmed shock peak (-1 none in this cycle)
I_SH_LOCK = 24  # 1 once a shock was confirmed in this cycle
I_SH_REJ = 25  # strides in a row outside the stride estimate's band
I_HP_INIT = 26  # 1 once the high-pass filter is running (0: (re)start at the next sample)
I_SH_COFF = 27  # 1: the candidate was found in the off-phase window (a relock)
I_AC_CNT = 28  # samples in the current bin
I_AC_NBIN = 29  # bins since the last restart (gap)
N_I = 30

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
F_JPK_EMA = 25  # acc only: the shock level (EMA of the contacts' shock energy), m/s²
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
F_HPZ = 44  # 6: high-pass biquad delays (z1, z2) per axis
F_SH_CE = 50  # shock energy of the candidate, m/s²
F_SH_OFF = 51  # largest shock energy in the current off-phase window, m/s²
F_SH_OFFLVL = 52  # off-phase level: EMA of those, m/s²
F_AC_SUM = 53  # sum of |high-passed acc| in the current bin
F_AC_STRIDE = 54  # stride from the autocorrelation, samples (0: none)
F_B = 55  # 3: gyro bias estimate, rad/s (sensor frame)
N_F = 58

# ring columns
R_TUS = 0
R_J = 1
R_AN = 2
R_W = 3  # signed sagittal rate (raw)
R_AX = 4  # axial acc a·L
R_TH = 5  # shank angle
R_HP = 6  # |high-passed acc|, m/s² (0 before a restart of the filter)
R_BIN = 7  # row b % R: bin b of |high-passed acc| (autocorrelation stride)
R_AC = 8  # row k: autocorrelation at a lag of k bins (scratch)
N_R = 9


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
    I[I_SH_CAND] = -1
    I[I_SH_LASTPK] = -1
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
    I[I_SH_CAND] = -1
    I[I_SH_LASTPK] = -1
    I[I_SH_LOCK] = 0
    I[I_SH_COFF] = 0
    F[F_SH_OFF] = 0.0
    F[F_SH_OFFLVL] = 0.0


@njit
def _shock_feature(P: np.ndarray, F: np.ndarray, I: np.ndarray, ring_f: np.ndarray, N: int,
                   R: int, ok: bool, a0: float, a1: float, a2: float) -> float:
    """High-pass sample ``N`` of the acceleration (per axis, biquad in transposed direct form
    II, started in its steady state for the first sample so gravity gives no step), store
    its magnitude in the ring and return the shock energy: the mean magnitude over the last
    ``P_SH_W`` samples, none before the last bad sample."""
    r = N % R
    if not ok:
        I[I_HP_INIT] = 0
        ring_f[r, R_HP] = 0.0
        return 0.0
    b0 = P[P_HP_B0]
    b1 = P[P_HP_B1]
    b2 = P[P_HP_B2]
    c1 = P[P_HP_A1]
    c2 = P[P_HP_A2]
    if I[I_HP_INIT] == 0 or N == I[I_BAD_N]:
        I[I_HP_INIT] = 1
        F[F_HPZ] = -b0 * a0
        F[F_HPZ + 1] = b2 * a0
        F[F_HPZ + 2] = -b0 * a1
        F[F_HPZ + 3] = b2 * a1
        F[F_HPZ + 4] = -b0 * a2
        F[F_HPZ + 5] = b2 * a2
    s = 0.0
    for c in range(3):
        x = a0 if c == 0 else (a1 if c == 1 else a2)
        y = b0 * x + F[F_HPZ + 2 * c]
        F[F_HPZ + 2 * c] = b1 * x - c1 * y + F[F_HPZ + 2 * c + 1]
        F[F_HPZ + 2 * c + 1] = b2 * x - c2 * y
        s += y * y
    ring_f[r, R_HP] = math.sqrt(s)
    W = int(P[P_SH_W])
    lo = max(0, N - W + 1, I[I_BAD_N])
    e = 0.0
    for m in range(lo, N + 1):
        e += ring_f[m % R, R_HP]
    return e / W


@njit
def _ac_stride(P: np.ndarray, ring_f: np.ndarray, nbin: int, R: int, prev: float) -> float:
    """The stride (samples) from the normalised autocorrelation of the last ``P_AC_NB`` bins
    of the shock signal: the shortest local maximum between ``P_AC_KLO`` and ``P_AC_KHI``
    bins at least ``P_AC_PICK`` × the largest (a stride, not two); with a stride ``prev``
    (samples) known, the local maximum nearest it if at least ``P_AC_KEEP`` × the largest
    (the estimate does not jump to twice the stride); 0 if the largest is below ``P_AC_MIN``
    (no gait rhythm)."""
    nb = int(P[P_AC_NB])
    klo = int(P[P_AC_KLO])
    khi = int(P[P_AC_KHI])
    b0 = nbin - nb
    mu = 0.0
    for i in range(nb):
        mu += ring_f[(b0 + i) % R, R_BIN]
    mu /= nb
    best = -2.0
    for k in range(klo, khi + 1):
        sxy = 0.0
        sxx = 0.0
        syy = 0.0
        for i in range(k, nb):
            x = ring_f[(b0 + i) % R, R_BIN] - mu
            y = ring_f[(b0 + i - k) % R, R_BIN] - mu
            sxy += x * y
            sxx += x * x
            syy += y * y
        ac = sxy / math.sqrt(sxx * syy) if sxx * syy > 0.0 else 0.0
        ring_f[k % R, R_AC] = ac
        if ac > best:
            best = ac
    if best < P[P_AC_MIN]:
        return 0.0
    bl = int(P[P_AC_BIN])
    fresh = -1
    for k in range(klo, khi + 1):
        ac = ring_f[k % R, R_AC]
        if ac >= P[P_AC_PICK] * best and (k == klo or ac >= ring_f[(k - 1) % R, R_AC]) \
                and (k == khi or ac >= ring_f[(k + 1) % R, R_AC]):
            fresh = k
            break
    if prev > 0.0:
        near = -1
        for k in range(klo, khi + 1):
            ac = ring_f[k % R, R_AC]
            if ac >= P[P_AC_KEEP] * best and (k == klo or ac >= ring_f[(k - 1) % R, R_AC]) \
                    and (k == khi or ac >= ring_f[(k + 1) % R, R_AC]) \
                    and (near < 0 or abs(k * bl - prev) < abs(near * bl - prev)):
                near = k
        # kept at a multiple of the strong shortest lag (held on two strides after missed
        # contacts): every periodic signal correlates at twice its period, so the keep rule
        # alone never lets go; the shortest strong lag is the stride
        if near >= 0 and not (fresh >= 0 and near >= 1.7 * fresh):
            return float(near * bl)
    return float(fresh * bl) if fresh >= 0 else 0.0


@njit
def _shock_onset(P: np.ndarray, ring_f: np.ndarray, pk: int, lo: int) -> int:
    """The shock's onset for the energy peak at sample ``pk``: from the largest high-passed
    sample of the peak's window, walk back (at most ``P_SH_BACK``, never before ``lo``) over
    samples of at least ``P_SH_BETA`` of it, across gaps of up to ``P_SH_GAP`` samples."""
    R = int(P[P_RING])
    W = int(P[P_SH_W])
    jm = -1.0
    mj = pk
    for m in range(max(lo, pk - W + 1), pk + 1):
        x = ring_f[m % R, R_HP]
        if x > jm:
            jm = x
            mj = m
    lim = P[P_SH_BETA] * jm
    on = mj
    m = mj
    while m - 1 >= lo and mj - (m - 1) <= P[P_SH_BACK]:
        m -= 1
        if ring_f[m % R, R_HP] >= lim:
            on = m
        elif on - m > P[P_SH_GAP]:
            break
    return on


@njit
def _slope(ring_f: np.ndarray, R: int, n: int, km: int, fs: float) -> float:
    """Slope of the sagittal rate ending at sample ``n``, over ``km`` samples (rad/s²)."""
    return (ring_f[n % R, R_W] - ring_f[(n - km) % R, R_W]) * fs / km


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
        # the shank angle needs settled axes: a standing period, or P_ANGLE_SETTLE of
        # tracking (a stream that starts mid-run read up to ~100° off for ~12 s)
        if I[I_GYRO] == 1 and (I[I_HAVE_STILL] == 1 or I[I_G_N] >= P[P_ANGLE_SETTLE]):
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
        _, an = push_sample(ring_acc, ring_f, ring_idx, N, R, K, fs, a0, a1, a2,
                            sample_idx[t], t_us[t], R_TUS, R_J, R_AN)
        if N >= K and ((not ok) or N - K < I[I_BAD_N]):
            ring_f[r, R_J] = 0.0  # no jerk across a bad sample
        if is_clipped(flags[t], a0, a1, a2, P[P_CLIP_MPS2]):
            I[I_LAST_CLIP_N] = N
        esh = _shock_feature(P, F, I, ring_f, N, R, ok, a0, a1, a2)
        # the stride from the rhythm of the shock signal (restarted at a gap)
        if (not ok) or (flags[t] & 16) != 0:
            I[I_AC_NBIN] = 0
            I[I_AC_CNT] = 0
            F[F_AC_SUM] = 0.0
            F[F_AC_STRIDE] = 0.0
        if ok:
            F[F_AC_SUM] += ring_f[r, R_HP]
            I[I_AC_CNT] += 1
            if I[I_AC_CNT] == int(P[P_AC_BIN]):
                ring_f[I[I_AC_NBIN] % R, R_BIN] = F[F_AC_SUM] / P[P_AC_BIN]
                I[I_AC_NBIN] += 1
                I[I_AC_CNT] = 0
                F[F_AC_SUM] = 0.0
                if I[I_AC_NBIN] >= P[P_AC_NB]:
                    F[F_AC_STRIDE] = _ac_stride(P, ring_f, I[I_AC_NBIN], R, F[F_AC_STRIDE])
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
            # bias: the integral of the tilt correction, so that the pull toward the specific
            # force averages to zero (Mahony et al. 2008)
            turn_gravity(F, F_G, F_B, g0, g1, g2, gok, a0, a1, a2,
                         P[P_B_GAIN] if ok else 0.0, dt)
            if ok:
                I[I_G_N] += 1
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
        ic_n = -1
        kind = 0
        ph = I[I_PHASE]
        if I[I_HAS_IC] == 1 and N - I[I_IC_N] == int(P[P_PEAK_WIN]):
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
                ok_n = max(I[I_BAD_N], I[I_ARM_N])  # slopes use samples from here on
                if N - km >= 0 and N - km >= ok_n:
                    sl = _slope(ring_f, R, N, km, fs)
                    if sl < F[F_SMIN]:
                        F[F_SMIN] = sl
                    elif -P[P_KINK_CEIL] < F[F_SMIN] < -P[P_KINK_FLOOR] \
                            and sl > P[P_KINK_FRAC] * F[F_SMIN]:
                        sharp = True
                        if N - 2 * km >= ok_n:
                            sharp = _slope(ring_f, R, N - km, km, fs) \
                                < P[P_KINK_SHARP] * F[F_SMIN]
                            if not sharp and sl > 0.0 and N - 3 * km >= ok_n:
                                # the rate turned (a contact within the last lag): sharp if
                                # two lags back the slope was still as steep as just before
                                # (the early terminal swing can fall faster than its end)
                                sl1 = _slope(ring_f, R, N - 2 * km, km, fs)
                                loc = sl1
                                for m in range(max(N - 2 * km - int(P[P_KINK_LOCAL]),
                                                   ok_n + km), N - 2 * km):
                                    loc = min(loc, _slope(ring_f, R, m, km, fs))
                                sharp = sl1 < P[P_KINK_SHARP] * loc
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
            # accelerometer alone: the tibial shock (a finite gyro whose axis is still
            # untrained gives no contact: the first moving half second is a start, not a gait)
            if not gok:
                st = F[F_AC_STRIDE] if F[F_AC_STRIDE] > 0.0 else F[F_STRIDE]
                lastpk = I[I_SH_LASTPK]
                cand = I[I_SH_CAND]
                if cand >= 0:
                    if esh > F[F_SH_CE]:
                        I[I_SH_CAND] = N
                        F[F_SH_CE] = esh
                    elif N - cand >= P[P_SH_D] \
                            and (I[I_SH_LOCK] == 1 or N - I[I_SH_CSTART] >= P[P_SH_START]) \
                            and (I[I_SH_COFF] == 1 or st == 0.0 or lastpk < 0
                                 or N - lastpk >= P[P_SH_HOLD] * st):
                        ic_n = _shock_onset(P, ring_f, cand, max(0, I[I_BAD_N])) \
                            + int(P[P_IC_SHIFT])
                        if ic_n > N:
                            ic_n = N
                        if I[I_IC_N] >= 0 and ic_n <= I[I_IC_N]:
                            ic_n = -1
                        # the level follows the contacts' shocks (one far below it, e.g. a
                        # swing burst, does not pull it down); a relock starts it afresh
                        ce = F[F_SH_CE]
                        if I[I_SH_COFF] == 1:
                            F[F_JPK_EMA] = ce
                            F[F_SH_OFFLVL] = 0.0
                        elif F[F_JPK_EMA] == 0.0:
                            F[F_JPK_EMA] = ce
                        elif ce > P[P_SH_KEEP] * F[F_JPK_EMA]:
                            F[F_JPK_EMA] = 0.75 * F[F_JPK_EMA] + 0.25 * ce
                        F[F_SH_OFF] = 0.0
                        I[I_SH_LASTPK] = cand
                        I[I_SH_LOCK] = 1
                        I[I_SH_CAND] = -1
                        I[I_SH_COFF] = 0
                elif lastpk < 0 or N - lastpk >= max(P[P_REFRACT_MIN], P[P_REFRACT_FRAC] * st):
                    if lastpk >= 0 and F[F_SH_OFF] > 0.0:
                        # the off-phase level: the largest energy of each refractory window
                        if F[F_SH_OFFLVL] == 0.0:
                            F[F_SH_OFFLVL] = F[F_SH_OFF]
                        else:
                            F[F_SH_OFFLVL] = 0.75 * F[F_SH_OFFLVL] + 0.25 * F[F_SH_OFF]
                        F[F_SH_OFF] = 0.0
                    F[F_JPK_EMA] *= P[P_J_DECAY]
                    if P[P_SH_MISS] > 0.0 and st > 0.0 and lastpk >= 0 \
                            and N - lastpk > P[P_SH_MISS] * st:
                        # a stride went by without a shock over the threshold (the shocks
                        # fell several-fold, e.g. a climb after a steep descent): the level
                        # halves every P_SH_MISS_HALF strides until one is found
                        F[F_JPK_EMA] *= 0.5 ** (1.0 / (P[P_SH_MISS_HALF] * st))
                    if esh > max(P[P_SH_FLOOR], P[P_SH_FRAC] * F[F_JPK_EMA]):
                        I[I_SH_CAND] = N
                        I[I_SH_CSTART] = N
                        F[F_SH_CE] = esh
                elif N - lastpk >= P[P_SH_OFF]:
                    # refractory: the off-phase window. Locked onto the wrong phase (its
                    # shocks beat the contacts' level), a shock here is a candidate (relock)
                    if esh > F[F_SH_OFF]:
                        F[F_SH_OFF] = esh
                    if P[P_SH_RELOCK] > 0.0 and I[I_SH_LOCK] == 1 \
                            and F[F_SH_OFFLVL] > P[P_SH_RELOCK] * F[F_JPK_EMA] \
                            and esh > max(P[P_SH_FLOOR], P[P_SH_FRAC] * F[F_SH_OFFLVL]):
                        I[I_SH_CAND] = N
                        I[I_SH_CSTART] = N
                        I[I_SH_COFF] = 1
                        F[F_SH_CE] = esh
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
                # the stride (acc only: refractory and hold): strides far from it (a missed or
                # an extra contact) do not update it, unless three in a row do
                d = ic_n - prev
                if F[F_STRIDE] == 0.0 or I[I_SH_REJ] >= 2:
                    F[F_STRIDE] = d
                    I[I_SH_REJ] = 0
                elif 0.6 * F[F_STRIDE] < d < 1.5 * F[F_STRIDE]:
                    F[F_STRIDE] = 0.7 * F[F_STRIDE] + 0.3 * d
                    I[I_SH_REJ] = 0
                else:
                    I[I_SH_REJ] += 1
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
                if N - ic_n >= P[P_PEAK_WIN]:
                    # acc only: decided after its peak window: the record now
                    _emit_step(P, F, I, ring_f, ring_idx, -1, N, sample_idx[t], t_us[t],
                               steps_out, n_steps)
                    n_steps += 1
                else:
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
