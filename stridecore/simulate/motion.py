"""Motion sources: true time in, specific force and angular rate in the sensor frame out.

A motion source is a pure function of time, so a simulated sensor gives the same samples however
its time is advanced. :class:`PeriodicGait` is a simple periodic running stride of a shoe-mounted
sensor (laces; x forward, y left, z up when standing): foot pitch, forward and vertical foot
motion shaped like a running stride, and a damped impact transient at initial contact. It is a
placeholder for the biomechanics simulator, which plugs in through the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

G_MPS2 = 9.80665


class MotionSource(Protocol):
    """``sample(t_s)`` → ``(acc_mps2 (N, 3), gyr_radps (N, 3))`` in the sensor frame."""

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def _smooth_bump(phase: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 outside [start, end], a raised-cosine bump of height 1 inside."""
    x = (phase - start) / (end - start)
    inside = (x >= 0) & (x <= 1)
    return np.where(inside, 0.5 - 0.5 * np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)


@dataclass(frozen=True)
class PeriodicGait:
    """A periodic running stride seen by a foot (laces) sensor.

    ``cadence_spm`` steps per minute (both feet), ``speed_mps`` running speed,
    ``strike_angle_deg`` sole angle at contact (+ toes-up), ``contact_frac`` stance share of the
    stride, ``impact_g`` peak of the contact transient, ``phase_offset`` shifts the stride (0.5
    for the other foot).
    """

    cadence_spm: float = 170.0
    speed_mps: float = 3.3
    strike_angle_deg: float = 8.0
    contact_frac: float = 0.36
    toe_off_angle_deg: float = -60.0
    swing_peak_angle_deg: float = 25.0
    clearance_m: float = 0.12
    impact_g: float = 6.0
    impact_freq_hz: float = 28.0
    impact_decay_ms: float = 12.0
    phase_offset: float = 0.0
    _grid: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def stride_s(self) -> float:
        return 120.0 / self.cadence_spm

    def _table(self) -> dict[str, np.ndarray]:
        if self._grid:
            return self._grid
        m = 4096
        ph = np.arange(m) / m
        c = self.contact_frac
        t_stride = self.stride_s
        # foot pitch (toes-up +): strike angle -> flat by 20% of stance -> heel-off -> toe-off
        # angle at end of stance -> swing: toes come up to the swing peak -> strike angle.
        keys_ph = np.array([0.0, 0.2 * c, 0.55 * c, c, c + 0.25 * (1 - c),
                            c + 0.75 * (1 - c), 1.0])
        keys_deg = np.array([self.strike_angle_deg, 0.0, 0.0, self.toe_off_angle_deg,
                             -20.0, self.swing_peak_angle_deg, self.strike_angle_deg])
        pitch = np.deg2rad(np.interp(ph, keys_ph, keys_deg))
        # smooth the corners with a circular moving average (~3% of the stride)
        k = 121
        ker = np.ones(k) / k
        pitch = np.convolve(np.concatenate([pitch[-k:], pitch, pitch[:k]]), ker, "same")[k:-k]
        # forward foot velocity: zero in stance, a bump in swing averaging the stride speed
        swing = _smooth_bump(ph, c, 1.0)
        v_fwd = swing * self.speed_mps / max(swing.mean(), 1e-9)
        z = self.clearance_m * _smooth_bump(ph, c, 1.0) ** 2
        dt = t_stride / m

        def d(x: np.ndarray) -> np.ndarray:
            return (np.roll(x, -1) - np.roll(x, 1)) / (2 * dt)

        self._grid.update(pitch=pitch, pitch_rate=d(pitch), a_fwd=d(v_fwd), a_up=d(d(z)))
        return self._grid

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tab = self._table()
        t_s = np.asarray(t_s, dtype=np.float64)
        phase = (t_s / self.stride_s + self.phase_offset) % 1.0
        m = tab["pitch"].size
        x = phase * m
        i0 = np.floor(x).astype(np.int64) % m
        i1 = (i0 + 1) % m
        w = x - np.floor(x)

        def at(name: str) -> np.ndarray:
            a = tab[name]
            return a[i0] * (1 - w) + a[i1] * w

        pitch, rate = at("pitch"), at("pitch_rate")
        a_fwd, a_up = at("a_fwd"), at("a_up")
        # impact: damped sinusoid after each contact, mostly along the sensor's z
        since_ic = phase * self.stride_s
        env = np.exp(-since_ic / (self.impact_decay_ms * 1e-3))
        shock = self.impact_g * G_MPS2 * env * np.sin(2 * np.pi * self.impact_freq_hz * since_ic)
        # world-frame specific force (forward, up) = a - g, rotated into the pitched sensor
        f_fwd, f_up = a_fwd, a_up + G_MPS2
        cp, sp = np.cos(pitch), np.sin(pitch)
        acc = np.empty((t_s.size, 3))
        acc[:, 0] = cp * f_fwd + sp * f_up + 0.3 * shock
        acc[:, 1] = 0.0
        acc[:, 2] = -sp * f_fwd + cp * f_up + shock
        gyr = np.zeros((t_s.size, 3))
        gyr[:, 1] = -rate  # toes-up is a negative rotation about +y (x fwd, y left, z up)
        return acc, gyr
