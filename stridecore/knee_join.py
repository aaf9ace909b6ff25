"""The knee across two sensors: a thigh and a shin of one leg, joined causally on host time.

The two devices sample on their own clocks; their live samples reach the host with host times
(the clock maps, :mod:`stridecore.timesync`) and arrival times. :class:`LegKnee` resamples the
thigh onto the shin's sample instants (linear interpolation between the two thigh samples
around each shin sample; a thigh gap of more than :attr:`KneeJoinParams.max_gap_s` gives
NaN, which restarts the knee stage), runs :class:`~stridecore.dsp.knee.KneeStage` on the
aligned pairs, and completes the shin's step records with ``knee_ic_deg`` (the knee at the
contact's shin sample) and ``knee_peak_deg`` (its maximum over the first half of stance: the
loading-response peak, as in the Tan 2022 truth rule).

Causal and order-free: a shin sample is processed only once a thigh sample at or after it has
arrived, so the knee series is the same however the two sensors' blocks interleave. A step
record is released when the knee covers its first half of stance; its ``t_recv_s`` becomes the
arrival of the last data it needed. If the thigh never covers it (thigh lost), the step is
released with NaN knee once shin data ``timeout_s`` past that point has arrived — unless thigh
data covering it arrived no later than that shin data (decided on arrival times, so replay,
which may see one device entirely before the other, decides alike).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_protocol.batch import Samples
from stridecore.dsp.knee import KneeParams, KneeStage
from stridecore.schema import Placement
from stridecore.tables import Columns


@dataclass(frozen=True)
class KneeJoinParams:
    """Joining a thigh and a shin stream (host time)."""

    max_gap_s: float = 0.05  # thigh samples further apart than this: no knee between them
    loading_share: float = 0.5  # knee_peak over this share of stance from IC (Tan 2022 rule)
    min_loading_s: float = 0.12  # ... and at least this long (the shin's toe-off can come
    # early: at its 120 ms minimum contact on stiff-kneed descents)
    timeout_s: float = 2.0  # shin data this far past a step's need without thigh: knee NaN


class _Stream:
    """In-order samples of one sensor: host time, acc, gyr, arrival (growing arrays)."""

    def __init__(self) -> None:
        self.t = np.zeros(0)
        self.acc = np.zeros((0, 3))
        self.gyr = np.zeros((0, 3))
        self.recv = np.zeros(0)

    def add(self, s: Samples, t: np.ndarray, recv: np.ndarray) -> None:
        t = np.asarray(t, np.float64)
        keep = np.isfinite(t)
        if len(self.t):
            keep &= t > self.t[-1]
        if not keep.any():
            return
        self.t = np.concatenate([self.t, t[keep]])
        self.acc = np.concatenate([self.acc, np.asarray(s.acc_mps2)[keep]])
        self.gyr = np.concatenate([self.gyr, np.asarray(s.gyr_radps)[keep]])
        self.recv = np.concatenate([self.recv, np.asarray(recv, np.float64)[keep]])

    def drop_before(self, k: int) -> None:
        if k > 0:
            self.t, self.acc, self.gyr, self.recv = (self.t[k:], self.acc[k:], self.gyr[k:],
                                                     self.recv[k:])


class LegKnee:
    """Thigh + shin of one leg → knee flexion on the shin's samples and per shin step."""

    def __init__(self, fs_shin_hz: float, params: KneeJoinParams | None = None,
                 knee: KneeParams | None = None) -> None:
        self.p = params or KneeJoinParams()
        self.stage = KneeStage(fs_shin_hz, knee)
        self.thigh = _Stream()
        self.shin = _Stream()
        # the knee series (host time, deg, arrival of the data behind it), kept ~10 s
        self.kt = np.zeros(0)
        self.kv = np.zeros(0)
        self.kr = np.zeros(0)
        self.pending: deque[Columns] = deque()  # one-row step tables, in order
        # every in-order shin sample's host time and arrival (for the timeout), kept ~15 s
        self.ht = np.zeros(0)
        self.hr = np.zeros(0)

    # ------------------------------------------------------------------ inputs
    def add_thigh(self, s: Samples, t_host_s: np.ndarray, t_recv_s: np.ndarray) -> None:
        self.thigh.add(s, t_host_s, t_recv_s)
        self._run()

    def add_shin(self, s: Samples, t_host_s: np.ndarray, t_recv_s: np.ndarray) -> None:
        n0 = len(self.shin.t)
        last = self.ht[-1] if len(self.ht) else -math.inf
        self.shin.add(s, t_host_s, t_recv_s)
        new = self.shin.t[n0:]
        new_r = self.shin.recv[n0:]
        fresh = new > last
        self.ht = np.concatenate([self.ht, new[fresh]])
        self.hr = np.concatenate([self.hr, new_r[fresh]])
        self._run()

    def add_steps(self, steps: Columns) -> None:
        n = len(steps.get("t_ic_s", ()))
        for i in range(n):
            self.pending.append({k: v[i:i + 1] for k, v in steps.items()})

    # ------------------------------------------------------------------ processing
    def _run(self) -> None:
        """Shin samples covered by the thigh → aligned pairs → knee stage."""
        th, sh = self.thigh, self.shin
        if not len(th.t) or not len(sh.t):
            return
        n = int(np.searchsorted(sh.t, th.t[-1], side="right"))  # shin samples covered
        if n == 0:
            return
        t = sh.t[:n]
        j = np.searchsorted(th.t, t, side="left")  # first thigh sample at or after t
        j = np.clip(j, 0, len(th.t) - 1)
        i = np.maximum(j - 1, 0)
        t0, t1 = th.t[i], th.t[j]
        span = t1 - t0
        w = np.where(span > 0, (t - t0) / np.where(span > 0, span, 1.0), 0.0)
        w = np.clip(w, 0.0, 1.0)[:, None]
        acc = th.acc[i] * (1 - w) + th.acc[j] * w
        gyr = th.gyr[i] * (1 - w) + th.gyr[j] * w
        exact = th.t[j] == t
        gap = (span > self.p.max_gap_s) & ~exact
        before = t < th.t[0]  # shin samples older than the first thigh sample
        bad = gap | before
        acc[bad] = np.nan
        gyr[bad] = np.nan
        knee, _ = self.stage.step(acc, gyr, sh.acc[:n], sh.gyr[:n])
        recv = np.maximum(sh.recv[:n], th.recv[j])
        self.kt = np.concatenate([self.kt, t])
        self.kv = np.concatenate([self.kv, knee])
        self.kr = np.concatenate([self.kr, recv])
        sh.drop_before(n)
        th.drop_before(max(int(j[-1]) - 1, 0))

    def ready(self) -> list[Columns]:
        """Step records whose knee is decided, in order, with knee columns filled."""
        out = []
        while self.pending and self._complete(self.pending[0]):
            out.append(self.pending.popleft())
        self._trim()
        return out

    def _need(self, row: Columns) -> float:
        ic, to = float(row["t_ic_s"][0]), float(row["t_to_s"][0])
        share = self.p.loading_share * (to - ic) if math.isfinite(to) else 0.0
        return ic + max(share, self.p.min_loading_s)

    def _complete(self, row: Columns, final: bool = False) -> bool:
        """Decide ``row``'s knee if its data (or the timeout) have arrived: the knee values
        if the thigh covered the first half of stance no later than shin data ``timeout_s``
        past it arrived, else NaN; ``t_recv_s`` = the arrival that decided it."""
        ic = float(row["t_ic_s"][0])
        need = self._need(row)
        recv0 = float(row["t_recv_s"][0]) if "t_recv_s" in row else -math.inf
        late = np.flatnonzero(self.ht >= need + self.p.timeout_s)
        a_to = float(self.hr[late[0]]) if late.size else math.inf
        covered = bool(len(self.kt)) and self.kt[-1] >= need
        a_cov = math.inf
        if covered:
            last = min(int(np.searchsorted(self.kt, need)), len(self.kt) - 1)
            a_cov = float(self.kr[last])
        if covered and a_cov <= a_to:
            sel = (self.kt >= ic - 1e-9) & (self.kt <= need + 1e-9)
            k_ic = min(int(np.searchsorted(self.kt, ic)), len(self.kt) - 1)
            vals = self.kv[sel]
            knee_ic = float(self.kv[k_ic]) if abs(self.kt[k_ic] - ic) < 0.05 else math.nan
            peak = float(np.nanmax(vals)) if np.isfinite(vals).any() else math.nan
            t_dec = a_cov
        elif math.isfinite(a_to) or final:
            knee_ic = peak = math.nan
            t_dec = a_to if math.isfinite(a_to) else (
                float(self.hr[-1]) if len(self.hr) else recv0)
        else:
            return False
        row["knee_ic_deg"] = np.array([knee_ic])
        row["knee_peak_deg"] = np.array([peak])
        row["t_recv_s"] = np.array([max(recv0, t_dec)])
        return True

    def finish(self) -> list[Columns]:
        """The end of the stream: every held step, with what is known."""
        out = []
        while self.pending:
            row = self.pending.popleft()
            self._complete(row, final=True)
            out.append(row)
        return out

    def _trim(self) -> None:
        if self.pending:
            lo = float(self.pending[0]["t_ic_s"][0]) - 1.0
        else:
            lo = (self.ht[-1] if len(self.ht) else 0.0) - 5.0
        k = int(np.searchsorted(self.ht, lo))
        if k > 0:
            self.ht, self.hr = self.ht[k:], self.hr[k:]
        k = int(np.searchsorted(self.kt, lo))
        if k > 0:
            self.kt, self.kv, self.kr = self.kt[k:], self.kv[k:], self.kr[k:]


