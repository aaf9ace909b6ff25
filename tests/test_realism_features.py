"""Realism features (stridecore.simulate.realism): known answers on hand-made recordings, and
sane values on the gaitmap, Bach 2022 and Alcantara 2022 reference sets."""

from __future__ import annotations

import numpy as np
import pytest
from datasets_helper import requires_dataset

from stridecore.bench import alcantara, bach, gaitmap
from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import TRUTH, Placement
from stridecore.simulate import realism as R
from stridecore.tables import coerce

G = 9.80665


def _truth(placement: Placement, side: str, ic_s: np.ndarray, to_s: np.ndarray, fs: float,
           *, grade: float = 0.0, speed: float = np.nan, exact: bool = True) -> dict:
    """Truth columns: sample index = ceil(time × fs); t_*_s the exact times if ``exact``."""
    ic_idx = np.ceil(ic_s * fs - 1e-9).astype(np.int64)
    to_idx = np.where(np.isfinite(to_s), np.ceil(np.nan_to_num(to_s) * fs - 1e-9), -1)
    n = len(ic_s)
    return {"placement": [placement.value] * n, "side": [side] * n, "ic_sample_idx": ic_idx,
            "to_sample_idx": to_idx.astype(np.int64),
            "t_ic_s": ic_s if exact else ic_idx / fs,
            "t_to_s": to_s if exact else np.where(to_idx >= 0, to_idx / fs, np.nan),
            "contact_ms": (to_s - ic_s) * 1000.0, "grade_deg": np.full(n, grade),
            "speed_mps": np.full(n, speed), "fs_hz": np.full(n, fs)}


def _rec(streams: dict[Placement, tuple[np.ndarray, np.ndarray | None, float]],
         truths: list[dict], rec_id: str = "sim/x") -> Recording:
    sensors = {pl: SensorStream(pl, fs, make_samples(acc, gyr, fs))
               for pl, (acc, gyr, fs) in streams.items()}
    cols = {k: np.concatenate([np.asarray(t[k]) for t in truths]) for k in truths[0]}
    n = len(cols["ic_sample_idx"])
    cols.update(recording_id=[rec_id] * n, dataset=["sim"] * n, split=["dev"] * n,
                condition=["x"] * n)
    return Recording("sim", rec_id, "dev", "x", sensors, coerce(cols, TRUTH))


# ---------------------------------------------------------------------------- gyro template

FS_FOOT = 200.0
STRIDE_S = 1.05
TO_FRAC = 0.62


def _sagittal(phase: np.ndarray) -> np.ndarray:
    """A walking-like sagittal foot rate (rad/s, toes-up positive) over stride phase 0..1."""
    bump = lambda c, w: np.exp(-0.5 * ((phase - c) / w) ** 2)  # noqa: E731
    return (-4.0 * bump(0.04, 0.025) - 8.0 * bump(TO_FRAC - 0.02, 0.04)
            + 6.0 * bump(0.82, 0.08) - 1.0 * bump(0.98, 0.02))


