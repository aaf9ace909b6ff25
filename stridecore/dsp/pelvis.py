"""Pelvis stage: steps of both legs, pelvic drop, push-off (:mod:`stridecore.dsp.kernels.pelvis`).

Same contract as :mod:`stridecore.dsp.shin`: frozen :class:`PelvisParams` (units in the names)
turned into the kernel's float vector once, explicit state, ``step`` per block (any length,
chunk invariant), ``reset`` / ``snapshot`` / ``restore`` / ``report``, ``flush`` at the end of a
stream. Works from an accelerometer alone (gyro NaN) and from a two-axis one (the missing axis
NaN): pelvic drop and the side are then NaN / unknown (not guessed).
:func:`pelvis_steps_table` turns the records into a :data:`~stridecore.schema.STEPS` table
(placement ``pelvis``, the side of the leg in stance).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stridecore.dsp.kernels import pelvis as pk
from stridecore.dsp.records import contact_columns, steps_table
from stridecore.dsp.stages import ArrayState, step_capacity
from stridecore.schema import GaitMode, Placement
from stridecore.tables import Columns

_SIDES = np.array(["left", "right", ""], object)
_MODES = np.array(["", GaitMode.WALK.value, GaitMode.RUN.value], object)


@dataclass(frozen=True)
class PelvisParams:
    """Pelvis events and metrics (:mod:`stridecore.dsp.kernels.pelvis`), 100–1600 Hz."""

    jerk_lag_ms: float = 10.0
    tilt_memory_s: float = 6.0  # gravity tracking: pull toward the specific force
    gyro_bias_memory_s: float = 60.0  # gyro bias estimate (integral term): time constant, s;
    # 0: none (a bias tilts the tracked vertical by bias × tilt_memory_s: gravity then leaks
    # into the lateral axis in every stance, one side's sway up, the other's down)
    posture_memory_s: float = 20.0  # reference posture (zero of the roll)
    vertical_memory_s: float = 8.0  # the accelerometer's mean vertical (forward axis, push-off)
    jerk_floor_mps3: float = 30.0
    jerk_fraction: float = 0.55
    jerk_weight: float = 0.3  # of a contact's steepest rise in the level
    jerk_decay_s: float = 1.0  # the rise level halves in this armed time
    refractory_fraction: float = 0.6  # of the last step
    refractory_min_ms: float = 200.0  # steps are longer (cadence < 300 spm)
    step_max_s: float = 1.5
    walkback_ms: float = 80.0
    ic_shift_ms: float = 0.0
    foot_margin_g: float = 0.15  # the foot of the rise: this far above the window's lowest
    peak_window_ms: float = 60.0
    brake_fraction: float = 0.2  # of the step: the braking window (forward axis)
    forward_steps: int = 4
    push_steps: int = 24  # push-off from this many steps in the forward axis on (dev seeds:
    # with fewer it read 0.0-0.14 m/s for a true 0.2-0.3 over the first ~8 s of a run)
    side_fraction: float = 0.4  # of the step: the side decision window
    side_min_deg: float = 0.3
    flight_g: float = 0.3
    flight_min_ms: float = 20.0
    sway_memory_s: float = 1.0  # leak time of the lateral velocity and position integrators
    sway_settle_s: float = 3.0  # after a restart (3 leak times)
    sensor_above_roll_axis_m: float = 0.08  # a sacral clip above the hip joint centres
    slip_deg: float = 20.0  # tracked vertical this far from the posture ...
    slip_s: float = 1.0  # ... this long, while running: the sensor moved on the body
    warmup_s: float = 0.5  # no contact before this: the vertical settles, the rise level
    # starts at the warm-up's steepest rise (a step is shorter)
    ring_s: float = 4.0
    acc_range_g: float = 0.0
    clip_fraction: float = 0.99
    clip_before_ic_ms: float = 10.0


def _samples(ms: float, fs_hz: float, minimum: int = 1) -> float:
    return float(max(minimum, round(ms * 1e-3 * fs_hz)))


def _alpha(tau_s: float, fs_hz: float) -> float:
    return 1.0 - math.exp(-1.0 / max(1e-9, tau_s * fs_hz))


def _vector(p: PelvisParams, fs: float) -> np.ndarray:
    P = np.zeros(pk.N_P)
    P[pk.P_FS] = fs
    P[pk.P_JERK_K] = _samples(p.jerk_lag_ms, fs)
    P[pk.P_C_ALPHA] = _alpha(p.tilt_memory_s, fs)
    P[pk.P_REF_ALPHA] = _alpha(p.posture_memory_s, fs)
    if p.gyro_bias_memory_s > 0.0:  # PI loop poles at -1/tilt_memory_s, -1/gyro_bias_memory_s
        P[pk.P_B_GAIN] = 1.0 / (p.tilt_memory_s * p.gyro_bias_memory_s * fs)
    # a slip's bias: the snapshot 5-10 s old, then no integral for 3 tilt memories
    P[pk.P_GB_SNAP] = _samples(5000.0, fs)
    P[pk.P_GB_HOLD] = _samples(3e3 * p.tilt_memory_s, fs)
    P[pk.P_JERK_FLOOR] = p.jerk_floor_mps3
    P[pk.P_JERK_FRAC] = p.jerk_fraction
    P[pk.P_JERK_KEEP] = p.jerk_weight
    P[pk.P_J_DECAY] = 0.5 ** (1.0 / (p.jerk_decay_s * fs))
    P[pk.P_REFRACT_FRAC] = p.refractory_fraction
    P[pk.P_REFRACT_MIN] = _samples(p.refractory_min_ms, fs)
    P[pk.P_STEP_MAX] = _samples(p.step_max_s * 1e3, fs)
    P[pk.P_WALKBACK] = _samples(p.walkback_ms, fs)
    P[pk.P_IC_SHIFT] = round(p.ic_shift_ms * 1e-3 * fs)
    P[pk.P_PEAK_WIN] = _samples(p.peak_window_ms, fs)
    P[pk.P_BRAKE_FRAC] = p.brake_fraction
    P[pk.P_F_STEPS] = p.forward_steps
    P[pk.P_PUSH_STEPS] = max(p.push_steps, p.forward_steps)
    P[pk.P_SIDE_FRAC] = p.side_fraction
    P[pk.P_SIDE_MIN_RAD] = math.radians(p.side_min_deg)
    P[pk.P_FLIGHT_G] = p.flight_g
    P[pk.P_FLIGHT_MIN] = _samples(p.flight_min_ms, fs)
    P[pk.P_RING] = _samples(p.ring_s * 1e3, fs, 64)
    P[pk.P_CLIP_MPS2] = p.acc_range_g * p.clip_fraction * pk.G0
    P[pk.P_CLIP_PRE] = _samples(p.clip_before_ic_ms, fs, 0)
    P[pk.P_FOOT_MPS2] = p.foot_margin_g * pk.G0
    P[pk.P_UA_ALPHA] = _alpha(p.vertical_memory_s, fs)
    P[pk.P_SWAY_LEAK] = 1.0 / (p.sway_memory_s * fs)
    P[pk.P_SWAY_SETTLE] = _samples(p.sway_settle_s * 1e3, fs)
    P[pk.P_SWAY_ARM] = p.sensor_above_roll_axis_m
    P[pk.P_SLIP_COS] = math.cos(math.radians(p.slip_deg))
    P[pk.P_SLIP_N] = _samples(p.slip_s * 1e3, fs)
    P[pk.P_WARMUP] = _samples(p.warmup_s * 1e3, fs, 0)
    if P[pk.P_RING] < P[pk.P_STEP_MAX] + P[pk.P_WALKBACK] + 2:
        raise ValueError("ring_s must hold a whole step (step_max_s) and the walk-back")
    return P


class PelvisStage(ArrayState):
    """Steps and per-step pelvis metrics; ``step`` returns (steps (k, N_S), ics (m, N_E))."""

    def __init__(self, fs_hz: float, params: PelvisParams | None = None) -> None:
        self.fs_hz = float(fs_hz)
        self.params = params or PelvisParams()
        self.P = _vector(self.params, self.fs_hz)
        self.reset()

    def reset(self) -> None:
        self.state = pk.init_state(int(self.P[pk.P_RING]))

    def step(self, sample_idx: np.ndarray, t_us: np.ndarray, acc: np.ndarray, gyr: np.ndarray,
             flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.ascontiguousarray(sample_idx, np.int64)
        t = np.ascontiguousarray(t_us, np.float64)
        a = np.ascontiguousarray(acc, np.float64).reshape(-1, 3)
        g = np.ascontiguousarray(gyr, np.float64).reshape(-1, 3)
        f = np.ascontiguousarray(flags, np.uint8)
        n = a.shape[0]
        # one IC per refractory time, one record per IC plus one per lost cycle
        cap = 2 * step_capacity(n, self.P[pk.P_REFRACT_MIN])
        steps = np.empty((cap, pk.N_S))
        ics = np.empty((cap, pk.N_E))
        s = self.state
        k, m = pk.pelvis_step(self.P, s["F"], s["I"], s["ring_f"], s["ring_acc"],
                              s["ring_idx"], idx, t, a, g, f, steps, ics)
        return steps[:k], ics[:m]

    def flush(self) -> np.ndarray:
        """End of stream: the open step's record, ended at the last sample (0 or 1, N_S)."""
        out = np.empty((1, pk.N_S))
        s = self.state
        k = pk.pelvis_flush(self.P, s["F"], s["I"], s["ring_f"], s["ring_acc"], s["ring_idx"],
                            out)
        return out[:k]

    def report(self) -> dict[str, object]:
        F, I = self.state["F"], self.state["I"]
        okf, *axes = pk._ref_frame(F)
        return {"steps_for_forward_axis": int(I[pk.I_NF]),
                "forward_axis": axes[3:6] if okf and I[pk.I_NF] >= self.P[pk.P_F_STEPS]
                else None,
                "up_axis": axes[0:3],
                "rise_threshold_mps3": max(self.params.jerk_floor_mps3,
                                           self.params.jerk_fraction * float(F[pk.F_JPK_EMA])),
                "params": asdict(self.params)}