class KneeJoins:
    """Every leg of a kit with both a thigh and a shin: routes samples and shin steps.

    ``keys``: device key → placement. Steps of other sensors pass through unchanged.
    """

    def __init__(self, placements: dict[str, Placement], fs_hz: dict[str, float],
                 params: KneeJoinParams | None = None) -> None:
        self.role: dict[str, tuple[str, str]] = {}  # key -> (side, "thigh" | "shin")
        self.legs: dict[str, LegKnee] = {}
        by_leg: dict[str, dict[str, str]] = {}
        for key, p in placements.items():
            side, _, seg = p.value.partition("_")
            if seg in ("thigh", "shin"):
                by_leg.setdefault(side, {})[seg] = key
        for side, segs in by_leg.items():
            if "thigh" in segs and "shin" in segs:
                self.legs[side] = LegKnee(fs_hz[segs["shin"]], params)
                self.role[segs["thigh"]] = (side, "thigh")
                self.role[segs["shin"]] = (side, "shin")

    def fed(self, key: str, s: Samples, t_host_s: np.ndarray, t_recv_s: np.ndarray) -> None:
        r = self.role.get(key)
        if r is None:
            return
        leg = self.legs[r[0]]
        (leg.add_thigh if r[1] == "thigh" else leg.add_shin)(s, t_host_s, t_recv_s)

    def steps(self, key: str, table: Columns) -> list[Columns]:
        """Step records of ``key``: returned at once, or held for the knee (``ready``)."""
        r = self.role.get(key)
        if r is None or r[1] != "shin":
            return [table]
        self.legs[r[0]].add_steps(table)
        return []

    def _shin_key(self, side: str) -> str:
        return next(k for k, r in self.role.items() if r == (side, "shin"))

    def ready(self) -> list[tuple[str, Columns]]:
        """Held steps whose knee is decided: (shin key, one-row table)."""
        return [(self._shin_key(side), row) for side, leg in self.legs.items()
                for row in leg.ready()]

    def finish(self) -> list[tuple[str, Columns]]:
        return [(self._shin_key(side), row) for side, leg in self.legs.items()
                for row in leg.finish()]
