"""Per-device stream bookkeeping: ``seq`` and ``sample_idx`` gaps, wrap-around, duplicates,
late (out-of-order) and backlog frames, and plausibility of ``sample_idx`` / ``t_us``.

CRC-16 lets about 15 in 10⁶ random corruptions through; a corrupted header that passes the CRC
almost always breaks the straight line ``t_us ≈ t_a + (sample_idx − idx_a) · period``. Frames off
that line are held in a small quarantine: if three of them chain (consecutive ``seq``,
contiguous ``sample_idx``, consistent ``t_us``) the line is re-anchored and they are delivered
(a device reboot, a missed START reply); otherwise they are dropped and counted ``implausible``.

Everything here is a function of the frame sequence only, never of how bytes were chunked.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

SEQ_MOD = 1 << 16
IDX_MOD = 1 << 32
MIN_SPAN_SAMPLES = 256  # anchor span from which the measured period is used as it is
MIN_SLOPE_SPAN = 32  # below this span the configured rate is used (timestamp jitter)
REL_TOL = 0.05  # relative t_us tolerance (ODR strays by up to a few %)
ABS_TOL_US = 2000.0  # absolute t_us tolerance (timestamp jitter), plus 2 periods
MAX_FORWARD_SAMPLES = 1 << 26  # a larger forward jump is implausible (~45 h at 416 Hz)
QUARANTINE_CHAIN = 3
#: a seq this many frames or more behind the last in-order one is not a late or duplicated frame
#: (links reorder by one or two, duplicates follow at once) but a device that restarted its
#: counter (a reboot, or a reconnect to firmware that resets it): seq tracking starts again
SEQ_RESTART_BEHIND = 16
MAX_OPEN_GAPS = 64


def seq_delta(seq: np.ndarray | int, prev: np.ndarray | int) -> np.ndarray | int:
    """Frames between ``prev`` and ``seq`` minus one, modulo 2**16 (0 = consecutive)."""
    return (seq - prev - 1) % SEQ_MOD


def unwrap_idx(raw: np.ndarray | int, ref: np.ndarray | int) -> np.ndarray | int:
    """Unwrap a u32 ``sample_idx`` to the 64-bit value nearest ``ref`` (signed 32-bit delta)."""
    d = (raw - ref) % IDX_MOD
    if isinstance(d, int):
        return ref + d - (IDX_MOD if d >= IDX_MOD // 2 else 0)
    return ref + d - np.where(d >= IDX_MOD // 2, IDX_MOD, 0)


@dataclass
class LineState:
    """The timing line of the live stream: anchor, last accepted frame, next expected index."""

    anchor_idx: int = -1
    anchor_t_us: float = 0.0
    last_idx: int = -1
    last_t_us: float = 0.0
    next_idx: int = 0  # next expected sample index (meaningful once started)
    started: bool = False  # a live frame has been accepted
    anchored: bool = False
    cfg_id: int = -1
    nominal_period_us: float = float("nan")
    n_max: int = 255

    def period_us(self, idx: np.ndarray | int, t_us: np.ndarray | float) -> np.ndarray:
        """Sample period (µs) at the frame ``(idx, t_us)``: the slope of the line from the
        anchor to it once the span is long enough; over shorter spans that slope kept within
        ±5 % of the configured rate; the configured rate within 32 samples of the anchor (NaN
        there without a configuration)."""
        span = np.asarray(idx, dtype=np.float64) - self.anchor_idx
        dt = np.asarray(t_us, dtype=np.float64) - self.anchor_t_us
        slope = np.divide(dt, span, out=np.full(np.shape(span), np.nan), where=span != 0)
        nominal = self.nominal_period_us
        far = np.abs(span) >= MIN_SLOPE_SPAN
        if np.isnan(nominal):
            return np.where(far, slope, np.nan)
        short = np.where(far, np.clip(slope, 0.95 * nominal, 1.05 * nominal), nominal)
        return np.where(np.abs(span) >= MIN_SPAN_SAMPLES, slope, short)

    def plausible(self, prev_idx, prev_t, idx, t_us) -> np.ndarray:
        """True where ``(idx, t_us)`` lies on the line through the previous accepted frame."""
        p = self.period_us(prev_idx, prev_t)  # what the line knew before this frame
        d_idx = np.asarray(idx, dtype=np.float64) - np.asarray(prev_idx, dtype=np.float64)
        d_t = np.asarray(t_us, dtype=np.float64) - np.asarray(prev_t, dtype=np.float64)
        pred = d_idx * p
        tol = ABS_TOL_US + 2.0 * p + REL_TOL * np.abs(pred)
        ok_line = np.where(np.isnan(pred), d_t >= 0, np.abs(d_t - pred) <= tol)
        return ok_line & (d_idx <= MAX_FORWARD_SAMPLES)

    # Scalar twins of the two rules above for the one-frame live path (numpy on scalars costs
    # ~50 µs a call); tests check they agree with the array versions everywhere.
    def period_us_1(self, idx: int, t_us: float) -> float:
        span = float(idx) - self.anchor_idx
        slope = (t_us - self.anchor_t_us) / span if span != 0 else math.nan
        nominal = self.nominal_period_us
        far = abs(span) >= MIN_SLOPE_SPAN
        if math.isnan(nominal):
            return slope if far else math.nan
        if abs(span) >= MIN_SPAN_SAMPLES:
            return slope
        return min(max(slope, 0.95 * nominal), 1.05 * nominal) if far else nominal

    def plausible_1(self, prev_idx: int, prev_t: float, idx: int, t_us: float) -> bool:
        p = self.period_us_1(prev_idx, prev_t)
        d_idx = float(idx) - float(prev_idx)
        d_t = t_us - prev_t
        pred = d_idx * p
        if d_idx > MAX_FORWARD_SAMPLES:
            return False
        if math.isnan(pred):
            return d_t >= 0
        return abs(d_t - pred) <= ABS_TOL_US + 2.0 * p + REL_TOL * abs(pred)


@dataclass
class Tracker:
    """Sequential state of one device→host stream."""

    line: LineState = field(default_factory=LineState)
    last_seq: int = -1
    recent_seqs: deque = field(default_factory=lambda: deque(maxlen=512))
    open_gaps: list = field(default_factory=list)  # [first_idx, end_idx) not yet received
    quarantine: list = field(default_factory=list)  # held-back off-line frames, in order
    restart_idx: int = -1  # from a START reply: where sample counting restarts

    def note_seq(self, seq: int) -> tuple[str, int]:
        """Classify ``seq`` against the last in-order frame: ('ok'|'gap'|'behind'|'restart',
        lost). 'restart' (the counter started again) forgets the seqs seen so far."""
        if self.last_seq < 0:
            return "ok", 0
        d = int(seq_delta(seq, self.last_seq))
        if d == 0:
            return "ok", 0
        if d < SEQ_MOD // 2:
            return "gap", d
        if SEQ_MOD - 1 - d >= SEQ_RESTART_BEHIND:
            self.recent_seqs.clear()
            return "restart", 0
        return "behind", 0

    def advance_seq(self, seq: int) -> None:
        self.last_seq = seq
        self.recent_seqs.append(seq)

    def take_from_gaps(self, first: int, end: int) -> np.ndarray:
        """Mark [first, end) as received where it lies in open gaps; returns a bool mask over
        the range of the samples that filled a gap."""
        mask = np.zeros(end - first, dtype=bool)
        kept = []
        for g0, g1 in self.open_gaps:
            a, b = max(g0, first), min(g1, end)
            if a < b:
                mask[a - first : b - first] = True
                if g0 < a:
                    kept.append([g0, a])
                if b < g1:
                    kept.append([b, g1])
            else:
                kept.append([g0, g1])
        self.open_gaps = kept
        return mask

    def open_gap(self, first: int, end: int) -> None:
        self.open_gaps.append([first, end])
        if len(self.open_gaps) > MAX_OPEN_GAPS:
            self.open_gaps.pop(0)

    def restart(self, next_idx: int) -> None:
        """A START without resume: sample counting restarts at ``next_idx``."""
        cfg, period, n_max = self.line.cfg_id, self.line.nominal_period_us, self.line.n_max
        self.line = LineState(cfg_id=cfg, nominal_period_us=period, n_max=n_max)
        self.restart_idx = next_idx
        self.open_gaps = []

    def accept_live(self, idx: int, t_us: float, n: int) -> None:
        """Move the line to an accepted in-order live frame."""
        ln = self.line
        if not ln.anchored:
            ln.anchor_idx, ln.anchor_t_us, ln.anchored = idx, t_us, True
        ln.last_idx, ln.last_t_us, ln.next_idx = idx, t_us, idx + n
        ln.started = True

    def reanchor(self, idx: int, t_us: float) -> None:
        ln = self.line
        ln.anchor_idx, ln.anchor_t_us, ln.anchored = idx, t_us, True
        ln.last_idx, ln.last_t_us = idx, t_us
