"""Realism features: the numbers a simulated recording must match against real recordings.

Every extractor takes any :class:`~stridecore.bench.recording.Recording` (a dataset loader's or
the simulator's) and a sensor placement, and uses only the samples in the sensor frame as
mounted plus the truth table's IC/TO. Nothing depends on the mounting or on the dataset, so the
real and the simulated numbers come from the same code.

Three comparisons, one per reference set (docs/datasets/):

1. **gaitmap** (level walking, lateral shoe IMU, 204.8 Hz): the time-normalised sagittal foot
   gyro waveform per stride (:func:`stride_gyro_template`), compared by Pearson r
   (:func:`waveform_correlation`); the ceiling is the real set's own stride-to-mean
   consistency (:func:`template_consistency`). Reference: :func:`gaitmap_reference`.
2. **Bach 2022** (treadmill running 8–8.5 km/h, shank accelerometer, 142.857 Hz): stride time,
   contact time and the time from IC to the tibial shock peak (:func:`shank_running_features`).
   Reference: :func:`bach_reference`. Bach's IC/TO come from a 50 N threshold on the smoothed
   vertical force, the simulator's from the foot's geometric touchdown; for the like-for-like
   comparison :func:`force_rule_recording` re-derives the simulated events with Bach's own rule
   from a two-mass force model of the simulated steps (:mod:`stridecore.simulate.grf`).
3. **Alcantara 2022** (treadmill running on 0, ±5, ±10° at 2.5 / 3.33 / 4.17 m/s): cadence and
   contact time per grade and their linear trend per degree (:func:`slope_trend`).
   Reference: :func:`alcantara_reference`.

:func:`compare_rows` / :func:`format_rows` turn a real and a simulated feature dict into the
pass/fail table.

Event times. An IC or TO time is the truth's ``t_ic_s`` / ``t_to_s`` where it agrees with the
sample time of ``ic_sample_idx`` / ``to_sample_idx`` to within :data:`SUBSAMPLE_TOL` sample
periods (Bach and Alcantara give sub-sample interpolated crossings: at 7 ms per sample that
matters for a 40 ms peak latency), otherwise the sample time of the index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from firmware_protocol.batch import SampleFlag
from stridecore.bench.recording import Recording, SensorStream, event_truth
from stridecore.schema import GaitMode, Placement, Terrain
from stridecore.tables import Columns

G = 9.80665  # m/s² per g (the loaders' constant)
STRIDE_REL_TOL = 0.30  # a stride (or step) more than 30 % off the recording's median is dropped
SUBSAMPLE_TOL = 1.5  # truth t_ic_s used if within 1.5 sample periods of the index's time
PEAK_WINDOW_S = (0.0, 0.150)  # |acc| peak search window after IC (s)
SWING_FALLBACK = 0.25  # last 25 % of a stride without TO is swing (walk TO ≈ 60 %, run ≈ 40 %)
MERGE_S = 0.050  # ICs of several sensors closer than this are one step (alcantara-style union)
SHANK_COMPARED = ("stride_s", "contact_ms", "ic_to_peak_ms")  # peak_acc_g: information only
ALCANTARA_SPEED_MPS = 3.33  # the dev speed, four or five trials per grade


# --------------------------------------------------------------------------------------------
# events from the truth


@dataclass(frozen=True)
class Contacts:
    """One sensor's true contacts, sorted by IC time (s on the sensor's time base).

    ``to_s`` / ``contact_ms`` are NaN where the truth has no toe off.
    """

    ic_s: np.ndarray
    to_s: np.ndarray
    contact_ms: np.ndarray


def sample_times_s(stream: SensorStream) -> np.ndarray:
    """Sample times (s since the recording start) from ``t_device_us``."""
    return np.asarray(stream.samples.t_device_us, np.float64) * 1e-6


def _event_times(idx: np.ndarray, t_truth: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Truth times refined per :data:`SUBSAMPLE_TOL`; NaN where the index is unknown."""
    out = np.full(len(idx), np.nan)
    ok = (idx >= 0) & (idx < len(t))
    out[ok] = t[idx[ok]]
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    use = ok & np.isfinite(t_truth) & (np.abs(t_truth - out) <= SUBSAMPLE_TOL * dt)
    out[use] = t_truth[use]
    return out


def contacts(rec: Recording, placement: Placement | str) -> Contacts:
    """The truth rows of ``placement`` (same-side rows for a sided placement; rows with an
    empty side are kept, as Bach's and Alcantara's sides are unknown), sorted by IC."""
    placement = Placement(placement)
    stream = rec.sensors[placement]
    tr = rec.truth
    sel = np.asarray(tr["placement"] == placement.value, bool)
    if placement.side is not None:
        side = tr["side"]
        sel &= (side == placement.side.value) | (side == "")
    t = sample_times_s(stream)
    ic = _event_times(tr["ic_sample_idx"][sel], tr["t_ic_s"][sel], t)
    to = _event_times(tr["to_sample_idx"][sel], tr["t_to_s"][sel], t)
    keep = np.isfinite(ic)
    ic, to = ic[keep], to[keep]
    order = np.argsort(ic, kind="stable")
    ic, to = ic[order], to[order]
    to = np.where(to > ic, to, np.nan)
    return Contacts(ic, to, (to - ic) * 1000.0)


def _regular(d: np.ndarray, rel_tol: float) -> np.ndarray:
    """Mask of intervals within ``rel_tol`` of their median (drops gaps and missed events)."""
    if len(d) == 0:
        return np.zeros(0, bool)
    return np.abs(d / np.median(d) - 1.0) <= rel_tol


