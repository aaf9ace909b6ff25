"""One-to-one matching of detected to true events within a tolerance.

Events are times on one axis (ms, or sample indices converted to ms). A detection and a truth
event may pair only if ``|detected − true| <= tol``. Among all one-to-one pairings the matcher
takes one with the most pairs and, among those, the smallest total ``|error|`` — so neither a
greedy order nor a lucky early detection can flatter or punish the detector.

Method: on a line, the "within tolerance" graph falls apart into runs where consecutive events
(both kinds, merged in time order) are at most ``tol`` apart; each run is solved exactly as
a rectangular assignment problem (Kuhn–Munkres, ``scipy.optimize.linear_sum_assignment``) with
cost ``|error| − BIG`` on feasible pairs and 0 elsewhere, which maximises the number of pairs
first and minimises the summed error second. This is the matching the gait-event literature
asks for (Kiernan 2023; gaitmap's ``evaluate_segmented_stride_list`` uses a one-to-one rule too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

# Runs whose dense cost matrix would exceed this many cells are solved on the sparse graph of
# feasible pairs instead (review fix: a detector that fires on almost every sample makes the
# whole recording one run, and the dense 100k x 3k matrix, 2.4 GB, exhausted memory).
DENSE_MAX_CELLS = 250_000


@dataclass(frozen=True)
class Matching:
    """``pairs`` (K, 2) indices into (detected, truth), sorted by truth index; ``error_ms``
    (K,) = detected − true; unmatched indices of each list."""

    pairs: np.ndarray
    error_ms: np.ndarray
    false_pos: np.ndarray  # detections with no truth partner
    false_neg: np.ndarray  # truth events with no detection

    @property
    def tp(self) -> int:
        return int(self.pairs.shape[0])

    @property
    def fp(self) -> int:
        return int(self.false_pos.size)

    @property
    def fn(self) -> int:
        return int(self.false_neg.size)


def match_events(detected_ms: np.ndarray, true_ms: np.ndarray, tol_ms: float) -> Matching:
    """Match two event lists (ms, any order, finite) one-to-one within ``tol_ms``."""
    det = np.asarray(detected_ms, np.float64).ravel()
    tru = np.asarray(true_ms, np.float64).ravel()
    if not (np.isfinite(det).all() and np.isfinite(tru).all()):
        raise ValueError("event times must be finite")
    if not (math.isfinite(tol_ms) and tol_ms >= 0):  # NaN would silently match nothing
        raise ValueError("tol_ms must be finite and >= 0")
    nd, nt = det.size, tru.size
    pairs: list[tuple[int, int]] = []
    if nd and nt:
        t_all = np.concatenate([det, tru])
        kind = np.concatenate([np.zeros(nd, np.int8), np.ones(nt, np.int8)])
        idx = np.concatenate([np.arange(nd), np.arange(nt)])
        order = np.lexsort((kind, t_all))
        t_sorted = t_all[order]
        # run boundaries: a feasible pair spans no gap wider than tol
        cuts = np.flatnonzero(np.diff(t_sorted) > tol_ms) + 1
        for run in np.split(order, cuts):
            d_i = idx[run[kind[run] == 0]]
            t_i = idx[run[kind[run] == 1]]
            if d_i.size == 0 or t_i.size == 0:
                continue
            big = 1.0 + 2.0 * tol_ms * (min(d_i.size, t_i.size) + 1)
            if d_i.size * t_i.size > DENSE_MAX_CELLS:
                pairs += [(int(d_i[r]), int(t_i[c]))
                          for r, c in _assign_sparse(det[d_i], tru[t_i], tol_ms, big)]
                continue
            err = np.abs(det[d_i][:, None] - tru[t_i][None, :])
            ok = err <= tol_ms
            if not ok.any():
                continue
            if d_i.size == 1 or t_i.size == 1:  # the common case: take the nearest
                flat = np.where(ok, err, np.inf)
                r, c = np.unravel_index(np.argmin(flat), flat.shape)
                pairs.append((int(d_i[r]), int(t_i[c])))
                continue
            rows, cols = linear_sum_assignment(np.where(ok, err - big, 0.0))
            pairs += [(int(d_i[r]), int(t_i[c]))
                      for r, c in zip(rows, cols, strict=True) if ok[r, c]]
    arr = np.array(sorted(pairs, key=lambda p: p[1]), np.int64).reshape(-1, 2)
    error = det[arr[:, 0]] - tru[arr[:, 1]]
    fp = np.setdiff1d(np.arange(nd), arr[:, 0])
    fn = np.setdiff1d(np.arange(nt), arr[:, 1])
    return Matching(arr, error, fp, fn)


def _assign_sparse(dv: np.ndarray, tv: np.ndarray, tol_ms: float,
                   big: float) -> list[tuple[int, int]]:
    """The dense solver's objective (most pairs, then least summed error) on the sparse graph
    of feasible pairs, for runs too large for a dense matrix; ``dv``, ``tv`` sorted ascending.

    Perfect matching on (detections + truth dummies) x (truth + detection dummies):
    det i - truth j (feasible): err; det i - its own dummy: big (i unmatched); truth dummy j -
    truth j: big (j unmatched); truth dummy j - det dummy i when (i, j) is feasible: 0 (the
    mirror of a real pair). Every matching extends to a perfect one costing summed err + big ×
    unmatched, so the optimum is the same. All weights get +1: the solver ignores zero weights,
    and a perfect matching has a fixed number of edges.
    """
    nd, nt = dv.size, tv.size
    # candidate window slightly widened, then the exact test the dense path uses
    lo = np.searchsorted(tv, dv - tol_ms * (1 + 1e-9) - 1e-9, "left")
    hi = np.searchsorted(tv, dv + tol_ms * (1 + 1e-9) + 1e-9, "right")
    fi = np.repeat(np.arange(nd), hi - lo)
    fj = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)] or [[]])
    fj = fj.astype(np.int64)
    err = np.abs(dv[fi] - tv[fj])
    keep = err <= tol_ms
    fi, fj, err = fi[keep], fj[keep], err[keep]
    if fi.size == 0:
        return []
    r = np.concatenate([fi, np.arange(nd), nd + np.arange(nt), nd + fj])
    c = np.concatenate([fj, nt + np.arange(nd), np.arange(nt), nt + fi])
    w = np.concatenate([err, np.full(nd + nt, big), np.zeros(fi.size)]) + 1.0
    g = coo_array((w, (r, c)), shape=(nd + nt, nd + nt)).tocsr()
    rows, cols = min_weight_full_bipartite_matching(g)
    return [(int(a), int(b)) for a, b in zip(rows, cols, strict=True) if a < nd and b < nt]