def _foot_recording(rot: np.ndarray | None = None, sign: float = 1.0, n_strides: int = 12,
                    drop_ic: int | None = None) -> tuple[Recording, np.ndarray]:
    t0 = 0.4
    dur = t0 + n_strides * STRIDE_S + 0.5
    t = np.arange(int(dur * FS_FOOT)) / FS_FOOT
    phase = np.mod(t - t0, STRIDE_S) / STRIDE_S
    w = _sagittal(phase)
    # Sagittal on x, smaller out-of-plane rates on y and z (not proportional to it).
    gyr = np.stack([w, 0.8 * np.sin(2 * np.pi * phase), 0.4 * np.cos(4 * np.pi * phase)], 1)
    gyr = sign * (gyr if rot is None else gyr @ rot.T)
    acc = np.tile([0.0, 0.0, G], (len(t), 1))
    ic = t0 + STRIDE_S * np.arange(n_strides + 1)
    to = ic + TO_FRAC * STRIDE_S
    if drop_ic is not None:
        ic, to = np.delete(ic, drop_ic), np.delete(to, drop_ic)
    truth = _truth(Placement.LEFT_FOOT, "left", ic, to, FS_FOOT)
    return _rec({Placement.LEFT_FOOT: (acc, gyr, FS_FOOT)}, [truth]), _sagittal(
        np.linspace(0, 1, 101))


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_template_recovers_sagittal_waveform_with_swing_positive():
    rec, truth_wave = _foot_recording()
    mean, waves = R.stride_gyro_template(rec, Placement.LEFT_FOOT)
    assert waves.shape == (12, 101) and mean.shape == (101,)
    assert R.waveform_correlation(mean, truth_wave) > 0.98
    assert mean[82] > 0 > mean[60]  # mid-swing positive, push-off negative
    assert np.median(R.template_consistency(waves)) > 0.999


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_template_invariant_to_mounting_rotation_and_sign(seed: int, sign: float):
    ref_mean, ref_waves = R.stride_gyro_template(_foot_recording()[0], Placement.LEFT_FOOT)
    rec, _ = _foot_recording(rot=_rotation(seed), sign=sign)
    mean, waves = R.stride_gyro_template(rec, Placement.LEFT_FOOT)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-9)
    np.testing.assert_allclose(waves, ref_waves, atol=1e-9)


def test_template_sign_does_not_depend_on_to():
    rec, _ = _foot_recording()
    ref, _ = R.stride_gyro_template(rec, Placement.LEFT_FOOT)
    tr = dict(rec.truth)
    tr["to_sample_idx"] = np.full_like(tr["to_sample_idx"], -1)
    tr["t_to_s"] = np.full(len(tr["t_to_s"]), np.nan)
    no_to = Recording(rec.dataset, rec.recording_id, rec.split, rec.condition, rec.sensors, tr)
    np.testing.assert_allclose(R.stride_gyro_template(no_to, Placement.LEFT_FOOT)[0], ref)


def test_missing_contact_drops_the_double_stride():
    rec, _ = _foot_recording(drop_ic=5)
    _, waves = R.stride_gyro_template(rec, Placement.LEFT_FOOT)
    assert len(waves) == 10  # 12 strides, two merged into one that is dropped
    np.testing.assert_allclose(R.stride_times_s(rec, Placement.LEFT_FOOT), STRIDE_S)


def test_template_needs_gyro():
    rec, _ = _foot_recording()
    acc = rec.sensors[Placement.LEFT_FOOT].samples.acc_mps2
    no_gyr = _rec({Placement.LEFT_FOOT: (acc, None, FS_FOOT)}, [rec.truth])
    with pytest.raises(ValueError, match="no gyro"):
        R.stride_gyro_template(no_gyr, Placement.LEFT_FOOT)


def test_waveform_correlation():
    a = np.sin(np.linspace(0, 6, 101))
    assert R.waveform_correlation(a, 2 * a + 3) == pytest.approx(1.0)
    assert R.waveform_correlation(a, -a) == pytest.approx(-1.0)
    assert np.isnan(R.waveform_correlation(a, np.ones(101)))
    with pytest.raises(ValueError):
        R.waveform_correlation(a, a[:50])
    waves = np.stack([a, a, a + 0.1 * np.cos(np.linspace(0, 30, 101))])
    r = R.template_consistency(waves)
    loo = R.template_consistency(waves, leave_one_out=True)
    assert r.shape == (3,) and np.all(r > 0.99) and np.all(loo <= r + 1e-12)


# ---------------------------------------------------------------------------- shank timing

FS_SHANK = 1000.0 / 7.0


