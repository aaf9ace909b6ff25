"""An offline (whole-array) numpy/scipy version of the foot pipeline's stages: the baseline of
``benchmarks/foot_speed.py``.

Same stages and the same default parameters as :class:`stridecore.pipeline.Pipeline`
(:class:`~stridecore.dsp.stages.MountParams`, :class:`~stridecore.dsp.stages.FootParams`), but
each computed over the whole recording at once, the way one would write it without a
real-time constraint (no Python loop over samples or steps):

* pitch axis: principal eigenvector (``np.linalg.eigh``) of the gyro second moment over the
  moving samples (|ω| > ``moving_radps``), one axis for the whole recording;
* toes-up sign (the mount stage's vote): after each flat period (smoothed |ω| <
  ``flat_radps`` and | |a| − g | < ``flat_acc_mps2`` for ``flat_hold_ms``) the first pitch
  excursion beyond ``vote_deg`` is the heel rising, toes-down; the majority of these votes;
* pitch rate ω·axis; jerk |a[n] − a[n−k]|·fs/k (k = ``jerk_lag_ms``); smoothed |ω| by
  ``scipy.signal.lfilter`` (the same EMA, ``gyro_smooth_ms``, started at the first sample);
* IC: swing lobes by ``scipy.signal.find_peaks`` on the toes-up pitch rate (≥
  ``arm_swing_radps``, one contact + swing apart, ``min_swing_ms`` after the most toes-down
  rate since the previous lobe), then the first jerk burst after each lobe
  (above max(floor, fraction × median burst peak), the median from a first pass at the floor),
  walked back to where the jerk rose above ``jerk_walkback_fraction`` of the threshold. No
  burst before ``burst_wait_ms`` after the end of the toes-up rotation (pitch-rate zero
  crossing): the largest burst since the zero crossing if above ``jerk_min_mps3``, else the
  zero crossing. Walking (contact / stride > ``duty_walk`` on the previous stride): the zero
  crossing when it comes first;
* flat-foot: argmin of the smoothed |ω| from IC + ``flat_foot_delay_ms`` to the next swing
  lobe; TO: argmin of the pitch rate from flat-foot to the next swing lobe;
* strike angle −(θ[FF] − θ[IC]), θ the ``scipy.integrate.cumulative_trapezoid`` of the pitch
  rate.

It ignores gaps, clipping, mounting changes, grade, stride length and push-off (the streaming
pipeline does all of those as well), so it does somewhat less work than the pipeline. It need
not agree event for event; ``foot_speed.py`` prints how many ICs it finds and how many match the
pipeline's within ±5 ms, so that the speed comparison is one of comparable work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.signal import find_peaks, lfilter

from stridecore.dsp.stages import FootParams, MountParams

G0 = 9.80665


@dataclass(frozen=True)
class OfflineResult:
    """Event positions are indices into the arrays given to :func:`detect` (not device sample
    indices); ``-1`` where a step has no flat-foot / toe-off."""

    axis: np.ndarray  # (3,) toes-up pitch axis in the sensor frame
    sign_votes: tuple[int, int]  # (toes-up sign kept, flipped)
    jerk_threshold_mps3: float
    ic: np.ndarray  # int64
    ic_kind: np.ndarray  # 0 burst, 1 pitch-rate zero crossing, 2 late (sub-threshold) burst
    ff: np.ndarray
    to: np.ndarray
    strike_angle_deg: np.ndarray
    gait_mode: np.ndarray  # per step: 1 walk, 2 run, 0 unknown (the last step)


def _n(ms: float, fs: float, minimum: int = 1) -> int:
    return max(minimum, round(ms * 1e-3 * fs))


def _ema(x: np.ndarray, tau_ms: float, fs: float) -> np.ndarray:
    al = 1.0 - math.exp(-1.0 / max(1e-9, tau_ms * 1e-3 * fs))
    return lfilter([al], [1.0, al - 1.0], x, zi=[(1.0 - al) * x[0]])[0]


def _norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def _segments(start: np.ndarray, stop: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Non-empty segments [s, e) of the given ones, and for every sample they cover its segment
    number and its position: (s, e, seg, pos), plus the mask of the non-empty ones."""
    ne = stop > start
    s, e = start[ne], stop[ne]
    lens = e - s
    seg = np.repeat(np.arange(len(s)), lens)
    pos = np.arange(len(seg)) + np.repeat(s - (np.cumsum(lens) - lens), lens)
    return ne, s, seg, pos


