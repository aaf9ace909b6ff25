"""Score a steps table against a truth table: event matching, then every per-step error.

Both tables use the schema's column names (``STEPS`` / ``TRUTH``), so any detector's output —
ours, a peer's, a user's — is scored the same way. Per recording and sensor, detected initial
contacts are matched one-to-one to true ones within ``tol_ms`` (:mod:`stridecore.bench.match`);
matched steps then give toe-off timing, contact time, strike angle, landing class, knee angles,
grade and the rest as detected − true.

Time basis: where both tables give the event on the same sensor's own sample index
(``ic_sample_idx``) and the truth gives that sensor's rate (``fs_hz``), errors are computed on
sample indices (simulated sensors drift, so stream seconds and true seconds differ); otherwise on
``t_ic_s`` seconds.

Which truth rows count: every truth row whose sensor (``placement``) appears anywhere in the
steps table. A recording with truth but no detections counts all its steps as missed.
Detections of a sensor for which a recording has no truth at all (e.g. Tan's left leg) are not
scored, and a note says how many. When the steps have no ``placement``, truth is taken per leg
(``side``).

Agreement statistics follow Bland & Altman 1986: bias = mean error, limits of agreement =
bias ± 1.96 SD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stridecore.bench.match import match_events
from stridecore.schema import STEPS, TRUTH, Landing, Placement
from stridecore.tables import Columns, TableError, coerce, n_rows

QUANTITIES = (
    "contact_ms", "flight_ms", "step_ms", "cadence_spm", "strike_angle_deg",
    "strike_angle_world_deg", "roll_through_ms", "grade_deg", "knee_ic_deg", "knee_peak_deg",
    "shank_angle_ic_deg", "shank_loading_rotation_deg", "pelvic_drop_deg", "stride_length_m",
    "peak_acc_g", "peak_tibial_acc_g", "push_off_mps",
)
LANDINGS = tuple(m.value for m in Landing)
RECORDING_KEYS = ("dataset", "split", "condition")
STEP_KEYS = ("gait_mode", "terrain", "landing")
DEFAULT_BY = ("dataset", "placement", "split", "condition", "gait_mode", "terrain")


class ScoreError(TableError):
    """The two tables cannot be scored against each other (one clear line)."""


@dataclass(frozen=True)
class Agreement:
    """Detected − true over matched steps (units of the quantity)."""

    n: int
    bias: float
    sd: float
    loa_low: float
    loa_high: float
    mae: float
    rmse: float

    @staticmethod
    def of(err: np.ndarray) -> Agreement:
        e = np.asarray(err, np.float64)
        e = e[np.isfinite(e)]
        if e.size == 0:
            nan = math.nan
            return Agreement(0, nan, nan, nan, nan, nan, nan)
        bias = float(e.mean())
        sd = float(e.std(ddof=1)) if e.size > 1 else 0.0
        return Agreement(int(e.size), bias, sd, bias - 1.96 * sd, bias + 1.96 * sd,
                         float(np.abs(e).mean()), float(np.sqrt((e ** 2).mean())))


@dataclass(frozen=True)
class Summary:
    """Metrics of one group of pairs."""

    tp: int
    fp: int
    fn: int
    ic_ms: Agreement
    to_ms: Agreement
    quantities: dict[str, Agreement]
    landing_confusion: np.ndarray  # (3, 3) rows true, columns detected, order LANDINGS
    basis: str  # "samples", "seconds" or "mixed"

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else math.nan

    @property
    def landing_recall(self) -> dict[str, float]:
        c = self.landing_confusion
        return {lab: (float(c[i, i] / c[i].sum()) if c[i].sum() else math.nan)
                for i, lab in enumerate(LANDINGS)}

    @property
    def landing_accuracy(self) -> float:
        c = self.landing_confusion
        return float(np.trace(c) / c.sum()) if c.sum() else math.nan

    def as_dict(self) -> dict:
        def ag(a: Agreement) -> dict:
            return {k: _num(v) for k, v in a.__dict__.items()}

        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": _num(self.precision),
            "recall": _num(self.recall), "f1": _num(self.f1), "basis": self.basis,
            "ic_ms": ag(self.ic_ms), "to_ms": ag(self.to_ms),
            "quantities": {k: ag(v) for k, v in self.quantities.items() if v.n},
            "landing": {"labels": list(LANDINGS),
                        "confusion": self.landing_confusion.astype(int).tolist(),
                        "recall": {k: _num(v) for k, v in self.landing_recall.items()},
                        "accuracy": _num(self.landing_accuracy)},
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


@dataclass(frozen=True)
class ScoreResult:
    tol_ms: float
    overall: Summary
    by: dict[str, dict[str, Summary]] = field(default_factory=dict)
    pairs: Columns = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"tol_ms": self.tol_ms, "overall": self.overall.as_dict(),
                "by": {k: {g: s.as_dict() for g, s in v.items()} for k, v in self.by.items()},
                "notes": list(self.notes)}


def _has(cols: Columns, name: str) -> bool:
    if name not in cols:
        return False
    v = cols[name]
    if v.dtype == object:
        return bool(np.any(v != ""))
    if v.dtype.kind == "f":
        return bool(np.isfinite(v).any())
    if v.dtype.kind in "iu":
        return bool(np.any(v >= 0))
    return True


def _event_ms(cols: Columns, rows: np.ndarray, event: str, basis: str,
              fs_hz: np.ndarray | None) -> np.ndarray:
    """Event times in ms for ``rows`` on the chosen basis (NaN where unknown)."""
    if basis == "samples":
        idx = cols[f"{event}_sample_idx"][rows].astype(np.float64)
        idx[idx < 0] = np.nan
        return idx / fs_hz * 1e3
    t = cols[f"t_{event}_s"][rows].astype(np.float64)
    if fs_hz is not None and f"{event}_sample_idx" in cols:  # fill from sample index + rate
        idx = cols[f"{event}_sample_idx"][rows]
        fill = ~np.isfinite(t) & (idx >= 0)
        t[fill] = idx[fill] / fs_hz[fill]
    return t * 1e3


def _side_of(placement: str, side: str) -> str:
    if side:
        return side
    if placement:
        s = Placement(placement).side
        return s.value if s else ""
    return ""


def score(steps: Columns, truth: Columns, tol_ms: float = 50.0,
          by: Sequence[str] = DEFAULT_BY) -> ScoreResult:
    """Match and score. Raises :class:`ScoreError` when the tables cannot be paired."""
    steps = coerce(steps, STEPS)
    truth = coerce(truth, TRUTH)
    notes: list[str] = []
    ns, nt = n_rows(steps), n_rows(truth)
    if nt == 0:
        raise ScoreError("truth table has no rows")
    if not (_has(truth, "t_ic_s") or _has(truth, "ic_sample_idx")):
        raise ScoreError("truth has neither t_ic_s nor ic_sample_idx")
    if ns and not (_has(steps, "t_ic_s") or _has(steps, "ic_sample_idx")):
        raise ScoreError("steps have neither t_ic_s nor ic_sample_idx")

    s_rec = steps["recording_id"]
    t_rec = truth["recording_id"]
    truth_recs = sorted(set(t_rec.tolist()))
    if ns and not _has(steps, "recording_id"):
        if len(truth_recs) > 1:
            raise ScoreError(f"steps have no recording_id but the truth holds {len(truth_recs)} "
                             "recordings; add a recording_id column")
        s_rec = np.full(ns, truth_recs[0], object)
    unknown = sorted(set(s_rec.tolist()) - set(truth_recs))
    if unknown:
        raise ScoreError(f"steps name recording(s) not in the truth: {', '.join(unknown[:3])}")

    by_placement = ns == 0 or _has(steps, "placement")
    s_key = steps["placement"] if by_placement else np.array(
        [_side_of("", s) for s in steps["side"]], object)
    if not by_placement and np.any(s_key == ""):
        raise ScoreError("steps need a placement or side column to know the leg")
    t_side = np.array([_side_of(p, s) for p, s in zip(truth["placement"], truth["side"],
                                                      strict=True)], object)
    sensors = sorted(set(s_key.tolist()))
    unjudged: dict[str, int] = {}
    rows_out: dict[str, list] = {k: [] for k in (
        "recording_id", "sensor", "kind", "basis", "ic_err_ms", "to_err_ms", "det_landing",
        "true_landing", "truth_row", "det_row", *RECORDING_KEYS, *STEP_KEYS[:2],
        *(f"err_{q}" for q in QUANTITIES))}

    fs_t = truth["fs_hz"]
    for rec in truth_recs:
        for sensor in sensors:
            d_rows = np.flatnonzero((s_rec == rec) & (s_key == sensor))
            if by_placement:
                t_rows = np.flatnonzero((t_rec == rec) & (truth["placement"] == sensor))
            else:  # legs: the first sensor of that leg with truth in this recording
                cand = np.flatnonzero((t_rec == rec) & (t_side == sensor))
                firsts = sorted(set(truth["placement"][cand].tolist()))
                t_rows = cand[truth["placement"][cand] == firsts[0]] if firsts else cand
            if t_rows.size == 0:
                if d_rows.size:  # the truth cannot judge this sensor here (e.g. one leg only)
                    unjudged[sensor] = unjudged.get(sensor, 0) + int(d_rows.size)
                continue
            basis = "seconds"
            fs = fs_t[t_rows] if t_rows.size else None
            if (by_placement and t_rows.size and d_rows.size
                    and np.all(steps["ic_sample_idx"][d_rows] >= 0)
                    and np.all(truth["ic_sample_idx"][t_rows] >= 0)
                    and np.all(np.isfinite(fs))):
                basis = "samples"
            fs_d = (np.full(d_rows.size, fs[0]) if basis == "samples" else None)
            det_ic = _event_ms(steps, d_rows, "ic", basis, fs_d)
            tru_ic = _event_ms(truth, t_rows, "ic", basis,
                               fs if fs is not None and np.all(np.isfinite(fs)) else None)
            if not np.all(np.isfinite(det_ic)):
                raise ScoreError(f"{rec} {sensor}: a detected step has no initial-contact time")
            ok_t = np.isfinite(tru_ic)
            if not ok_t.all():
                notes.append(f"{rec} {sensor}: {int((~ok_t).sum())} truth rows without IC time "
                             "ignored")
                t_rows, tru_ic = t_rows[ok_t], tru_ic[ok_t]
                fs = fs[ok_t] if fs is not None else None
            m = match_events(det_ic, tru_ic, tol_ms)
            det_to = _event_ms(steps, d_rows, "to", basis, fs_d)
            tru_to = _event_ms(truth, t_rows, "to", basis,
                               fs if fs is not None and np.all(np.isfinite(fs)) else None)
            pair_of_truth = dict(zip(m.pairs[:, 1].tolist(), m.pairs[:, 0].tolist(),
                                     strict=True))
            for j, tr in enumerate(t_rows):
                i = pair_of_truth.get(j)
                _emit(rows_out, rec, sensor, basis, truth, int(tr), steps,
                      None if i is None else int(d_rows[i]),
                      math.nan if i is None else float(det_ic[i] - tru_ic[j]),
                      math.nan if i is None else float(det_to[i] - tru_to[j]))
            for i in m.false_pos:
                # attribute a false detection to the nearest truth step's conditions
                near = int(t_rows[np.argmin(np.abs(tru_ic - det_ic[i]))]) if t_rows.size else -1
                _emit(rows_out, rec, sensor, basis, truth, near, steps, int(d_rows[i]),
                      math.nan, math.nan, false_pos=True)
    for sensor, n in sorted(unjudged.items()):
        notes.append(f"{n} detections of {sensor} not scored: no truth for that sensor in "
                     "their recording(s)")
    pairs = {k: np.array(v, dtype=object if k in (
        "recording_id", "sensor", "kind", "basis", "det_landing", "true_landing",
        *RECORDING_KEYS, *STEP_KEYS[:2]) else (np.int64 if k.endswith("_row") else np.float64))
        for k, v in rows_out.items()}
    overall = summarize(pairs)
    groups: dict[str, dict[str, Summary]] = {}
    for key in by:
        col = "sensor" if key == "placement" else key
        if col not in pairs:
            continue
        vals = sorted({v for v in pairs[col].tolist() if v != ""})
        if len(vals) < 1:
            continue
        groups[key] = {v: summarize(pairs, pairs[col] == v) for v in vals}
    return ScoreResult(float(tol_ms), overall, groups, pairs, tuple(notes))


def _emit(out: dict[str, list], rec: str, sensor: str, basis: str, truth: Columns, t_row: int,
          steps: Columns, d_row: int | None, ic_err: float, to_err: float,
          false_pos: bool = False) -> None:
    out["recording_id"].append(rec)
    out["sensor"].append(sensor)
    out["kind"].append("fp" if false_pos else ("tp" if d_row is not None else "fn"))
    out["basis"].append(basis)
    out["ic_err_ms"].append(ic_err)
    out["to_err_ms"].append(to_err)
    out["truth_row"].append(-1 if false_pos else t_row)
    out["det_row"].append(-1 if d_row is None else d_row)
    for k in (*RECORDING_KEYS, *STEP_KEYS[:2]):
        out[k].append(str(truth[k][t_row]) if t_row >= 0 else "")
    tp = d_row is not None and not false_pos
    out["det_landing"].append(str(steps["landing"][d_row]) if tp else "")
    out["true_landing"].append(str(truth["landing"][t_row]) if tp else "")
    for q in QUANTITIES:
        out[f"err_{q}"].append(float(steps[q][d_row] - truth[q][t_row]) if tp else math.nan)


def summarize(pairs: Columns, sel: np.ndarray | None = None) -> Summary:
    """Metrics over the pair rows selected by boolean ``sel`` (all by default)."""
    if sel is None:
        sel = np.ones(n_rows(pairs) if pairs else 0, bool)
    kind = pairs["kind"][sel] if pairs else np.zeros(0, object)
    tp = int(np.sum(kind == "tp"))
    fp = int(np.sum(kind == "fp"))
    fn = int(np.sum(kind == "fn"))
    conf = np.zeros((3, 3), np.int64)
    quants: dict[str, Agreement] = {}
    if pairs and sel.any():
        is_tp = sel & (pairs["kind"] == "tp")
        for a, b in zip(pairs["true_landing"][is_tp], pairs["det_landing"][is_tp], strict=True):
            if a in LANDINGS and b in LANDINGS:
                conf[LANDINGS.index(a), LANDINGS.index(b)] += 1
        ic = Agreement.of(pairs["ic_err_ms"][is_tp])
        to = Agreement.of(pairs["to_err_ms"][is_tp])
        for q in QUANTITIES:
            quants[q] = Agreement.of(pairs[f"err_{q}"][is_tp])
        bases = set(pairs["basis"][sel].tolist())
        basis = bases.pop() if len(bases) == 1 else "mixed"
    else:
        ic = to = Agreement.of(np.zeros(0))
        basis = ""
    return Summary(tp, fp, fn, ic, to, quants, conf, basis)
