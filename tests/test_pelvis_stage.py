"""The pelvis stage (:mod:`stridecore.dsp.pelvis`, kernel :mod:`stridecore.dsp.kernels.pelvis`)
and its pipeline (:mod:`stridecore.pelvis_pipeline`).

- chunk invariance: any cut of the stream into blocks (sizes 0, 1, random) gives the same step
  and IC records as one block, bit for bit; reset / snapshot / restore;
- the compiled kernel equals its own pure-Python version (``py_func``); the push-off equals
  an independent numpy integration of the ring;
- ``flush`` emits the open step once, the same after any blocks;
- accelerometer alone (gyro NaN) and a two-axis accelerometer (one axis NaN): drop NaN, side
  unknown, contacts still found;
- gaps: NaN dropouts and GAP_BEFORE (no step spans a gap);
- the STEPS table and ``pipeline_for``;
- accuracy floors on a test-split simulator seed (≥ 1000; a regression check, not tuning).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_protocol.batch import SampleFlag
from stridecore.dsp.kernels import pelvis as pk
from stridecore.dsp.pelvis import PelvisStage, pelvis_steps_table
from stridecore.pelvis_pipeline import PelvisPipeline
from stridecore.schema import STEPS, Placement
from stridecore.shin_pipeline import pipeline_for
from stridecore.simulate.session import simulate

SEED = 1001  # test split, never used for tuning
HYP = settings(deadline=None, max_examples=25,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def rec():
    return simulate(60.0, seed=SEED, placements=["pelvis"]).recording


@pytest.fixture(scope="module")
def stream(rec):
    s = rec.sensors[Placement.PELVIS]
    n = int(20 * s.fs_hz)
    sm = s.samples[:n]
    return (sm.sample_idx.copy(), sm.t_device_us.copy(), sm.acc_mps2.copy(),
            sm.gyr_radps.copy(), sm.flags.copy(), float(s.fs_hz))


@pytest.fixture(scope="module", autouse=True)
def warm_kernels():
    """Compile (or load) the kernel once, so no hypothesis example pays for numba."""
    rng = np.random.default_rng(0)
    n = 64
    st_ = PelvisStage(833.0)
    st_.step(np.arange(n), np.arange(n) * 1200.0, rng.normal(0, 9.8, (n, 3)),
             rng.normal(0, 3, (n, 3)), np.zeros(n, np.uint8))
    st_.flush()


def run(stage: PelvisStage, x, sizes) -> tuple[np.ndarray, np.ndarray]:
    idx, t, acc, gyr, fl, _ = x
    n = len(idx)
    out_s, out_e, i = [], [], 0
    for b in itertools.cycle(sizes):
        s, e = stage.step(idx[i:i + b], t[i:i + b], acc[i:i + b], gyr[i:i + b], fl[i:i + b])
        out_s.append(s)
        out_e.append(e)
        i += b
        if i >= n:
            break
    return np.concatenate(out_s), np.concatenate(out_e)


def whole(x, gyro=True):
    idx, t, acc, gyr, fl, fs = x
    g = gyr if gyro else np.full_like(gyr, np.nan)
    return PelvisStage(fs).step(idx, t, acc, g, fl)


def same(a, b):
    assert a[0].shape == b[0].shape and a[1].shape == b[1].shape
    assert np.array_equal(a[0], b[0], equal_nan=True)
    assert np.array_equal(a[1], b[1], equal_nan=True)


@pytest.fixture(scope="module")
def ref(stream):
    return whole(stream)


@HYP
@given(st.lists(st.integers(0, 3000), min_size=1, max_size=12).filter(lambda v: any(v)))
def test_chunk_invariance(stream, ref, sizes):
    same(run(PelvisStage(stream[-1]), stream, sizes), ref)


def test_chunk_invariance_blocks_of_one_and_zero(stream, ref):
    assert len(ref[0]) > 40 and len(ref[1]) > 40  # ~20 s of running: ~53 steps
    same(run(PelvisStage(stream[-1]), stream, [1, 0, 1, 7]), ref)


def test_chunk_invariance_accelerometer_only(stream):
    x = (*stream[:3], np.full_like(stream[3], np.nan), *stream[4:])
    same(run(PelvisStage(stream[-1]), x, [5, 0, 331]), whole(stream, gyro=False))


def test_reset_snapshot_restore(stream, ref):
    stg = PelvisStage(stream[-1])
    run(stg, stream, [4000])
    stg.reset()
    same(run(stg, stream, [len(stream[0])]), ref)
    stg = PelvisStage(stream[-1])
    h = len(stream[0]) // 2
    a = run(stg, (*(v[:h] for v in stream[:5]), stream[5]), [h])
    snap = stg.snapshot()
    b = run(stg, (*(v[h:] for v in stream[:5]), stream[5]), [999])
    stg.restore(snap)
    b2 = run(stg, (*(v[h:] for v in stream[:5]), stream[5]), [len(stream[0])])
    same(b, b2)
    same((np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])), ref)
    rep = stg.report()
    assert set(rep) >= {"forward_axis", "up_axis", "rise_threshold_mps3", "params"}
    # the sensor is mounted with x forward, z up: the learnt axes say so
    assert rep["forward_axis"][0] > 0.99 and rep["up_axis"][2] > 0.99


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "acc-only"])
def test_py_func_equals_compiled(stream, gyro):
    idx, t, acc, gyr, fl, fs = stream
    n = int(6 * fs)
    g = gyr[:n] if gyro else np.full((n, 3), np.nan)
    outs = []
    for fn in (pk.pelvis_step, pk.pelvis_step.py_func):
        stg = PelvisStage(fs)
        s = stg.state
        steps = np.empty((200, pk.N_S))
        ics = np.empty((200, pk.N_E))
        k, m = fn(stg.P, s["F"], s["I"], s["ring_f"], s["ring_acc"], s["ring_idx"],
                  idx[:n], t[:n], acc[:n], g, fl[:n], steps, ics)
        outs.append((steps[:k].copy(), ics[:m].copy(), s["F"].copy(), s["I"].copy()))
    assert len(outs[0][0]) > 8
    for a, b in zip(outs[0], outs[1], strict=True):
        assert np.array_equal(a, b, equal_nan=True)


def test_push_off_equals_numpy_integration(stream):
    """Each running step's push-off = max over stance of (v(TO) − v), v = cumulative sum of
    the ring's forward force × dt from the contact: an independent numpy computation on the
    ring the kernel left (the last steps, still in the ring)."""
    idx, t, acc, gyr, fl, fs = stream
    stg = PelvisStage(fs)
    steps, _ = stg.step(idx, t, acc, gyr, fl)
    ring, ridx = stg.state["ring_f"], stg.state["ring_idx"]
    R = len(ring)
    n_last = int(stg.state["I"][pk.I_N]) - 1
    checked = 0
    for s in steps[-6:]:
        if not np.isfinite(s[pk.S_PUSH_MPS]):
            continue
        ic_n = n_last - int(idx[-1] - s[pk.S_IC_IDX])
        to_n = n_last - int(idx[-1] - s[pk.S_TO_IDX])
        assert ridx[ic_n % R] == s[pk.S_IC_IDX] and ridx[to_n % R] == s[pk.S_TO_IDX]
        af = ring[np.arange(ic_n + 1, to_n + 1) % R, pk.R_AF]
        v = np.concatenate([[0.0], np.cumsum(af) / fs])
        assert s[pk.S_PUSH_MPS] == pytest.approx(v[-1] - v.min(), rel=1e-9, abs=1e-12)
        checked += 1
    assert checked >= 3


def test_flush_emits_the_open_step_once(stream, ref):
    fs = stream[-1]
    whole_stage = PelvisStage(fs)
    run(whole_stage, stream, [len(stream[0])])
    last = whole_stage.flush()
    assert last.shape == (1, pk.N_S)
    assert last[0, pk.S_IC_TUS] == ref[1][-1, 1]  # the last contact decided
    assert last[0, pk.S_END_TUS] == stream[1][-1]
    assert len(whole_stage.flush()) == 0
    chunked = PelvisStage(fs)
    run(chunked, stream, [331, 1, 0, 2048])
    assert np.array_equal(chunked.flush(), last, equal_nan=True)


def test_accelerometer_only_and_two_axes(stream):
    g_steps, _ = whole(stream)
    assert np.isfinite(g_steps[10:, pk.S_DROP_DEG]).all()
    assert np.isfinite(g_steps[20:, pk.S_SWAY_M]).all()  # after the integrators settle
    assert set(g_steps[10:, pk.S_SIDE]) == {0.0, 1.0}
    for x in (
        (*stream[:3], np.full_like(stream[3], np.nan), *stream[4:]),  # no gyro
        (stream[0], stream[1], np.where([True, False, True], stream[2], np.nan),
         np.full_like(stream[3], np.nan), *stream[4:]),  # two axes, no gyro
    ):
        steps, ics = whole(x, gyro=False)
        assert len(ics) >= 0.95 * len(g_steps)
        assert np.all(np.isnan(steps[:, pk.S_DROP_DEG]))
        assert np.all(np.isnan(steps[:, pk.S_SWAY_M]))
        assert np.all(steps[:, pk.S_SIDE] == -1) and np.all(steps[:, pk.S_GYRO] == 0)
        assert np.isnan(steps[:20, pk.S_PUSH_MPS]).all()  # the forward axis is still young
        assert np.isfinite(steps[30:, pk.S_PUSH_MPS]).mean() > 0.8  # running steps


def _gapped(stream, i0, i1, how):
    idx, t, acc, gyr, fl, fs = (v.copy() if isinstance(v, np.ndarray) else v for v in stream)
    if how == "nan":
        acc[i0:i1] = np.nan
        gyr[i0:i1] = np.nan
        return (idx, t, acc, gyr, fl, fs)
    keep = np.ones(len(idx), bool)
    keep[i0:i1] = False
    idx, t, acc, gyr, fl = idx[keep], t[keep], acc[keep], gyr[keep], fl[keep]
    fl[i0] |= SampleFlag.GAP_BEFORE
    return (idx, t, acc, gyr, fl, fs)


@pytest.mark.parametrize("how", ["nan", "dropped"])
def test_no_step_across_a_gap(stream, how):
    fs = stream[-1]
    i0, i1 = int(8.0 * fs), int(8.3 * fs)
    steps, ics = run(PelvisStage(fs), _gapped(stream, i0, i1, how), [777])
    lo, hi = stream[0][i0], stream[0][i1 - 1]
    ic = ics[:, 0]
    assert not np.any((ic >= lo) & (ic <= hi)), "IC inside the gap"
    assert not np.any((ic < lo) & (ics[:, 2] > hi)), "IC decided across the gap"
    # no step spans the gap: a step that began before it was dropped with the cycle
    assert not np.any((steps[:, pk.S_IC_IDX] < lo) & (steps[:, pk.S_EMIT_IDX] > hi))
    prev_before = steps[:, pk.S_PREV_IC_TUS] < stream[1][i0]
    assert not np.any(prev_before & (steps[:, pk.S_IC_IDX] > hi))
    assert np.sum(ic > hi) >= 20  # contacts resume


def test_all_nan_block(stream):
    n = 500
    stg = PelvisStage(stream[-1])
    s, e = stg.step(np.arange(n), np.arange(n) * 1e6 / stream[-1], np.full((n, 3), np.nan),
                    np.full((n, 3), np.nan), np.zeros(n, np.uint8))
    assert len(s) == 0 and len(e) == 0 and len(stg.flush()) == 0


def test_steps_table_and_pipeline(rec, stream):
    steps, _ = whole(stream)
    tab = pelvis_steps_table(steps, time_offset_s=1.5)
    assert list(tab) == list(STEPS.names)
    assert set(tab["placement"]) == {"pelvis"} and set(tab["side"]) <= {"left", "right", ""}
    np.testing.assert_allclose(tab["t_ic_s"], steps[:, pk.S_IC_TUS] * 1e-6 + 1.5)
    ok = np.isfinite(tab["step_ms"])
    assert ok.all() and np.all(tab["step_ms"] > 0)
    np.testing.assert_allclose(tab["cadence_spm"], 60000.0 / tab["step_ms"])
    assert 140 < np.median(tab["cadence_spm"]) < 200  # steps of both legs, not strides
    empty = pelvis_steps_table(np.empty((0, pk.N_S)))
    assert all(len(v) == 0 for v in empty.values())
    pipe = pipeline_for(stream[-1], "pelvis")
    assert isinstance(pipe, PelvisPipeline)
    s = rec.sensors[Placement.PELVIS].samples
    out = pipe.run(s[:len(stream[0])], 1000)
    np.testing.assert_allclose(out.steps["t_ic_s"], tab["t_ic_s"] - 1.5, rtol=0, atol=1e-9)
    assert len(out.ics["t_ic_s"]) == len(whole(stream)[1])
    with pytest.raises(ValueError):
        PelvisPipeline(stream[-1], "left_shin")


def test_accuracy_floor_test_seed(rec):
    """Regression floors on seed 1001 (60 s): contacts, side, pelvic drop (issue bar: RMSE
    ≤ 2° on unseen seeds) and push-off, on steps paired with a true one within 50 ms."""
    s = rec.sensors[Placement.PELVIS]
    pipe = PelvisPipeline(s.fs_hz)
    out = pipe.run(s.samples, 4096)
    tab = {k: np.concatenate([out.steps[k], pipe.flush().steps[k]]) for k in out.steps}
    tr = {k: v[rec.truth["placement"] == "pelvis"] for k, v in rec.truth.items()}
    d = np.abs(tab["t_ic_s"][:, None] - tr["t_ic_s"][None, :])
    j = np.argmin(d, axis=1)
    k = np.flatnonzero(d[np.arange(len(j)), j] <= 0.05)
    j = j[k]
    recall = len(set(j.tolist())) / len(tr["t_ic_s"])
    precision = len(k) / len(tab["t_ic_s"])
    side = np.mean(tab["side"][k] == tr["side"][j])
    e_drop = tab["pelvic_drop_deg"][k] - tr["pelvic_drop_deg"][j]
    e_drop = e_drop[np.isfinite(e_drop)]
    e_push = tab["push_off_mps"][k] - tr["push_off_mps"][j]
    e_push = e_push[np.isfinite(e_push)]
    e_sway = tab["pelvis_sway_m"][k] - tr["pelvis_sway_m"][j]
    e_sway = e_sway[np.isfinite(e_sway)]
    got = {"recall": recall, "precision": precision, "side": side,
           "drop_rmse": float(np.sqrt(np.mean(e_drop ** 2))),
           "push_rmse": float(np.sqrt(np.mean(e_push ** 2))),
           "sway_rmse": float(np.sqrt(np.mean(e_sway ** 2)))}
    assert got["recall"] >= FLOORS["recall"], got
    assert got["precision"] >= FLOORS["precision"], got
    assert got["side"] >= FLOORS["side"], got
    assert len(e_drop) >= 0.9 * len(k) and got["drop_rmse"] <= FLOORS["drop_rmse"], got
    assert len(e_push) >= 0.7 * len(k) and got["push_rmse"] <= FLOORS["push_rmse"], got
    assert len(e_sway) >= 0.85 * len(k) and got["sway_rmse"] <= FLOORS["sway_rmse"], got


# measured on seed 1001 (60 s, 833 Hz): recall 0.987, precision 0.981, side 0.987, pelvic
# drop RMSE 0.29° (150 of 152 steps), push-off RMSE 0.068 m/s (138 of 152), sway RMSE 2.2 mm
# (142 of 152); the floors sit a little below, the limits a little above
FLOORS = {"recall": 0.96, "precision": 0.96, "side": 0.95, "drop_rmse": 0.8,
          "push_rmse": 0.1, "sway_rmse": 0.004}


def _slipped(sm, k: int, m: int, deg: float):
    """The stream with the sensor turning ``deg`` about its x axis over samples k … k+m (the
    gyro sees the turn; m = 0: a jump it does not see) and staying turned."""
    acc, gyr = sm.acc_mps2.copy(), sm.gyr_radps.copy()
    n = len(acc)
    th = np.radians(deg) * np.clip((np.arange(n) - k) / max(m, 1), 0.0, 1.0)
    th[:k] = 0.0
    c, s_ = np.cos(th), np.sin(th)
    # components in the turned frame: R(θ)ᵀ v, R about x; the gyro adds the turn's own rate
    for v in (acc, gyr):
        y, z = v[:, 1].copy(), v[:, 2].copy()
        v[:, 1] = c * y + s_ * z
        v[:, 2] = -s_ * y + c * z
    if m > 0:
        dt = np.diff(sm.t_device_us * 1e-6, prepend=sm.t_device_us[0] * 1e-6 - 1e-3)
        gyr[:, 0] += np.gradient(th) / np.maximum(dt, 1e-6)
    return acc, gyr


@pytest.mark.parametrize("m_s", [0.2, 0.0], ids=["turn", "jump"])
def test_sensor_slipped_flag_and_recovery(rec, m_s):
    """The sensor turns 40° on the waistband mid-run (over 0.2 s, or as a jump the gyro does
    not see): one record says mount_changed, within a few seconds; none before; afterwards
    the side and the pelvic drop are right again."""
    s = rec.sensors[Placement.PELVIS]
    sm = s.samples
    k = int(25.0 * s.fs_hz)
    acc, gyr = _slipped(sm, k, int(m_s * s.fs_hz), 40.0)
    steps, _ = PelvisStage(s.fs_hz).step(sm.sample_idx, sm.t_device_us, acc, gyr, sm.flags)
    tab = pelvis_steps_table(steps)
    flagged = np.flatnonzero(tab["mount_changed"])
    t_k = sm.t_device_us[k] * 1e-6
    assert len(flagged) == 1, tab["t_ic_s"][flagged]
    assert t_k < tab["t_emit_s"][flagged[0]] < t_k + (3.0 if m_s else 10.0)
    tr = {c: v[rec.truth["placement"] == "pelvis"] for c, v in rec.truth.items()}
    # settled again 8 s after the flag (a jump the gyro did not see: its tracked vertical
    # converges over its 6 s memory first, so 15 s)
    late = np.flatnonzero(tab["t_ic_s"] > tab["t_emit_s"][flagged[0]] + (8.0 if m_s else 15.0))
    assert len(late) > 25
    d = np.abs(tab["t_ic_s"][late][:, None] - tr["t_ic_s"][None, :])
    j = np.argmin(d, axis=1)
    assert np.mean(tab["side"][late] == tr["side"][j]) > 0.9
    e = tab["pelvic_drop_deg"][late] - tr["pelvic_drop_deg"][j]
    # (after a jump the new posture's mean still holds the tracked vertical's convergence:
    # 2.3° RMSE 15 s after the flag on this seed)
    assert np.sqrt(np.nanmean(e ** 2)) < (1.5 if m_s else 3.0)


def test_never_slipped_on_a_clean_run(rec):
    s = rec.sensors[Placement.PELVIS]
    sm = s.samples
    steps, _ = PelvisStage(s.fs_hz).step(sm.sample_idx, sm.t_device_us, sm.acc_mps2,
                                         sm.gyr_radps, sm.flags)
    assert len(steps) > 100 and not np.any(steps[:, pk.S_MOUNT_CHANGED])


def _sway_sides(gyr_bias_radps, params, dur_s=240.0):
    """Median sway (m) of left and right steps over the last half of a simulated run with
    ideal sensors but a constant gyro bias."""
    from stridecore.simulate.session import sensor_specs

    specs = sensor_specs(["pelvis"], SEED, fs_hz=208.0, errors=None,
                         gyr_bias_radps=gyr_bias_radps)
    rec = simulate(dur_s, seed=SEED, specs=specs).recording
    sm = rec.sensors[Placement.PELVIS].samples
    steps = PelvisStage(208.0, params).step(sm.sample_idx, sm.t_device_us, sm.acc_mps2,
                                            sm.gyr_radps, sm.flags)[0]
    tab = pelvis_steps_table(steps)
    late = tab["t_ic_s"] > dur_s / 2
    return tuple(float(np.nanmedian(tab["pelvis_sway_m"][late & (tab["side"] == s)]))
                 for s in ("left", "right"))


def test_gyro_bias_is_estimated():
    """A constant gyro bias tilts the tracked vertical by bias × tilt memory; gravity then
    leaks into the lateral axis in every stance, raising one side's sway and lowering the
    other's. The integral term removes it: with 0.02 rad/s on every axis the two sides stay
    within 1.5 mm of the unbiased sensor's (measured 0.2); without the estimate one is
    > 3.5 mm off (measured +5.5 and −4.1)."""
    from stridecore.dsp.pelvis import PelvisParams

    bias = (0.02, 0.02, 0.02)
    ref = np.array(_sway_sides((0.0, 0.0, 0.0), PelvisParams()))
    est = np.array(_sway_sides(bias, PelvisParams()))
    off = np.array(_sway_sides(bias, PelvisParams(gyro_bias_memory_s=0.0)))
    assert np.all(np.abs(est - ref) <= 0.0015), (est, ref)
    assert np.max(np.abs(off - ref)) > 0.0035, (off, ref)
