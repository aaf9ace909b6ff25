"""Rendering: a gait plan and sensor specs in, labelled IMU sample streams and per-step truth out.

- :func:`render` / :func:`render_chunks`: sample arrays per sensor (true time, device clock,
  specific force, angular rate, clipping flags), computed in blocks aligned to the sensor's
  sample index so any chunking gives bit-identical arrays.
- :func:`step_truth`: the truth table (``schema.TRUTH``) with angles, knee, pelvis and impact
  peaks *measured* from the rendered kinematics and ideal signals, and events on each sensor's
  own clock.
- :class:`SimulatedMotion`: a :class:`~stridecore.simulate.motion.MotionSource` for the
  simulated device (noise-free; the device adds its own noise and clipping) that reads a lazily
  extended plan.

Impact transient at each contact (Gottschall & Kram 2005, J Biomech 38:445: −9° downhill
raises the impact force peak 54 %; Cheung 2019 / science.md: shoe peaks ~3–4× tibial; tibial
~5–12 g level running at 3 m/s, ~2–4 g at the pelvis): a damped oscillation along the segment's
long axis with a smaller sagittal component, written as the derivative of an enveloped sine so
it adds no net velocity or angle. Its size (:func:`impact_peak_g`) comes from the contact's own
speed, strike, grade and knee angle times the plan's ``impact_scale``, which carries only what
the row does not (terrain, faults, step-to-step variation); it levels off at
:data:`TIBIAL_MAX_G` at the shin and :data:`FOOT_MAX_G` at the foot (science.md: tibial peaks
reach ~25 g, foot peaks up to ~70 g), however the factors compound on a steep descent.

Timing. At the foot the transient is the shoe's collision with the ground: it starts at
contact and peaks within a few ms. Above the ankle (shank, thigh) it follows the impact force:
in heel-strike running the vertical ground reaction force rises to a distinct impact peak
some 20–50 ms after touchdown (Nigg: impact forces peak within 50 ms of first contact;
Lieberman et al. 2010, Nature 463:531; Cavanagh & Lafortune 1980, J Biomech 13:397, at
4.5 m/s), later in slower running with longer contacts, and the tibial acceleration peaks with
it (Milner et al. 2006, Med Sci Sports Exerc 38:323; Bach et al. 2022 dev runners, below),
while a forefoot landing has no distinct impact peak and a smaller, earlier rise. The shank and
thigh transient is therefore the derivative of a gamma-shaped bump (t/τ)ⁿ·e^(−t/τ), which is
flat for the first half of the wait, peaks sharply at t = (n − √n)·τ, and whose later, opposite
lobe returns the velocity it took. In running the peak is at a fraction of the contact time,
:data:`HEEL_IMPACT_PEAK_FRAC` whenever the heel lands first (the impact peak is the heel pad's
collision, however small the strike angle) and :data:`FOREFOOT_IMPACT_PEAK_FRAC` when the ball
does, never later than :data:`IMPACT_PEAK_MAX_S`; in walking at :data:`IMPACT_PEAK_S`.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from firmware_protocol.batch import Samples
from stridecore import tables
from stridecore.schema import LANDING_CUTOFFS, TRUTH, GaitMode, Placement
from stridecore.simulate.body import (
    LOOKAHEAD_ROWS,
    LOOKAHEAD_S,
    BodyParams,
    Kinematics,
    _Bout,
    _Row,
)
from stridecore.simulate.imu import NOISE_BLOCK, SensorSpec, apply_errors, segment_signals
from stridecore.simulate.motion import G_MPS2
from stridecore.simulate.plan import GAIT_MODES, SIDES, STEP_PLAN_DTYPE, TERRAINS, fault_names

IMPACT_WINDOW_S = 0.06  # truth peaks: 0–60 ms after IC
IMPACT_PEAK_S = (0.015, 0.030)  # walking: shank/thigh/pelvis peak after IC: forefoot, heel

HEEL_IMPACT_PEAK_FRAC = 0.145
"""Running, heel first: touchdown → vertical impact-force peak (and the tibial acceleration
peak that coincides with it), as a fraction of the contact time touchdown → lift-off.

