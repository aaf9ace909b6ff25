"""Pipeline stages: frozen Params (units in the names), explicit State, ``step``, ``reset``.

A stage turns its Params into the kernel's float vector once (ms -> samples at the stage's
rate), owns plain numpy state arrays created by :meth:`reset`, and calls its ``@njit`` kernel
per block. Blocks are made contiguous float64 at this boundary so kernels compile once.
``snapshot()`` / ``restore()`` copy the whole state, ``report()`` gives the internals.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stridecore.dsp.kernels import foot as fk
from stridecore.dsp.kernels import mount as mk


@dataclass(frozen=True)
class MountParams:
    """Pitch-axis estimation (:mod:`stridecore.dsp.kernels.mount`)."""

    moving_radps: float = 1.5  # |ω| above which a sample informs the axis
    memory_s: float = 30.0  # forgetting time of the gyro second moment, in moving time
    update_s: float = 0.05  # eigenvector refresh period, in moving time
    ready_s: float = 0.25  # moving time before the axis is trusted
    reference_memory_s: float = 120.0  # forgetting time of the reference axis
    slip_deg: float = 25.0  # fast vs reference axis beyond this: mounting changed...
    settle_s: float = 10.0  # ... then the reference follows the axis this long (moving time)
    gyro_smooth_ms: float = 10.0  # |ω| smoothing for the flat-foot test of the sign vote
    flat_radps: float = 1.5  # smoothed |ω| below this is flat...
    flat_acc_mps2: float = 4.0  # ... with | |a| - g | below this
    flat_hold_ms: float = 20.0  # flat this long makes a flat period
    vote_deg: float = 10.0  # pitch since heel-off that casts a stride's sign vote...
    vote_max_s: float = 3.0  # ... within this time
    sign_votes: float = 1.5  # vote (decay 0.7 per stride) that confirms the toes-up sign


@dataclass(frozen=True)
class FootParams:
    """Foot events and metrics (:mod:`stridecore.dsp.kernels.foot`). Same defaults 100–1600 Hz;
    tuned on simulator 1.1.0 dev seeds 1–6 (laces, 833 Hz), the gaitmap example and Marpino
    dev (``benchmarks/foot_accuracy.py``)."""

    # signals
    jerk_lag_ms: float = 5.0  # jerk = |a[n] − a[n − lag]| / lag
    gyro_smooth_ms: float = 10.0  # EMA time constant of |ω| (flat-foot, swing)
    acc_smooth_ms: float = 15.0  # EMA time constant of a (the stride strapdown's frame)
    gravity_window_ms: float = 20.0  # gravity at flat-foot: raw a averaged this long up to it
    # the gait cycle
    arm_swing_radps: float = 2.0  # toes-up swing peak that arms the contact search
    min_swing_ms: float = 150.0  # no contact sooner after toe-off
    min_contact_ms: float = 80.0  # no toe-off sooner after contact
    flat_foot_delay_ms: float = 10.0  # flat-foot not sooner after contact
    toe_off_radps: float = 1.5  # toes-down push-off peak needed for a toe-off
    flat_foot_radps: float = 1.5  # smoothed |ω| below this is flat...
    flat_foot_hold_ms: float = 20.0  # ... for this long before a toe-off may follow
    stance_max_s: float = 2.5  # longer: standing (the contact is emitted without toe-off)
    swing_max_s: float = 2.0  # longer: the cycle is lost
    # the contact: impact burst
    jerk_floor_mps3: float = 15000.0  # burst threshold = max(floor, fraction × recent peaks)
    jerk_fraction: float = 0.3
    jerk_min_mps3: float = 3000.0  # smallest late burst taken at the burst_wait timeout
    jerk_walkback_fraction: float = 0.25  # onset: walk back while the jerk is above this × thr
    walkback_ms: float = 30.0  # ... at most this far
    walkback_rise: float = 1.1  # ... and stops where the jerk rises again by this factor
    burst_rise_fraction: float = 0.75  # a burst's jerk rises by this × threshold within
    # the jerk lag (an impact steps the acceleration; late-swing rotation ramps it: not a burst)
    lift_radps: float = 2.0  # toes-up rate after flat-foot with no push-off yet: the foot was
    # lifted without one (a shuffling or turning step); the step ends, toe-off unknown (0: off)
    lift_deg: float = 10.0  # ... once that rotation (above half lift_radps) reached this
    burst_wait_ms: float = 150.0  # running: after the zero crossing, wait this for a burst
    ic_shift_ms: float = 0.0  # added to a burst onset (0: the onset is the contact)
    # walking and the gait mode
    duty_walk: float = 0.5  # walking: contact / stride above this...
    walk_stride_s: float = 0.85  # ... and a stride longer than this
    walk_flat_ms: float = 400.0  # before any step: a flat stance this long says walking
    walk_wait_ms: float = 60.0  # walking contact declared this long after the zero crossing
    run_burst_mps3: float = 25000.0  # within walk_wait, a burst above this and above
    run_burst_factor: float = 2.5  # this times the walker's slap is a running contact
    # level reference, angles
    still_radps: float = 0.3  # standing still: |ω| below this...
    still_acc_mps2: float = 0.5  # ... | |a| − g | below this ...
    still_s: float = 0.5  # ... this long: the level reference
    level_steps: int = 8  # without standing: mean flat-foot gravity of this many steps...
    level_skip_steps: int = 2  # ... after skipping the first ones
    # the stride-path level (zero-velocity-update strapdown): from the first strides' path
    # slopes, replaces the reference when they disagree
    path_strides_min: int = 5  # strides before it may replace the reference...
    path_strides: int = 32  # ... learnt from this many strides (at most 64)...
    path_disagree_deg: float = 3.0  # ... when further than this (+ 2 SE) from the reference
    path_noise_min_deg: float = 2.5  # per-stride spread taken at least this in the SE
    path_slope_max_deg: float = 20.0  # a steeper stride path is not used
    path_stride_min_m: float = 0.5  # nor a shorter stride
    path_turn_max_deg: float = 10.0  # nor a turning one (the strapdown is sagittal)
    path_gain: float = 0.02  # then each stride moves it this fraction of its offset...
    path_step_deg: float = 2.0  # ... clipped to this
    flat_foot_acc_mps2: float = 3.0  # | |a| − g | at flat-foot above this voids the angles
    grade_max_deg: float = 40.0  # a steeper flat-foot voids the angles (not flat)
    # impact and clipping
    peak_window_ms: float = 60.0  # peak |a| after contact
    acc_range_g: float = 0.0  # clipping limit if known (0: only the CLIPPED_ACC flag)
    clip_fraction: float = 0.99  # an axis at this fraction of the range is clipped
    clip_before_ic_ms: float = 10.0  # clipping this long before contact counts for the step
    ring_s: float = 4.0  # look-back buffer


class ArrayState:
    """A stage whose whole state is ``self.state``, a dict of numpy arrays."""

    state: dict[str, np.ndarray]

    def snapshot(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.state.items()}

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        self.state = {k: v.copy() for k, v in snap.items()}


def step_capacity(n: int, per_samples: float, extra: int = 2) -> int:
    """Rows to allocate for the records a block of ``n`` samples can complete when a record
    needs at least ``per_samples`` samples (+ ``extra`` for the block edges)."""
    return n // max(1, int(per_samples)) + extra


def _samples(ms: float, fs_hz: float, minimum: int = 1) -> float:
    return float(max(minimum, round(ms * 1e-3 * fs_hz)))


def _alpha(tau_ms: float, fs_hz: float) -> float:
    return 1.0 - math.exp(-1.0 / max(1e-9, tau_ms * 1e-3 * fs_hz))


class MountStage:
    """The foot's toes-up pitch axis per sample (axis (n, 3) and flags (n,) per block)."""

    def __init__(self, fs_hz: float, params: MountParams | None = None) -> None:
        self.fs_hz = float(fs_hz)
        self.params = params or MountParams()
        p = self.params
        P = np.zeros(mk.N_P)
        P[mk.P_MOVING_RADPS] = p.moving_radps
        P[mk.P_DECAY] = math.exp(-1.0 / (p.memory_s * self.fs_hz))
        upd = max(1, round(p.update_s * self.fs_hz))
        P[mk.P_DECAY_REF] = math.exp(-upd / (p.reference_memory_s * self.fs_hz))
        P[mk.P_UPDATE] = upd
        P[mk.P_READY] = max(1, round(p.ready_s * self.fs_hz))
        P[mk.P_SLIP_COS] = math.cos(math.radians(p.slip_deg))
        P[mk.P_HOLD] = max(1, round(p.settle_s * self.fs_hz))
        P[mk.P_W_ALPHA] = _alpha(p.gyro_smooth_ms, self.fs_hz)
        P[mk.P_FLAT_RADPS] = p.flat_radps
        P[mk.P_FLAT_ACC] = p.flat_acc_mps2
        P[mk.P_FLAT_HOLD] = _samples(p.flat_hold_ms, self.fs_hz)
        P[mk.P_VOTE_MAX] = _samples(p.vote_max_s * 1e3, self.fs_hz)
        P[mk.P_SIGN_SURE] = p.sign_votes
        P[mk.P_VOTE_RAD] = math.radians(p.vote_deg)
        P[mk.P_DT] = 1.0 / self.fs_hz
        self.P = P
        self.reset()

    def reset(self) -> None:
        self.F, self.I = mk.init_state()

    def step(self, gyr_radps: np.ndarray, acc_mps2: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        n = gyr_radps.shape[0]
        axis = np.empty((n, 3))
        flags = np.empty(n, np.int64)
        mk.mount_step(self.P, self.F, self.I, gyr_radps, acc_mps2, axis, flags)
        return axis, flags

    def snapshot(self) -> dict[str, np.ndarray]:
        return {"F": self.F.copy(), "I": self.I.copy()}

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        self.F, self.I = snap["F"].copy(), snap["I"].copy()

    def axis(self) -> np.ndarray:
        """The toes-up axis in force (unit, sensor frame)."""
        return self.I[mk.I_SIGN] * self.F[mk.F_AX:mk.F_AX + 3]

    def report(self) -> dict[str, object]:
        return {"axis": self.F[mk.F_AX:mk.F_AX + 3].tolist(),
                "reference_axis": self.F[mk.F_REF:mk.F_REF + 3].tolist(),
                "moving_samples": int(self.I[mk.I_MOVING]),
                "toes_up_sign": int(self.I[mk.I_SIGN]),
                "sign_vote": float(self.F[mk.F_VOTE]),
                "mount_changes": int(self.I[mk.I_CHANGES])}


class FootStage(ArrayState):
    """Contacts and per-step foot metrics; ``step`` returns (steps (k, N_S), ics (m, N_E))."""

    def __init__(self, fs_hz: float, params: FootParams | None = None) -> None:
        self.fs_hz = fs = float(fs_hz)
        self.params = p = params or FootParams()
        P = np.zeros(fk.N_P)
        P[fk.P_FS] = fs
        P[fk.P_JERK_K] = _samples(p.jerk_lag_ms, fs)
        P[fk.P_W_ALPHA] = _alpha(p.gyro_smooth_ms, fs)
        P[fk.P_A_ALPHA] = _alpha(p.acc_smooth_ms, fs)
        P[fk.P_GRAV_N] = _samples(p.gravity_window_ms, fs, 0)
        P[fk.P_ARM_RADPS] = p.arm_swing_radps
        P[fk.P_MIN_SWING] = _samples(p.min_swing_ms, fs)
        P[fk.P_MIN_CONTACT] = _samples(p.min_contact_ms, fs)
        P[fk.P_FF_DELAY] = _samples(p.flat_foot_delay_ms, fs, 0)
        P[fk.P_TO_RADPS] = p.toe_off_radps
        P[fk.P_FF_RADPS] = p.flat_foot_radps
        P[fk.P_FF_HOLD] = _samples(p.flat_foot_hold_ms, fs)
        P[fk.P_JERK_FLOOR] = p.jerk_floor_mps3
        P[fk.P_JERK_FRAC] = p.jerk_fraction
        P[fk.P_JERK_MIN] = p.jerk_min_mps3
        P[fk.P_JERK_LO] = p.jerk_walkback_fraction
        P[fk.P_BURST_WAIT] = _samples(p.burst_wait_ms, fs)
        P[fk.P_WALKBACK] = _samples(p.walkback_ms, fs)
        P[fk.P_WALK_RISE] = p.walkback_rise
        P[fk.P_PEAK_WIN] = _samples(p.peak_window_ms, fs)
        P[fk.P_STILL_RADPS] = p.still_radps
        P[fk.P_STILL_ACC] = p.still_acc_mps2
        P[fk.P_STILL_N] = _samples(p.still_s * 1e3, fs)
        P[fk.P_STANCE_MAX] = _samples(p.stance_max_s * 1e3, fs)
        P[fk.P_SWING_MAX] = _samples(p.swing_max_s * 1e3, fs)
        P[fk.P_LEVEL_STEPS] = p.level_steps
        P[fk.P_LEVEL_SKIP] = p.level_skip_steps
        if not 1 <= p.path_strides <= fk.N_LBUF:
            raise ValueError(f"path_strides must be 1–{fk.N_LBUF}, not {p.path_strides}")
        P[fk.P_LEARN_MIN] = p.path_strides_min
        P[fk.P_LEARN_MAX] = p.path_strides
        P[fk.P_LEARN_T] = math.radians(p.path_disagree_deg)
        P[fk.P_PATH_MAX] = math.radians(p.path_slope_max_deg)
        P[fk.P_PATH_MIN_M] = p.path_stride_min_m
        P[fk.P_PATH_YAW] = math.radians(p.path_turn_max_deg)
        P[fk.P_PATH_SD_MIN] = math.radians(p.path_noise_min_deg)
        P[fk.P_PATH_GAIN] = p.path_gain
        P[fk.P_PATH_STEP] = math.radians(p.path_step_deg)
        P[fk.P_DUTY_WALK] = p.duty_walk
        P[fk.P_WALK_STRIDE] = _samples(p.walk_stride_s * 1e3, fs)
        P[fk.P_WALK_FLAT] = _samples(p.walk_flat_ms, fs)
        P[fk.P_WALK_WAIT] = _samples(p.walk_wait_ms, fs)
        P[fk.P_RUN_JERK] = p.run_burst_mps3
        P[fk.P_RUN_FACTOR] = p.run_burst_factor
        P[fk.P_FF_ACC_TOL] = p.flat_foot_acc_mps2
        P[fk.P_GRADE_MAX] = math.radians(p.grade_max_deg)
        P[fk.P_IC_SHIFT] = round(p.ic_shift_ms * 1e-3 * fs)
        P[fk.P_BURST_RISE] = p.burst_rise_fraction
        P[fk.P_LIFT_RADPS] = p.lift_radps
        P[fk.P_LIFT_RAD] = math.radians(p.lift_deg)
        P[fk.P_CLIP_MPS2] = p.acc_range_g * p.clip_fraction * fk.G0
        P[fk.P_RING] = _samples(p.ring_s * 1e3, fs, 64)
        P[fk.P_CLIP_PRE] = _samples(p.clip_before_ic_ms, fs, 0)
        self.P = P
        self.reset()

    def reset(self) -> None:
        self.state = fk.init_state(int(self.P[fk.P_RING]))

    def step(self, sample_idx: np.ndarray, t_us: np.ndarray, acc: np.ndarray, gyr: np.ndarray,
             flags: np.ndarray, axis: np.ndarray, mflags: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        n = acc.shape[0]
        # at most one step and one IC per min_contact + min_swing; +2 for the block edges
        cap = step_capacity(n, self.P[fk.P_MIN_CONTACT])
        steps = np.empty((cap, fk.N_S))
        ics = np.empty((cap, fk.N_E))
        s = self.state
        k, m = fk.foot_step(self.P, s["F"], s["I"], s["ring_acc"], s["ring_f"], s["ring_idx"],
                            sample_idx, t_us, acc, gyr, flags, axis, mflags, steps, ics)
        return steps[:k], ics[:m]

    def flush(self, axis: np.ndarray) -> np.ndarray:
        """End of the stream: the contact in progress as a step without toe-off (0 or 1 rows;
        ``axis`` the toes-up axis in force). The stage then waits for the next contact."""
        steps = np.empty((1, fk.N_S))
        s = self.state
        k = fk.foot_flush(self.P, s["F"], s["I"], s["ring_acc"], s["ring_f"], s["ring_idx"],
                          float(axis[0]), float(axis[1]), float(axis[2]), steps)
        return steps[:k]

    def report(self) -> dict[str, object]:
        F, I = self.state["F"], self.state["I"]
        return {"phase": ["init", "stance", "swing"][int(I[fk.I_PHASE])],
                "sign_confirmed": bool(I[fk.I_SIGN_SURE]),
                "gait_mode": ["unknown", "walk", "run"][int(I[fk.I_MODE])],
                "jerk_threshold_mps3": max(self.params.jerk_floor_mps3,
                                           self.params.jerk_fraction * float(F[fk.F_JPK_EMA])),
                "level_reference": "stride path" if I[fk.I_PATH_ON] else
                ["none", "flat-foot mean", "standing"][int(I[fk.I_LEVEL_KIND])],
                "stride_path_strides": int(I[fk.I_N_PATH]),
                "params": asdict(self.params)}
