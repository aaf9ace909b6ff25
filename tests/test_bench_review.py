"""Review of the scorer (`stridecore score`): findings turned into tests, and properties.

Each test names the finding it pins down. The scorer must neither flatter nor wrongly punish a
detector, and must not crash on odd but legal input.
"""

import gzip
import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stridecore.bench.match as match_mod
from stridecore.bench.match import match_events
from stridecore.bench.report import render
from stridecore.bench.score import ScoreError, score
from stridecore.cli import main
from stridecore.schema import STEPS, TRUTH
from stridecore.tables import TableError, coerce, read_csv, write_csv

IC = np.arange(6) * 0.7 + 1.0


def _truth(ic=IC, **extra):
    n = len(ic)
    cols = {"recording_id": ["r1"] * n, "dataset": ["sim"] * n, "split": ["dev"] * n,
            "placement": ["left_foot"] * n, "side": ["left"] * n, "t_ic_s": ic,
            "fs_hz": [500.0] * n, **extra}
    return coerce(cols, TRUTH)


def _counts(r):
    return r.overall.tp, r.overall.fp, r.overall.fn


# --- findings ----------------------------------------------------------------------------

def test_rate_change_within_a_group_is_not_mixed_into_one_rate():
    # finding: on the samples basis the detections used the first truth row's fs_hz while each
    # truth row used its own; with a rate change half the steps became FP + FN
    fs = np.array([500.0] * 3 + [100.0] * 3)
    idx = np.round(IC * fs).astype(int)
    truth = _truth(fs_hz=fs, ic_sample_idx=idx)
    both = {"placement": ["left_foot"] * 6, "ic_sample_idx": idx, "t_ic_s": IC + 0.004}
    r = score(both, truth)
    assert _counts(r) == (6, 0, 0) and r.overall.basis == "seconds"
    assert r.overall.ic_ms.bias == pytest.approx(4.0)
    # indices alone cannot be placed: one clear error rather than wrong numbers
    with pytest.raises(ScoreError, match="initial-contact time"):
        score({"placement": ["left_foot"] * 6, "ic_sample_idx": idx}, truth)
    # float noise in a per-row rate is still one rate
    truth2 = _truth(fs_hz=500.0 * (1 + 1e-12 * np.arange(6)),
                    ic_sample_idx=np.round(IC * 500).astype(int))
    r = score({"placement": ["left_foot"] * 6,
               "ic_sample_idx": np.round(IC * 500).astype(int) + 2}, truth2)
    assert r.overall.basis == "samples" and r.overall.ic_ms.bias == pytest.approx(4.0)


def test_detections_by_sample_index_against_truth_in_seconds():
    # finding: a steps table with only ic_sample_idx stopped the score although the truth
    # gives the sensor's rate; the truth rows were already placed that way
    steps = {"placement": ["left_foot"] * 6, "ic_sample_idx": np.round(IC * 500).astype(int) + 5}
    r = score(steps, _truth())
    assert _counts(r) == (6, 0, 0) and r.overall.ic_ms.bias == pytest.approx(10.0)