def stride_bounds(c: Contacts, rel_tol: float = STRIDE_REL_TOL) -> np.ndarray:
    """(k, 3) array of [IC, TO, next IC] times (s) of the regular strides of one foot.

    A stride is IC → next IC of the same sensor's contacts; strides more than ``rel_tol`` off
    the median duration are dropped (a missed contact doubles a stride). TO may be NaN.
    """
    d = np.diff(c.ic_s)
    k = np.flatnonzero(_regular(d, rel_tol))
    return np.stack([c.ic_s[k], c.to_s[k], c.ic_s[k + 1]], axis=1) if len(k) else np.zeros((0, 3))


def stride_times_s(rec: Recording, placement: Placement | str,
                   rel_tol: float = STRIDE_REL_TOL) -> np.ndarray:
    """Durations (s) of the regular strides (IC → next IC of the same leg) of ``placement``."""
    b = stride_bounds(contacts(rec, placement), rel_tol)
    return b[:, 2] - b[:, 0]


# --------------------------------------------------------------------------------------------
# 1. gaitmap: sagittal foot gyro template


def _principal_axis(x: np.ndarray) -> np.ndarray:
    """Unit eigenvector of the largest eigenvalue of the (uncentred) second-moment matrix."""
    w, v = np.linalg.eigh(x.T @ x / len(x))
    return v[:, int(np.argmax(w))]


def sagittal_gyro(rec: Recording, placement: Placement | str,
                  rel_tol: float = STRIDE_REL_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(projected gyro (N,) rad/s, axis (3,) in the sensor frame, stride bounds (k, 3) s).

    Axis rule: the principal axis of the 3-axis angular rate over the samples of the regular
    strides (first eigenvector of Σ ωωᵀ) — in gait the foot rotates mostly about the
    medio-lateral axis, so this is the sagittal rate whatever the mounting. Sign rule: the
    foot's net rotation in swing, ∫ω dt from TO to the next IC summed over the strides (the
    last :data:`SWING_FALLBACK` of a stride whose TO is unknown), is made positive. That is
    the toes-up swing rotation from the plantarflexed toe off to the landing, the same sign in
    walking and running, so the mid-swing peak comes out positive and the push-off peak at TO
    negative. (The largest single excursion after TO is no rule: on gaitmap the truth TO sits
    on the push-off peak, which then competes with the mid-swing one.) Rotating the sensor
    frame by any rotation, or negating the gyro, leaves the projection unchanged.
    """
    placement = Placement(placement)
    stream = rec.sensors[placement]
    gyr = np.asarray(stream.samples.gyr_radps, np.float64)
    if not np.isfinite(gyr).all(axis=1).any():
        raise ValueError(f"{rec.recording_id} {placement.value}: no gyro")
    t = sample_times_s(stream)
    b = stride_bounds(contacts(rec, placement), rel_tol)
    if len(b) == 0:
        raise ValueError(f"{rec.recording_id} {placement.value}: no complete stride in the truth")
    i0 = np.searchsorted(t, b[:, 0])
    i1 = np.searchsorted(t, b[:, 2], side="right")
    inside = np.zeros(len(t), bool)
    for a, z in zip(i0, i1, strict=True):
        inside[a:z] = True
    inside &= np.isfinite(gyr).all(axis=1)
    axis = _principal_axis(gyr[inside])
    p = gyr @ axis
    dt = np.gradient(t) if len(t) > 1 else np.ones(len(t))
    swing = 0.0
    for (ic, to, nxt), z in zip(b, i1, strict=True):
        lo = np.searchsorted(t, to if np.isfinite(to) else nxt - SWING_FALLBACK * (nxt - ic))
        swing += float(np.nansum(p[lo:z] * dt[lo:z]))
    if swing < 0:
        axis, p = -axis, -p
    return p, axis, b


def stride_gyro_template(rec: Recording, placement: Placement | str, n_points: int = 101,
                         rel_tol: float = STRIDE_REL_TOL, to_frac: float | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(mean waveform (n_points,), per-stride waveforms (k, n_points)), rad/s.

    The sagittal gyro of :func:`sagittal_gyro` over each regular stride IC → next IC of
    ``placement`` (from the truth), resampled to ``n_points`` from 0 to 100 % of the stride
    (time normalisation as in gait analysis, e.g. Perry & Burnfield 2010, ch. 1): linearly in
    time by default; with ``to_frac`` piecewise linearly so that every stride's toe-off lands
    at that fraction (stance and swing normalised separately, "event registration"), which
    compares waveform shapes of subjects whose stance share differs. Strides without a TO are
    dropped then.
    """
    p, _, b = sagittal_gyro(rec, placement, rel_tol)
    t = sample_times_s(rec.sensors[Placement(placement)])
    ok = np.isfinite(p)
    u = np.linspace(0.0, 1.0, n_points)
    if to_frac is None:
        waves = np.stack([np.interp(ic + u * (nxt - ic), t[ok], p[ok]) for ic, _, nxt in b])
    else:
        b = b[np.isfinite(b[:, 1])]
        if len(b) == 0:
            raise ValueError(f"{rec.recording_id}: no stride with a toe-off to register on")
        waves = np.stack([np.interp(np.interp(u, [0.0, to_frac, 1.0], [ic, to, nxt]), t[ok],
                                    p[ok]) for ic, to, nxt in b])
    return waves.mean(axis=0), waves


def waveform_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r between two waveforms of the same length (NaN if either is constant)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"waveforms differ in length: {a.shape} vs {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / den if den > 0 else float("nan")