Literature: the heel-strike impact peak comes 20–50 ms after touchdown, in the first 10–15 %
of stance (Cavanagh & Lafortune 1980 at 4.5 m/s; Lieberman et al. 2010; Nigg's 50 ms), and
the tibial peak with it (Milner et al. 2006). Value from Bach et al. 2022's dev runners
(``stridecore.bench.bach`` split: persons 1–2, trials 1, 2, 7, 8, 9, treadmill 8.5 km/h;
the test runners were not looked at for this): the force has a distinct impact peak
(890–1180 N, 1.3–1.5 body weights) 35–42 ms after the 50 N force-rule IC and the shank |acc|
peaks within one sample (±7 ms, median 0) of it, 38–42 ms after IC: 15.1 % of the rule's
contact for person 1, 12.1–13.2 % for person 2 (per-trial medians). The rule's IC comes ~4 ms
after touchdown and its TO ~14 ms before lift-off (the same rule on the simulated force,
``realism.force_rule_recording``), so from touchdown, over touchdown → lift-off: 15.6 %
(person 1) and 13.4 % (person 2, trials 12.7–13.7 %); 14.5 % with the two runners weighted
equally (13.7 % pooling their steps, most of which are person 2's)."""
FOREFOOT_IMPACT_PEAK_FRAC = 0.06
"""Running, ball of the foot first: no distinct impact peak, a smaller and earlier rise of the
force (Lieberman et al. 2010); the shank transient peaks at 6 % of contact."""
IMPACT_PEAK_MAX_S = 0.050
"""Latest impact peak after touchdown (s): impact forces are those that peak within 50 ms of
first contact (Nigg 1986, in *Biomechanics of Running Shoes*)."""
TIBIAL_MAX_G = 25.0  # transient size levels off here at the shin (science.md: ~25 g peaks)
FOOT_MAX_G = 70.0  # and here at the foot (science.md: foot peaks up to ~70 g)
PULSE_GYRO_FRAC = 0.4  # gyro per g of the pulse, relative to the collision transient's
_PULSE_N = 16  # gamma bump exponent: the derivative peaks at (n − √n)·τ = 12τ, and its
# main lobe is about a third as wide as its time to peak: the tibial shock is a sharp ~10–15 ms
# spike on top of the loading, not a broad hump (Lafortune et al. 1996, J Biomech 29:1531;
# Bach 2022 dev trials: 3–4.5 g one 7 ms sample before the 7.4–11 g peak, 4–8 g one after)
_PULSE_AT = _PULSE_N - math.sqrt(_PULSE_N)


# --------------------------------------------------------------------------- impact model
@dataclass(frozen=True)
class ImpactModel:
    """Nominal impact transient sizes (g) and shapes; see the module docstring for sources."""

    tibial_run_g: float = 6.5  # shank transient at 3 m/s, level, 10° heel strike, knee 20°
    tibial_walk_g: float = 1.5  # at 1.3 m/s
    grade_gain_per_deg: float = -0.048  # exp(−0.048·grade): −9° → ×1.54
    knee_gain_per_deg: float = 0.03  # straighter knee at contact → larger
    foot_ratio_heel: float = 3.5
    foot_ratio_forefoot: float = 2.5
    thigh_ratio: float = 0.45
    pelvis_ratio: float = 0.3


IMPACT = ImpactModel()

# per segment: (freq Hz forefoot, heel), decay s, direction in the segment frame, gyro rad/s/g
_SHAPE = {
    "foot": ((35.0, 50.0), 0.008, (-0.35, 0.0, 1.0), 0.08),
    "shank": ((22.0, 32.0), 0.012, (0.3, 0.0, 1.0), 0.05),
    "thigh": ((20.0, 25.0), 0.018, (0.2, 0.0, 1.0), 0.03),
    "pelvis": ((20.0, 20.0), 0.025, (0.1, 0.0, 1.0), 0.01),
}


def _heelness(strike_deg: float) -> float:
    return min(max((strike_deg + 8.0) / 18.0, 0.0), 1.0)  # 0 at −8° (forefoot), 1 at 10°


def _heel_first(strike_deg: float) -> float:
    """0 when the ball lands first (strike ≤ −2°), 1 when the heel does (≥ 2°): the impact
    force peak is the heel pad's (and shoe heel's) collision whatever the strike angle."""
    return min(max((strike_deg + 2.0) / 4.0, 0.0), 1.0)


def impact_peak_time_s(row: _Row) -> float:
    """Time from IC (touchdown) to the shank/thigh transient's peak, the impact force peak:
    running :data:`HEEL_IMPACT_PEAK_FRAC` / :data:`FOREFOOT_IMPACT_PEAK_FRAC` of the contact
    time (blended over ±2° of strike), at least ``IMPACT_PEAK_S[0]``, at most
    :data:`IMPACT_PEAK_MAX_S`; walking ``IMPACT_PEAK_S``."""
    h = _heel_first(math.degrees(row.strike))
    if GAIT_MODES[row.mode] is GaitMode.RUN:
        frac = FOREFOOT_IMPACT_PEAK_FRAC + h * (HEEL_IMPACT_PEAK_FRAC
                                                - FOREFOOT_IMPACT_PEAK_FRAC)
        return min(max(frac * row.contact, IMPACT_PEAK_S[0]), IMPACT_PEAK_MAX_S)
    return IMPACT_PEAK_S[0] + h * (IMPACT_PEAK_S[1] - IMPACT_PEAK_S[0])


def _level_off(x: float, cap: float) -> float:
    """``x`` for x ≪ cap, approaching ``cap`` for x ≫ cap (x·(1 + (x/cap)⁴)^(−1/4))."""
    return x / (1.0 + (x / cap) ** 4) ** 0.25


def impact_peak_g(row: _Row, segment: str, model: ImpactModel = IMPACT) -> float:
    """Peak of the modelled transient (g) for a contact at a segment.

    The tibial size follows the contact's speed, strike, grade and knee at IC, times the plan's
    ``impact_scale`` (terrain, faults, variation: none of these factors again); the
    shin's levels off at :data:`TIBIAL_MAX_G` (thigh and pelvis in proportion), the foot's at
    :data:`FOOT_MAX_G`."""
    strike = math.degrees(row.strike)
    running = GAIT_MODES[row.mode] is GaitMode.RUN
    base = (model.tibial_run_g * row.speed / 3.0 if running
            else model.tibial_walk_g * row.speed / 1.3)
    land = min(max(0.75 + 0.025 * strike, 0.45), 1.4)
    grade = min(max(math.exp(model.grade_gain_per_deg * math.degrees(row.grade)), 0.5), 2.5)
    knee = min(max(1.0 + model.knee_gain_per_deg * (20.0 - math.degrees(row.knee_ic)), 0.6),
               1.8)
    tib = base * land * grade * knee * max(row.impact_scale, 0.0)
    if segment == "foot":
        h = _heelness(strike)
        ratio = model.foot_ratio_forefoot + h * (model.foot_ratio_heel
                                                 - model.foot_ratio_forefoot)
        return _level_off(tib * ratio, FOOT_MAX_G)
    ratio = {"shank": 1.0, "thigh": model.thigh_ratio, "pelvis": model.pelvis_ratio}[segment]
    return _level_off(tib, TIBIAL_MAX_G) * ratio


def _transient(t: np.ndarray, f_hz: float, tau_r: float, tau_d: float) -> np.ndarray:
    """d/dt[s(t)·sin ωt]/ω with s = (1 − e^(−t/τr))·e^(−t/τd): zero integral, starts at 0."""
    w = 2.0 * math.pi * f_hz
    er, ed = np.exp(-t / tau_r), np.exp(-t / tau_d)
    s = (1.0 - er) * ed
    ds = ed * (er / tau_r - (1.0 - er) / tau_d)
    return ds * np.sin(w * t) / w + s * np.cos(w * t)


def _pulse(t: np.ndarray, tau: float) -> np.ndarray:
    """d/dt[(t/τ)^n·e^(−t/τ)]: rises from 0, peaks at (n − √n)τ, opposite lobe after nτ; zero
    net velocity change."""
    u = np.maximum(t, 0.0) / tau
    n = _PULSE_N
    return u ** (n - 1) * np.exp(-u) * (n - u) / tau


_PULSE_PEAK = float(np.max(_pulse(np.linspace(0.0, 2 * _PULSE_N, 80001), 1.0)))  # at _PULSE_AT
# velocity taken by the main lobe (0 → nτ) per (peak × τ): the bump's top, nⁿ·e^(−n), over the peak
_PULSE_DV = math.exp(_PULSE_N * math.log(_PULSE_N) - _PULSE_N) / _PULSE_PEAK


def impact_velocity_change_mps(row: _Row, segment: str = "shank") -> float:
    """Speed (m/s) the shank or thigh transient of a contact takes from its segment, along
    the transient's direction (mostly the long axis), between touchdown and the end of its main
    lobe (its later lobe gives it back, so the rendered motion stays that of the body model):
    the part of the segment's touchdown velocity that the impact stops on top of the body
    model's gentler landing."""
    if segment not in ("shank", "thigh"):
        raise ValueError("the force-following pulse is on the shank and the thigh only")
    tau = impact_peak_time_s(row) / _PULSE_AT
    return impact_peak_g(row, segment) * G_MPS2 * tau * _PULSE_DV


_NORM: dict[tuple[float, float, float], float] = {}


def _shape(row: _Row, segment: str) -> tuple[float, float, float, float]:
    """(frequency Hz, rise s, decay s, normaliser) of the transient of a contact."""
    (f_ff, f_heel), tau_d, _, _ = _SHAPE[segment]
    h = _heelness(math.degrees(row.strike))
    f = f_ff + h * (f_heel - f_ff)
    tau_r = 0.006 - h * 0.0045
    key = (round(f, 6), round(tau_r, 7), tau_d)
    if key not in _NORM:
        tt = np.linspace(0.0, 6 * tau_d, 4001)
        _NORM[key] = float(np.max(np.abs(_transient(tt, f, tau_r, tau_d))))
    return f, tau_r, tau_d, _NORM[key]


def add_impacts(f_seg: np.ndarray, w_seg: np.ndarray, t: np.ndarray, rows: list[_Row],
                segment: str, gain: float) -> None:
    """Add the transients of ``rows``' contacts to specific force and angular rate (segment
    frame), in place."""
    if gain == 0.0 or t.size == 0:
        return
    _, tau_d, direction, gyro_per_g = _SHAPE[segment]
    d = np.asarray(direction) / np.linalg.norm(direction)
    pulse = segment in ("shank", "thigh", "pelvis")
    t_end = 10.0 * IMPACT_PEAK_MAX_S if pulse else 14.0 * tau_d
    for r in rows:
        if r.ic > t[-1] or r.ic + t_end < t[0]:
            continue
        i0, i1 = np.searchsorted(t, [r.ic, r.ic + t_end])
        if i1 <= i0:
            continue
        peak = impact_peak_g(r, segment) * gain
        if pulse:
            tau = impact_peak_time_s(r) / _PULSE_AT
            x = _pulse(t[i0:i1] - r.ic, tau) * (peak * tau / _PULSE_PEAK)
        else:
            f, tau_r, tau_d, norm = _shape(r, segment)
            x = _transient(t[i0:i1] - r.ic, f, tau_r, tau_d) * (peak / norm)
        f_seg[i0:i1] += x[:, None] * (d * G_MPS2)
        # the force-following pulse is mostly an axial deceleration: little rotation
        w_seg[i0:i1, 1] += x * (gyro_per_g * (PULSE_GYRO_FRAC if pulse else 1.0))


# --------------------------------------------------------------------------- streams
@dataclass
class SensorStream:
    """Samples of one simulated sensor: index, true time (s), device clock (µs), specific
    force (N, 3) m/s², angular rate (N, 3) rad/s, SampleFlag bits."""

    placement: Placement
    fs_hz: float
    sample_idx: np.ndarray
    t_true_s: np.ndarray
    t_device_us: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return int(self.sample_idx.size)

    def to_samples(self) -> Samples:
        return Samples(self.sample_idx, self.t_device_us, self.acc_mps2, self.gyr_radps,
                       self.flags)

    @staticmethod
    def concat(parts: Sequence[SensorStream]) -> SensorStream:
        p0 = parts[0]
        return SensorStream(p0.placement, p0.fs_hz,
                            *(np.concatenate([getattr(p, n) for p in parts])
                              for n in ("sample_idx", "t_true_s", "t_device_us", "acc_mps2",
                                        "gyr_radps", "flags")))


def _segment_rows(kin: Kinematics, spec: SensorSpec, t0: float, t1: float) -> list[_Row]:
    """Real contacts that put an impact on the sensor's segment within [t0, t1]."""
    out = []
    side = spec.side_index
    for bout in kin.bouts:
        for r in bout.rows:
            if r.plan_idx < 0 or not (t0 - 0.5 <= r.ic <= t1):
                continue
            if side is None or r.side == side:
                out.append(r)
    return out


class Renderer:
    """Kinematics of a plan, evaluated into ideal and measured sensor signals."""

    def __init__(self, plan: np.ndarray, body: BodyParams | None = None) -> None:
        self.body = body or BodyParams()
        self.plan = plan
        self.kin = Kinematics(plan, self.body)
        self._ic = np.array([r.ic for b in self.kin.bouts for r in b.rows if r.plan_idx >= 0])
        self._rows = [r for b in self.kin.bouts for r in b.rows if r.plan_idx >= 0]

    def _rows_near(self, spec: SensorSpec, t0: float, t1: float) -> list[_Row]:
        i0, i1 = np.searchsorted(self._ic, [t0 - 0.5, t1 + 1e-9])
        side = spec.side_index
        return [r for r in self._rows[i0:i1] if side is None or r.side == side]

    def segment_frame(self, spec: SensorSpec, t: np.ndarray, *, impacts: bool = True,
                      lever_arm_m: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ideal (specific force, angular rate) in the segment frame at the sensor point, and
        the sensor position in the world."""
        t = np.asarray(t, np.float64)
        _, arm = spec.mount_frame(self.body)
        if lever_arm_m is not None:
            arm = lever_arm_m
        traj = self.kin.segment(t, spec.segment, spec.side_index)
        f, w, pos = segment_signals(traj, arm)
        if impacts and spec.impact_gain != 0.0 and t.size:
            add_impacts(f, w, t, self._rows_near(spec, float(t[0]), float(t[-1])),
                        spec.segment, spec.impact_gain)
        return f, w, pos

    def ideal(self, spec: SensorSpec, t: np.ndarray, *, impacts: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free, unclipped (acc (N, 3), gyr (N, 3)) in the sensor frame at true times t
        (sorted)."""
        rot, _ = spec.mount_frame(self.body)
        f, w, _ = self.segment_frame(spec, t, impacts=impacts)
        return f @ rot.T, w @ rot.T

    def samples(self, spec: SensorSpec, k0: int, k1: int, seed: int = 0) -> SensorStream:
        """Measured samples k0..k1−1 of one sensor (block-aligned, chunk invariant)."""
        if k1 <= k0:
            return _empty(spec)
        parts = []
        for b in range(k0 // NOISE_BLOCK, (k1 - 1) // NOISE_BLOCK + 1):
            kb = np.arange(b * NOISE_BLOCK, (b + 1) * NOISE_BLOCK, dtype=np.int64)
            t = spec.t_true_s(kb)
            acc, gyr = self.ideal(spec, t)
            acc, gyr, flags = apply_errors(spec, seed, int(kb[0]), t, acc, gyr)
            lo, hi = max(k0, int(kb[0])), min(k1, int(kb[-1]) + 1)
            s = slice(lo - int(kb[0]), hi - int(kb[0]))
            parts.append(SensorStream(spec.placement, spec.fs_hz, kb[s], t[s],
                                      spec.t_device_us(t[s]), acc[s], gyr[s], flags[s]))
        return SensorStream.concat(parts)


def _empty(spec: SensorSpec) -> SensorStream:
    z = np.zeros(0)
    return SensorStream(spec.placement, spec.fs_hz, np.zeros(0, np.int64), z, z,
                        np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, np.uint8))


def n_samples(spec: SensorSpec, duration_s: float) -> int:
    """Samples of a sensor with true time before ``duration_s``."""
    return max(int(np.ceil((duration_s - spec.t0_s) * spec.fs_true_hz - 1e-9)), 0)


def render_chunks(plan: np.ndarray, sensors: Sequence[SensorSpec], duration_s: float,
                  seed: int = 0, body: BodyParams | None = None, *, chunk_s: float = 20.0,
                  renderer: Renderer | None = None
                  ) -> Iterator[dict[Placement, SensorStream]]:
    """Successive chunks (about ``chunk_s`` of samples each) of :func:`render`."""
    _check_unique(sensors)
    rnd = renderer or Renderer(plan, body)
    n = {s.placement: n_samples(s, duration_s) for s in sensors}
    k = dict.fromkeys(n, 0)
    while any(k[p] < n[p] for p in n):
        out = {}
        for s in sensors:
            step = max(NOISE_BLOCK, round(chunk_s * s.fs_hz / NOISE_BLOCK) * NOISE_BLOCK)
            k1 = min(n[s.placement], k[s.placement] + step)
            out[s.placement] = rnd.samples(s, k[s.placement], k1, seed)
            k[s.placement] = k1
        yield out


def render(plan: np.ndarray, sensors: Sequence[SensorSpec], duration_s: float, seed: int = 0,
           body: BodyParams | None = None, *, chunk_s: float = 20.0
           ) -> dict[Placement, SensorStream]:
    """All samples with true time in [t0, ``duration_s``) of each sensor, keyed by placement."""
    parts: dict[Placement, list[SensorStream]] = {s.placement: [] for s in sensors}
    for chunk in render_chunks(plan, sensors, duration_s, seed, body, chunk_s=chunk_s):
        for p, c in chunk.items():
            parts[p].append(c)
    return {s.placement: (SensorStream.concat(parts[s.placement]) if parts[s.placement]
                          else _empty(s)) for s in sensors}


def _check_unique(sensors: Sequence[SensorSpec]) -> None:
    pl = [s.placement for s in sensors]
    if len(set(pl)) != len(pl):
        raise ValueError("one sensor per placement")


# --------------------------------------------------------------------------- truth
def _next_in_bout(bout: _Bout, i: int) -> _Row | None:
    j = i + 1
    if j < len(bout.rows) and bout.rows[j].plan_idx >= 0:
        return bout.rows[j]
    return None


def step_truth(plan: np.ndarray, sensors: Sequence[SensorSpec], body: BodyParams | None = None,
               *, recording_id: str = "", split: str = "dev", condition: str = "",
               renderer: Renderer | None = None) -> dict[str, np.ndarray]:
    """The truth table: one row per plan row per sensor that sees it (leg sensors: their own
    side; pelvis: every step). Angles, knee, pelvis and impact columns are measured from the
    rendered kinematics and the ideal sensor signals (noise-free, unclipped).

    Impact columns, over the sensor's own samples from the IC sample to
    :data:`IMPACT_WINDOW_S` (60 ms) after IC: ``peak_acc_g`` is the largest |specific force|
    of this sensor (g, 1 g at rest; the body's motion plus the impact transient, before noise
    and range clipping, so it can exceed what a ±16 g sensor shows: at most ~70 g at the foot,
    ``FOOT_MAX_G`` plus the motion); ``peak_tibial_acc_g`` the largest specific force along the
    long axis of the same leg's shank at the shin sensor's site (g, gravity included; at most
    ~25 g, ``TIBIAL_MAX_G``)."""
    _check_unique(sensors)
    rnd = renderer or Renderer(plan, body)
    kin = rnd.kin
    n_grid = 61
    # per plan row, measured once (independent of the sensor)
    meas: dict[int, dict[str, float]] = {}
    for bout in kin.bouts:
        reals = [(i, r) for i, r in enumerate(bout.rows) if r.plan_idx >= 0]
        for side in (0, 1):
            rs = [(i, r) for i, r in reals if r.side == side]
            if not rs:
                continue
            t_ic = np.array([r.ic for _, r in rs])
            tc = np.array([r.to - r.ic for _, r in rs])
            grid = t_ic[:, None] + np.linspace(0.0, 1.0, n_grid)[None, :] * tc[:, None]
            q = kin.coords(np.concatenate([t_ic, grid.ravel()]), (side,))
            leg = q[side]
            m = len(rs)
            kap = (leg["theta"].v - leg["sigma"].v)[m:].reshape(m, n_grid)
            sig = leg["sigma"].v[m:].reshape(m, n_grid)
            roll = q["roll"].v[m:].reshape(m, n_grid)
            py = q["py"].v[m:].reshape(m, n_grid)
            vx = q["px"].d[m:].reshape(m, n_grid)
            load = np.linspace(0.0, 1.0, n_grid) <= 0.6
            for n_, (i, r) in enumerate(rs):
                k_load = np.where(load, kap[n_], -np.inf)
                jpk = int(np.argmax(k_load))
                sgn = 1.0 if side == 0 else -1.0
                prev_same = bout.rows[r.prev_same] if r.prev_same >= 0 else None
                prev = bout.rows[i - 1] if i > 0 else None
                nxt = _next_in_bout(bout, i)
                meas[r.plan_idx] = {
                    "phi": float(leg["phi"].v[n_]),
                    "knee_ic": math.degrees(leg["theta"].v[n_] - leg["sigma"].v[n_]),
                    "knee_peak": math.degrees(kap[n_, jpk]),
                    "shank_ic": math.degrees(leg["sigma"].v[n_]),
                    "shank_rot": math.degrees(sig[n_, 0] - sig[n_, jpk]),
                    "drop": math.degrees(float(np.max(sgn * roll[n_]))),
                    "sway": float(np.max(sgn * py[n_])),
                    "push": float(vx[n_, -1] - np.min(vx[n_])),
                    "stride": (_dist(r.ankle_flat, prev_same.ankle_flat)
                               if prev_same is not None and prev_same.plan_idx >= 0
                               else math.nan),
                    "step": (_dist(r.ankle_flat, prev.ankle_flat)
                             if prev is not None and prev.plan_idx >= 0 else math.nan),
                    "step_ms": (nxt.ic - r.ic) * 1e3 if nxt is not None else math.nan,
                    "flight_ms": (nxt.ic - r.to) * 1e3 if nxt is not None else math.nan,
                }
    cols: dict[str, list] = {c: [] for c in TRUTH.names}
    for spec in sensors:
        side = spec.side_index
        rows = [r for bout in kin.bouts for r in bout.rows
                if r.plan_idx >= 0 and (side is None or r.side == side)]
        if not rows:
            continue
        ics = np.array([r.ic for r in rows])
        k_ic = spec.sample_at_or_after(ics)
        k_to = spec.sample_at_or_after(np.array([r.to for r in rows]))
        k_end = np.maximum(spec.sample_at_or_after(ics + IMPACT_WINDOW_S), k_ic + 1)
        # ideal signals of every impact window at once (sorted, one call per sensor)
        lens = k_end - k_ic
        k_all = np.repeat(k_ic - np.cumsum(np.r_[0, lens[:-1]]), lens) + np.arange(lens.sum())
        t_all = spec.t_true_s(k_all)
        order = np.argsort(t_all, kind="stable")
        acc = np.empty((t_all.size, 3))
        acc[order] = rnd.ideal(spec, t_all[order])[0]
        starts = np.r_[0, np.cumsum(lens)[:-1]]
        peak = np.maximum.reduceat(np.linalg.norm(acc, axis=1), starts) / G_MPS2
        tib = np.full(len(rows), np.nan)
        for s_idx in (0, 1):
            sel = np.array([r.side == s_idx for r in rows])
            if not sel.any():
                continue
            tib_spec = spec if spec.segment == "shank" else SensorSpec(
                segment="shank", side=SIDES[s_idx], fs_hz=spec.fs_hz, t0_s=spec.t0_s,
                odr_error_ppm=spec.odr_error_ppm, impact_gain=spec.impact_gain)
            in_sel = np.repeat(sel, lens)
            f = np.empty((int(in_sel.sum()), 3))
            o2 = np.argsort(t_all[in_sel], kind="stable")
            f[o2] = rnd.segment_frame(tib_spec, t_all[in_sel][o2])[0]
            st2 = np.r_[0, np.cumsum(lens[sel])[:-1]]
            tib[sel] = np.maximum.reduceat(f[:, 2], st2) / G_MPS2
        for n_, r in enumerate(rows):
            m = meas[r.plan_idx]
            strike = math.degrees(m["phi"] - r.grade)
            row = {
                "recording_id": recording_id, "dataset": "sim", "split": split,
                "condition": condition, "fs_hz": spec.fs_hz,
                "placement": spec.placement.value, "side": SIDES[r.side].value,
                "ic_sample_idx": int(k_ic[n_]), "to_sample_idx": int(k_to[n_]),
                "t_ic_s": r.ic, "t_to_s": r.to, "contact_ms": (r.to - r.ic) * 1e3,
                "flight_ms": m["flight_ms"], "step_ms": m["step_ms"],
                "cadence_spm": 60000.0 / m["step_ms"] if m["step_ms"] > 0 else math.nan,
                "gait_mode": GAIT_MODES[r.mode].value,
                "landing": LANDING_CUTOFFS.classify(strike).value,
                "strike_angle_deg": strike, "strike_angle_world_deg": math.degrees(m["phi"]),
                "roll_through_ms": r.roll * 1e3,
                "grade_deg": math.degrees(r.grade), "terrain": TERRAINS[r.terrain].value,
                "peak_acc_g": float(peak[n_]), "peak_tibial_acc_g": float(tib[n_]),
                "knee_ic_deg": m["knee_ic"], "knee_peak_deg": m["knee_peak"],
                "shank_angle_ic_deg": m["shank_ic"],
                "shank_loading_rotation_deg": m["shank_rot"],
                "pelvic_drop_deg": m["drop"], "pelvis_sway_m": m["sway"],
                "stride_length_m": m["stride"],
                "push_off_mps": m["push"], "speed_mps": r.speed,
                "step_length_m": m["step"], "fault": fault_names(r.faults),
                "source": "stridecore.simulate (plan + body model)",
            }
            for c in TRUTH.names:
                cols[c].append(row[c])
    order = np.lexsort((np.array(cols["t_ic_s"], np.float64),
                        np.array([s for s in cols["placement"]], object).astype(str)))
    out = {c: np.asarray(v)[order] if len(v) else np.asarray(v) for c, v in cols.items()}
    return tables.coerce(out, TRUTH)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


# --------------------------------------------------------------------------- device adapter
class PlanSource(Protocol):
    def plan_until(self, t_s: float) -> np.ndarray: ...


_SHARED: OrderedDict[tuple[bytes, BodyParams], Renderer] = OrderedDict()
_SHARED_MAX = 8


def shared_renderer(plan: np.ndarray, body: BodyParams) -> Renderer:
    """``Renderer(plan, body)``, shared by every caller with the same plan rows and body: the
    simulated sensors of one runner (six devices each rebuilding the same ~7 s of body model
    at the same moment held a live loop for ~0.2 s). A renderer depends on nothing else, so
    sharing changes no sample."""
    key = (hashlib.blake2b(np.ascontiguousarray(plan).tobytes(), digest_size=16).digest(), body)
    r = _SHARED.get(key)
    if r is None:
        r = _SHARED[key] = Renderer(plan, body)
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    else:
        _SHARED.move_to_end(key)
    return r


class SimulatedMotion:
    """MotionSource of one sensor on a rendered body, for the simulated device.

    ``plan_source`` is a STEP_PLAN_DTYPE array or an object whose ``plan_until(t_s)`` returns
    the rows known so far, at least up to ``t_s`` (this class asks for ``t + LOOKAHEAD_S``).
    Rows are assumed append-only. Noise-free and unclipped (the device adds its own); impacts
    as ``spec.impact_gain``; pure in true time once the plan holds ``LOOKAHEAD_ROWS`` rows
    after the requested times.
    """

    def __init__(self, plan_source: PlanSource | np.ndarray, spec: SensorSpec,
                 body: BodyParams | None = None) -> None:
        self.source = plan_source
        self.spec = spec
        self.body = body or BodyParams()
        self._model: Renderer | None = None
        self._valid = (math.inf, -math.inf)
        self._n_built = -1
        self._reached_end = False

    def _plan(self, t_s: float) -> np.ndarray:
        if isinstance(self.source, np.ndarray):
            return self.source
        plan = np.asarray(self.source.plan_until(t_s))
        if plan.dtype != STEP_PLAN_DTYPE:
            raise ValueError("plan_until must return STEP_PLAN_DTYPE rows")
        return plan

    def _renderer(self, t_min: float, t_max: float) -> Renderer:
        plan = self._plan(t_max + LOOKAHEAD_S)
        n = plan.size
        if self._model is not None and t_min >= self._valid[0] and (
                t_max < self._valid[1] or (self._reached_end and n == self._n_built)):
            return self._model
        t_ic = plan["t_ic_s"]
        lo = max(int(np.searchsorted(t_ic, t_min)) - 6, 0)
        hi = min(int(np.searchsorted(t_ic, t_max)) + 40, n)
        self._model = shared_renderer(plan[lo:hi], self.body)
        self._n_built, self._reached_end = n, hi == n
        valid_from = float(t_ic[lo + 5]) if lo > 0 else -math.inf
        valid_to = float(t_ic[hi - LOOKAHEAD_ROWS]) if hi >= LOOKAHEAD_ROWS else -math.inf
        self._valid = (valid_from, valid_to)
        return self._model

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t_s, np.float64).ravel()
        if t.size == 0:
            return np.zeros((0, 3)), np.zeros((0, 3))
        order = np.argsort(t, kind="stable")
        ts = t[order]
        model = self._renderer(float(ts[0]), float(ts[-1]))
        acc, gyr = model.ideal(self.spec, ts)
        out_a, out_g = np.empty_like(acc), np.empty_like(gyr)
        out_a[order], out_g[order] = acc, gyr
        return out_a, out_g