def test_empty_steps_table_misses_every_true_step(tmp_path, capsys):
    # finding: a header-only steps file scored nothing (recall "–"), not recall 0
    write_csv(tmp_path / "t.csv", _truth(), TRUTH)
    (tmp_path / "s.csv").write_text("recording_id,placement,t_ic_s\n")
    assert main(["score", str(tmp_path / "s.csv"), str(tmp_path / "t.csv"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["overall"]["tp"], d["overall"]["fn"], d["overall"]["recall"]) == (0, 6, 0.0)
    r = score({"t_ic_s": np.zeros(0)}, _truth(placement=[""] * 6))  # truth by leg only
    assert _counts(r) == (0, 0, 6)


def test_steps_with_some_placements_empty_are_rejected():
    # finding: rows without a placement formed a sensor "" that no truth has, so they (and
    # their false positives) silently dropped out
    steps = {"placement": ["left_foot"] * 3 + [""] * 3, "side": ["left"] * 6, "t_ic_s": IC}
    with pytest.raises(ScoreError, match="3 step"):
        score(steps, _truth())
    with pytest.raises(ScoreError, match="not one of"):
        score({"placement": ["left_fot"], "t_ic_s": [1.0]}, _truth())


def test_truth_by_leg_judges_steps_by_placement():
    # finding: labels with a side but no placement judged none of a placed detector's steps
    truth = _truth(placement=[""] * 6)
    steps = {"placement": ["left_foot"] * 4 + ["right_foot"], "t_ic_s": [*IC[:4], 1.0]}
    r = score(steps, truth)
    assert _counts(r) == (4, 0, 2)
    assert any("1 detections of right_foot not scored" in n for n in r.notes)


def test_truth_rows_without_ic_do_not_make_unattributed_false_positives():
    # finding: when no truth row of a recording had an IC time, its detections became FPs with
    # an empty dataset/condition, so every breakdown lost them (overall FP 6, datasets 0)
    truth = _truth(np.r_[IC, IC], recording_id=["r1"] * 6 + ["r2"] * 6,
                   dataset=["a"] * 6 + ["b"] * 6)
    truth["t_ic_s"][6:] = np.nan
    steps = {"recording_id": ["r1"] * 6 + ["r2"] * 6, "placement": ["left_foot"] * 12,
             "t_ic_s": np.r_[IC, IC]}
    r = score(steps, truth)
    assert _counts(r) == (6, 0, 0)
    assert any("6 detections of left_foot not scored" in n for n in r.notes)
    assert any("6 truth rows without IC" in n for n in r.notes)


def test_duplicate_detections_do_not_depend_on_row_order():
    # finding: of two detections at the same time the first row paired, so reordering the
    # file changed the strike-angle error (0 vs 12.2°)
    steps = {"placement": ["left_foot"] * 7, "t_ic_s": np.r_[IC, IC[0]],
             "strike_angle_deg": np.r_[np.zeros(6), 30.0]}
    truth = _truth(strike_angle_deg=np.zeros(6))
    a = score(steps, truth)
    b = score({k: np.asarray(v)[::-1] for k, v in steps.items()}, truth)
    assert _counts(a) == _counts(b) == (6, 1, 0)
    assert (a.overall.quantities["strike_angle_deg"].rmse
            == b.overall.quantities["strike_angle_deg"].rmse)


@pytest.mark.parametrize("tol", [math.nan, math.inf, -1.0])
def test_bad_tolerance_is_an_error(tol):
    # finding: NaN matched nothing silently (all FN); inf broke the assignment solver
    with pytest.raises(ScoreError, match="tolerance"):
        score({"placement": ["left_foot"], "t_ic_s": [1.0]}, _truth(), tol_ms=tol)
    with pytest.raises(ValueError, match="tol_ms"):
        match_events([1.0], [1.0], tol)


def test_values_a_detector_leaves_empty_are_noted():
    # finding: errors use only pairs where both sides have a value, so leaving the hard steps
    # empty flattered RMSE and landing accuracy without any sign of it
    truth = _truth(strike_angle_deg=np.zeros(6), landing=["heel"] * 6, t_to_s=IC + 0.25)
    steps = {"placement": ["left_foot"] * 6, "t_ic_s": IC,
             "strike_angle_deg": [0, 0, 0, 0, np.nan, np.nan],
             "landing": ["heel"] * 3 + [""] * 3}
    r = score(steps, truth)
    assert r.overall.landing_accuracy == 1.0 and r.overall.quantities["strike_angle_deg"].n == 4
    assert any(n.startswith("landing: 3 of 6") for n in r.notes)
    assert any(n.startswith("strike_angle_deg: 2 of 6") for n in r.notes)
    assert any(n.startswith("to: 6 of 6") for n in r.notes)
    assert "note: landing: 3 of 6" in render(r)


def test_truth_with_ic_but_no_to_and_nan_json():
    # fine: toe-off and quantity errors skip pairs without a value; JSON never holds NaN
    truth = _truth(t_to_s=np.r_[IC[:3] + 0.25, [np.nan] * 3])
    steps = {"placement": ["left_foot"] * 6, "t_ic_s": IC, "t_to_s": IC + 0.26}
    r = score(steps, truth)
    assert _counts(r) == (6, 0, 0) and r.overall.to_ms.n == 3
    assert r.overall.to_ms.bias == pytest.approx(10.0)
    text = json.dumps(r.as_dict(), allow_nan=False)  # NaN would raise here
    assert '"accuracy": null' in text


def test_group_without_detections_keeps_the_samples_basis():
    # finding (cosmetic): a sensor with no detections was on "seconds", so a score entirely
    # on sample indices reported basis "mixed"
    idx = np.round(IC * 500).astype(int)
    truth = _truth(np.r_[IC, IC], recording_id=["r1"] * 6 + ["r2"] * 6,
                   ic_sample_idx=np.r_[idx, idx])
    r = score({"recording_id": ["r1"] * 6, "placement": ["left_foot"] * 6,
               "ic_sample_idx": idx}, truth)
    assert r.overall.basis == "samples" and _counts(r) == (6, 0, 6)


def test_detector_firing_on_every_sample_is_scored_quickly():
    # finding: the whole recording became one run and the dense cost matrix needed GBs
    tru = np.arange(0, 600_000, 400.0) + 7.0
    det = np.arange(0, 600_000, 2.0)
    t0 = time.perf_counter()
    m = match_events(det, tru, 50)
    assert time.perf_counter() - t0 < 5
    assert (m.tp, m.fn) == (tru.size, 0) and np.abs(m.error_ms).max() <= 1.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0, 300, allow_nan=False), max_size=9),
       st.lists(st.floats(0, 300, allow_nan=False), max_size=9), st.floats(0, 80))
