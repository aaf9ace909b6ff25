"""Shin stage: contacts, toe-offs and per-step shank metrics (:mod:`stridecore.dsp.kernels.shin`).

Same contract as :mod:`stridecore.dsp.stages`: frozen :class:`ShinParams` (units in the names)
turned into the kernel's float vector once, explicit state, ``step`` per block (any length,
chunk invariant), ``reset`` / ``snapshot`` / ``restore`` / ``report``. Works from an
accelerometer alone (gyro NaN): toe-off, contact time, shank angle and loading rotation are then
NaN. :func:`shin_steps_table` turns the step records into a :data:`~stridecore.schema.STEPS`
table.

``ShinStage.step`` returns ``(steps, ics)``: ``steps`` (k, ``shin.N_S``) with the columns
``S_*`` of :mod:`stridecore.dsp.kernels.shin` (IC / TO sample index and device time µs,
emission sample and time, previous IC time, peak axial and resultant acceleration g, shank
angle at IC °, loading rotation °, IC kind, clipped, gyro used), ``ics`` (m, 5): IC sample
index, IC device time µs, emission sample index, kind (0 tibial shock, 1 gyro kink, 2 gyro
minimum), emission device time µs. ICs are emitted as soon as they are decided (a few samples
after the kink of the sagittal rate or the shock onset, or once the rate rose past its minimum).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stridecore.dsp.kernels import shin as sk
from stridecore.dsp.records import contact_columns, steps_table
from stridecore.dsp.stages import ArrayState, step_capacity
from stridecore.schema import Placement
from stridecore.tables import Columns

IC_KINDS = ("shock", "gyro kink", "gyro minimum")


@dataclass(frozen=True)
class ShinParams:
    """Shin events and metrics (:mod:`stridecore.dsp.kernels.shin`), 100–1600 Hz."""

    jerk_lag_ms: float = 5.0
    gyro_smooth_ms: float = 10.0
    long_axis_memory_s: float = 3.0  # acc EMA giving the long axis (no still period yet)
    gyro_memory_s: float = 30.0  # forgetting time of the gyro second moment (moving time)
    moving_radps: float = 1.0
    axis_update_s: float = 0.05
    axis_ready_s: float = 0.5
    arm_swing_radps: float = 1.5
    arm_fraction: float = 0.4  # of the swing-peak EMA
    min_contact_ms: float = 120.0
    peak_window_ms: float = 60.0  # the tibial peak (sim truth: 60 ms from IC)
    refractory_fraction: float = 0.7  # acc only: of the last stride, from the last shock peak
    refractory_min_ms: float = 400.0  # strides are longer (cadence < 300 spm)
    stride_max_s: float = 2.5
    min_rise_radps: float = 0.3
    ic_shift_ms: float = -18.0  # acc only: the shock begins ~20 ms after touchdown (Bach dev,
    # simulated dev seeds)
    gyro_shift_ms: float = 0.0
    loading_fraction: float = 0.4  # of the contact: the loading peak
    ring_s: float = 4.0
    kink_lag_ms: float = 5.0  # slope of the sagittal rate for the contact kink
    kink_fraction: float = 0.3  # contact: the slope flattened to this × its steepest
    kink_floor_radps2: float = 20.0  # ... which must have been at least this steep
    kink_ceiling_radps2: float = 1000.0  # ... and no steeper (a mid-swing jolt)
    contact_angle_min_deg: float = -25.0  # a gyro contact needs the shank at least this far up
    kink_sharp_fraction: float = 0.6  # the slope one kink lag before the kink: still this steep
    kink_local_ms: float = 30.0  # rate already turned: two lags back, vs the steepest in this
    swing_min_deg: float = 30.0  # a gyro contact needs this much forward shank swing before it
    toe_off_tolerance_radps: float = 0.5  # toe-off walk-backs: end once w leaves the extreme
    toe_off_rise_radps: float = 2.0  # push-off peak: at least this above the early-swing trough
    toe_off_back_ms: float = 200.0  # ... and at most this before it
    toe_off_shift_ms: float = -25.0  # added to the push-off peak (simulated dev seeds)
    swing_keep_fraction: float = 0.5  # swing peaks below this × the level do not update it
    duty_walk: float = 0.5
    jerk_decay_s: float = 4.0  # acc only: the shock level halves in this armed time
    shock_missed_strides: float = 1.5  # acc only: this long without a shock (strides) ...
    shock_missed_halving_strides: float = 0.5  # ... and the level halves every this many
    tilt_memory_s: float = 4.0  # gravity tracking: pull toward the specific force
    gyro_bias_memory_s: float = 60.0  # gyro bias estimate (integral term): time constant, s;
    # 0: none (bias × tilt_memory_s is a steady tilt error: 0.02 rad/s → 4.6°)
    angle_settle_s: float = 15.0  # no standing seen: shank angles only after this tracking
    still_radps: float = 0.3
    still_acc_mps2: float = 0.5
    still_s: float = 0.2  # standing this long gives the long axis (vertical shank)
    acc_range_g: float = 0.0
    clip_fraction: float = 0.99
    clip_before_ic_ms: float = 10.0
    shock_highpass_hz: float = 35.0  # acc only: the shock is the acc above this (vector)
    shock_window_ms: float = 10.0  # shock energy: mean |high-passed acc| over this
    shock_floor_mps2: float = 1.0  # least shock energy of a contact
    shock_fraction: float = 0.5  # threshold: this × the level of the contacts' shocks
    shock_keep_fraction: float = 0.7  # shocks below this × the level do not update it
    shock_confirm_ms: float = 150.0  # a shock is the contact once none larger followed this long
    shock_hold_fraction: float = 1.0  # ... and one stride × this passed since the last one
    shock_start_ms: float = 800.0  # first contact of a cycle: the largest shock of this window
    shock_onset_fraction: float = 0.2  # onset: walk back over samples ≥ this × the peak's
    shock_onset_gap_ms: float = 4.0  # ... across gaps up to this
    shock_onset_back_ms: float = 50.0  # ... at most this far
    shock_relock_ratio: float = 1.3  # off-phase shocks above this × the level: relock (0 never)
    shock_relock_after_ms: float = 150.0  # the off-phase window starts this after a shock
    rhythm_bin_ms: float = 20.0  # acc only: the stride from the shock signal's autocorrelation
    rhythm_window_s: float = 6.0  # ... over this much signal
    rhythm_stride_min_s: float = 0.5  # ... among strides of this
    rhythm_stride_max_s: float = 1.8  # ... to this
    rhythm_min_corr: float = 0.3  # ... with at least this correlation
    rhythm_pick_fraction: float = 0.85  # ... the shortest local maximum ≥ this × the largest
    rhythm_keep_fraction: float = 0.6  # ... once known, the local maximum nearest it ≥ this ×
    late_swing_fraction: float = 0.25  # search for the contact once w < this × swing peak


def _samples(ms: float, fs_hz: float, minimum: int = 1) -> float:
    return float(max(minimum, round(ms * 1e-3 * fs_hz)))


def _alpha(tau_ms: float, fs_hz: float) -> float:
    return 1.0 - math.exp(-1.0 / max(1e-9, tau_ms * 1e-3 * fs_hz))


def highpass_biquad(cutoff_hz: float, fs_hz: float) -> tuple[float, float, float, float, float]:
    """2nd-order Butterworth high-pass (bilinear, pre-warped; as ``scipy.signal.butter(2, fc,
    "highpass", fs=fs)``): (b0, b1, b2, a1, a2) with a0 = 1. The cut-off is kept below 0.45 fs
    (low rates)."""
    fc = min(cutoff_hz, 0.45 * fs_hz)
    k = math.tan(math.pi * fc / fs_hz)
    q = math.sqrt(2.0)
    norm = 1.0 / (1.0 + q * k + k * k)
    return norm, -2.0 * norm, norm, 2.0 * (k * k - 1.0) * norm, (1.0 - q * k + k * k) * norm


def _vector(p: ShinParams, fs: float) -> np.ndarray:
    P = np.zeros(sk.N_P)
    P[sk.P_FS] = fs
    P[sk.P_JERK_K] = _samples(p.jerk_lag_ms, fs)
    P[sk.P_W_ALPHA] = _alpha(p.gyro_smooth_ms, fs)
    P[sk.P_L_ALPHA] = _alpha(p.long_axis_memory_s * 1e3, fs)
    P[sk.P_M_DECAY] = math.exp(-1.0 / (p.gyro_memory_s * fs))
    P[sk.P_MOVING] = p.moving_radps
    P[sk.P_UPDATE] = _samples(p.axis_update_s * 1e3, fs)
    P[sk.P_READY] = _samples(p.axis_ready_s * 1e3, fs)
    P[sk.P_ARM_RADPS] = p.arm_swing_radps
    P[sk.P_ARM_FRAC] = p.arm_fraction
    P[sk.P_MIN_CONTACT] = _samples(p.min_contact_ms, fs)
    P[sk.P_PEAK_WIN] = _samples(p.peak_window_ms, fs)
    P[sk.P_REFRACT_FRAC] = p.refractory_fraction
    P[sk.P_REFRACT_MIN] = _samples(p.refractory_min_ms, fs)
    P[sk.P_STRIDE_MAX] = _samples(p.stride_max_s * 1e3, fs)
    P[sk.P_MIN_RISE] = p.min_rise_radps
    P[sk.P_IC_SHIFT] = round(p.ic_shift_ms * 1e-3 * fs)
    P[sk.P_GYRO_SHIFT] = round(p.gyro_shift_ms * 1e-3 * fs)
    P[sk.P_LOAD_FRAC] = p.loading_fraction
    P[sk.P_RING] = _samples(p.ring_s * 1e3, fs, 64)
    P[sk.P_KINK_M] = _samples(p.kink_lag_ms, fs)
    P[sk.P_KINK_FRAC] = p.kink_fraction
    P[sk.P_KINK_FLOOR] = p.kink_floor_radps2
    P[sk.P_KINK_CEIL] = p.kink_ceiling_radps2
    P[sk.P_IC_ANGLE_MIN] = math.radians(p.contact_angle_min_deg)
    P[sk.P_KINK_SHARP] = p.kink_sharp_fraction
    P[sk.P_KINK_LOCAL] = _samples(p.kink_local_ms, fs)
    P[sk.P_SWING_MIN] = math.radians(p.swing_min_deg)
    P[sk.P_TO_TOL] = p.toe_off_tolerance_radps
    P[sk.P_TO_RISE] = p.toe_off_rise_radps
    P[sk.P_TO_BACK] = _samples(p.toe_off_back_ms, fs)
    P[sk.P_TO_SHIFT] = round(p.toe_off_shift_ms * 1e-3 * fs)
    P[sk.P_SWPK_KEEP] = p.swing_keep_fraction
    P[sk.P_DUTY_WALK] = p.duty_walk
    P[sk.P_J_DECAY] = 0.5 ** (1.0 / (p.jerk_decay_s * fs))
    P[sk.P_SH_MISS] = p.shock_missed_strides
    P[sk.P_SH_MISS_HALF] = p.shock_missed_halving_strides
    P[sk.P_C_ALPHA] = _alpha(p.tilt_memory_s * 1e3, fs)
    if p.gyro_bias_memory_s > 0.0:  # PI loop poles at -1/tilt_memory_s, -1/gyro_bias_memory_s
        P[sk.P_B_GAIN] = 1.0 / (p.tilt_memory_s * p.gyro_bias_memory_s * fs)
    P[sk.P_ANGLE_SETTLE] = _samples(p.angle_settle_s * 1e3, fs)
    P[sk.P_STILL_RADPS] = p.still_radps
    P[sk.P_STILL_ACC] = p.still_acc_mps2
    P[sk.P_STILL_N] = _samples(p.still_s * 1e3, fs)
    P[sk.P_CLIP_MPS2] = p.acc_range_g * p.clip_fraction * sk.G0
    P[sk.P_CLIP_PRE] = _samples(p.clip_before_ic_ms, fs, 0)
    P[sk.P_LATE_FRAC] = p.late_swing_fraction
    b0, b1, b2, a1, a2 = highpass_biquad(p.shock_highpass_hz, fs)
    P[sk.P_HP_B0] = b0
    P[sk.P_HP_B1] = b1
    P[sk.P_HP_B2] = b2
    P[sk.P_HP_A1] = a1
    P[sk.P_HP_A2] = a2
    P[sk.P_SH_W] = _samples(p.shock_window_ms, fs)
    P[sk.P_SH_D] = _samples(p.shock_confirm_ms, fs)
    P[sk.P_SH_START] = _samples(p.shock_start_ms, fs)
    P[sk.P_SH_HOLD] = p.shock_hold_fraction
    P[sk.P_SH_FLOOR] = p.shock_floor_mps2
    P[sk.P_SH_FRAC] = p.shock_fraction
    P[sk.P_SH_KEEP] = p.shock_keep_fraction
    P[sk.P_SH_BETA] = p.shock_onset_fraction
    P[sk.P_SH_GAP] = _samples(p.shock_onset_gap_ms, fs)
    P[sk.P_SH_BACK] = _samples(p.shock_onset_back_ms, fs)
    P[sk.P_SH_RELOCK] = p.shock_relock_ratio
    P[sk.P_SH_OFF] = _samples(p.shock_relock_after_ms, fs)
    bl = _samples(p.rhythm_bin_ms, fs)
    bin_s = bl / fs
    P[sk.P_AC_BIN] = bl
    P[sk.P_AC_NB] = min(P[sk.P_RING], max(4.0, round(p.rhythm_window_s / bin_s)))
    P[sk.P_AC_KLO] = max(1.0, round(p.rhythm_stride_min_s / bin_s))
    P[sk.P_AC_KHI] = min(P[sk.P_AC_NB] - 2,
                         max(P[sk.P_AC_KLO], round(p.rhythm_stride_max_s / bin_s)))
    P[sk.P_AC_MIN] = p.rhythm_min_corr
    P[sk.P_AC_PICK] = p.rhythm_pick_fraction
    P[sk.P_AC_KEEP] = p.rhythm_keep_fraction
    if P[sk.P_PEAK_WIN] >= P[sk.P_MIN_CONTACT]:
        raise ValueError("peak_window_ms must be shorter than min_contact_ms")
    return P


class ShinStage(ArrayState):
    """Contacts and per-step shin metrics; ``step`` returns (steps (k, N_S), ics (m, N_E))."""

    def __init__(self, fs_hz: float, params: ShinParams | None = None) -> None:
        self.fs_hz = float(fs_hz)
        self.params = params or ShinParams()
        self.P = _vector(self.params, self.fs_hz)
        self.reset()

    def reset(self) -> None:
        self.state = sk.init_state(int(self.P[sk.P_RING]))

    def step(self, sample_idx: np.ndarray, t_us: np.ndarray, acc: np.ndarray, gyr: np.ndarray,
             flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.ascontiguousarray(sample_idx, np.int64)
        t = np.ascontiguousarray(t_us, np.float64)
        a = np.ascontiguousarray(acc, np.float64).reshape(-1, 3)
        g = np.ascontiguousarray(gyr, np.float64).reshape(-1, 3)
        f = np.ascontiguousarray(flags, np.uint8)
        n = a.shape[0]
        # at most one IC per refractory / min contact and one step per IC; +2 for block edges
        per = int(min(self.P[sk.P_MIN_CONTACT], self.P[sk.P_REFRACT_MIN]))
        cap = 2 * step_capacity(n, per)
        steps = np.empty((cap, sk.N_S))
        ics = np.empty((cap, sk.N_E))
        s = self.state
        k, m = sk.shin_step(self.P, s["F"], s["I"], s["ring_f"], s["ring_acc"], s["ring_idx"],
                            idx, t, a, g, f, steps, ics)
        return steps[:k], ics[:m]

    def flush(self) -> np.ndarray:
        """End of stream: the open step's record (toe-off unknown), (0 or 1, N_S). Call once
        after the last ``step``; the stage then starts a new cycle."""
        out = np.empty((1, sk.N_S))
        s = self.state
        k = sk.shin_flush(self.P, s["F"], s["I"], s["ring_f"], s["ring_idx"], out)
        return out[:k]

    def report(self) -> dict[str, object]:
        F, I = self.state["F"], self.state["I"]
        s = -1.0 if F[sk.F_S3] < 0 else 1.0
        return {"phase": ["stance", "swing", "armed"][int(I[sk.I_PHASE])],
                "gyro_mode": bool(I[sk.I_GYRO] == 1),
                "gait_mode": ["unknown", "walk", "run"][int(I[sk.I_MODE])],
                "sagittal_axis": (s * F[sk.F_AX:sk.F_AX + 3]).tolist(),
                "shock_threshold_mps2": max(self.params.shock_floor_mps2,
                                            self.params.shock_fraction * float(F[sk.F_JPK_EMA])),
                "rhythm_stride_s": float(F[sk.F_AC_STRIDE]) / self.fs_hz,
                "swing_peak_radps": float(F[sk.F_SWPK_EMA]),
                "long_axis_from_still": bool(I[sk.I_HAVE_STILL]),
                "shank_angle_deg": math.degrees(float(F[sk.F_THETA])),
                "params": asdict(self.params)}


def shin_steps_table(steps: np.ndarray, placement: Placement | str,
                     time_offset_s: float = 0.0) -> Columns:
    """A STEPS-schema columns dict from ``ShinStage.step`` records (device µs + offset → s)."""
    pl = Placement(placement)
    side = pl.side.value if pl.side is not None else ""
    s = np.asarray(steps, float).reshape(-1, sk.N_S)
    n = len(s)

    cols = contact_columns(s, sk, pl.value, side, lambda x: x * 1e-6 + time_offset_s)
    cols.update({
        "peak_tibial_acc_g": s[:, sk.S_PEAK_AXIAL_G],
        "shank_angle_ic_deg": s[:, sk.S_ANGLE_IC_DEG],
        "shank_loading_rotation_deg": s[:, sk.S_LOAD_ROT_DEG],
    })
    return steps_table(cols, n)