def _shank_recording(peak_ms: float = 40.0, stride_s: float = 0.76, contact_ms: float = 300.0,
                     n: int = 20, amp_g: float = 6.0, exact: bool = True,
                     t_offset_s: float = 0.0) -> Recording:
    t0 = 0.3137
    t = np.arange(int((t0 + n * stride_s + 0.5) * FS_SHANK)) / FS_SHANK
    ic = t0 + stride_s * np.arange(n)
    shock = np.zeros(len(t))
    for c in ic:
        shock += amp_g * np.exp(-0.5 * ((t - c - peak_ms / 1000) / 0.012) ** 2)
    # Shock along the tibia (x), gravity −1 g on x as in Bach; tilt the frame arbitrarily.
    acc = np.stack([-(1.0 + shock), 0.05 * np.ones(len(t)), 0.1 * np.ones(len(t))], 1) * G
    acc = acc @ _rotation(7).T
    tr = _truth(Placement.RIGHT_SHIN, "", ic, ic + contact_ms / 1000, FS_SHANK, exact=exact)
    tr["t_ic_s"] = tr["t_ic_s"] + t_offset_s
    return _rec({Placement.RIGHT_SHIN: (acc, None, FS_SHANK)}, [tr])


def test_shank_features_known_answers():
    f = R.shank_running_features(_shank_recording(), Placement.RIGHT_SHIN)
    assert f["stride_s"] == pytest.approx(0.76, abs=1e-9)
    assert f["contact_ms"] == pytest.approx(300.0, abs=1e-6)
    assert f["ic_to_peak_ms"] == pytest.approx(40.0, abs=1.0)  # sub-sample (7 ms) refinement
    assert f["peak_acc_g"] == pytest.approx(7.0, rel=0.03)
    assert (f["n_strides"], f["n_contacts"], f["n_peaks"]) == (19, 20, 20)
    assert f["peak_clipped_frac"] == 0.0


@pytest.mark.parametrize("peak_ms", [25.0, 40.0, 47.0, 60.0])
def test_shank_peak_latency_tracks_truth(peak_ms: float):
    f = R.shank_running_features(_shank_recording(peak_ms=peak_ms), "right_shin")
    assert f["ic_to_peak_ms"] == pytest.approx(peak_ms, abs=1.0)


def test_event_time_refinement_and_fallback():
    # Sample-index ICs (up to 7 ms late) and sub-sample truth times give the same stride time,
    # but the peak latency is only right with the sub-sample times.
    exact = R.shank_running_features(_shank_recording(exact=True), "right_shin")
    coarse = R.shank_running_features(_shank_recording(exact=False), "right_shin")
    assert coarse["ic_to_peak_ms"] < exact["ic_to_peak_ms"] - 1.0
    # A t_ic_s on another time base (1 s off) is ignored in favour of the sample index.
    off = R.shank_running_features(_shank_recording(t_offset_s=1.0), "right_shin")
    assert off["ic_to_peak_ms"] == pytest.approx(coarse["ic_to_peak_ms"])


# ---------------------------------------------------------------------------- slope trend

def _slope_recording(grade: float, speed: float, cadence: float, contact_ms: float,
                     per_foot: bool) -> Recording:
    fs = 500.0
    step = 60.0 / cadence
    ic = 0.2 + step * np.arange(16)
    to = ic + contact_ms / 1000
    n_samp = int((ic[-1] + 1.0) * fs)
    acc = np.tile([0.0, 0.0, G], (n_samp, 1))
    if per_foot:  # left-foot sensor holds the left steps, right-foot sensor the right steps
        pls = {Placement.LEFT_FOOT: (acc, None, fs), Placement.RIGHT_FOOT: (acc, None, fs)}
        truths = [_truth(Placement.LEFT_FOOT, "left", ic[::2], to[::2], fs, grade=grade,
                         speed=speed),
                  _truth(Placement.RIGHT_FOOT, "right", ic[1::2], to[1::2], fs, grade=grade,
                         speed=speed)]
    else:  # one sacral sensor, side unknown
        pls = {Placement.PELVIS: (acc, None, fs)}
        truths = [_truth(Placement.PELVIS, "", ic, to, fs, grade=grade, speed=speed)]
    return _rec(pls, truths, f"sim/{grade:+g}_{speed:g}")


