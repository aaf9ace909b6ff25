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
scored, and a note says how many (so are detections whose truth rows all lack an IC time). When
the steps have no ``placement``, truth is taken per leg (``side``); truth given per leg only
judges the steps of every sensor on that leg. An empty steps table misses every true step.
Rows are put in a canonical order first, so the file's row order never changes a result.

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


def _canonical(cols: Columns, rows: np.ndarray) -> np.ndarray:
    """An order of ``rows`` that depends only on their contents, not on their position."""
    if rows.size < 2:
        return np.arange(rows.size)
    keys = []
    for k in sorted(cols, reverse=True):  # np.lexsort: the last key is the primary one
        v = cols[k][rows]
        if v.dtype.kind in "fiub":
            keys.append(np.nan_to_num(v.astype(np.float64), nan=np.inf))
        else:
            keys.append(np.unique(np.asarray([str(x) for x in v]), return_inverse=True)[1])
    for k in ("t_ic_s", "ic_sample_idx"):  # primary: the event time
        if k in cols:
            keys.append(np.nan_to_num(cols[k][rows].astype(np.float64), nan=np.inf))
    return np.lexsort(keys)


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
    if not (math.isfinite(tol_ms) and tol_ms >= 0):
        raise ScoreError(f"tolerance must be a finite number >= 0 ms, got {tol_ms}")
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

    t_side = np.array([_side_of(p, s) for p, s in zip(truth["placement"], truth["side"],
                                                      strict=True)], object)
    if ns == 0:
        # Review fix: an empty steps table used to select no sensor and so score nothing
        # (recall "–" instead of 0). A detector that found nothing misses every true step.
        by_placement = _has(truth, "placement")
        sensors = sorted(set((truth["placement"] if by_placement else t_side).tolist()) - {""})
        s_key = np.zeros(0, object)
        notes.append("the steps table is empty: every true step counts as missed")
    else:
        by_placement = _has(steps, "placement")
        s_key = steps["placement"] if by_placement else np.array(
            [_side_of("", s) for s in steps["side"]], object)
        if np.any(s_key == ""):
            # Review fix: with some rows' placement empty those detections formed a sensor ""
            # that no truth row has, so they silently dropped out (their false positives too).
            raise ScoreError(f"{int(np.sum(s_key == ''))} step(s) have no "
                             f"{'placement' if by_placement else 'placement or side'}; "
                             "every step needs one to know its sensor or leg")
        sensors = sorted(set(s_key.tolist()))
    if by_placement:
        bad = sorted(set(sensors) - {p.value for p in Placement})
        if bad:
            raise ScoreError(f"placement {bad[0]!r} is not one of: "
                             f"{', '.join(p.value for p in Placement)}")
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
                side = Placement(sensor).side
                if t_rows.size == 0 and side is not None:
                    # Review fix: truth given per leg only (no placement, e.g. a user's labels)
                    # judged nothing; it judges the sensors worn on that leg.
                    t_rows = np.flatnonzero((t_rec == rec) & (truth["placement"] == "")
                                            & (t_side == side.value))
            else:  # legs: the first sensor of that leg with truth in this recording
                cand = np.flatnonzero((t_rec == rec) & (t_side == sensor))
                firsts = sorted(set(truth["placement"][cand].tolist()))
                t_rows = cand[truth["placement"][cand] == firsts[0]] if firsts else cand
            # Canonical row order (review fix): with detections (or truth steps) at the same
            # time, which one pairs used to follow the file's row order, so reordering rows
            # changed the errors of other quantities and the groups of missed steps.
            d_rows = d_rows[_canonical(steps, d_rows)]
            t_rows = t_rows[_canonical(truth, t_rows)]
            fs = fs_t[t_rows]
            # Sample indices convert to ms only with one known, positive rate for the group
            # (review fix: the detections used the first truth row's rate while each truth row
            # used its own, so a rate change within a group misplaced events).
            fs_one = (fs.size > 0 and np.all(np.isfinite(fs)) and np.all(fs > 0)
                      and np.all(np.abs(fs - fs[0]) <= 1e-9 * fs[0]))
            # a detection's sample index is on the truth's sensor only when scored by placement
            # against that placement's own truth rows
            same_sensor = by_placement and bool(np.all(truth["placement"][t_rows] == sensor))
            fs_d = np.full(d_rows.size, fs[0]) if fs_one and same_sensor else None
            fs_tr = fs if (fs.size and np.all(np.isfinite(fs)) and np.all(fs > 0)) else None
            basis = "seconds"
            # samples basis: both sides give the sensor's own index (a group without
            # detections takes the truth's basis, so it does not make the overall "mixed")
            if (fs_d is not None
                    and np.all(steps["ic_sample_idx"][d_rows] >= 0)
                    and np.all(truth["ic_sample_idx"][t_rows] >= 0)):
                basis = "samples"
            # on seconds, a step given only by sample index is placed by the truth's rate, as
            # truth rows are (review fix: it used to stop the whole score)
            det_ic = _event_ms(steps, d_rows, "ic", basis, fs_d)
            tru_ic = _event_ms(truth, t_rows, "ic", basis, fs_tr)
            if not np.all(np.isfinite(det_ic)):
                raise ScoreError(f"{rec} {sensor}: a detected step has no initial-contact time "
                                 "(t_ic_s, or ic_sample_idx with one truth fs_hz)")
            ok_t = np.isfinite(tru_ic)
            if not ok_t.all():
                notes.append(f"{rec} {sensor}: {int((~ok_t).sum())} truth rows without IC time "
                             "ignored")
                t_rows, tru_ic = t_rows[ok_t], tru_ic[ok_t]
                fs_tr = fs_tr[ok_t] if fs_tr is not None else None
            if t_rows.size == 0:
                # the truth cannot judge this sensor here (e.g. one leg only, or no truth row
                # with an IC time: review fix, those detections were false positives with no
                # dataset, split or condition, so every breakdown lost them)
                if d_rows.size:
                    unjudged[sensor] = unjudged.get(sensor, 0) + int(d_rows.size)
                continue
            m = match_events(det_ic, tru_ic, tol_ms)
            det_to = _event_ms(steps, d_rows, "to", basis, fs_d)
            tru_to = _event_ms(truth, t_rows, "to", basis, fs_tr)
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
                near = int(t_rows[np.argmin(np.abs(tru_ic - det_ic[i]))])
                _emit(rows_out, rec, sensor, basis, truth, near, steps, int(d_rows[i]),
                      math.nan, math.nan, false_pos=True)
    for sensor, n in sorted(unjudged.items()):
        notes.append(f"{n} detections of {sensor} not scored: no truth for that sensor in "
                     "their recording(s)")
    pairs = {k: np.array(v, dtype=object if k in (
        "recording_id", "sensor", "kind", "basis", "det_landing", "true_landing",
        *RECORDING_KEYS, *STEP_KEYS[:2]) else (np.int64 if k.endswith("_row") else np.float64))
        for k, v in rows_out.items()}
    notes += _coverage_notes(pairs, steps, truth)
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


