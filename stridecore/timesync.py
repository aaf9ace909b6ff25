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

import bisect
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from firmware_protocol._jit import njit

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


# ------------------------------------------------------------------------- kernels
# Convex hulls, envelope slopes and the polygon, on points kept as rows of arrays. Each step
# is the same float operation, in the same order, as the list-of-tuples code it replaced
# (kept in tests/timesync_reference.py), so the results are the same to the bit.

# The probes are kept in ClockMap._pb (rows x, c lower; x, c upper: commands and replies), the
# frames in ClockMap._fb (rows x, c), oldest first, each in columns [0, count). Rows of
# ClockMap._w, the kernels' work space (columns: points):
_CMD_X, _CMD_C, _REP_X, _REP_C = 0, 1, 2, 3  # hulls: commands (upper), replies (lower)
_FRM_X, _FRM_C, _UP_X, _UP_C = 4, 5, 6, 7  # frames (lower); replies and frames (lower)
_PTS_X, _PTS_C = 8, 9  # points being hulled
_RES = 10  # |residuals| from an envelope slope
_POLY_D, _POLY_G, _POLY_V, _POLY_HI, _POLY_LO = 11, 12, 13, 14, 15  # see _polygon
_ROWS = 16


@njit
def _sort_points(x: np.ndarray, c: np.ndarray, n: int) -> None:
    """Sort the points (x[:n], c[:n]) in place by x, then c (Python's order of tuples).

    Insertion sort: the points come nearly in order (device time), so it takes O(n).
    """
    for i in range(1, n):
        xi, ci = x[i], c[i]
        j = i - 1
        while j >= 0 and (x[j] > xi or (x[j] == xi and c[j] > ci)):
            x[j + 1] = x[j]
            c[j + 1] = c[j]
            j -= 1
        x[j + 1] = xi
        c[j + 1] = ci


@njit
def _upper_chain(x: np.ndarray, c: np.ndarray, n: int, hx: np.ndarray, hc: np.ndarray) -> int:
    """Upper hull of sorted points, left to right, one per x (the highest): Andrew's monotone
    chain, collinear vertices dropped. Writes it to hx, hc (not x, c)."""
    h = 0
    for i in range(n):
        xi, ci = x[i], c[i]
        if h and xi == hx[h - 1]:
            h -= 1
        while h >= 2 and (
            (hx[h - 1] - hx[h - 2]) * (ci - hc[h - 2]) - (hc[h - 1] - hc[h - 2]) * (xi - hx[h - 2])
            >= 0
        ):
            h -= 1
        hx[h] = xi
        hc[h] = ci
        h += 1
    return h


@njit
def _hull(px: np.ndarray, pc: np.ndarray, lo: int, hi: int, sign: float, n_prev: int,
          hx: np.ndarray, hc: np.ndarray, wx: np.ndarray, wc: np.ndarray) -> int:
    """Upper (sign 1) or lower (sign −1: the upper hull of (x, −c)) hull of the points
    (px, pc)[lo:hi]; written to (hx, hc), returns its size.

    ``n_prev`` > 0: (hx, hc)[:n_prev] is the hull before the oldest points were dropped and
    the point ``hi − 1`` was added. Every other point right of its first surviving vertex lies
    under it: no need to look again. (wx, wc): work space.
    """
    if hi - lo + n_prev + 1 > min(wx.size, hx.size):
        raise ValueError("hull work space too small")
    m = 0
    incremental = False
    if n_prev > 0:
        x_first = px[lo]
        for i in range(lo + 1, hi):
            if px[i] < x_first:
                x_first = px[i]
        j0 = 0
        while j0 < n_prev and not hx[j0] >= x_first:
            j0 += 1
        if j0 < n_prev:
            incremental = True
            x_keep = hx[j0]
            for i in range(lo, hi):
                if px[i] < x_keep:
                    wx[m] = px[i]
                    wc[m] = sign * pc[i]
                    m += 1
            for j in range(j0, n_prev):
                if hx[j] >= x_first:
                    wx[m] = hx[j]
                    wc[m] = sign * hc[j]
                    m += 1
            wx[m] = px[hi - 1]
            wc[m] = sign * pc[hi - 1]
            m += 1
    if not incremental:
        for i in range(lo, hi):
            wx[m] = px[i]
            wc[m] = sign * pc[i]
            m += 1
    _sort_points(wx, wc, m)
    h = _upper_chain(wx, wc, m, hx, hc)
    for k in range(h):
        hc[k] = sign * hc[k]
    return h