@pytest.mark.parametrize("per_foot", [False, True])
def test_slope_trend_known_answers(per_foot: bool):
    grades = [-10.0, -5.0, 0.0, 5.0, 10.0]
    recs = [_slope_recording(g, sp, 180 + 1.5 * g + 10 * (sp - 3.33), 220 - 0.5 * g, per_foot)
            for sp in (3.33, 4.17) for g in grades]
    tr = R.slope_trend(recs)
    assert tr.speeds() == [3.33, 4.17]
    d = tr.as_dict(3.33)
    assert d["cadence_spm@-10deg"] == pytest.approx(165.0)
    assert d["contact_ms@+5deg"] == pytest.approx(217.5)
    assert d["cadence_rel_level@+10deg"] == pytest.approx(195.0 / 180.0 - 1)
    assert d["cadence_spm_per_deg"] == pytest.approx(1.5)
    assert d["contact_ms_per_deg"] == pytest.approx(-0.5)
    assert (d["cadence_spm_sign"], d["contact_ms_sign"]) == (1.0, -1.0)
    assert tr.as_dict(4.17)["cadence_spm@+0deg"] == pytest.approx(188.4)
    assert np.all(tr.rows["n_trials"] == 1)


def test_step_ic_times_merges_sensors_seeing_the_same_step():
    rec = _slope_recording(0.0, 3.33, 180.0, 220.0, per_foot=False)
    both = _rec({Placement.PELVIS: (rec.sensors[Placement.PELVIS].samples.acc_mps2, None, 500.0),
                 Placement.LEFT_FOOT: (rec.sensors[Placement.PELVIS].samples.acc_mps2, None,
                                       500.0)},
                [rec.truth, {**rec.truth, "placement": np.full(16, "left_foot", object)}])
    np.testing.assert_allclose(R.step_ic_times(both), R.step_ic_times(rec))
    assert R.step_features(both)["cadence_spm"] == pytest.approx(180.0)


def test_trend_rows_tolerance_from_real_uncertainty():
    grades = [-10.0, -5.0, 0.0, 5.0, 10.0]
    noise = [0.0, 3.0, -3.0, 3.0, 0.0]  # contact slope −0.1 ms/° buried in ±3 ms noise
    real = R.slope_trend([_slope_recording(g, 3.33, 180 + 1.5 * g, 220 - 0.1 * g + e, False)
                          for g, e in zip(grades, noise, strict=True)])
    sim = R.slope_trend([_slope_recording(g, 3.33, 180 + 1.2 * g, 220 + 0.1 * g, False)
                         for g in grades])
    rows = {q: (rel, ok) for q, _, _, rel, ok in R.trend_rows(real, sim)}
    assert rows["cadence_spm_per_deg"] == (pytest.approx(-0.2), False)
    assert rows["cadence_spm_sign"][1]
    assert rows["contact_ms_per_deg"][1]  # within 2 SE of a slope the real data cannot fix
    assert "contact_ms_sign" not in rows


# ---------------------------------------------------------------------------- compare rows

def test_compare_rows():
    real = {"stride_s": 0.78, "contact_ms": 310.0, "peak_acc_g": 10.5, "n_strides": 137,
            "name": "bach", "x_sign": 1.0, "zero": 0.0}
    sim = {"stride_s": 0.80, "contact_ms": 250.0, "peak_acc_g": 6.0, "n_strides": 40,
           "name": "sim", "x_sign": -1.0, "zero": 0.0}
    rows = R.compare_rows(real, sim)
    assert [r[0] for r in rows] == ["stride_s", "contact_ms", "peak_acc_g", "x_sign", "zero"]
    _, r, s, rel, ok = rows[0]
    assert (r, s, ok) == (0.78, 0.80, True) and rel == pytest.approx(0.02 / 0.78)
    assert rows[1][4] is False and rows[3][4] is False and rows[4][4] is True
    sel = R.compare_rows(real, sim, keys=R.SHANK_COMPARED[:2], tol_rel={"contact_ms": 0.25})
    assert [(q, ok) for q, *_, ok in sel] == [("stride_s", True), ("contact_ms", True)]
    with pytest.raises(KeyError):
        R.compare_rows(real, sim, keys=["name"])
    text = R.format_rows(rows, "bach")
    assert text.splitlines()[0] == "bach" and "NO" in text and "+2.6%" in text