def _first_per_segment(hit: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Of the hits (positions into ``seg``, ascending), the first of each segment."""
    return hit[np.r_[True, seg[hit[1:]] != seg[hit[:-1]]]] if len(hit) else hit


def _seg_arg(x: np.ndarray, start: np.ndarray, stop: np.ndarray, cap: int | None = None, *,
             largest: bool = False) -> np.ndarray:
    """argmin (argmax) of ``x`` over [start_i, stop_i) for every i (``start`` ascending; a
    segment is cut at the next start and after ``cap`` samples); ``-1`` for an empty one.

    One ``ufunc.reduceat`` for the extreme values, then the first sample equal to its segment's
    extreme: linear in the samples covered, whatever the segment lengths."""
    out = np.full(len(start), -1, np.int64)
    stop = np.minimum(stop, np.append(start[1:], len(x)))
    if cap is not None:
        stop = np.minimum(stop, start + cap)
    ne, s, seg, pos = _segments(start, stop)
    if len(s) == 0:
        return out
    ext = (np.maximum if largest else np.minimum).reduceat(
        np.append(x, 0.0), np.column_stack([s, stop[ne]]).ravel())[::2]
    first = _first_per_segment(np.flatnonzero(x[pos] == ext[seg]), seg)
    res = np.full(len(s), -1, np.int64)
    res[seg[first]] = pos[first]
    out[ne] = res
    return out


def _first_at_or_after(sorted_idx: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """The first element of ``sorted_idx`` ≥ ``at`` for each ``at`` (``n`` if none)."""
    j = np.searchsorted(sorted_idx, at)
    return np.where(j < len(sorted_idx), sorted_idx[np.minimum(j, len(sorted_idx) - 1)], n)


def _walk_back(jerk: np.ndarray, trig: np.ndarray, lo: np.ndarray, walkback: int) -> np.ndarray:
    """The burst onset before each trigger: the sample after the last one at or below ``lo``
    within ``walkback`` samples (the streaming kernel's walk-back), as one (k, walkback) gather."""
    idx = trig[:, None] - np.arange(1, walkback + 1)[None, :]
    stop = (idx < 0) | (jerk[np.maximum(idx, 0)] <= lo[:, None])
    m = np.where(stop.any(axis=1), stop.argmax(axis=1) + 1, walkback + 1)
    return trig - m + 1


def pitch_axis(gyr: np.ndarray, moving_radps: float) -> np.ndarray:
    w2 = np.einsum("ij,ij->i", gyr, gyr)
    g = np.compress(w2 > moving_radps * moving_radps, gyr, axis=0)
    if len(g) < 3:
        return np.array([0.0, 1.0, 0.0])
    _, vecs = np.linalg.eigh(g.T @ g / len(g))
    return vecs[:, -1]


def _sign_votes(theta: np.ndarray, wsm: np.ndarray, acc_norm: np.ndarray, mp: MountParams,
                fs: float) -> tuple[int, int]:
    """(votes for the current sign, votes against): after each flat period, the first pitch
    excursion beyond ``vote_deg`` should be toes-down (negative)."""
    flat = (wsm < mp.flat_radps) & (np.abs(acc_norm - G0) < mp.flat_acc_mps2)
    d = np.diff(flat.astype(np.int8), prepend=0, append=0)
    a, b = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    ends = b[(b - a) >= _n(mp.flat_hold_ms, fs)]  # first sample after a flat period
    ends = ends[ends < len(theta)]
    stop = np.minimum(np.append(ends[1:], len(theta)), ends + _n(mp.vote_max_s * 1e3, fs))
    _, s, seg, pos = _segments(ends, stop)
    rel = theta[pos] - theta[s][seg]
    first = _first_per_segment(np.flatnonzero(np.abs(rel) > math.radians(mp.vote_deg)), seg)
    return int(np.sum(rel[first] < 0)), int(np.sum(rel[first] > 0))


def detect(acc: np.ndarray, gyr: np.ndarray, fs_hz: float, *, mount: MountParams | None = None,
           foot: FootParams | None = None) -> OfflineResult:
    """All contacts of one foot sensor's whole recording (acc m/s², gyr rad/s, (n, 3))."""
    mp, p = mount or MountParams(), foot or FootParams()
    fs = float(fs_hz)
    n = len(acc)
    # mounting: the pitch axis and its toes-up sign
    axis = pitch_axis(gyr, mp.moving_radps)
    pt = gyr @ axis
    theta = cumulative_trapezoid(pt, dx=1.0 / fs, initial=0.0)
    wn = _norm(gyr)
    wsm = _ema(wn, p.gyro_smooth_ms, fs)
    wsm_m = wsm if mp.gyro_smooth_ms == p.gyro_smooth_ms else _ema(wn, mp.gyro_smooth_ms, fs)
    keep, flip = _sign_votes(theta, wsm_m, _norm(acc), mp, fs)
    if flip > keep:
        pt, theta, axis = -pt, -theta, -axis
    # jerk
    k = _n(p.jerk_lag_ms, fs)
    jerk = np.zeros(n)
    jerk[k:] = _norm(acc[k:] - acc[:-k]) * (fs / k)

    # swing lobes: toes-up pitch-rate peaks, at least a contact + a swing apart
    peaks, _ = find_peaks(pt, height=p.arm_swing_radps,
                          distance=_n(p.min_swing_ms + p.min_contact_ms, fs))
    # a swing lobe comes at least min_swing after the toe-off before it (the most toes-down
    # rate since the previous lobe); a toes-up peak soon after a landing is not one
    pushoff = _seg_arg(pt, np.r_[0, peaks[:-1]], peaks)
    peaks = peaks[peaks - pushoff >= _n(p.min_swing_ms, fs)]
    end = np.append(peaks[1:], n)  # each lobe's search ends at the next lobe
    zc = _first_at_or_after(np.flatnonzero(pt <= 0.0), peaks, n)  # toes-up rotation over
    nearer = np.abs(pt[np.maximum(zc - 1, 0)]) < np.abs(pt[np.minimum(zc, n - 1)])
    zc = np.where((zc > 0) & (zc < n) & nearer, zc - 1, zc)  # the sample nearer to zero
    timeout = np.minimum(end, zc + _n(p.burst_wait_ms, fs))
    walkback = _n(p.walkback_ms, fs)
    shift = round(p.ic_shift_ms * 1e-3 * fs)

    def bursts(thr: float) -> tuple[np.ndarray, np.ndarray]:
        trig = _first_at_or_after(np.flatnonzero(jerk > thr), peaks, n)
        ok = trig < timeout
        trig = np.where(ok, trig, 0)
        onset = _walk_back(jerk, trig, np.full(len(trig), p.jerk_walkback_fraction * thr),
                           walkback)
        return np.where(ok, np.minimum(onset + shift, trig), -1), ok

    onset, ok = bursts(p.jerk_floor_mps3)
    win = _n(p.peak_window_ms, fs) + 1
    jp = _seg_arg(jerk, onset[ok], onset[ok] + win, win, largest=True)
    thr = p.jerk_floor_mps3
    if len(jp):
        thr = max(thr, p.jerk_fraction * float(np.median(jerk[jp])))
        onset, ok = bursts(thr)
    # no burst in time: the largest one since the zero crossing, else the zero crossing
    late = ~ok & (zc < end)
    cand = _seg_arg(jerk, np.where(late, zc, 0)[late], timeout[late], largest=True)
    cj = jerk[np.maximum(cand, 0)]
    use = (cand >= 0) & (cj > p.jerk_min_mps3)
    late_ic = np.where(use, _walk_back(jerk, np.maximum(cand, 0), p.jerk_walkback_fraction * cj,
                                       walkback), zc[late])
    ic = onset.copy()
    kind = np.zeros(len(peaks), np.int64)
    ic[late] = late_ic
    kind[late] = np.where(use, 2, 1)
    valid = ok | late
    ic, kind, zcv, endv = ic[valid], kind[valid], zc[valid], end[valid]
    cap = _n(p.stance_max_s * 1e3, fs)
    delay = _n(p.flat_foot_delay_ms, fs, 0)

    def events(ic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ff = _seg_arg(wsm, ic + delay, endv, cap)
        to = _seg_arg(pt, np.maximum(ff, 0), np.where(ff >= 0, endv, 0), cap)
        return ff, to

    ff, to = events(ic)
    # walking (contact / stride above duty_walk on the previous stride): the zero crossing
    # when it comes before the burst
    stride = np.diff(ic)
    duty = (to[:-1] - ic[:-1]) / np.maximum(stride, 1)
    mode = np.zeros(len(ic), np.int64)
    mode[:-1] = np.where((to[:-1] >= 0) & (stride > 0), np.where(duty > p.duty_walk, 1, 2), 0)
    walk_rule = np.r_[False, mode[:-1] == 1]
    use_zc = walk_rule & (kind != 1) & (zcv < ic)
    if use_zc.any():
        ic = np.where(use_zc, zcv, ic)
        kind = np.where(use_zc, 1, kind)
        ff, to = events(ic)
    strike = np.where(ff >= 0, -np.degrees(theta[np.maximum(ff, 0)] - theta[ic]), np.nan)
    return OfflineResult(axis, (keep, flip), thr, ic.astype(np.int64), kind, ff, to, strike, mode)