def pelvis_steps_table(steps: np.ndarray, time_offset_s: float = 0.0) -> Columns:
    """A STEPS-schema columns dict from ``PelvisStage.step`` records (device µs + offset → s).
    ``side`` is the leg in stance (empty: unknown); cadence is per step (this sensor sees
    both legs)."""
    s = np.asarray(steps, float).reshape(-1, pk.N_S)
    n = len(s)

    def t(x: np.ndarray) -> np.ndarray:
        return x * 1e-6 + time_offset_s

    cols = contact_columns(s, pk, Placement.PELVIS.value, "", t)
    step_ms = (t(s[:, pk.S_END_TUS]) - cols["t_ic_s"]) * 1e3
    step_ms[~(step_ms > 0)] = np.nan
    side = s[:, pk.S_SIDE]
    cols.update({
        "side": _SIDES[np.where(np.isfinite(side), side, -1).astype(np.int64)],
        "gait_mode": _MODES[np.nan_to_num(s[:, pk.S_MODE]).astype(np.int64)],
        "step_ms": step_ms,
        "flight_ms": (t(s[:, pk.S_END_TUS]) - cols["t_to_s"]) * 1e3,
        "cadence_spm": 60000.0 / step_ms,
        "pelvic_drop_deg": s[:, pk.S_DROP_DEG],
        "pelvis_sway_m": s[:, pk.S_SWAY_M],
        "mount_changed": s[:, pk.S_MOUNT_CHANGED] > 0,
        "push_off_mps": s[:, pk.S_PUSH_MPS],
    })
    return steps_table(cols, n)
