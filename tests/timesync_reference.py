# The ClockMap of stridecore/timesync.py at commit 593a321, verbatim (before the add_probe
# speed-up): tests/test_timesync.py checks that the current one gives the same results.

"""Device clock → host clock, causally, from TIME_SYNC probes and data-frame arrival times.

Method: set-membership ("bounded error") estimation. Transit times are never negative, so every
input bounds the line ``host = (1 + drift)·device + offset``:

- a TIME_SYNC probe: ``host(t_dev_rx) ≥ t_send`` and ``host(t_dev_tx) ≤ t_recv``. The middle of
  the two is NTP's offset (host midpoint − device midpoint), their half-width RTT/2 with the
  device turnaround removed (Mills 1991, "Internet time synchronization: the Network Time
  Protocol");
- a data frame: ``host(t_dev) ≤ t_recv``, an upper bound only (its latency is unknown, ≥ 0).

The lines meeting every bound of the last ``fit_span_s`` (each widened by the timestamp jitter)
with |drift| ≤ ``max_drift_ppm`` form a convex polygon; their spread at a device time is the
honest uncertainty there. The mapping is the polygon's line with

- slope: the inverse-variance mean of a zero-mean prior (``drift_prior_ppm``), the middle of the
  allowed range (variance of a uniform spread over it) and the slope of each envelope (probe
  commands from below, replies and frames from above): its hull edge over the middle of its
  span, the linear program of Moon, Skelly & Towsley 1999 ("Estimation and removal of clock skew
  from network delay measurements"), variance (2·scatter / span)²;
- offset: half-way between the lower and the upper envelope at that slope (the two-sided
  envelope of "Huygens", Geng et al. 2018, NSDI).

Why: BLE delays are one-sided and asymmetric (a reply waits for the next 30 ms connection event,
a command only for a random share of one). Averaging NTP offsets keeps that bias; envelopes
converge on the fastest transits, and frames, dense and one way, pin the upper side and the
drift between probes (without them BLE errs by ~15 ms). NTP's minimum-RTT filter is built in:
a slow probe's bounds never bind. Frames that narrow the band by less than the jitter are not
kept. After one probe the slope is 1 and the uncertainty grows by max_drift_ppm away from it.

Updates: each probe, and each frame that narrows the band, refits; the mapping jumps forward, or
back by at most the new uncertainty. A larger backward move is slewed at ``max_slew_ppm`` (host
times keep increasing; the surplus counts in the uncertainty while it lasts). Bounds that admit
no line (a missed reboot, drift beyond the maximum or changing) drop the oldest probes until one
fits (``history_cuts``); a probe whose device time runs backwards means a reboot: reset.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Points = list[tuple[float, float]]  # (x: device s since the first probe, c: host − device s)
Envelopes = tuple[Points, Points, list[tuple[float, float]]]
_CHUNK = 1 << 16  # device times per step of the vectorised band evaluation


@dataclass(frozen=True)
class TimeSyncParams:
    """Clock-mapping settings.

    - ``fit_span_s``: device time of history the fit uses (older bounds are dropped).
    - ``max_drift_ppm``: |device rate − 1| never exceeded; lines outside are not considered.
    - ``timestamp_jitter_us``: bound on the device's timestamp error (ISR latency, rounding);
      every bound is widened by it.
    - ``drift_prior_ppm``: spread of a zero-mean prior on the drift (crystals are specified to
      tens of ppm), so that a short history does not extrapolate a noisy slope.
    - ``min_probes``: probes needed (since the last reset) before :attr:`ClockMap.ready`.
    - ``max_slew_ppm``: rate at which a backward correction larger than the new uncertainty is
      worked off (10 000 ppm: 1 ms per 0.1 s of device time).
    """

    fit_span_s: float = 600.0
    max_drift_ppm: float = 500.0
    timestamp_jitter_us: float = 20.0
    drift_prior_ppm: float = 100.0
    min_probes: int = 1
    max_slew_ppm: float = 10_000.0

    def __post_init__(self) -> None:
        if not (self.fit_span_s > 0 and 0 < self.max_drift_ppm < 1e5 and self.drift_prior_ppm > 0
                and self.timestamp_jitter_us >= 0 and self.min_probes >= 1
                and self.max_slew_ppm > 0):
            raise ValueError(f"invalid {self}")


def _upper_hull(points: Points, previous: Points | None = None) -> Points:
    """Upper convex hull, left to right; one point per x (the highest).

    ``previous``: the hull before the oldest points were dropped and ``points[-1]`` was added.
    Every other point right of its first surviving vertex lies under it: no need to look again.
    """
    if previous:
        x_first = min(x for x, _ in points)
        keep = [v for v in previous if v[0] >= x_first]
        if keep:
            points = [p for p in points if p[0] < keep[0][0]] + keep + points[-1:]
    h: Points = []
    for x, c in sorted(points):
        if h and x == h[-1][0]:
            h.pop()
        while len(h) >= 2 and (
            (h[-1][0] - h[-2][0]) * (c - h[-2][1]) - (h[-1][1] - h[-2][1]) * (x - h[-2][0]) >= 0
        ):
            h.pop()
        h.append((x, c))
    return h


def _lower_hull(points: Points, previous: Points | None = None) -> Points:
    flip = None if previous is None else [(x, -c) for x, c in previous]
    return [(x, -c) for x, c in _upper_hull([(x, -c) for x, c in points], flip)]


def _edge_slopes(h: Points) -> list[float]:
    return [(c1 - c0) / (x1 - x0) for (x0, c0), (x1, c1) in itertools.pairwise(h)]


def _polygon(
    hl: Points, hu: Points, max_slope: float
) -> tuple[list[float], list[float], list[float]] | None:
    """Lines ``c = d·x + b`` above the hull ``hl`` and below ``hu`` with |d| ≤ max_slope.

    Returns, at every breakpoint d of the polygon's boundary (ascending), the highest and the
    lowest b; None if no line fits.
    """
    inner = [s for s in _edge_slopes(hl) + _edge_slopes(hu) if -max_slope < s < max_slope]
    d = np.array(sorted({-max_slope, max_slope, *inner}))
    lx, lc = np.array(hl).T
    ux, uc = np.array(hu).T
    g = (uc - d[:, None] * ux).min(axis=1) - (lc - d[:, None] * lx).max(axis=1)
    ok = np.flatnonzero(g >= 0)
    if not ok.size:
        return None
    i, j = int(ok[0]), int(ok[-1])
    vd = list(d[i : j + 1])
    if i > 0:
        vd.insert(0, d[i - 1] + (d[i] - d[i - 1]) * g[i - 1] / (g[i - 1] - g[i]))
    if j < d.size - 1:
        vd.append(d[j] + (d[j + 1] - d[j]) * g[j] / (g[j] - g[j + 1]))
    v = np.array(vd)
    b_hi = (uc - v[:, None] * ux).min(axis=1)
    b_lo = (lc - v[:, None] * lx).max(axis=1)
    return v.tolist(), b_hi.tolist(), b_lo.tolist()


def _envelope_slope(points: Points, hull: Points, scatter_min: float) -> tuple[float, float]:
    """Slope of the hull edge over the middle of the span (Moon et al.) and its variance."""
    if len(points) < 3:
        return 0.0, math.inf
    p = np.array(points)
    x_lo, x_hi = float(p[:, 0].min()), float(p[:, 0].max())
    if x_hi == x_lo:
        return 0.0, math.inf
    x_mid = 0.5 * (x_lo + x_hi)
    k = next(k for k in range(1, len(hull)) if hull[k][0] >= x_mid)
    (x0, c0), (x1, c1) = hull[k - 1], hull[k]
    slope = (c1 - c0) / (x1 - x0)
    scatter = max(float(np.abs(p[:, 1] - c0 - slope * (p[:, 0] - x0)).mean()), scatter_min)
    return slope, (2 * scatter / (x_hi - x_lo)) ** 2


class ClockMap:
    """Maps one device's µs clock to host seconds; feed it in host-time order.

    All state is plain numbers (see :meth:`snapshot`); device times are kept relative to the
    first probe's ``t_dev_rx_us`` (``x``, s) and host times as ``c = host − ref − x`` (s), so
    the mapping is ``c = slope·x + offset``. Counters that survive :meth:`reset`:
    ``reboots_detected``, ``history_cuts`` and ``frames_rejected`` (frames whose bound
    contradicts the probes: bad timestamps).
    """

    def __init__(self, params: TimeSyncParams | None = None) -> None:
        self.params = params or TimeSyncParams()
        p = self.params
        # device timestamp error as host time: every bound is widened by it
        self._jitter_s = p.timestamp_jitter_us * 1e-6 * (1 + p.max_drift_ppm * 1e-6)
        self.reboots_detected = 0
        self.history_cuts = 0
        self.frames_rejected = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything learnt about the clock (the device rebooted: its clock restarted)."""
        self._ref_dev_us = 0
        self._ref_host_s = 0.0
        self._n_probes = 0
        self._last_dev_us = 0
        self._x_now_s = 0.0
        self._probes: list[tuple[float, float, float, float]] = []  # x, c lower; x, c upper
        self._frames: Points = []  # frames that narrowed the band, jitter included
        self._env: Envelopes = ([], [], [])  # derived from _probes
        self._vd: list[float] = []  # the polygon: slopes, highest and lowest offsets
        self._vhi_s: list[float] = []
        self._vlo_s: list[float] = []
        self._x_upper_s = 0.0  # newest device time among the upper bounds
        self._slope = 0.0
        self._offset_s = 0.0
        self._slew_s = 0.0
        self._slew_x0_s = 0.0

    # ------------------------------------------------------------------------------- inputs

    def add_probe(
        self, t_send_s: float, t_dev_rx_us: int, t_dev_tx_us: int, t_recv_s: float
    ) -> None:
        """A TIME_SYNC round trip: host send/receive (s), device receive/transmit (µs).

        One probe in flight at a time (the protocol's rule), fed when its reply arrives.
        """
        p, jitter_s = self.params, self._jitter_s
        # the turnaround in host time, on the fastest device clock allowed
        turnaround_s = (t_dev_tx_us - t_dev_rx_us) * 1e-6 / (1 + p.max_drift_ppm * 1e-6)
        if not -2 * jitter_s <= turnaround_s <= t_recv_s - t_send_s + 2 * jitter_s:
            raise ValueError("TIME_SYNC times are inconsistent (device turnaround > round trip)")
        if self._n_probes and t_dev_rx_us < self._last_dev_us - p.timestamp_jitter_us:
            self.reboots_detected += 1
            self.reset()
        if not self._n_probes:
            self._ref_dev_us, self._ref_host_s = t_dev_rx_us, t_send_s
        x_rx_s = (t_dev_rx_us - self._ref_dev_us) * 1e-6
        x_tx_s = (t_dev_tx_us - self._ref_dev_us) * 1e-6
        self._probes.append((
            x_rx_s, t_send_s - self._ref_host_s - x_rx_s - jitter_s,
            x_tx_s, t_recv_s - self._ref_host_s - x_tx_s + jitter_s,
        ))
        self._n_probes += 1
        self._last_dev_us = t_dev_tx_us
        self._x_now_s = max(self._x_now_s, x_tx_s)
        cutoff_s = x_rx_s - p.fit_span_s
        self._probes = [q for q in self._probes if q[0] >= cutoff_s]
        self._frames = [f for f in self._frames if f[0] >= cutoff_s]
        self._env = self._envelopes(self._probes, self._env)
        self._refit()

    def add_frame(self, t_dev_us: int, t_recv_s: float) -> None:
        """A live data frame: device time of its first sample (µs), host receive time (s).

        Any device time known to precede the frame's transmission is valid (the last sample's
        is tighter). Ignored before the first probe.
        """
        if not self._vd:
            return
        x_s = (t_dev_us - self._ref_dev_us) * 1e-6
        c_s = t_recv_s - self._ref_host_s - x_s + self._jitter_s
        if x_s > self._x_now_s:
            self._x_now_s = x_s
        if x_s >= self._x_upper_s:  # past every upper bound the steepest line is the highest
            hi_s = self._vd[-1] * x_s + self._vhi_s[-1]
        else:
            hi_s = max(d * x_s + b for d, b in zip(self._vd, self._vhi_s, strict=True))
        if c_s >= hi_s - self._jitter_s:
            return
        if c_s < min(d * x_s + b for d, b in zip(self._vd, self._vlo_s, strict=True)):
            self.frames_rejected += 1
            return
        self._frames.append((x_s, c_s))
        self._refit()

    # ------------------------------------------------------------------------------ outputs

    @property
    def ready(self) -> bool:
        """Enough probes since the last reset for a mapping."""
        return self._n_probes >= self.params.min_probes

    @property
    def drift_ppm(self) -> float:
        """Device clock rate error of the mapping (device runs fast: > 0); NaN if not ready."""
        return -1e6 * self._slope / (1 + self._slope) if self.ready else math.nan

    @property
    def offset_s(self) -> float:
        """Host minus device clock (s) at the newest device time seen; NaN if not ready."""
        t_now_us = self._ref_dev_us + self._x_now_s * 1e6
        return float(self.to_host_s(t_now_us)) - t_now_us * 1e-6

    @property
    def uncertainty_ms(self) -> float:
        """Error bound (ms) at the newest device time seen; inf if not ready."""
        return float(self.uncertainty_ms_at(self._ref_dev_us + self._x_now_s * 1e6))

    def to_host_s(self, t_dev_us: Any) -> float | np.ndarray:
        """Host time (s) of device time(s) ``t_dev_us`` (µs); NaN while not :attr:`ready`."""
        x = self._x(t_dev_us)
        if self.ready:
            out = self._ref_host_s + x + (self._slope * x + self._offset_s) + self._slew(x)
        else:
            out = np.full_like(x, np.nan)
        return float(out) if np.ndim(out) == 0 else out

    def uncertainty_ms_at(self, t_dev_us: Any) -> float | np.ndarray:
        """Error bound (ms) of :meth:`to_host_s` at ``t_dev_us`` (µs); inf while not ready."""
        x = self._x(t_dev_us)
        if self.ready:
            lo, hi = self._band(x)
            c = self._slope * x + self._offset_s
            out = 1e3 * (np.maximum(hi - c, c - lo) + self._slew(x))
        else:
            out = np.full_like(x, np.inf)
        return float(out) if np.ndim(out) == 0 else out

    # -------------------------------------------------------------------------------- state

    def snapshot(self) -> dict[str, Any]:
        """All state as plain numbers (and lists of them); :meth:`restore` takes it back."""
        return {
            "params": dataclasses.asdict(self.params),
            "ref_dev_us": self._ref_dev_us,
            "ref_host_s": self._ref_host_s,
            "n_probes": self._n_probes,
            "last_dev_us": self._last_dev_us,
            "x_now_s": self._x_now_s,
            "probes": [list(q) for q in self._probes],
            "frames": [list(f) for f in self._frames],
            "polygon_slope": list(self._vd),
            "polygon_offset_hi_s": list(self._vhi_s),
            "polygon_offset_lo_s": list(self._vlo_s),
            "x_upper_s": self._x_upper_s,
            "slope": self._slope,
            "offset_s": self._offset_s,
            "slew_s": self._slew_s,
            "slew_x0_s": self._slew_x0_s,
            "reboots_detected": self.reboots_detected,
            "history_cuts": self.history_cuts,
            "frames_rejected": self.frames_rejected,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` taken with the same params."""
        if snap["params"] != dataclasses.asdict(self.params):
            raise ValueError("snapshot was taken with other TimeSyncParams")
        self._ref_dev_us = snap["ref_dev_us"]
        self._ref_host_s = snap["ref_host_s"]
        self._n_probes = snap["n_probes"]
        self._last_dev_us = snap["last_dev_us"]
        self._x_now_s = snap["x_now_s"]
        self._probes = [(a, b, c, d) for a, b, c, d in snap["probes"]]
        self._frames = [(a, b) for a, b in snap["frames"]]
        self._env = self._envelopes(self._probes)
        self._vd = list(snap["polygon_slope"])
        self._vhi_s = list(snap["polygon_offset_hi_s"])
        self._vlo_s = list(snap["polygon_offset_lo_s"])
        self._x_upper_s = snap["x_upper_s"]
        self._slope = snap["slope"]
        self._offset_s = snap["offset_s"]
        self._slew_s = snap["slew_s"]
        self._slew_x0_s = snap["slew_x0_s"]
        self.reboots_detected = snap["reboots_detected"]
        self.history_cuts = snap["history_cuts"]
        self.frames_rejected = snap["frames_rejected"]

    # ---------------------------------------------------------------------------- internals

    def _x(self, t_dev_us: Any) -> np.ndarray:
        return (np.asarray(t_dev_us, dtype=np.float64) - self._ref_dev_us) * 1e-6

    def _band(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest c the polygon's lines give at device times x."""
        vd, vhi, vlo = np.array(self._vd), np.array(self._vhi_s), np.array(self._vlo_s)
        flat = x.reshape(-1, 1)
        lo, hi = np.empty(flat.shape[0]), np.empty(flat.shape[0])
        for i in range(0, flat.shape[0], _CHUNK):
            line = flat[i : i + _CHUNK] * vd
            hi[i : i + _CHUNK] = (line + vhi).max(axis=1)
            lo[i : i + _CHUNK] = (line + vlo).min(axis=1)
        return lo.reshape(x.shape), hi.reshape(x.shape)

    def _slew(self, x: np.ndarray) -> np.ndarray | float:
        if not self._slew_s:
            return 0.0
        rate = self.params.max_slew_ppm * 1e-6
        return np.clip(self._slew_s - rate * (x - self._slew_x0_s), 0.0, self._slew_s)

    def _envelopes(
        self, probes: list[tuple[float, float, float, float]], previous: Envelopes | None = None
    ) -> Envelopes:
        """Hulls of the probe commands (from below) and replies (from above), their slopes.

        ``previous``: the envelopes before the oldest probes expired and a new one arrived.
        """
        commands = [(q[0], q[1]) for q in probes]
        replies = [(q[2], q[3]) for q in probes]
        h_cmd = _upper_hull(commands, previous and previous[0])
        h_rep = _lower_hull(replies, previous and previous[1])
        scatter_min = max(self._jitter_s, 1e-6)
        slopes = [_envelope_slope(commands, h_cmd, scatter_min),
                  _envelope_slope(replies, h_rep, scatter_min)]
        return h_cmd, h_rep, slopes

    def _fit(self, env: Envelopes, frames: Points) -> tuple | None:
        """Polygon, slope and offset from these bounds; None if no line fits them."""
        h_cmd, h_rep, slopes = env
        h_frm = _lower_hull(frames)
        drift = self.params.max_drift_ppm * 1e-6
        # c's slope is 1 / (1 + drift) − 1: |slope| ≤ drift / (1 + drift) keeps |drift| ≤ max
        poly = _polygon(h_cmd, _lower_hull(h_rep + h_frm), drift / (1 + drift))
        if poly is None:
            return None
        vd, vhi, vlo = poly
        if vd[0] == vd[-1]:
            slope = vd[0]
        else:
            estimates = [
                (0.0, (self.params.drift_prior_ppm * 1e-6) ** 2),
                (0.5 * (vd[0] + vd[-1]), (vd[-1] - vd[0]) ** 2 / 12),
                *slopes,
                _envelope_slope(frames, h_frm, max(self._jitter_s, 1e-6)),
            ]
            weights = [1 / v for _, v in estimates]
            slope = sum(s * w for (s, _), w in zip(estimates, weights, strict=True)) / sum(weights)
            slope = min(max(slope, vd[0]), vd[-1])
        offset_s = 0.5 * float(np.interp(slope, vd, vhi) + np.interp(slope, vd, vlo))
        return vd, vhi, vlo, slope, offset_s

    def _refit(self) -> None:
        x0_s = np.array(self._x_now_s)
        old_s = self._slope * x0_s + self._offset_s + self._slew(x0_s) if self._vd else None
        fit = self._fit(self._env, self._frames)
        if fit is None:
            self.history_cuts += 1
            lo_k, hi_k = 0, len(self._probes) - 1
            while lo_k < hi_k:  # the fewest old probes to drop so that a line fits
                k = (lo_k + hi_k) // 2
                if self._fit(self._envelopes(self._probes[k:]), self._frames_since(k)) is None:
                    lo_k = k + 1
                else:
                    hi_k = k
            # the newest probe alone always fits; frames after it may not
            self._frames = self._frames_since(lo_k) if lo_k < len(self._probes) - 1 else []
            self._probes = self._probes[lo_k:]
            self._env = self._envelopes(self._probes)
            fit = self._fit(self._env, self._frames)
            old_s = None
        self._vd, self._vhi_s, self._vlo_s, self._slope, self._offset_s = fit
        self._x_upper_s = max([q[2] for q in self._probes] + [f[0] for f in self._frames])
        self._slew_s = 0.0
        if old_s is not None:
            new_s = self._slope * x0_s + self._offset_s
            lo_s, hi_s = self._band(x0_s)
            surplus_s = float(old_s - new_s - max(hi_s - new_s, new_s - lo_s))
            if surplus_s > 0:
                self._slew_s, self._slew_x0_s = surplus_s, self._x_now_s

    def _frames_since(self, k: int) -> Points:
        return [f for f in self._frames if f[0] >= self._probes[k][0]]
