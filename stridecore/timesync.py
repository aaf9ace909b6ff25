"""Device clock → host clock, causally, from TIME_SYNC probes and data-frame arrival times.

Every input is treated as a *bound* on the line ``host = (1 + drift)·device + offset`` rather
than as a noisy sample of it (set-membership, "bounded-error" estimation):

- a TIME_SYNC probe: the device got the command after the host sent it and replied before the
  host got the reply, so ``host(t_dev_rx) ≥ t_send`` and ``host(t_dev_tx) ≤ t_recv``. The centre
  of that interval is NTP's offset (host midpoint − device midpoint, device turnaround removed)
  and its half-width is RTT/2 (Mills 1991, "Internet time synchronization: the Network Time
  Protocol");
- a data frame was sampled before it was received, so ``host(t_dev) ≤ t_recv``: an upper bound
  only, the transmit latency is unknown and ≥ 0. The lower envelope of these points is the
  "Huygens" idea (Geng et al. 2018, "Exploiting a natural network effect for scalable,
  fine-grained clock synchronization", NSDI).

The lines that satisfy every bound kept (those of the last ``fit_span_s``, each widened by the
device's timestamp jitter) and have |drift| ≤ ``max_drift_ppm`` form a convex polygon in
(drift, offset). At each device time the mapping returns the centre of the host times these lines
allow and half their spread as the uncertainty: the min-max (Chebyshev) estimate, an honest bound
as long as the assumptions hold (latencies ≥ 0, jitter ≤ ``timestamp_jitter_us``, a straight
clock over the span). With data from one instant only, the allowed drifts are ±max_drift_ppm,
symmetric, so the mapping has slope 1; the uncertainty grows by max_drift_ppm away from it.

Why bounds and not least squares over NTP offsets: link delays are one-sided and, on BLE,
asymmetric (the reply waits for the next connection event, about one 30 ms interval, the command
only for a uniform share of one), so the mean NTP offset is biased by half the mean asymmetry
(~7 ms) and averaging never removes a bias, whereas the extremes (fastest command, fastest frame)
converge on the truth. NTP's clock filter (keep the minimum-RTT probe) is included for free: a
slow probe's bounds are looser than a fast one's and never bind. Non-binding frames (those that
narrow the band by less than the timestamp jitter) are not kept, which bounds the work and memory.

Updates: a new bound can only narrow the band, so the centre moves within the old band. A move
forward, or backward by at most the new uncertainty, is a jump. A larger backward move (the old
centre fell outside the new band) is slewed: the surplus decays at ``max_slew_ppm`` of device
time, so host times stay increasing, and it is added to the uncertainty while it lasts. After the
kept history admits no line (reboot missed, drift beyond max_drift_ppm or changing) the oldest
probes are dropped until it does and the mapping jumps (``history_cuts`` counts these). A probe
whose device time runs backwards means the device rebooted: the map resets itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TimeSyncParams:
    """Clock-mapping settings.

    - ``fit_span_s``: device time of probe history the fit uses (older bounds are dropped).
    - ``max_drift_ppm``: |device rate − 1| never exceeded; lines outside are not considered.
    - ``timestamp_jitter_us``: bound on the device's timestamp error (ISR latency, rounding);
      every bound is widened by it.
    - ``min_probes``: probes needed (since the last reset) before :attr:`ClockMap.ready`.
    - ``max_slew_ppm``: rate at which a backward correction larger than the new uncertainty is
      worked off (10 000 ppm: 1 ms per 0.1 s of device time).
    """

    fit_span_s: float = 600.0
    max_drift_ppm: float = 500.0
    timestamp_jitter_us: float = 20.0
    min_probes: int = 1
    max_slew_ppm: float = 10_000.0


def _upper_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Upper convex hull of (x, c) points sorted by (x, c); one point per x (the highest)."""
    h: list[tuple[float, float]] = []
    for x, c in points:
        if h and x == h[-1][0]:
            h.pop()
        while len(h) >= 2 and (
            (h[-1][0] - h[-2][0]) * (c - h[-2][1]) - (h[-1][1] - h[-2][1]) * (x - h[-2][0]) >= 0
        ):
            h.pop()
        h.append((x, c))
    return h


def _edge_slopes(h: list[tuple[float, float]]) -> list[float]:
    return [(c1 - c0) / (x1 - x0) for (x0, c0), (x1, c1) in zip(h, h[1:], strict=False)]


def _solve(
    lower: list[tuple[float, float]], upper: list[tuple[float, float]], max_drift: float
) -> tuple[list[float], list[float], list[float]] | None:
    """Vertices of the polygon of lines ``c = drift·x + b`` with ``c ≥ lower``, ``c ≤ upper``.

    Points are (x device s, c = host − device s). Returns (drift, b on the upper side, b on the
    lower side) at every breakpoint of the polygon's boundary, or None if no line fits.
    """
    hl = _upper_hull(sorted(lower))
    hu = [(x, -c) for x, c in _upper_hull(sorted((x, -c) for x, c in upper))]
    inner = [s for s in _edge_slopes(hl) + _edge_slopes(hu) if -max_drift < s < max_drift]
    d = np.array(sorted({-max_drift, max_drift, *inner}))
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


