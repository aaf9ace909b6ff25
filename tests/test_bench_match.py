"""Event matching and scoring: hand-computed cases and properties."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stridecore.bench.match import match_events
from stridecore.bench.score import Agreement, ScoreError, score
from stridecore.schema import TRUTH
from stridecore.tables import coerce


def brute_force(det, tru, tol):
    """Best matching by exhaustive search: most pairs, then least summed |error|."""
    best = (0, 0.0, ())
    nd, nt = len(det), len(tru)

    def rec(i, used, pairs, cost):
        nonlocal best
        if i == nd:
            key = (len(pairs), -cost)
            if key > (best[0], -best[1]):
                best = (len(pairs), cost, tuple(pairs))
            return
        rec(i + 1, used, pairs, cost)
        for j in range(nt):
            if j not in used and abs(det[i] - tru[j]) <= tol:
                rec(i + 1, used | {j}, [*pairs, (i, j)], cost + abs(det[i] - tru[j]))

    rec(0, frozenset(), [], 0.0)
    return best


def test_hand_cases():
    m = match_events([0, 105, 300], [10, 100, 200], 50)
    assert m.pairs.tolist() == [[0, 0], [1, 1]]
    assert m.error_ms.tolist() == [-10, 5]
    assert m.false_pos.tolist() == [2] and m.false_neg.tolist() == [2]
    # an early detection must not steal the nearer truth partner of a later one
    m = match_events([-45, 5], [0], 50)
    assert m.pairs.tolist() == [[1, 0]] and m.false_pos.tolist() == [0]
    # cardinality first: two detections between two truths each take one
    m = match_events([40, 60], [0, 100], 50)
    assert m.pairs.tolist() == [[0, 0], [1, 1]]
    # boundary: exactly tol matches, beyond does not
    assert match_events([50], [0], 50).tp == 1
    assert match_events([50.001], [0], 50).tp == 0
    assert match_events([], [1, 2], 50).fn == 2
    assert match_events([1, 2], [], 50).fp == 2


@given(st.lists(st.floats(0, 500, allow_nan=False), max_size=6),
       st.lists(st.floats(0, 500, allow_nan=False), max_size=6),
       st.floats(1, 100))
def test_matches_brute_force_and_is_one_to_one(det, tru, tol):
    m = match_events(det, tru, tol)
    assert len(set(m.pairs[:, 0].tolist())) == m.tp
    assert len(set(m.pairs[:, 1].tolist())) == m.tp
    assert m.tp + m.fp == len(det) and m.tp + m.fn == len(tru)
    assert np.all(np.abs(m.error_ms) <= tol)
    n, cost, _ = brute_force(det, tru, tol)
    assert m.tp == n
    assert np.abs(m.error_ms).sum() == pytest.approx(cost, abs=1e-6)


events = st.lists(st.floats(160, 900), min_size=1, max_size=40).map(
    lambda gaps: np.cumsum(gaps))


@given(events)
def test_identical_lists_give_f1_one(t):
    m = match_events(t, t, 50)
    assert m.tp == t.size and m.fp == m.fn == 0
    assert np.all(m.error_ms == 0)


@given(events, st.floats(-49, 49))
def test_shift_moves_bias_only(t, d):
    # truth steps >= 160 ms apart, tolerance 50: the pairing cannot change
    m = match_events(t + d, t, 50)
    assert m.tp == t.size and m.fp == 0
    a = Agreement.of(m.error_ms)
    assert a.bias == pytest.approx(d, abs=1e-6)
    assert a.sd == pytest.approx(0, abs=1e-6)


@given(events, st.lists(st.floats(-1e5, 1e5), max_size=10))
def test_far_false_detections_lower_precision_only(t, extra):
    extra = np.array([x for x in extra if np.min(np.abs(t - x)) > 50])
    assume(extra.size > 0)
    m0 = match_events(t, t, 50)
    m1 = match_events(np.concatenate([t, extra]), t, 50)
    assert m1.tp == m0.tp and m1.fn == m0.fn
    assert m1.fp == m0.fp + extra.size


def _truth(ic_s, **extra):
    n = len(ic_s)
    cols = {"recording_id": ["r1"] * n, "dataset": ["sim"] * n, "split": ["dev"] * n,
            "placement": ["left_foot"] * n, "side": ["left"] * n, "t_ic_s": ic_s,
            "fs_hz": [500.0] * n, **extra}
    return coerce(cols, TRUTH)


def test_score_end_to_end_seconds_and_samples():
    ic = np.arange(10) * 0.7 + 1.0
    truth = _truth(ic, t_to_s=ic + 0.25, contact_ms=np.full(10, 250.0),
                   ic_sample_idx=np.round(ic * 500).astype(int),
                   strike_angle_deg=np.full(10, 12.0),
                   landing=["heel"] * 10)
    steps = {"placement": ["left_foot"] * 9, "t_ic_s": ic[:9] + 0.010,
             "t_to_s": ic[:9] + 0.25 + 0.020, "contact_ms": np.full(9, 260.0),
             "strike_angle_deg": np.full(9, 10.0), "landing": ["heel"] * 8 + ["midfoot"]}
    r = score(steps, truth, tol_ms=50)
    o = r.overall
    assert (o.tp, o.fp, o.fn) == (9, 0, 1)
    assert o.basis == "seconds"
    assert o.ic_ms.bias == pytest.approx(10.0)
    assert o.to_ms.bias == pytest.approx(20.0)
    assert o.quantities["contact_ms"].bias == pytest.approx(10.0)
    assert o.quantities["strike_angle_deg"].rmse == pytest.approx(2.0)
    assert o.landing_confusion[0].tolist() == [8, 1, 0]
    assert o.landing_recall["heel"] == pytest.approx(8 / 9)
    assert math.isnan(o.landing_recall["forefoot"])
    assert o.f1 == pytest.approx(18 / 19)
    # on sample indices: a detector whose stream clock differs still scores exactly
    steps2 = {"placement": ["left_foot"] * 10,
              "ic_sample_idx": np.round(ic * 500).astype(int) + 3,
              "t_ic_s": ic + 5.0}  # stream seconds way off: must not matter
    r2 = score(steps2, truth, tol_ms=50)
    assert r2.overall.basis == "samples" and r2.overall.tp == 10
    assert r2.overall.ic_ms.bias == pytest.approx(6.0)
    # JSON-able
    d = r.as_dict()
    assert d["overall"]["tp"] == 9 and d["by"]["placement"]["left_foot"]["fn"] == 1


def test_score_counts_missing_sensors_and_recordings():
    ic = np.arange(5) * 0.7
    t = _truth(ic)
    t2 = coerce({**{k: np.concatenate([v, v]) for k, v in t.items()}}, TRUTH)
    t2["recording_id"][5:] = "r2"
    steps = {"recording_id": ["r1"] * 5, "placement": ["left_foot"] * 5, "t_ic_s": ic}
    r = score(steps, t2)
    assert (r.overall.tp, r.overall.fn) == (5, 5)  # r2 had no detections: all missed
    with pytest.raises(ScoreError, match="recording_id"):
        score({"placement": ["left_foot"], "t_ic_s": [0.0]}, t2)
    with pytest.raises(ScoreError, match="not in the truth"):
        score({"recording_id": ["zz"], "placement": ["left_foot"], "t_ic_s": [0.0]}, t2)
    # steps by side only
    r = score({"recording_id": ["r1"] * 5, "side": ["left"] * 5, "t_ic_s": ic}, t2)
    assert r.overall.tp == 5


def test_sensors_without_truth_are_not_scored_but_noted():
    ic = np.arange(5) * 0.7
    steps = {"placement": ["left_foot"] * 5 + ["right_foot"] * 3,
             "t_ic_s": np.concatenate([ic, ic[:3]])}
    r = score(steps, _truth(ic))
    assert (r.overall.tp, r.overall.fp, r.overall.fn) == (5, 0, 0)
    assert any("3 detections of right_foot not scored" in n for n in r.notes)