def template_consistency(waves: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
    """Pearson r of each stride's waveform with the mean of all strides (k,).

    With ``leave_one_out`` the mean excludes the stride itself (a stricter ceiling).
    """
    waves = np.asarray(waves, np.float64)
    k = len(waves)
    total = waves.sum(axis=0)
    out = np.empty(k)
    for i, w in enumerate(waves):
        mean = (total - w) / (k - 1) if leave_one_out and k > 1 else total / k
        out[i] = waveform_correlation(w, mean)
    return out


def gaitmap_reference(n_points: int = 101, to_frac: float | None = None) -> dict[str, object]:
    """The gaitmap example's sagittal foot gyro templates and their self-consistency.

    Keys: ``mean`` (pooled over both feet, (n_points,) rad/s), ``per_foot`` {placement:
    mean}, ``strides`` {placement: (k, n_points)}, ``n_strides``, ``stride_s`` (median, per
    foot), ``self_r_median`` / ``self_r_loo_median`` (per foot and ``"pooled"``),
    ``left_vs_right_r``. ``to_frac``: event-registered templates (:func:`stride_gyro_template`).
    Needs the dataset folder (see ``stridecore.bench.gaitmap``).
    """
    from stridecore import bench

    per_foot, strides, n, stride_s, self_r, loo_r = {}, {}, {}, {}, {}, {}
    for rec in bench.load("gaitmap"):
        for pl in rec.sensors:
            mean, waves = stride_gyro_template(rec, pl, n_points, to_frac=to_frac)
            per_foot[pl.value], strides[pl.value], n[pl.value] = mean, waves, len(waves)
            stride_s[pl.value] = float(np.median(stride_times_s(rec, pl)))
            self_r[pl.value] = float(np.median(template_consistency(waves)))
            loo_r[pl.value] = float(np.median(template_consistency(waves, leave_one_out=True)))
    pooled = np.concatenate(list(strides.values()))
    self_r["pooled"] = float(np.median(template_consistency(pooled)))
    loo_r["pooled"] = float(np.median(template_consistency(pooled, leave_one_out=True)))
    lr = waveform_correlation(per_foot["left_foot"], per_foot["right_foot"])
    return {"mean": pooled.mean(axis=0), "per_foot": per_foot, "strides": strides,
            "n_strides": n, "stride_s": stride_s, "self_r_median": self_r,
            "self_r_loo_median": loo_r, "left_vs_right_r": lr}


# --------------------------------------------------------------------------------------------
# 2. Bach: shank running timing


def acc_norm_g(stream: SensorStream) -> np.ndarray:
    """|acc| in g over the axes the sensor has (NaN axes ignored; specific force, so ≈ 1 g
    at rest)."""
    acc = np.asarray(stream.samples.acc_mps2, np.float64)
    return np.sqrt(np.nansum(acc * acc, axis=1)) / G


def _peak_time(t: np.ndarray, y: np.ndarray, a: int, z: int) -> tuple[float, float, int]:
    """(time s, value, index) of the maximum of y[a:z], refined by a parabola through the
    three samples around it (sub-sample timing, e.g. Jacobsen & Kootsookos 2007)."""
    k = a + int(np.argmax(y[a:z]))
    tk = float(t[k])
    if a < k < z - 1:
        y0, y1, y2 = y[k - 1], y[k], y[k + 1]
        den = y0 - 2.0 * y1 + y2
        if den < 0:
            delta = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
            step = (t[k + 1] - t[k - 1]) / 2.0
            return tk + delta * step, float(y1), k
    return tk, float(y[k]), k


def shank_running_events(rec: Recording, placement: Placement | str,
                         rel_tol: float = STRIDE_REL_TOL) -> dict[str, np.ndarray]:
    """Per-event values behind :func:`shank_running_features`.

    ``stride_s`` per regular stride; ``contact_ms`` per contact with a TO; per IC with the
    whole window inside the recording: ``ic_to_peak_ms``, ``peak_acc_g`` and ``peak_clipped``
    (a CLIPPED_ACC sample within ±1 sample of the peak).
    """
    placement = Placement(placement)
    stream = rec.sensors[placement]
    c = contacts(rec, placement)
    t = sample_times_s(stream)
    y = acc_norm_g(stream)
    clipped = (np.asarray(stream.samples.flags) & np.uint8(SampleFlag.CLIPPED_ACC)) != 0
    lat, amp, clip = [], [], []
    for ic in c.ic_s:
        if ic + PEAK_WINDOW_S[1] > t[-1]:
            continue
        a = int(np.searchsorted(t, ic + PEAK_WINDOW_S[0]))
        z = int(np.searchsorted(t, ic + PEAK_WINDOW_S[1], side="right"))
        if z - a < 2:
            continue
        tp, v, k = _peak_time(t, y, a, z)
        lat.append((tp - ic) * 1000.0)
        amp.append(v)
        clip.append(bool(clipped[max(k - 1, 0):k + 2].any()))
    b = stride_bounds(c, rel_tol)
    return {"stride_s": b[:, 2] - b[:, 0], "contact_ms": c.contact_ms[np.isfinite(c.contact_ms)],
            "ic_to_peak_ms": np.array(lat), "peak_acc_g": np.array(amp),
            "peak_clipped": np.array(clip, bool)}


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if len(x) else float("nan")


def _features(ev: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {"stride_s": _median(ev["stride_s"]), "contact_ms": _median(ev["contact_ms"]),
            "ic_to_peak_ms": _median(ev["ic_to_peak_ms"]),
            "peak_acc_g": _median(ev["peak_acc_g"]),
            "n_strides": len(ev["stride_s"]), "n_contacts": len(ev["contact_ms"]),
            "n_peaks": len(ev["ic_to_peak_ms"]),
            "peak_clipped_frac": float(np.mean(ev["peak_clipped"])) if len(ev["peak_clipped"])
            else float("nan")}


def shank_running_features(rec: Recording, placement: Placement | str,
                           rel_tol: float = STRIDE_REL_TOL) -> dict[str, float]:
    """Median shank timing features of one recording.

    - ``stride_s``: IC → next IC of the same leg (s), regular strides only;
    - ``contact_ms``: IC → TO from the truth (ms);
    - ``ic_to_peak_ms``: IC → peak of |acc| within 0–150 ms after IC (ms; the tibial shock,
      ≈ 40 ms after Bach's 50 N IC, Bach et al. 2022 data README);
    - ``peak_acc_g``: that peak's |acc| (g, information only: Bach clips at ±8 g);
    - counts ``n_strides``, ``n_contacts``, ``n_peaks`` and ``peak_clipped_frac``.
    """
    return _features(shank_running_events(rec, placement, rel_tol))


def _pool(evs: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([e[k] for e in evs]) for k in evs[0]}


def bach_reference(placement: Placement | str = Placement.RIGHT_SHIN) -> dict[str, object]:
    """Shank running features of Bach 2022's 7 running trials (8–8.5 km/h).

    Keys: ``pooled`` (medians over all events of all trials), ``per_trial`` {recording_id:
    features + ``person``, ``speed_kmh``}, ``per_runner`` {person: medians over that runner's
    events} and ``trial_range`` {feature: (min, max) of the per-trial medians}.
    """
    from stridecore import bench

    per_trial: dict[str, dict[str, float]] = {}
    evs: list[dict[str, np.ndarray]] = []
    by_person: dict[int, list[dict[str, np.ndarray]]] = {}
    for rec in bench.load("bach"):
        if not rec.condition.startswith("run"):
            continue
        ev = shank_running_events(rec, placement)
        person = int(rec.meta["person"])  # type: ignore[call-overload]
        evs.append(ev)
        by_person.setdefault(person, []).append(ev)
        per_trial[rec.recording_id] = {**_features(ev), "person": person,
                                       "speed_kmh": float(rec.meta["speed_kmh"])}  # type: ignore[arg-type]
    keys = ("stride_s", "contact_ms", "ic_to_peak_ms", "peak_acc_g")
    return {"pooled": _features(_pool(evs)), "per_trial": per_trial,
            "per_runner": {p: _features(_pool(e)) for p, e in sorted(by_person.items())},
            "trial_range": {k: (min(v[k] for v in per_trial.values()),
                                max(v[k] for v in per_trial.values())) for k in keys}}


# --------------------------------------------------------------------------------------------
# 3. Alcantara: cadence and contact time on slopes


def step_ic_times(rec: Recording, placement: Placement | str | None = None) -> np.ndarray:
    """IC times (s) of all steps, either leg, sorted.

    Rows of ``placement`` (all rows if None); ICs of several sensors within :data:`MERGE_S`
    of each other count as one step, so per-foot truth rows and both-feet rows alike give one
    IC per step.
    """
    tr = rec.truth
    pls = [Placement(placement)] if placement is not None else list(rec.sensors)
    out = []
    for pl in pls:
        sel = tr["placement"] == pl.value
        t = sample_times_s(rec.sensors[pl])
        out.append(_event_times(tr["ic_sample_idx"][sel], tr["t_ic_s"][sel], t))
    ic = np.sort(np.concatenate(out)) if out else np.zeros(0)
    ic = ic[np.isfinite(ic)]
    if len(ic) < 2:
        return ic
    return ic[np.r_[True, np.diff(ic) > MERGE_S]]


def step_features(rec: Recording, placement: Placement | str | None = None,
                  rel_tol: float = STRIDE_REL_TOL) -> dict[str, float]:
    """Cadence (steps/min = 60 / median step time, consecutive ICs regardless of side; regular
    steps only), median contact time (ms), speed (m/s) and grade (°) from the truth."""
    tr = rec.truth
    sel = np.ones(len(tr["placement"]), bool) if placement is None else \
        tr["placement"] == Placement(placement).value
    steps = np.diff(step_ic_times(rec, placement))
    steps = steps[_regular(steps, rel_tol)]
    ct = tr["contact_ms"][sel]
    ct = ct[np.isfinite(ct)]
    med = _median(steps)
    return {"cadence_spm": 60.0 / med if med > 0 else float("nan"),
            "contact_ms": _median(ct), "n_steps": len(steps), "n_contacts": len(ct),
            "speed_mps": float(np.nanmedian(tr["speed_mps"][sel])) if sel.any() else np.nan,
            "grade_deg": float(np.nanmedian(tr["grade_deg"][sel])) if sel.any() else np.nan}


@dataclass(frozen=True)
class SlopeTrend:
    """Cadence and contact time per speed and grade, and their linear trend per degree.

    ``rows`` (one per speed × grade): ``speed_mps``, ``grade_deg``, ``n_trials``, ``n_steps``,
    ``cadence_spm`` and ``contact_ms`` (medians of the per-trial medians), and
    ``cadence_rel_level`` / ``contact_rel_level`` (relative to the same speed's 0° value).
    ``fits`` (one per speed × quantity with ≥ 2 grades): ``speed_mps``, ``quantity``,
    ``per_deg`` (least-squares slope over the per-grade medians, unit per °), ``se_per_deg``
    (its standard error, NaN with < 3 grades), ``rel_per_deg`` (per_deg / 0° value) and
    ``sign`` (−1, 0, +1).
    """

    rows: Columns
    fits: Columns

    def speeds(self) -> list[float]:
        return sorted(set(self.rows["speed_mps"].tolist()))

    def as_dict(self, speed_mps: float = ALCANTARA_SPEED_MPS, tol: float = 0.05
                ) -> dict[str, float]:
        """Flat {quantity: value} of one speed for :func:`compare_rows`: per-grade values
        (``cadence_spm@+5deg``), changes relative to level (``cadence_rel_level@+5deg``) and
        the trend slopes (``cadence_spm_per_deg``, ``contact_ms_sign``)."""
        out: dict[str, float] = {}
        r = np.abs(self.rows["speed_mps"] - speed_mps) <= tol
        for i in np.flatnonzero(r):
            g = f"@{self.rows['grade_deg'][i]:+g}deg"
            for q in ("cadence_spm", "contact_ms"):
                out[q + g] = float(self.rows[q][i])
            for q in ("cadence_rel_level", "contact_rel_level"):
                if self.rows["grade_deg"][i] != 0:
                    out[q + g] = float(self.rows[q][i])
        f = np.abs(self.fits["speed_mps"] - speed_mps) <= tol
        for i in np.flatnonzero(f):
            q = self.fits["quantity"][i]
            out[f"{q}_per_deg"] = float(self.fits["per_deg"][i])
            out[f"{q}_rel_per_deg"] = float(self.fits["rel_per_deg"][i])
            out[f"{q}_sign"] = float(self.fits["sign"][i])
        return out


def _linfit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, standard error) of the least-squares line y = a + b x."""
    xm = x - x.mean()
    sxx = float(xm @ xm)
    b = float(xm @ (y - y.mean())) / sxx
    if len(x) < 3:
        return b, float("nan")
    res = y - y.mean() - b * xm
    return b, float(np.sqrt(float(res @ res) / (len(x) - 2) / sxx))


def slope_trend(recs: Iterable[Recording], placement: Placement | str | None = None,
                rel_tol: float = STRIDE_REL_TOL) -> SlopeTrend:
    """Cadence and contact time per (speed, grade) over ``recs`` and their trend per degree.

    Each recording is one trial (:func:`step_features`); speed and grade are the truth's
    medians rounded to 0.01 m/s and 0.1°. Per grade, the value is the median over the trials
    of the per-trial medians (trials of one grade carry equal weight whatever their cadence).
    """
    trials = [step_features(r, placement, rel_tol) for r in recs]
    groups: dict[tuple[float, float], list[dict[str, float]]] = {}
    for f in trials:
        groups.setdefault((round(f["speed_mps"], 2), round(f["grade_deg"], 1)), []).append(f)
    keys = sorted(groups)
    rows: dict[str, list] = {k: [] for k in ("speed_mps", "grade_deg", "n_trials", "n_steps",
                                            "cadence_spm", "contact_ms")}
    for sp, gr in keys:
        fs = groups[(sp, gr)]
        rows["speed_mps"].append(sp)
        rows["grade_deg"].append(gr)
        rows["n_trials"].append(len(fs))
        rows["n_steps"].append(sum(int(f["n_steps"]) for f in fs))
        for q in ("cadence_spm", "contact_ms"):
            rows[q].append(float(np.median([f[q] for f in fs])))
    out: Columns = {k: np.asarray(v, np.int64 if k.startswith("n_") else np.float64)
                    for k, v in rows.items()}
    n = len(keys)
    fits: dict[str, list] = {k: [] for k in ("speed_mps", "quantity", "per_deg", "se_per_deg",
                                            "rel_per_deg", "sign")}
    for q in ("cadence_spm", "contact_ms"):
        out[q.split("_")[0] + "_rel_level"] = np.full(n, np.nan)
    for sp in sorted({k[0] for k in keys}):
        m = out["speed_mps"] == sp
        level = m & (out["grade_deg"] == 0)
        for q in ("cadence_spm", "contact_ms"):
            base = float(out[q][level][0]) if level.any() else float("nan")
            out[q.split("_")[0] + "_rel_level"][m] = out[q][m] / base - 1.0
            if m.sum() < 2:
                continue
            b, se = _linfit(out["grade_deg"][m], out[q][m])
            fits["speed_mps"].append(sp)
            fits["quantity"].append(q)
            fits["per_deg"].append(b)
            fits["se_per_deg"].append(se)
            fits["rel_per_deg"].append(b / base)
            fits["sign"].append(float(np.sign(b)))
    fit_cols: Columns = {k: np.asarray(v, object if k == "quantity" else np.float64)
                         for k, v in fits.items()}
    return SlopeTrend(out, fit_cols)


def alcantara_reference() -> SlopeTrend:
    """:func:`slope_trend` of Alcantara 2022's 31 trials (sacral sensor, force-plate truth)."""
    from stridecore import bench

    return slope_trend(bench.load("alcantara"))


SACRAL_WINDOW_MS = (-50.0, 300.0)  # around IC, the vertical waveform compared


def sacral_vertical_waveform(recs: Iterable[Recording], *, lowpass_hz: float | None = None,
                             step_ms: float = 2.0) -> dict[float, np.ndarray]:
    """Per grade (°), the median over contacts of the sacral sensor's vertical specific force
    (g; the sensor's z axis, up on Alcantara's unit and on the simulated sacrum) from
    :data:`SACRAL_WINDOW_MS` before/after each true IC, on a ``step_ms`` grid (linear
    interpolation between samples). ``lowpass_hz``: first put the signal through a 4th-order
    zero-phase Butterworth low-pass and set negative values to 0, as Alcantara 2022's authors
    did to theirs (their filter's order is not stated)."""
    from scipy.signal import butter, filtfilt

    grid = np.arange(SACRAL_WINDOW_MS[0], SACRAL_WINDOW_MS[1] + 1e-9, step_ms) * 1e-3
    per: dict[float, list[np.ndarray]] = {}
    for rec in recs:
        s = rec.sensors[Placement.PELVIS]
        z = s.samples.acc_mps2[:, 2] / 9.80665
        t = sample_times_s(s)
        if lowpass_hz is not None:
            b, a = butter(4, lowpass_hz / (0.5 * s.fs_hz))
            z = np.maximum(filtfilt(b, a, z), 0.0)
        m = rec.truth["placement"] == Placement.PELVIS.value
        g = float(np.median(rec.truth["grade_deg"][m]))
        for t_ic in rec.truth["t_ic_s"][m]:
            tt = t_ic + grid
            if tt[0] >= t[0] and tt[-1] <= t[-1]:
                per.setdefault(g, []).append(np.interp(tt, t, z))
    return {g: np.median(np.array(w), axis=0) for g, w in sorted(per.items())}


def sacral_features(wave: np.ndarray, step_ms: float = 2.0) -> dict[str, float]:
    """Features of a :func:`sacral_vertical_waveform`: the flight level (median over the 40 ms
    before IC, g), the largest value in the first 60 ms after IC (the impact, g) and its time
    (ms), the largest value from 60 ms on (the active peak, g) and its time (ms)."""
    t = np.arange(len(wave)) * step_ms + SACRAL_WINDOW_MS[0]
    pre = (t >= -40.0) & (t < 0.0)
    imp = (t >= 0.0) & (t < 60.0)
    act = t >= 60.0
    i_imp = int(np.flatnonzero(imp)[np.argmax(wave[imp])])
    i_act = int(np.flatnonzero(act)[np.argmax(wave[act])])
    return {"flight_g": float(np.median(wave[pre])), "impact_g": float(wave[i_imp]),
            "impact_ms": float(t[i_imp]), "active_g": float(wave[i_act]),
            "active_ms": float(t[i_act])}


# --------------------------------------------------------------------------------------------
# comparison table


Row = tuple[str, float, float, float, bool]


def compare_rows(real: Mapping[str, object], sim: Mapping[str, object],
                 tol_rel: float | Mapping[str, float] = 0.10,
                 keys: Iterable[str] | None = None) -> list[Row]:
    """(quantity, real, sim, rel_diff, pass) for the numeric quantities both dicts hold.

    ``rel_diff`` = (sim − real) / |real|; pass if |rel_diff| ≤ the tolerance (``tol_rel``, or
    per quantity from a mapping, default 0.10). Quantities ending in ``_sign`` pass only if
    the signs are equal. ``keys`` selects and orders the quantities (default: ``real``'s
    order); non-numeric values and ``n_*`` counts are skipped unless named in ``keys``.
    """
    names = list(keys) if keys is not None else [
        k for k in real if k in sim and not k.startswith("n_")]
    out: list[Row] = []
    for k in names:
        r, s = real.get(k), sim.get(k)
        num = (int, float, np.number)
        if isinstance(r, bool) or isinstance(s, bool) or not isinstance(r, num) \
                or not isinstance(s, num):
            if keys is not None:
                raise KeyError(f"compare_rows: {k!r} is not numeric in both dicts")
            continue
        r, s = float(r), float(s)
        tol = tol_rel.get(k, 0.10) if isinstance(tol_rel, Mapping) else float(tol_rel)
        if r != 0:
            rel = (s - r) / abs(r)
        else:
            rel = 0.0 if s == 0 else float("inf")
        ok = (np.sign(r) == np.sign(s)) if k.endswith("_sign") else bool(abs(rel) <= tol)
        out.append((k, r, s, rel, bool(ok)))
    return out


def format_rows(rows: Sequence[Row], title: str = "") -> str:
    """A plain-text table of :func:`compare_rows` output."""
    lines = [title] if title else []
    lines.append(f"{'quantity':<28} {'real':>10} {'sim':>10} {'rel diff':>9}  pass")
    for q, r, s, rel, ok in rows:
        lines.append(f"{q:<28} {r:>10.4g} {s:>10.4g} {rel:>+9.1%}  {'yes' if ok else 'NO'}")
    return "\n".join(lines)


def trend_rows(real: SlopeTrend, sim: SlopeTrend, speed_mps: float = ALCANTARA_SPEED_MPS,
               n_se: float = 2.0, tol: float = 0.05) -> list[Row]:
    """Trend comparison rows at one speed: ``<q>_per_deg`` for cadence and contact time, each
    passing within max(10 %, ``n_se`` standard errors of the real slope), and ``<q>_sign``
    (signs equal) for the quantities whose real slope differs from 0 by more than ``n_se``
    standard errors (a sign the real data do not establish is not demanded)."""
    r, s = real.as_dict(speed_mps, tol), sim.as_dict(speed_mps, tol)
    fr = np.abs(real.fits["speed_mps"] - speed_mps) <= tol
    tols: dict[str, float] = {}
    keys: list[str] = []
    for i in np.flatnonzero(fr):
        q = str(real.fits["quantity"][i])
        b, se = float(real.fits["per_deg"][i]), float(real.fits["se_per_deg"][i])
        rel_se = n_se * se / abs(b) if b != 0 and np.isfinite(se) else 0.0
        tols[f"{q}_per_deg"] = max(0.10, rel_se)
        keys.append(f"{q}_per_deg")
        if np.isfinite(se) and abs(b) > n_se * se:
            keys.append(f"{q}_sign")
    return compare_rows(r, s, tols, [k for k in keys if k in s])


# --------------------------------------------------------------------------------------------
# simulated counterparts of the three real sets (conditions matched, nothing tuned per set)


def _steady(profile: str, grade_deg: float, terrain: Terrain, speed_mps: float | None,
            seed: int, duration_s: float, gait: GaitMode | None = None):
    """A runner on one constant grade; ``speed_mps`` fixes the speed like a treadmill (a stage
    speed factor that cancels the runner's own grade and terrain choice)."""
    from stridecore.simulate.profiles import get_profile
    from stridecore.simulate.route import Route
    from stridecore.simulate.runner import Runner, Stage, nominal_speed_mps

    prof = get_profile(profile)
    pct = math.tan(math.radians(grade_deg)) * 100.0
    route = Route.constant(pct, 8000.0, terrain, seed=seed)
    stages = ()
    if speed_mps is not None or gait is not None:
        g = gait or (GaitMode.RUN if prof.runs else GaitMode.WALK)
        sf = 1.0 if speed_mps is None else speed_mps / nominal_speed_mps(prof, pct, terrain, g)
        stages = (Stage(0.0, 8000.0, "treadmill", gait=g, speed_factor=sf),)
    return Runner(prof, route, seed, stages=stages, duration_s=duration_s,
                  fatigue_window_s=None)


def sim_gaitmap_like(seed: int = 0, duration_s: float = 45.0) -> Recording:
    """Level walking at the walker profile's own pace, lateral shoe IMUs on both feet at
    204.8 Hz — the gaitmap example's set-up."""
    from stridecore.simulate.session import simulate

    runner = _steady("walker", 0.0, Terrain.PAVED, None, seed, duration_s)
    return simulate(duration_s, seed, "walker", (Placement.LEFT_FOOT, Placement.RIGHT_FOOT),
                    runner=runner, mount="lateral", fs_hz=204.8).recording


def sim_bach_session(seed: int = 0, duration_s: float = 40.0, speed_kmh: float = 8.25):
    """:func:`sim_bach_like` as the whole :class:`~stridecore.simulate.session.SimulatedSession`
    (recording, plan, sensor specs), for :func:`force_rule_recording`."""
    from stridecore.simulate.session import simulate

    runner = _steady("trail", 0.0, Terrain.PAVED, speed_kmh / 3.6, seed, duration_s)
    return simulate(duration_s, seed, "trail", (Placement.RIGHT_SHIN,), runner=runner,
                    fs_hz=1000.0 / 7.0, acc_range_g=8.0)


def sim_bach_like(seed: int = 0, duration_s: float = 40.0, speed_kmh: float = 8.25
                  ) -> Recording:
    """Level treadmill running at 8–8.5 km/h, a shank accelerometer at 142.857 Hz clipping at
    ±8 g — Bach 2022's set-up (the trail profile's runner, speed fixed). Truth IC/TO are the
    simulator's: the foot's geometric touchdown and lift-off."""
    return sim_bach_session(seed, duration_s, speed_kmh).recording


# --------------------------------------------------------------------------------------------
# Bach's IC rule applied to the simulated runner (like-for-like events)

BODY_MASS_KG = 70.0  # nominal adult of the simulator's 1.75 m body (BMI 23); not Bach's runners


@dataclass(frozen=True)
class ContactForceInputs:
    """Per contact of one leg (plan order): the two-mass model's inputs taken from the
    simulated step (:func:`sim_contact_forces`). Times s, speeds m/s."""

    t_ic_s: np.ndarray  # geometric touchdown (true time)
    contact_s: np.ndarray  # touchdown → lift-off
    step_s: np.ndarray  # this touchdown → the next one of either leg (contact + aerial)
    impact_dt_s: np.ndarray  # Δt1 = 2 × the simulator's impact-peak time (render)
    impact_dv_mps: np.ndarray  # Δv1 = the simulated lower limb's speed lost in the impact


def sim_contact_forces(session, placement: Placement | str,
                       body_mass_kg: float = BODY_MASS_KG, *,
                       impact_dv_mps: float | None = None, impact_dt_scale: float = 1.0
                       ) -> tuple[np.ndarray, ContactForceInputs]:
    """Vertical GRF (N) under the leg of ``placement`` at each of that sensor's samples, from
    the two-mass model (:mod:`stridecore.simulate.grf`) of every planned contact of that leg.

    The force shares the sensor's sample instants (true time ``spec.t_true_s(k)``), as Bach's
    force and accelerometer share one 142.857 Hz time base. Model inputs per contact, all from
    the simulated step, nothing fitted to a real set: contact time and step time from the plan;
    ``Δt1`` twice the time from touchdown to the simulator's impact peak
    (:func:`~stridecore.simulate.render.impact_peak_time_s`, the peak its shank transient
    follows), so the model's impact force peaks where the simulated tibial shock does;
    ``Δv1`` the vertical speed the rendered lower limb loses in the impact, as Clark et al.
    measure it from the ankle: the body model's ankle speed at touchdown (a gentle 0.2 m/s
    landing) plus what the shank's impact transient takes on top of it
    (:func:`~stridecore.simulate.render.impact_velocity_change_mps`, a median 0.85–0.93 m/s
    at 8.25 km/h); body mass ``body_mass_kg``. ``impact_dv_mps`` (one Δv1 for all contacts) and
    ``impact_dt_scale`` (× Δt1) are for sensitivity checks only.
    """
    from stridecore.simulate import grf
    from stridecore.simulate.body import BodyParams, Kinematics
    from stridecore.simulate.render import impact_peak_time_s, impact_velocity_change_mps

    placement = Placement(placement)
    spec = next(s for s in session.specs if s.placement is placement)
    side = spec.side_index
    if side is None:
        raise ValueError("sim_contact_forces: the force is one foot's, give a leg sensor")
    plan = session.plan
    kin = Kinematics(plan, BodyParams())  # simulate()'s default body
    sel = np.flatnonzero(plan["side"] == side)
    step = np.diff(plan["t_ic_s"])
    step = np.r_[step, np.median(step) if step.size else np.nan]
    rows = [kin.row(int(i))[1] for i in sel]
    ic = plan["t_ic_s"][sel]
    dv = (np.maximum(-kin.segment(ic - 1e-6, "foot", side).vel_mps[:, 2], 0.0)
          + np.array([impact_velocity_change_mps(r, "shank") for r in rows]))
    if impact_dv_mps is not None:
        dv = np.full(len(sel), float(impact_dv_mps))
    inputs = ContactForceInputs(ic, plan["contact_s"][sel], step[sel],
                                2.0 * impact_dt_scale
                                * np.array([impact_peak_time_s(r) for r in rows]),
                                np.maximum(dv, 0.0))
    n = len(session.recording.sensors[placement].samples.t_device_us)
    t_true = spec.t_true_s(np.arange(n))
    f = grf.two_mass_vgrf_n(t_true, inputs.t_ic_s, inputs.contact_s, inputs.step_s,
                            body_mass_kg, inputs.impact_dt_s, inputs.impact_dv_mps)
    return f, inputs


def force_rule_recording(session, placement: Placement | str = Placement.RIGHT_SHIN,
                         body_mass_kg: float = BODY_MASS_KG, **force_kw: float) -> Recording:
    """The session's recording with its truth re-derived the way Bach 2022's is: the simulated
    vertical GRF of the sensor's leg (:func:`sim_contact_forces`, on the sensor's samples)
    put through Bach's frozen 50 N / 30 ms / hold-60 ms rule
    (:func:`stridecore.bench.bach.events_50n_interpolated`, the loader's own code) and paired
    IC → TC as the loader pairs them. Sensors are the same objects; ``t_ic_s`` / ``t_to_s``
    are the interpolated crossings on the recording's time base. The sample rate must be
    Bach's (the rule counts samples). ``force_kw`` goes to :func:`sim_contact_forces`."""
    from stridecore.bench import bach

    placement = Placement(placement)
    rec = session.recording
    stream = rec.sensors[placement]
    if abs(stream.fs_hz - bach.FS_HZ) > 1e-6 * bach.FS_HZ:
        raise ValueError("force_rule_recording: Bach's rule needs a 142.857 Hz sensor")
    f, _ = sim_contact_forces(session, placement, body_mass_kg, **force_kw)
    t = sample_times_s(stream)
    ev = []
    for kind, i, x in bach.events_50n_interpolated(-f):  # Bach records stance negative
        i0 = int(np.floor(x))
        ev.append((kind, i, float(t[i0] + (x - i0) * (t[i0 + 1] - t[i0]))))
    ic, to, t_ic, t_to = bach.pair(ev)
    tr = rec.truth
    sel = np.flatnonzero(tr["placement"] == placement.value)
    if not sel.size:
        raise ValueError(f"force_rule_recording: no truth rows of {placement.value}")
    truth = event_truth(ic, to, t_ic, t_to, recording_id=rec.recording_id,
                        dataset=rec.dataset, split=rec.split, condition=rec.condition,
                        fs_hz=stream.fs_hz, placement=placement.value,
                        side=str(tr["side"][sel[0]]), gait_mode=str(tr["gait_mode"][sel[0]]),
                        grade_deg=float(np.median(tr["grade_deg"][sel])),
                        speed_mps=float(np.median(tr["speed_mps"][sel])),
                        source=f"two-mass vGRF ({body_mass_kg:g} kg) + bach {bach.METHOD}")
    return Recording(rec.dataset, rec.recording_id, rec.split, rec.condition, rec.sensors,
                     truth, {**rec.meta, "ic_rule": bach.METHOD, "body_mass_kg": body_mass_kg})


def sim_alcantara_like(seed: int = 0, duration_s: float = 30.0,
                       speeds_mps: Sequence[float] = (ALCANTARA_SPEED_MPS,),
                       grades_deg: Sequence[float] = (-10.0, -5.0, 0.0, 5.0, 10.0)
                       ) -> list[Recording]:
    """Treadmill running at fixed speeds on 0, ±5, ±10°, a sacral sensor at 500 Hz — Alcantara
    2022's set-up; one recording per (speed, grade), seeds ``seed + i``."""
    from stridecore.simulate.session import simulate

    out = []
    i = 0
    for v in speeds_mps:
        for g in grades_deg:
            runner = _steady("trail", g, Terrain.PAVED, v, seed + i, duration_s,
                             gait=GaitMode.RUN)
            rec = simulate(duration_s, seed + i, "trail", (Placement.PELVIS,), runner=runner,
                           fs_hz=500.0).recording
            # the treadmill's condition, as the real trials carry it
            rec.truth["speed_mps"][:] = v
            rec.truth["grade_deg"][:] = g
            out.append(rec)
            i += 1
    return out