class ClockMap:
    """Maps one device's µs clock to host seconds; feed it in host-time order.

    All state is plain numbers (see :meth:`snapshot`); device times are kept relative to the
    first probe's ``t_dev_rx_us`` (``x``, seconds) and host times as ``c = host − ref − x``.
    Counters that survive :meth:`reset`: ``reboots_detected``, ``history_cuts``,
    ``frames_rejected`` (frames whose bound contradicts the probes: bad timestamps).
    """

    def __init__(self, params: TimeSyncParams | None = None) -> None:
        self.params = params or TimeSyncParams()
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
        self._probes: list[tuple[float, float, float, float]] = []  # x_rx, c_lo, x_tx, c_hi
        self._frames: list[tuple[float, float]] = []  # x, c of the frames that narrowed the band
        self._vd: list[float] = []  # polygon vertices: drift, b upper side, b lower side
        self._vhi: list[float] = []
        self._vlo: list[float] = []
        self._slew_s = 0.0
        self._slew_x0_s = 0.0

    # ----------------------------------------------------------------------------- inputs

    def add_probe(
        self, t_send_s: float, t_dev_rx_us: int, t_dev_tx_us: int, t_recv_s: float
    ) -> None:
        """A TIME_SYNC round trip: host send/receive (host s), device receive/transmit (µs)."""
        p = self.params
        turnaround_s = (t_dev_tx_us - t_dev_rx_us) * 1e-6 * (1 - p.max_drift_ppm * 1e-6)
        if not -2 * self._jitter_s() <= turnaround_s <= t_recv_s - t_send_s + 2 * self._jitter_s():
            raise ValueError("TIME_SYNC times are inconsistent (device turnaround > round trip)")
        if self._n_probes and t_dev_rx_us < self._last_dev_us - p.timestamp_jitter_us:
            self.reboots_detected += 1
            self.reset()
        if not self._n_probes:
            self._ref_dev_us, self._ref_host_s = t_dev_rx_us, t_send_s
        x_rx = (t_dev_rx_us - self._ref_dev_us) * 1e-6
        x_tx = (t_dev_tx_us - self._ref_dev_us) * 1e-6
        self._probes.append(
            (x_rx, t_send_s - self._ref_host_s - x_rx, x_tx, t_recv_s - self._ref_host_s - x_tx)
        )
        self._n_probes += 1
        self._last_dev_us = t_dev_tx_us
        self._x_now_s = max(self._x_now_s, x_tx)
        cutoff_s = x_rx - p.fit_span_s
        self._probes = [q for q in self._probes if q[0] >= cutoff_s]
        self._frames = [f for f in self._frames if f[0] >= cutoff_s]
        self._refit()

    def add_frame(self, t_dev_us: int, t_recv_s: float) -> None:
        """A live data frame: device time of its first sample (µs), host receive time (s).

        Any device time known to precede the frame's transmission is valid (the last sample's
        is tighter). Ignored before the first probe; backlog frames give nothing useful.
        """
        if not self._vd:
            return
        x = (t_dev_us - self._ref_dev_us) * 1e-6
        c = t_recv_s - self._ref_host_s - x + self._jitter_s()
        self._x_now_s = max(self._x_now_s, x)
        if c >= max(d * x + b for d, b in zip(self._vd, self._vhi, strict=True)) - self._jitter_s():
            return
        if c < min(d * x + b for d, b in zip(self._vd, self._vlo, strict=True)):
            self.frames_rejected += 1
            return
        self._frames.append((x, c))
        self._refit()

    # ----------------------------------------------------------------------------- outputs

    @property
    def ready(self) -> bool:
        """Enough probes since the last reset for a mapping."""
        return self._n_probes >= max(1, self.params.min_probes)

    @property
    def drift_ppm(self) -> float:
        """Device clock rate error (device runs fast: > 0) the mapping extrapolates with."""
        if not self.ready:
            return math.nan
        return -0.5e6 * (self._vd[0] + self._vd[-1]) / (1 + 0.5 * (self._vd[0] + self._vd[-1]))

    @property
    def offset_s(self) -> float:
        """Host minus device clock (s) at the newest device time seen."""
        t_now_us = self._ref_dev_us + self._x_now_s * 1e6
        return float(self.to_host_s(t_now_us)) - t_now_us * 1e-6

    @property
    def uncertainty_ms(self) -> float:
        """Honest error bound (ms) at the newest device time seen."""
        return float(self.uncertainty_ms_at(self._ref_dev_us + self._x_now_s * 1e6))

    def to_host_s(self, t_dev_us: Any) -> float | np.ndarray:
        """Host time (s) of device time(s) ``t_dev_us`` (µs); NaN while not :attr:`ready`."""
        x = self._x(t_dev_us)
        if not self.ready:
            out = np.full_like(x, np.nan)
        else:
            lo, hi = self._band(x)
            out = self._ref_host_s + x + 0.5 * (lo + hi) + self._slew(x)
        return float(out) if out.ndim == 0 else out

    def uncertainty_ms_at(self, t_dev_us: Any) -> float | np.ndarray:
        """Error bound (ms) of :meth:`to_host_s` at ``t_dev_us`` (µs); inf while not ready."""
        x = self._x(t_dev_us)
        if not self.ready:
            out = np.full_like(x, np.inf)
        else:
            lo, hi = self._band(x)
            out = 1e3 * (0.5 * (hi - lo) + self._slew(x))
        return float(out) if out.ndim == 0 else out

    # ----------------------------------------------------------------------------- state

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
            "vertex_drift": list(self._vd),
            "vertex_b_hi_s": list(self._vhi),
            "vertex_b_lo_s": list(self._vlo),
            "slew_s": self._slew_s,
            "slew_x0_s": self._slew_x0_s,
            "reboots_detected": self.reboots_detected,
            "history_cuts": self.history_cuts,
            "frames_rejected": self.frames_rejected,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (taken with the same params)."""
        if snap["params"] != dataclasses.asdict(self.params):
            raise ValueError("snapshot was taken with other TimeSyncParams")
        self._ref_dev_us = snap["ref_dev_us"]
        self._ref_host_s = snap["ref_host_s"]
        self._n_probes = snap["n_probes"]
        self._last_dev_us = snap["last_dev_us"]
        self._x_now_s = snap["x_now_s"]
        self._probes = [(a, b, c, d) for a, b, c, d in snap["probes"]]
        self._frames = [(a, b) for a, b in snap["frames"]]
        self._vd = list(snap["vertex_drift"])
        self._vhi = list(snap["vertex_b_hi_s"])
        self._vlo = list(snap["vertex_b_lo_s"])
        self._slew_s = snap["slew_s"]
        self._slew_x0_s = snap["slew_x0_s"]
        self.reboots_detected = snap["reboots_detected"]
        self.history_cuts = snap["history_cuts"]
        self.frames_rejected = snap["frames_rejected"]

    # ----------------------------------------------------------------------------- internals

    def _jitter_s(self) -> float:
        return self.params.timestamp_jitter_us * 1e-6 * (1 + self.params.max_drift_ppm * 1e-6)

    def _x(self, t_dev_us: Any) -> np.ndarray:
        return (np.asarray(t_dev_us, dtype=np.float64) - self._ref_dev_us) * 1e-6

    def _band(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest c the allowed lines give at device times x."""
        lo = np.full(x.shape, np.inf)
        hi = np.full(x.shape, -np.inf)
        for d, bh, bl in zip(self._vd, self._vhi, self._vlo, strict=True):
            np.maximum(hi, d * x + bh, out=hi)
            np.minimum(lo, d * x + bl, out=lo)
        return lo, hi

    def _slew(self, x: np.ndarray) -> np.ndarray:
        rate = self.params.max_slew_ppm * 1e-6
        return np.clip(self._slew_s - rate * (x - self._slew_x0_s), 0.0, self._slew_s)

    def _fit(self, probes: list, frames: list) -> tuple[list[float], ...] | None:
        j = self._jitter_s()
        lower = [(q[0], q[1] - j) for q in probes]
        upper = [(q[2], q[3] + j) for q in probes] + frames
        drift = self.params.max_drift_ppm * 1e-6
        # the line's slope in c is (device rate)⁻¹ − 1, within ±max_drift to first order
        return _solve(lower, upper, drift / (1 - drift))

    def _refit(self) -> None:
        x0 = np.array(self._x_now_s)
        old = self._band(x0) if self._vd else None
        sol = self._fit(self._probes, self._frames)
        if sol is None:
            self.history_cuts += 1
            lo_k, hi_k = 0, len(self._probes) - 1  # keeping probes[hi_k:] always fits
            while lo_k < hi_k:
                k = (lo_k + hi_k) // 2
                keep = self._fit(self._probes[k:], self._kept_frames(k))
                lo_k, hi_k = (lo_k, k) if keep is not None else (k + 1, hi_k)
            self._frames = self._kept_frames(lo_k) if lo_k < len(self._probes) - 1 else []
            self._probes = self._probes[lo_k:]
            sol = self._fit(self._probes, self._frames)
            old = None
        old_c = None if old is None else 0.5 * (old[0] + old[1]) + self._slew(x0)
        self._vd, self._vhi, self._vlo = sol
        self._slew_s = 0.0
        if old_c is not None:
            lo, hi = self._band(x0)
            surplus = float(old_c - hi)  # old centre − (new centre + new half-width)
            if surplus > 0:
                self._slew_s, self._slew_x0_s = surplus, self._x_now_s

    def _kept_frames(self, k: int) -> list[tuple[float, float]]:
        return [f for f in self._frames if f[0] >= self._probes[k][0]]