def _coverage_notes(pairs: Columns, steps: Columns, truth: Columns) -> list[str]:
    """Say when the detector left a value empty on matched steps whose truth has it.

    Agreement statistics use only pairs where both sides have a value, so a detector that
    leaves its hard cases empty would look better than it is (review finding); the note makes
    the gap visible next to the numbers.
    """
    tp = pairs["kind"] == "tp"
    if not tp.any():
        return []
    t_row, d_row = pairs["truth_row"][tp], pairs["det_row"][tp]
    out = []
    t_land, d_land = truth["landing"][t_row], steps["landing"][d_row]
    n = int(np.sum((t_land != "") & (d_land == "")))
    if n:
        out.append(f"landing: {n} of {int(np.sum(t_land != ''))} matched steps with a true "
                   "landing have no detected one (landing accuracy leaves them out)")
    for q in ("to", *QUANTITIES):
        if q == "to":  # toe-off given by time or by sample index
            has_t = np.isfinite(truth["t_to_s"][t_row]) | (truth["to_sample_idx"][t_row] >= 0)
            miss = has_t & ~(np.isfinite(steps["t_to_s"][d_row])
                             | (steps["to_sample_idx"][d_row] >= 0))
        else:
            has_t = np.isfinite(truth[q][t_row])
            miss = has_t & ~np.isfinite(steps[q][d_row])
        if miss.any():
            out.append(f"{q}: {int(miss.sum())} of {int(has_t.sum())} matched steps with a true "
                       "value have no detected one (left out of its errors)")
    return out


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