def test_sparse_matcher_equals_dense(det, tru, tol):
    dense = match_events(det, tru, tol)
    old = match_mod.DENSE_MAX_CELLS
    match_mod.DENSE_MAX_CELLS = 0
    try:
        sparse = match_events(det, tru, tol)
    finally:
        match_mod.DENSE_MAX_CELLS = old
    assert sparse.tp == dense.tp
    assert np.abs(sparse.error_ms).sum() == pytest.approx(np.abs(dense.error_ms).sum(),
                                                          abs=1e-6)
    assert np.all(np.abs(sparse.error_ms) <= tol)
    assert len(set(sparse.pairs[:, 0].tolist())) == sparse.tp


# --- CSV edge cases ------------------------------------------------------------------------

def test_csv_bom_crlf_quotes_blank_lines(tmp_path):
    text = ('\ufeffrecording_id,placement,t_ic_s,condition\r\n'
            '"r,1",left_foot,1.5,"run;slope=-10"\r\n'
            '\r\n'
            '"r,1", LEFT_FOOT ,"2.0","two\r\nlines"\r\n'
            '\r\n\r\n')
    p = tmp_path / "x.csv"
    p.write_bytes(text.encode())
    t = read_csv(p, TRUTH)
    assert t["recording_id"].tolist() == ["r,1", "r,1"]
    assert t["placement"].tolist() == ["left_foot"] * 2
    assert t["t_ic_s"].tolist() == [1.5, 2.0]
    assert t["condition"].tolist() == ["run;slope=-10", "two\r\nlines"]
    g = tmp_path / "x.csv.gz"
    g.write_bytes(gzip.compress(text.encode()))
    assert read_csv(g, TRUTH)["recording_id"].tolist() == ["r,1", "r,1"]  # BOM in .gz too


def test_csv_header_only_and_error_line_numbers(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("recording_id,placement,t_ic_s\n\n")
    s = read_csv(p, STEPS)
    assert s["t_ic_s"].shape == (0,) and s["placement"].shape == (0,)
    # finding: blank lines made the reported line number wrong
    p.write_text("t_ic_s,landing\n0.5,heel\n\n\n0.7,heal\n")
    with pytest.raises(TableError, match=r"h\.csv:5: landing 'heal'"):
        read_csv(p, STEPS)
    p.write_text("t_ic_s\n0.5\n\nNA\n1e-3\nx\n")
    with pytest.raises(TableError, match=r"h\.csv:6: t_ic_s must be a number"):
        read_csv(p, STEPS)


def test_csv_100k_rows_read_fast(tmp_path):
    n = 100_000
    ic = np.arange(n) * 0.5
    cols = {"recording_id": ["r"] * n, "placement": ["left_foot"] * n,
            "ic_sample_idx": np.arange(n) * 250, "t_ic_s": ic, "t_to_s": ic + 0.2,
            "landing": ["heel"] * n, "contact_ms": ic % 7, "strike_angle_deg": ic % 11}
    write_csv(tmp_path / "big.csv", cols, STEPS)
    t0 = time.perf_counter()
    s = read_csv(tmp_path / "big.csv", STEPS)
    assert time.perf_counter() - t0 < 4
    assert s["t_ic_s"][-1] == ic[-1] and s["ic_sample_idx"][-1] == (n - 1) * 250


# --- properties ----------------------------------------------------------------------------

RECS = ("r0", "r1", "r2")
SENSORS = ("left_foot", "right_foot")


def _scenario(seed: int):
    """Random truth over recordings × sensors, and a detector's imperfect steps for it."""
    rng = np.random.default_rng(seed)
    t_parts, s_parts = [], []
    for ri, rec in enumerate(RECS):
        for sensor in SENSORS:
            n = int(rng.integers(1, 12))
            ic = np.cumsum(rng.uniform(0.2, 0.9, n))
            t_parts.append({
                "recording_id": [rec] * n, "dataset": [f"d{ri % 2}"] * n,
                "split": ["dev" if ri else "test"] * n, "placement": [sensor] * n,
                "condition": rng.choice(["a", "b"], n), "terrain": rng.choice(["dirt", ""], n),
                "gait_mode": rng.choice(["run", "walk"], n), "t_ic_s": ic,
                "t_to_s": ic + 0.2, "fs_hz": np.full(n, 500.0),
                "strike_angle_deg": rng.normal(5, 5, n),
                "landing": rng.choice(["heel", "midfoot"], n)})
            keep = rng.random(n) < 0.8
            keep[0] = True  # every (recording, sensor) has a detection
            det = ic[keep] + rng.normal(0, 0.02, keep.sum())
            extra = rng.uniform(0, ic[-1] + 0.5, int(rng.integers(0, 4)))
            dup = det[: int(rng.integers(0, 2))]  # a duplicate detection at the same time
            t_ic = np.r_[det, extra, dup]
            m = t_ic.size
            s_parts.append({"recording_id": [rec] * m, "placement": [sensor] * m,
                            "t_ic_s": t_ic, "strike_angle_deg": rng.normal(5, 5, m),
                            "landing": rng.choice(["heel", "midfoot", ""], m)})
    cat = lambda parts: {k: np.concatenate([np.asarray(p[k]) for p in parts])  # noqa: E731
                         for k in parts[0]}
    return coerce(cat(s_parts), STEPS), coerce(cat(t_parts), TRUTH)


def _take(cols, idx):
    return {k: v[idx] for k, v in cols.items()}


def _agree_equal(a, b):
    for x, y in zip(a.__dict__.values(), b.__dict__.values(), strict=True):
        assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-9)


seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=25, deadline=None)
@given(seeds, st.randoms(use_true_random=False))
def test_score_is_invariant_to_row_order(seed, rnd):
    steps, truth = _scenario(seed)
    a = score(steps, truth)
    ps = list(range(len(steps["t_ic_s"])))
    pt = list(range(len(truth["t_ic_s"])))
    rnd.shuffle(ps)
    rnd.shuffle(pt)
    b = score(_take(steps, np.array(ps)), _take(truth, np.array(pt)))
    assert _counts(a) == _counts(b)
    _agree_equal(a.overall.ic_ms, b.overall.ic_ms)
    _agree_equal(a.overall.quantities["strike_angle_deg"],
                 b.overall.quantities["strike_angle_deg"])
    assert (a.overall.landing_confusion == b.overall.landing_confusion).all()
    for key in a.by:
        for g in a.by[key]:
            assert _counts_s(a.by[key][g]) == _counts_s(b.by[key][g])


def _counts_s(s):
    return s.tp, s.fp, s.fn


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_per_recording_parts_sum_to_the_whole(seed):
    steps, truth = _scenario(seed)
    whole = score(steps, truth)
    tot = np.zeros(3, int)
    for rec in RECS:
        part = score(_take(steps, steps["recording_id"] == rec),
                     _take(truth, truth["recording_id"] == rec))
        tot += _counts(part)
    assert tuple(tot) == _counts(whole)


@settings(max_examples=25, deadline=None)
@given(seeds, st.sampled_from(RECS))
def test_perfect_detections_of_a_recording_raise_recall_by_its_share(seed, rec):
    steps, truth = _scenario(seed)
    others = steps["recording_id"] != rec
    base = score(_take(steps, others), truth)
    in_rec = truth["recording_id"] == rec
    perfect = {"recording_id": truth["recording_id"][in_rec],
               "placement": truth["placement"][in_rec], "t_ic_s": truth["t_ic_s"][in_rec]}
    s2 = {k: np.concatenate([steps[k][others], perfect[k]]) for k in perfect}
    plus = score(s2, truth)
    n_true = truth["t_ic_s"].size
    assert plus.overall.fp == base.overall.fp
    assert plus.overall.recall - base.overall.recall == pytest.approx(in_rec.sum() / n_true)


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_breakdown_groups_account_for_every_step(seed):
    steps, truth = _scenario(seed)
    r = score(steps, truth, by=("dataset", "placement", "split", "condition", "gait_mode",
                                "terrain"))
    for key, groups in r.by.items():
        col = "placement" if key == "placement" else key
        for g, s in groups.items():
            assert s.tp + s.fn == int(np.sum(truth[col] == g)), (key, g)
        if key != "terrain":  # every truth row has a value: groups partition all rows
            assert sum(s.fp for s in groups.values()) == r.overall.fp, key
            assert sum(s.tp for s in groups.values()) == r.overall.tp, key