@njit
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's sum of a[lo:lo + n], n ≤ 128: with 8 accumulators (n ≥ 8)."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    end = lo + n - n % 8
    while i < end:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@njit
def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """Sum of a[lo:lo + n] exactly as numpy's ``np.add.reduce`` (so ``np.mean``) adds float64:
    halves (cut at a multiple of 8) summed separately down to blocks of at most 128.

    Without recursion (numba's cache does not load recursive functions reliably): the halves
    are walked depth first, partial sums on a stack.
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    seg_lo = np.empty(64, np.int64)  # segments still to sum, and whether their halves are
    seg_n = np.empty(64, np.int64)  # (1: left half summed, 2: both)
    seg_state = np.empty(64, np.int64)
    sums = np.empty(64)
    top, n_sums = 0, 0
    seg_lo[0], seg_n[0], seg_state[0] = lo, n, 0
    top = 1
    while top:
        k = top - 1
        s_lo, s_n, state = seg_lo[k], seg_n[k], seg_state[k]
        if s_n <= 128:
            sums[n_sums] = _block_sum(a, s_lo, s_n)
            n_sums += 1
            top -= 1
            continue
        n2 = s_n // 2
        n2 -= n2 % 8
        if state == 0:  # the left half first
            seg_state[k] = 1
            seg_lo[top], seg_n[top], seg_state[top] = s_lo, n2, 0
            top += 1
        elif state == 1:
            seg_state[k] = 2
            seg_lo[top], seg_n[top], seg_state[top] = s_lo + n2, s_n - n2, 0
            top += 1
        else:  # left + right
            sums[n_sums - 2] = sums[n_sums - 2] + sums[n_sums - 1]
            n_sums -= 1
            top -= 1
    return sums[0]


@njit
def _envelope_slope(px: np.ndarray, pc: np.ndarray, lo: int, hi: int, hx: np.ndarray,
                    hc: np.ndarray, n_hull: int,
                    res: np.ndarray) -> tuple[float, float, float, float]:
    """Slope of the hull edge over the middle of the span (Moon et al.) of the points
    (px, pc)[lo:hi] and their hull (hx, hc)[:n_hull].

    Returns (lowest x, highest x, slope, Σ|c − edge| over the points, summed as numpy does:
    divided by their number, the scatter); res: work space. No slope (0) if fewer than 3
    points or one x.
    """
    if hi - lo < 3:
        return 0.0, 0.0, 0.0, 0.0
    x_lo = x_hi = px[lo]
    for i in range(lo + 1, hi):
        if px[i] < x_lo:
            x_lo = px[i]
        if px[i] > x_hi:
            x_hi = px[i]
    if x_hi == x_lo:
        return x_lo, x_hi, 0.0, 0.0
    x_mid = 0.5 * (x_lo + x_hi)
    k = 1
    while k < n_hull - 1 and not hx[k] >= x_mid:  # the hull ends at x_hi ≥ x_mid
        k += 1
    x0, c0 = hx[k - 1], hc[k - 1]
    slope = (hc[k] - c0) / (hx[k] - x0)
    for i in range(lo, hi):
        res[i - lo] = abs(pc[i] - c0 - slope * (px[i] - x0))
    return x_lo, x_hi, slope, 0.0 + _pairwise_sum(res, np.int64(0), hi - lo)


@njit
def _offsets(slope: float, lx: np.ndarray, lc: np.ndarray, n_l: int, ux: np.ndarray,
             uc: np.ndarray, n_u: int) -> tuple[float, float]:
    """The highest offset b of a line of ``slope`` below the upper hull and the lowest above
    the lower hull (the band of lines of that slope)."""
    hi = uc[0] - slope * ux[0]
    for k in range(1, n_u):
        b = uc[k] - slope * ux[k]
        if b < hi:
            hi = b
    lo = lc[0] - slope * lx[0]
    for k in range(1, n_l):
        b = lc[k] - slope * lx[k]
        if b > lo:
            lo = b
    return hi, lo


@njit
def _polygon(lx: np.ndarray, lc: np.ndarray, n_l: int, ux: np.ndarray, uc: np.ndarray,
             n_u: int, max_slope: float, w: np.ndarray) -> int:
    """Lines ``c = d·x + b`` above the hull (lx, lc)[:n_l] and below (ux, uc)[:n_u] with
    |d| ≤ max_slope.

    Writes, at every breakpoint d of the polygon's boundary (ascending), the highest and the
    lowest b to rows _POLY_V, _POLY_HI, _POLY_LO of ``w``; returns their number, 0 if no line
    fits.
    """
    d, g = w[_POLY_D], w[_POLY_G]
    d[0], d[1] = -max_slope, max_slope
    nd = 2
    for k in range(n_l - 1):  # the edges' slopes
        s = (lc[k + 1] - lc[k]) / (lx[k + 1] - lx[k])
        if -max_slope < s < max_slope:
            d[nd] = s
            nd += 1
    for k in range(n_u - 1):
        s = (uc[k + 1] - uc[k]) / (ux[k + 1] - ux[k])
        if -max_slope < s < max_slope:
            d[nd] = s
            nd += 1
    for i in range(1, nd):  # sort (a handful of slopes), then drop repeats
        di = d[i]
        j = i - 1
        while j >= 0 and d[j] > di:
            d[j + 1] = d[j]
            j -= 1
        d[j + 1] = di
    n = 1
    for i in range(1, nd):
        if d[i] != d[n - 1]:
            d[n] = d[i]
            n += 1
    first, last = -1, -1
    for i in range(n):
        hi, lo = _offsets(d[i], lx, lc, n_l, ux, uc, n_u)
        g[i] = hi - lo
        if g[i] >= 0:
            if first < 0:
                first = i
            last = i
    if first < 0:
        return 0
    v = w[_POLY_V]
    nv = 0
    if first > 0:
        i = first
        v[nv] = d[i - 1] + (d[i] - d[i - 1]) * g[i - 1] / (g[i - 1] - g[i])
        nv += 1
    for i in range(first, last + 1):
        v[nv] = d[i]
        nv += 1
    if last < n - 1:
        j = last
        v[nv] = d[j] + (d[j + 1] - d[j]) * g[j] / (g[j] - g[j + 1])
        nv += 1
    b_hi, b_lo = w[_POLY_HI], w[_POLY_LO]
    for i in range(nv):
        b_hi[i], b_lo[i] = _offsets(v[i], lx, lc, n_l, ux, uc, n_u)
    return nv


@njit
def _expire(buf: np.ndarray, n: int, cutoff_s: float) -> int:
    """Drop the columns of buf[:, :n] whose x (row 0) is below ``cutoff_s``; the new count."""
    k = 0
    for i in range(n):
        if buf[0, i] >= cutoff_s:
            if k != i:
                for r in range(buf.shape[0]):
                    buf[r, k] = buf[r, i]
            k += 1
    return k


@njit
def _probe_envelopes(pb: np.ndarray, lo: int, hi: int, w: np.ndarray, n_cmd: int,
                     n_rep: int) -> tuple[int, int, float, float, float, float, float, float,
                                          float, float, float]:
    """Hulls of the probes pb[:, lo:hi]: commands from below (upper hull), replies from above
    (lower hull), each updated from the previous one of n_cmd, n_rep vertices (0: built
    afresh); their envelope slopes (see _envelope_slope) and the newest reply's device time.
    """
    n_cmd = _hull(pb[0], pb[1], lo, hi, 1.0, n_cmd, w[_CMD_X], w[_CMD_C], w[_PTS_X], w[_PTS_C])
    n_rep = _hull(pb[2], pb[3], lo, hi, -1.0, n_rep, w[_REP_X], w[_REP_C], w[_PTS_X],
                  w[_PTS_C])
    cx_lo, cx_hi, c_slope, c_sum = _envelope_slope(pb[0], pb[1], lo, hi, w[_CMD_X], w[_CMD_C],
                                                   n_cmd, w[_RES])
    rx_lo, rx_hi, r_slope, r_sum = _envelope_slope(pb[2], pb[3], lo, hi, w[_REP_X], w[_REP_C],
                                                   n_rep, w[_RES])
    x_max = -np.inf
    for i in range(lo, hi):
        if pb[2, i] > x_max:
            x_max = pb[2, i]
    return n_cmd, n_rep, cx_lo, cx_hi, c_slope, c_sum, rx_lo, rx_hi, r_slope, r_sum, x_max


@njit
def _fit_polygon(w: np.ndarray, n_cmd: int, n_rep: int, fb: np.ndarray, m: int,
                 max_slope: float, x0: float) -> tuple[int, float, float, float, float, float,
                                                       float]:
    """The polygon (see _polygon) of the probes' hulls in ``w`` and the frames fb[:, :m]; the
    frames' envelope slope (see _envelope_slope). Returns (polygon size, lowest frame x,
    highest frame x, slope, sum of residuals, lowest and highest c of the polygon's lines at
    x0)."""
    if n_cmd + n_rep + m + 4 > w.shape[1]:
        raise ValueError("polygon work space too small")
    zero = np.int64(0)  # (a literal 0 argument would compile the callee once more)
    n_frm = 0
    fx_lo = fx_hi = f_slope = f_sum = 0.0
    if m:
        n_frm = _hull(fb[0], fb[1], zero, m, -1.0, zero, w[_FRM_X], w[_FRM_C], w[_PTS_X],
                      w[_PTS_C])
        fx_lo, fx_hi, f_slope, f_sum = _envelope_slope(fb[0], fb[1], zero, m, w[_FRM_X],
                                                       w[_FRM_C], n_frm, w[_RES])
    # the upper bounds: the lower hull of the replies' and the frames' hulls
    for i in range(n_rep):
        w[_UP_X, i], w[_UP_C, i] = w[_REP_X, i], w[_REP_C, i]
    for i in range(n_frm):
        w[_UP_X, n_rep + i], w[_UP_C, n_rep + i] = w[_FRM_X, i], w[_FRM_C, i]
    n_up = _hull(w[_UP_X], w[_UP_C], zero, n_rep + n_frm, -1.0, zero, w[_UP_X], w[_UP_C],
                 w[_PTS_X], w[_PTS_C])
    nv = _polygon(w[_CMD_X], w[_CMD_C], n_cmd, w[_UP_X], w[_UP_C], n_up, max_slope, w)
    band_lo, band_hi = np.inf, -np.inf
    for i in range(nv):  # as ClockMap._band
        line = x0 * w[_POLY_V, i]
        if line + w[_POLY_LO, i] < band_lo:
            band_lo = line + w[_POLY_LO, i]
        if line + w[_POLY_HI, i] > band_hi:
            band_hi = line + w[_POLY_HI, i]
    return nv, fx_lo, fx_hi, f_slope, f_sum, band_lo, band_hi


@njit
def _add_probe(pb: np.ndarray, n: int, x_rx: float, c_lo: float, x_tx: float, c_hi: float,
               cutoff_s: float, fb: np.ndarray, m: int, w: np.ndarray, n_cmd: int, n_rep: int,
               max_slope: float, x0: float) -> tuple:
    """ClockMap.add_probe's arrays: the probe goes to column n of pb, probes and frames whose
    x precede ``cutoff_s`` are dropped, then _probe_envelopes (updated from the previous
    hulls) and _fit_polygon. Returns (probes, frames, *envelopes, *fit)."""
    if n >= pb.shape[1]:
        raise ValueError("probe buffer full")
    pb[0, n], pb[1, n], pb[2, n], pb[3, n] = x_rx, c_lo, x_tx, c_hi
    n = _expire(pb, n + 1, cutoff_s)
    m = _expire(fb, m, cutoff_s)
    env = _probe_envelopes(pb, np.int64(0), n, w, n_cmd, n_rep)
    fit = _fit_polygon(w, env[0], env[1], fb, m, max_slope, x0)
    return (n, m) + env + fit  # noqa: RUF005 (numba: tuple concatenation)


class _Envelopes(NamedTuple):
    """The probes' hulls (sizes; the vertices are in ClockMap._w), their slopes (slope,
    variance) and the newest device time of the replies."""

    n_cmd: int
    n_rep: int
    slopes: tuple[tuple[float, float], tuple[float, float]]
    x_rep_max_s: float


_NO_ENVELOPES = _Envelopes(0, 0, ((0.0, math.inf), (0.0, math.inf)), -math.inf)


def _slope_estimate(n: int, x_lo: float, x_hi: float, slope: float, res_sum: float,
                    scatter_min: float) -> tuple[float, float]:
    """An envelope slope of n points (see _envelope_slope) and its variance
    (2·scatter / span)²."""
    if n < 3 or x_hi == x_lo:
        return 0.0, math.inf
    scatter = max(res_sum / n, scatter_min)  # the mean absolute residual
    return slope, (2 * scatter / (x_hi - x_lo)) ** 2


def _interp(x: float, xp: list[float], fp: list[float]) -> float:
    """``np.interp(x, xp, fp)`` for one x, by the same operations."""
    if x != x:
        return x
    if x > xp[-1]:
        return fp[-1]
    if x < xp[0]:
        return fp[0]
    j = bisect.bisect_right(xp, x) - 1  # xp[j] ≤ x < xp[j + 1], or the last
    if j == len(xp) - 1 or xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    y = slope * (x - xp[j]) + fp[j]
    if y != y:  # NaN in one direction: try the other
        y = slope * (x - xp[j + 1]) + fp[j + 1]
        if y != y and fp[j] == fp[j + 1]:
            y = fp[j]
    return y


def to_host_s_rows(maps: np.ndarray, t_dev_us: np.ndarray) -> np.ndarray:
    """Host times (s) of device times ``t_dev_us`` (µs, shape (n, c)), row ``i`` with the
    mapping ``maps[i]`` (:meth:`ClockMap.mapping`, shape (n, 8)): exactly what
    :meth:`ClockMap.to_host_s` gave with that mapping (the same operations)."""
    ref_dev, ref_host, slope, offset, slew_s, slew_x0, rate, ready = (
        maps[:, k : k + 1] for k in range(8))
    x = (np.asarray(t_dev_us, np.float64) - ref_dev) * 1e-6
    slew = np.where(slew_s != 0, np.clip(slew_s - rate * (x - slew_x0), 0.0, slew_s), 0.0)
    out = ref_host + x + (slope * x + offset) + slew
    return np.where(ready > 0, out, np.nan)


class ClockMap:
    """Maps one device's µs clock to host seconds; feed it in host-time order.

    All state is plain numbers (see :meth:`snapshot`; inside, the bounds and hulls are arrays
    for the kernels above); device times are kept relative to the first probe's
    ``t_dev_rx_us`` (``x``, s) and host times as ``c = host − ref − x`` (s), so the mapping is
    ``c = slope·x + offset``. Counters that survive :meth:`reset`:
    ``reboots_detected``, ``history_cuts`` and ``frames_rejected`` (frames whose bound
    contradicts the probes: bad timestamps).
    """

    def __init__(self, params: TimeSyncParams | None = None) -> None:
        self.params = params or TimeSyncParams()
        p = self.params
        # device timestamp error as host time: every bound is widened by it
        self._jitter_s = p.timestamp_jitter_us * 1e-6 * (1 + p.max_drift_ppm * 1e-6)
        # c's slope is 1 / (1 + drift) − 1: |slope| ≤ drift / (1 + drift) keeps |drift| ≤ max
        drift = p.max_drift_ppm * 1e-6
        self._max_slope = drift / (1 + drift)
        self._scatter_min_s = max(self._jitter_s, 1e-6)
        self._prior_var = (p.drift_prior_ppm * 1e-6) ** 2  # of the drift prior (mean 0)
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
        self._pb = np.empty((4, 64))  # probes in columns [0, _n): x, c lower; x, c upper
        self._n = 0
        self._fb = np.empty((2, 64))  # frames that narrowed the band, jitter included: x, c
        self._m = 0
        self._w = np.empty((_ROWS, 256))  # hulls (the envelopes') and the kernels' work space
        self._env = _NO_ENVELOPES  # derived from the probes
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
        n, m, env = self._n, self._m, self._env
        if n == self._pb.shape[1]:
            self._pb = np.concatenate([self._pb, np.empty_like(self._pb)], axis=1)
        self._n_probes += 1
        self._last_dev_us = t_dev_tx_us
        self._x_now_s = max(self._x_now_s, x_tx_s)
        self._reserve(2 * (n + m) + env.n_cmd + env.n_rep + 16)
        # appends the probe (x, c lower; x, c upper), drops old bounds, updates the hulls
        out = _add_probe(
            self._pb, n,
            x_rx_s, t_send_s - self._ref_host_s - x_rx_s - jitter_s,
            x_tx_s, t_recv_s - self._ref_host_s - x_tx_s + jitter_s,
            x_rx_s - p.fit_span_s, self._fb, m, self._w, env.n_cmd, env.n_rep,
            self._max_slope, self._x_now_s,
        )
        self._n, self._m = out[0], out[1]
        self._env = self._envelopes_of(self._n, *out[2:13])
        self._refit(out[13:])

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
        m = self._m
        if m == self._fb.shape[1]:
            self._fb = np.concatenate([self._fb, np.empty_like(self._fb)], axis=1)
        self._fb[0, m] = x_s
        self._fb[1, m] = c_s
        self._m = m + 1
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

    def mapping(self) -> np.ndarray:
        """The mapping :meth:`to_host_s` applies now, as numbers (float64[8]: reference device
        µs and host s, slope, offset s, slew s, slew start x s, slew rate, ready 0/1), for
        :func:`to_host_s_rows` — events converted later with the map of their time."""
        return np.array([self._ref_dev_us, self._ref_host_s, self._slope, self._offset_s,
                         self._slew_s, self._slew_x0_s, self.params.max_slew_ppm * 1e-6,
                         float(self.ready)])

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
            "probes": self._pb[:, : self._n].T.tolist(),
            "frames": self._fb[:, : self._m].T.tolist(),
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
        self._pb, self._n = self._columns(snap["probes"], 4)
        self._fb, self._m = self._columns(snap["frames"], 2)
        self._env = self._envelopes(0)
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

    @staticmethod
    def _columns(rows: list[list[float]], width: int) -> tuple[np.ndarray, int]:
        """Snapshot rows (probes or frames) as the columns of a buffer with room to grow."""
        buf = np.empty((width, max(64, 2 * len(rows))))
        if rows:
            buf[:, : len(rows)] = np.array(rows, dtype=np.float64).reshape(-1, width).T
        return buf, len(rows)

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

    def _reserve(self, columns: int) -> None:
        """Room for ``columns`` points in every row of the work space (its hulls kept)."""
        if columns > self._w.shape[1]:
            w = np.empty((_ROWS, max(columns, 2 * self._w.shape[1])))
            w[:, : self._w.shape[1]] = self._w
            self._w = w

    def _envelopes(self, lo: int) -> _Envelopes:
        """Hulls of the probe commands (from below) and replies (from above), their slopes:
        probes [lo, _n), hulls built afresh (add_probe updates them)."""
        self._reserve(2 * (self._n + self._m) + 16)
        return self._envelopes_of(self._n - lo, *_probe_envelopes(self._pb, lo, self._n,
                                                                  self._w, 0, 0))

    def _envelopes_of(self, n: int, n_cmd: int, n_rep: int, cx_lo: float, cx_hi: float,
                      c_slope: float, c_sum: float, rx_lo: float, rx_hi: float,
                      r_slope: float, r_sum: float, x_max: float) -> _Envelopes:
        """The envelopes from _probe_envelopes' results for n probes."""
        scatter_min = self._scatter_min_s
        return _Envelopes(n_cmd, n_rep,
                          (_slope_estimate(n, cx_lo, cx_hi, c_slope, c_sum, scatter_min),
                           _slope_estimate(n, rx_lo, rx_hi, r_slope, r_sum, scatter_min)),
                          x_max)

    def _fit(self, env: _Envelopes, frames: np.ndarray, m: int,
             polygon: tuple | None = None) -> tuple | None:
        """Polygon, slope and offset from these bounds (the frames: frames[:, :m]), and the
        polygon's band at the newest device time; None if no line fits them.

        ``polygon``: _fit_polygon's result for them, if known.
        """
        work = self._w
        if polygon is None:
            self._reserve(2 * (self._n + m) + env.n_cmd + env.n_rep + 16)
            polygon = _fit_polygon(work, env.n_cmd, env.n_rep, frames, m, self._max_slope,
                                   self._x_now_s)
        nv, fx_lo, fx_hi, f_slope, f_sum, band_lo, band_hi = polygon
        if not nv:
            return None
        vd = work[_POLY_V, :nv].tolist()
        vhi = work[_POLY_HI, :nv].tolist()
        vlo = work[_POLY_LO, :nv].tolist()
        if vd[0] == vd[-1]:
            slope = vd[0]
        else:  # inverse-variance mean: the prior, the middle, the envelopes' slopes
            (s_cmd, v_cmd), (s_rep, v_rep) = env.slopes
            s_frm, v_frm = _slope_estimate(m, fx_lo, fx_hi, f_slope, f_sum, self._scatter_min_s)
            weights = [1 / self._prior_var, 1 / ((vd[-1] - vd[0]) ** 2 / 12), 1 / v_cmd,
                       1 / v_rep, 1 / v_frm]
            slope = sum([0.0 * weights[0], 0.5 * (vd[0] + vd[-1]) * weights[1],
                         s_cmd * weights[2], s_rep * weights[3], s_frm * weights[4]])
            slope = min(max(slope / sum(weights), vd[0]), vd[-1])
        offset_s = 0.5 * (_interp(slope, vd, vhi) + _interp(slope, vd, vlo))
        return vd, vhi, vlo, slope, offset_s, band_lo, band_hi

    def _refit(self, polygon: tuple | None = None) -> None:
        """Fit the current bounds (``polygon``: see _fit); drop old probes if no line fits."""
        x0_s = self._x_now_s
        old_s = self._slope * x0_s + self._offset_s + self._slew_at(x0_s) if self._vd else None
        fit = self._fit(self._env, self._fb, self._m, polygon)
        if fit is None:
            self.history_cuts += 1
            lo_k, hi_k = 0, self._n - 1
            while lo_k < hi_k:  # the fewest old probes to drop so that a line fits
                k = (lo_k + hi_k) // 2
                if self._fit(self._envelopes(k), *self._frames_since(k)) is None:
                    lo_k = k + 1
                else:
                    hi_k = k
            # the newest probe alone always fits; frames after it may not
            frames, self._m = self._frames_since(lo_k) if lo_k < self._n - 1 else (self._fb, 0)
            self._fb[:, : self._m] = frames[:, : self._m]
            self._n -= lo_k
            self._pb[:, : self._n] = self._pb[:, lo_k : lo_k + self._n].copy()
            self._env = self._envelopes(0)
            fit = self._fit(self._env, self._fb, self._m)
            old_s = None
        self._vd, self._vhi_s, self._vlo_s, self._slope, self._offset_s, lo_s, hi_s = fit
        self._x_upper_s = self._env.x_rep_max_s
        if self._m:
            self._x_upper_s = max(self._x_upper_s, float(self._fb[0, : self._m].max()))
        self._slew_s = 0.0
        if old_s is not None:
            new_s = self._slope * x0_s + self._offset_s
            surplus_s = float(old_s - new_s - max(hi_s - new_s, new_s - lo_s))
            if surplus_s > 0:
                self._slew_s, self._slew_x0_s = surplus_s, self._x_now_s

    def _slew_at(self, x: float) -> float:
        """:meth:`_slew` at one device time."""
        if not self._slew_s:
            return 0.0
        rate = self.params.max_slew_ppm * 1e-6
        return min(max(self._slew_s - rate * (x - self._slew_x0_s), 0.0), self._slew_s)

    def _frames_since(self, k: int) -> tuple[np.ndarray, int]:
        """The frames from probe k's command on (a new buffer) and their number."""
        f = self._fb[:, : self._m]
        keep = f[0] >= self._pb[0, k]
        return np.ascontiguousarray(f[:, keep]), int(np.count_nonzero(keep))
