"""Knee flexion stage: thigh + shank IMUs → sagittal knee angle per sample.

See :mod:`stridecore.dsp.kernels.knee` for the method (principal-gyro sagittal axes, skewness
sign, one-axis complementary filters, standing offset or terminal-swing zero-angle update)
and its references.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stridecore.dsp.kernels import knee as kk


@dataclass(frozen=True)
class KneeParams:
    """Knee flexion (:mod:`stridecore.dsp.kernels.knee`)."""

    moving_radps: float = 1.0  # |ω| above which a sample informs axis and sign
    memory_s: float = 30.0  # forgetting time of the gyro second moment, in moving time
    update_s: float = 0.05  # eigenvector refresh period, in moving time
    ready_s: float = 0.5  # moving time before axis and sign are trusted
    sign_memory_s: float = 20.0  # forgetting time of the rate moments (sign), in moving time
    sign_skew: float = 0.1  # |skewness| of the rate that confirms a segment's sign ...
    sign_flip_skew: float = 0.6  # ... and, against a confirmed sign, flips it
    tau_s: float = 1.5  # complementary filter time constant
    settle_tau_s: float = 0.05  # ... right after an (re)initialisation, ramping to tau_s ...
    settle_s: float = 1.0  # ... over this time
    dynamic_acc_mps2: float = 2.0  # | |a| - g | below this ...
    quiet_radps: float = 2.0  # ... and |ω| below this: the accelerometer corrects ...
    reject_deg: float = 15.0  # ... unless it disagrees by more than this (once settled);
    recover_s: float = 0.5  # rejected quiet time (in samples) that restarts the settling
    gyro_smooth_ms: float = 100.0  # |ω| smoothing for the standing test
    still_radps: float = 0.2  # standing: smoothed |ω| below this on both segments ...
    still_acc_mps2: float = 0.5  # ... and | |a| - g | below this ...
    still_s: float = 0.3  # ... for this long
    standing_knee_deg: float = 0.0  # knee assumed while standing (offset assumption)
    offset_smooth_s: float = 0.5  # offset EMA while standing continues
    # without a standing period: gyro-integrated knee, zero-angle update at the end of swing
    event_knee_deg: float = 9.0  # knee assumed at the first terminal-swing minimum of a run
    event_drop_deg: float = 30.0  # extension from the running maximum that arms the event ...
    event_rise_deg: float = 3.0  # ... re-flexion above the minimum that confirms it ...
    event_timeout_s: float = 0.4  # ... or this long armed (the leg stays straight)
    event_gain: float = 0.3  # share of the offset innovation taken at later events
    event_bias_gain: float = 0.2  # share of innovation / time since the last event → drift
    event_bias_max_radps: float = 0.1  # bound on the drift (relative gyro bias) estimate
    # the end-of-swing knee per stride from the stride's knee range (swing peak − minimum)
    event_walk_range_deg: float = 70.0  # range below this: walking ...
    event_walk_knee_deg: float = 4.0  # ... end-of-swing knee assumed
    event_run_knee_a_deg: float = 54.3  # running: a + b · range ...
    event_run_knee_b: float = -0.525
    event_run_knee_lo_deg: float = 2.0  # ... clipped to [lo, hi]
    event_run_knee_hi_deg: float = 17.0
    stand_anchor: bool = True  # standing anchors the event-updated gyro knee (else its own path)


def _alpha(tau_s: float, fs_hz: float) -> float:
    return 1.0 - math.exp(-1.0 / max(1e-9, tau_s * fs_hz))


class KneeStage:
    """Knee flexion (deg, + flexed, NaN while not valid) and flags (``kk.FLAG_*``) per sample.

    ``step`` takes time-aligned thigh and shank blocks of equal length at ``fs_hz``.
    """

    def __init__(self, fs_hz: float, params: KneeParams | None = None) -> None:
        self.fs_hz = fs = float(fs_hz)
        self.params = p = params or KneeParams()
        P = np.zeros(kk.N_P)
        P[kk.P_DT] = 1.0 / fs
        P[kk.P_MOVING_RADPS] = p.moving_radps
        P[kk.P_DECAY] = math.exp(-1.0 / (p.memory_s * fs))
        P[kk.P_UPDATE] = max(1, round(p.update_s * fs))
        P[kk.P_READY] = max(1, round(p.ready_s * fs))
        P[kk.P_SKEW_DECAY] = math.exp(-1.0 / (p.sign_memory_s * fs))
        P[kk.P_SIGN_SKEW] = p.sign_skew
        P[kk.P_SIGN_FLIP] = p.sign_flip_skew
        P[kk.P_GAIN] = min(1.0, 1.0 / (p.tau_s * fs))
        P[kk.P_GAIN_SETTLE] = min(1.0, 1.0 / (p.settle_tau_s * fs))
        P[kk.P_SETTLE] = max(1, round(p.settle_s * fs))
        P[kk.P_DYN_ACC] = p.dynamic_acc_mps2
        P[kk.P_QUIET_RADPS] = p.quiet_radps
        P[kk.P_REJECT_RAD] = math.radians(p.reject_deg)
        P[kk.P_RECOVER] = max(1, round(p.recover_s * fs))
        P[kk.P_W_ALPHA] = _alpha(p.gyro_smooth_ms * 1e-3, fs)
        P[kk.P_STILL_RADPS] = p.still_radps
        P[kk.P_STILL_ACC] = p.still_acc_mps2
        P[kk.P_STILL_N] = max(1, round(p.still_s * fs))
        P[kk.P_STAND_KNEE] = math.radians(p.standing_knee_deg)
        P[kk.P_EV_KNEE] = math.radians(p.event_knee_deg)
        P[kk.P_EV_DROP] = math.radians(p.event_drop_deg)
        P[kk.P_EV_RISE] = math.radians(p.event_rise_deg)
        P[kk.P_EV_TIMEOUT] = max(1, round(p.event_timeout_s * fs))
        P[kk.P_EV_GAIN] = p.event_gain
        P[kk.P_EV_BIAS_GAIN] = p.event_bias_gain
        P[kk.P_EV_BIAS_MAX] = p.event_bias_max_radps
        P[kk.P_EV_WALK_RANGE] = math.radians(p.event_walk_range_deg)
        P[kk.P_EV_WALK_KNEE] = math.radians(p.event_walk_knee_deg)
        P[kk.P_EV_RUN_A] = math.radians(p.event_run_knee_a_deg)
        P[kk.P_EV_RUN_B] = p.event_run_knee_b
        P[kk.P_EV_RUN_LO] = math.radians(p.event_run_knee_lo_deg)
        P[kk.P_EV_RUN_HI] = math.radians(p.event_run_knee_hi_deg)
        P[kk.P_STAND_ANCHOR] = 1.0 if p.stand_anchor else 0.0
        P[kk.P_OFF_ALPHA] = _alpha(p.offset_smooth_s, fs)
        self.P = P
        self.reset()

    def reset(self) -> None:
        self.F, self.I = kk.init_state()

    def step(self, acc_thigh_mps2: np.ndarray, gyr_thigh_radps: np.ndarray,
             acc_shank_mps2: np.ndarray, gyr_shank_radps: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        blocks = [np.ascontiguousarray(x, np.float64).reshape(-1, 3)
                  for x in (acc_thigh_mps2, gyr_thigh_radps, acc_shank_mps2, gyr_shank_radps)]
        n = blocks[0].shape[0]
        if any(b.shape[0] != n for b in blocks):
            raise ValueError("thigh and shank blocks must have the same length")
        knee = np.empty(n)
        flags = np.empty(n, np.int64)
        kk.knee_step(self.P, self.F, self.I, *blocks, knee, flags)
        return knee, flags

    def snapshot(self) -> dict[str, np.ndarray]:
        return {"F": self.F.copy(), "I": self.I.copy()}

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        self.F, self.I = snap["F"].copy(), snap["I"].copy()

    def report(self) -> dict[str, object]:
        F, I = self.F, self.I
        seg = {}
        for s, name in enumerate(("thigh", "shank")):
            b, c = s * kk.N_FS, s * kk.N_IS
            m2 = F[b + kk.FS_M2]
            seg[name] = {
                "axis": (I[c + kk.IS_SIGN] * F[b + kk.FS_AX:b + kk.FS_AX + 3]).tolist(),
                "sign": int(I[c + kk.IS_SIGN]), "sign_confirmed": bool(I[c + kk.IS_SIGN_SURE]),
                "rate_skewness": float(F[b + kk.FS_M3] / m2 ** 1.5) if m2 > 0 else 0.0,
                "moving_samples": int(I[c + kk.IS_MOVING]),
                "inclination_deg": math.degrees(I[c + kk.IS_SIGN] * F[b + kk.FS_ALPHA]),
                "inclination_ok": bool(I[c + kk.IS_ALPHA_OK])}
        return {**seg, "offset_deg": math.degrees(F[kk.F_OFFSET]),
                "offset_from": ["none", "gait event", "standing"][int(I[kk.I_OFF_KIND])],
                "gyro_knee_offset_deg": math.degrees(F[kk.F_KG_OFF]),
                "gyro_knee_drift_dps": math.degrees(F[kk.F_KG_BIAS]),
                "params": asdict(self.params)}