# ---------------------------------------------------------------------------- real sets

@requires_dataset(gaitmap.FOLDER)
def test_gaitmap_reference():
    ref = R.gaitmap_reference()
    print({k: v for k, v in ref.items() if k not in ("mean", "per_foot", "strides")})
    for pl in ("left_foot", "right_foot"):
        assert 1.0 <= ref["stride_s"][pl] <= 1.2
        assert ref["n_strides"][pl] >= 25
        assert ref["self_r_median"][pl] > 0.9
        mean = ref["per_foot"][pl]
        assert mean[70:95].mean() > 0 > mean[55:66].mean()  # swing positive, push-off negative
    assert ref["self_r_median"]["pooled"] > 0.98  # measured 0.992 (leave-one-out 0.992)
    assert ref["left_vs_right_r"] > 0.98  # mirrored mounts, same template: measured 0.993


@requires_dataset(bach.FOLDER)
def test_bach_reference():
    ref = R.bach_reference()
    p = ref["pooled"]
    print(p, ref["per_runner"], ref["trial_range"])
    assert len(ref["per_trial"]) == 7 and sorted(ref["per_runner"]) == [1, 2, 3, 4]
    assert 0.73 <= p["stride_s"] <= 0.80  # measured 0.787 s
    # 50 N truth: 20–40 ms longer than the README's ≈200 N 0.24–0.29 s; measured 310 ms.
    assert 280.0 <= p["contact_ms"] <= 330.0
    assert 30.0 <= p["ic_to_peak_ms"] <= 50.0  # measured 41.1 ms (README: ≈40 ms)
    assert p["peak_acc_g"] > 7.0 and p["peak_clipped_frac"] > 0.5  # clipped: not compared
    # Trial 13 (runner 3) is the README's late-peak outlier.
    assert ref["per_trial"]["bach/trial_13"]["ic_to_peak_ms"] > 50.0


@requires_dataset(alcantara.FOLDER)
def test_alcantara_reference():
    ref = R.alcantara_reference()
    assert ref.speeds() == [2.5, 3.33, 4.17]
    d = ref.as_dict(3.33)
    print({k: round(v, 4) for k, v in d.items()})
    # Measured: cadence rises with grade at every speed (3.33 m/s: 171 spm at −10°, 195 at 0°,
    # 211 at +10°; +1.77 ± 0.24 spm/°), i.e. lower downhill than uphill.
    for sp in ref.speeds():
        ds = ref.as_dict(sp)
        assert ds["cadence_spm_sign"] == 1.0
        assert ds["cadence_spm@-10deg"] < ds["cadence_spm@+0deg"] < ds["cadence_spm@+10deg"]
    assert 1.0 < d["cadence_spm_per_deg"] < 2.5
    # Contact time: +0.73 ± 0.52 ms/° at 3.33 m/s (positive at every speed but within 2 SE
    # of zero, not monotonic: 216, 212, 224, 236, 222 ms from −10° to +10°).
    assert d["contact_ms_sign"] == 1.0
    assert 200.0 < d["contact_ms@+0deg"] < 250.0
    fits = ref.fits
    i = np.flatnonzero((fits["speed_mps"] == 3.33) & (fits["quantity"] == "contact_ms"))[0]
    assert abs(fits["per_deg"][i]) < 2 * fits["se_per_deg"][i]
