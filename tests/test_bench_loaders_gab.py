"""Loaders and frozen truth of the gaitmap, Alcantara 2022 and Bach 2022 sets (docs/datasets/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets_helper import requires_dataset

from firmware_protocol.batch import SampleFlag
from stridecore.bench import alcantara, bach, gaitmap
from stridecore.bench.datasets import LOADERS, dataset_dir
from stridecore.bench.recording import Recording
from stridecore.bench.truth import truth_hash
from stridecore.schema import LANDING_CUTOFFS, TRUTH, Placement
from stridecore.tables import concat

G = 9.80665

# Frozen numbers, the same as in docs/datasets/<name>.md. A change here is a rule change:
# bump the module's RULE_VERSION and say why in the doc.
EXPECTED = {
    "gaitmap": {"hash": "ceba2838ee47ed28", "recordings": {"dev": 1, "test": 1},
                "contacts": {("dev", "walk"): 29, ("test", "walk"): 30}, "no_to": 2},
    "alcantara": {"hash": "e60a8308cdb6966e", "recordings": {"dev": 21, "test": 10},
                  "contacts": {("dev", "run"): 328, ("test", "run"): 160}, "no_to": 22},
    "bach": {"hash": "0a788135dc32f8ae", "recordings": {"dev": 9, "test": 9},
             "contacts": {("dev", "run"): 125, ("dev", "walk"): 125, ("test", "run"): 19,
                          ("test", "walk"): 128}, "no_to": 9},
}
CONTACT_MS = {"walk": (550.0, 900.0), "run": (150.0, 400.0)}


def _load(mod) -> list[Recording]:
    return list(mod.load())


@pytest.fixture(scope="module")
def gm() -> list[Recording]:
    return _load(gaitmap)


@pytest.fixture(scope="module")
def alc() -> list[Recording]:
    return _load(alcantara)


@pytest.fixture(scope="module")
def bch() -> list[Recording]:
    return _load(bach)


def _check_counts_and_hash(name: str, recs: list[Recording]) -> None:
    exp = EXPECTED[name]
    truth = concat([r.truth for r in recs], TRUTH)
    for split, n in exp["recordings"].items():
        assert sum(r.split == split for r in recs) == n, split
    got = {}
    for split, mode in exp["contacts"]:
        got[(split, mode)] = int(((truth["split"] == split) & (truth["gait_mode"] == mode)).sum())
    assert got == exp["contacts"]
    assert len(truth["recording_id"]) == sum(exp["contacts"].values())
    assert int((truth["to_sample_idx"] < 0).sum()) == exp["no_to"]
    assert truth_hash(truth) == exp["hash"]


def _check_truth_shape(recs: list[Recording]) -> None:
    ids = [r.recording_id for r in recs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for r in recs:
        t = r.truth
        assert set(TRUTH.names) <= set(t)
        assert set(t["recording_id"]) == {r.recording_id}
        assert set(t["split"]) == {r.split} and r.split in ("dev", "test")
        assert set(t["dataset"]) == {r.dataset}
        for p, s in r.sensors.items():
            m = t["placement"] == p.value
            ic, to = t["ic_sample_idx"][m], t["to_sample_idx"][m]
            n = len(s.samples)
            assert np.all(np.diff(ic) > 0) and ic.min() >= 1 and ic.max() < n
            has = to >= 0
            assert np.all(has[:-1]), "only the last contact may lack a TO"
            assert np.all(to[has] > ic[has]) and np.all(to[has] < n)
            assert np.all(ic[1:] > to[:-1]), "next IC after the previous TO"
            fs = s.fs_hz
            assert np.allclose(t["fs_hz"][m], fs)
            # times sit within one sample of the indices (interpolated crossings are earlier)
            assert np.all(np.abs(t["t_ic_s"][m] - ic / fs) <= 1.0 / fs + 1e-9)
            assert np.all(np.abs(t["t_to_s"][m][has] - to[has] / fs) <= 1.0 / fs + 1e-9)
            assert np.all(np.isnan(t["t_to_s"][m][~has]))
            assert np.allclose(t["contact_ms"][m][has],
                               1000 * (t["t_to_s"][m][has] - t["t_ic_s"][m][has]))
        assert np.all(np.isin(t["placement"], [p.value for p in r.sensors]))
        for mode in set(t["gait_mode"]):
            lo, hi = CONTACT_MS[mode]
            ct = t["contact_ms"][t["gait_mode"] == mode]
            assert np.nanmin(ct) > lo and np.nanmax(ct) < hi, (r.recording_id, mode)


def test_registered():
    assert {"gaitmap", "alcantara", "bach"} <= set(LOADERS)
    # gaitmap v2 (was 78645ed87ac25a7f as v1): + mocap heel–toe strike angle and landing
    for mod, version in ((gaitmap, 2), (alcantara, 1), (bach, 1)):
        assert mod.RULE_VERSION == version and mod.RULE and mod.SPLIT_RULE and mod.FOLDER


# --- gaitmap ------------------------------------------------------------------------------

@requires_dataset(gaitmap.FOLDER)
def test_gaitmap_counts_hash_and_shape(gm):
    # README: 57 strides (min-vel to min-vel) = 57 contacts with IC and TO (pre_ic, tc)
    # plus each foot's last ic, whose TO fell outside the excerpt → 59 contacts, 2 without TO.
    _check_counts_and_hash("gaitmap", gm)
    _check_truth_shape(gm)
    assert [r.split for r in gm] == ["dev", "test"]
    assert [next(iter(r.sensors)) for r in gm] == [Placement.LEFT_FOOT, Placement.RIGHT_FOOT]
    assert all(set(r.truth["side"]) == {p.side.value} for r in gm for p in r.sensors)


@requires_dataset(gaitmap.FOLDER)
def test_gaitmap_units_and_frame(gm):
    raw = gaitmap._read_imu(dataset_dir(gaitmap.FOLDER) / "imu_sample_not_rotated.csv.gz")
    for r in gm:
        s = next(iter(r.sensors.values()))
        still = slice(0, int(0.5 * s.fs_hz))  # the subject stands still for the first ~0.6 s
        assert np.median(np.linalg.norm(s.samples.acc_mps2[still], axis=1)) == pytest.approx(
            G, abs=0.3)
        assert np.median(np.linalg.norm(s.samples.gyr_radps[still], axis=1)) < 0.05
        assert 5.0 < np.abs(s.samples.gyr_radps).max() < 20.0  # swing peaks ~600 deg/s
        # not rotated: exactly the recorded channels, deg → rad
        x = raw[f"{r.meta['foot']}_sensor"]
        assert np.array_equal(s.samples.acc_mps2, x[:, :3])
        assert np.allclose(s.samples.gyr_radps, np.deg2rad(x[:, 3:]))
        clipped = (s.samples.flags & SampleFlag.CLIPPED_ACC) != 0
        assert clipped.sum() == r.meta["n_clipped_acc"] and 0 < clipped.sum() < 10


@requires_dataset(gaitmap.FOLDER)
def test_gaitmap_event_file_index_matches_imu(gm):
    # the rotated and unrotated files are the same rows (same norms), so stride_events
    # indices (made on the rotated file) apply to the unrotated samples unchanged
    d = dataset_dir(gaitmap.FOLDER)
    rot = gaitmap._read_imu(d / "imu_sample.csv.gz")
    for r in gm:
        s = next(iter(r.sensors.values()))
        a = rot[f"{r.meta['foot']}_sensor"][:, :3]
        assert len(a) == len(s.samples)
        assert np.allclose(np.linalg.norm(a, axis=1), np.linalg.norm(s.samples.acc_mps2, axis=1))


@requires_dataset(gaitmap.FOLDER)
def test_gaitmap_strike_angle_truth(gm):
    # RULE_VERSION 2: heel–toe marker pitch at IC minus its median at 30–50 % of the contact.
    # Level walking at normal speed: every contact with a TO is a heel strike; the lowest
    # (9.5°, right foot at 17.9 s) is the pivot step of the turn.
    for r in gm:
        t = r.truth
        a, has = t["strike_angle_deg"], t["to_sample_idx"] >= 0
        assert np.isfinite(a[has]).all() and np.isnan(a[~has]).all(), r.recording_id
        assert 10.0 <= np.median(a[has]) <= 30.0, r.recording_id
        assert a[has].min() > LANDING_CUTOFFS.heel_above_deg and a[has].max() < 35.0
        assert set(t["landing"][has]) == {"heel"} and set(t["landing"][~has]) == {""}
        assert list(t["landing"][has]) == [LANDING_CUTOFFS.classify(x).value for x in a[has]]
        # level floor: the world angle is the ground angle
        assert np.array_equal(t["strike_angle_world_deg"], a, equal_nan=True)
        assert np.all(t["grade_deg"] == 0.0)


@requires_dataset(gaitmap.FOLDER)
def test_gaitmap_mocap_time_base_and_vertical_axis(gm):
    d = dataset_dir(gaitmap.FOLDER)
    mocap = gaitmap._read_mocap(d / "mocap_sample.csv.gz")
    events = gaitmap._read_events(d / "stride_events_sample.csv.gz")
    n_frames = len(mocap["L_FCC"])
    assert n_frames == 3870
    # same test span: 3,870 frames at 100 Hz against 7,928 samples at 204.8 Hz
    assert abs(n_frames / gaitmap.MOCAP_HZ - len(next(iter(gm[0].sensors.values())).samples)
               / gaitmap.FS_HZ) < 0.02
    # the events were whole mocap frames × 2.048, rounded: back on the frame grid within
    # the rounding (0.5 / 2.048 = 0.244 frames), i.e. no offset between the time bases
    for k in ("pre_ic", "tc", "ic", "min_vel"):
        f = events[k] * gaitmap.MOCAP_HZ / gaitmap.FS_HZ
        assert np.abs(f - np.round(f)).max() <= 0.5 * gaitmap.MOCAP_HZ / gaitmap.FS_HZ + 1e-9
    frames = np.arange(n_frames)
    for r in gm:
        m = r.meta["foot"][0].upper()
        heel, toe = mocap[f"{m}_FCC"], mocap[f"{m}_TOE"]
        # z is vertical: heel and toe stay near the floor while flat, lift 10–30 cm in swing
        ic, to = r.truth["ic_sample_idx"], r.truth["to_sample_idx"]
        f_ic, f_to = (x[:-1] * gaitmap.MOCAP_HZ / gaitmap.FS_HZ for x in (ic, to))
        flat = np.concatenate([frames[(frames >= a + 0.3 * (b - a)) & (frames <= a + 0.5 * (b - a))]
                               for a, b in zip(f_ic, f_to, strict=True)])
        for mk in (heel, toe):
            assert 20.0 < mk[flat, 2].min() and mk[flat, 2].max() < 80.0
            assert 100.0 < np.ptp(mk[:, 2]) < 300.0
        assert np.ptp(heel[:, 0]) > 15_000.0  # x: along the walkway (20 m)
        # independent of the event file: mocap pitch rate follows the IMU's sagittal gyro z
        # best at zero lag (mocap interpolated at the IMU sample times shifted by ±lag)
        phi = gaitmap.heel_toe_pitch(toe, heel)
        w = np.gradient(phi, 1.0 / gaitmap.MOCAP_HZ)
        s = next(iter(r.sensors.values()))
        gz = np.rad2deg(s.samples.gyr_radps[:, 2])
        t_imu = np.arange(len(gz)) / gaitmap.FS_HZ
        r_early, r_0, r_late = (
            abs(np.corrcoef(np.interp(t_imu + lag, frames / gaitmap.MOCAP_HZ, w), gz)[0, 1])
            for lag in (-0.02, 0.0, 0.02))
        assert r_0 > 0.95 and r_0 > max(r_early, r_late), (r_early, r_0, r_late)


# --- Alcantara ----------------------------------------------------------------------------

@requires_dataset(alcantara.FOLDER)
def test_alcantara_counts_hash_and_shape(alc):
    # README/paper: "≈13 contacts" per 5 s trial; the force gives 12–20 ICs per trial
    # (2.5–3.9 steps/s × 4.96 s), 488 in all; 22 trials end in stance (IC without TO).
    _check_counts_and_hash("alcantara", alc)
    _check_truth_shape(alc)
    assert len(alc) == 31
    per = [len(r.truth["ic_sample_idx"]) for r in alc]
    assert min(per) == 12 and max(per) == 20
    assert all(set(r.truth["side"]) == {""} for r in alc)
    for split in ("dev", "test"):
        slopes = {r.meta["slope_deg"] for r in alc if r.split == split}
        assert slopes == {-10.0, -5.0, 0.0, 5.0, 10.0}, split
    assert {r.meta["speed_mps"] for r in alc if r.split == "dev"} == {3.33}


@requires_dataset(alcantara.FOLDER)
def test_alcantara_units_axes(alc):
    for r in alc:
        s = r.sensors[Placement.PELVIS]
        acc = s.samples.acc_mps2
        assert np.isnan(acc[:, 1]).all() and np.isnan(s.samples.gyr_radps).all()
        assert np.isfinite(acc[:, [0, 2]]).all()
        vert = acc[:, 2]
        assert vert.min() == 0.0  # negatives clipped to 0 by the authors
        # g units with gravity: whole-trial mean ≈ 1 g (clipping lifts it a little)
        assert 0.95 * G < vert.mean() < 1.3 * G, r.recording_id
        # aerial phase reads ≈ 0 (free fall): gravity is in the channel
        grf = alcantara.load_grf()[int(r.recording_id[-2:]) - 1]
        assert np.median(vert[grf < 0.02]) < 0.3 * G


@requires_dataset(alcantara.FOLDER)
def test_alcantara_rule_on_force(alc):
    grf = alcantara.load_grf()
    for k, r in enumerate(alc):
        t = r.truth
        ic, to = t["ic_sample_idx"], t["to_sample_idx"]
        assert np.all(grf[k][ic] > 0.05) and np.all(grf[k][ic - 1] <= 0.05)
        has = to >= 0
        assert np.all(grf[k][to[has]] <= 0.05) and np.all(grf[k][to[has] - 1] > 0.05)
        for i, j in zip(ic, np.where(has, to, grf.shape[1]), strict=True):
            assert grf[k][i:j].min() > 0.05 and grf[k][i:j].max() >= 0.2


# --- Bach ---------------------------------------------------------------------------------

@requires_dataset(bach.FOLDER)
def test_bach_counts_hash_and_shape(bch):
    # README: 144 running ICs by the relative (12.5 %) rule; the 50 N rule finds the same 144
    # (and 253 walking), 9–11 ms earlier. 146 running TCs: 4 leading TCs are dropped (no IC).
    _check_counts_and_hash("bach", bch)
    _check_truth_shape(bch)
    assert len(bch) == 18
    runs = {r.meta["trial"] for r in bch if r.condition.startswith("run")}
    assert runs == {1, 2, 7, 8, 9, 13, 15}
    person_of = {r.meta["trial"]: r.meta["person"] for r in bch}
    assert {person_of[t] for t in (1, 2)} == {1} and {person_of[t] for t in (7, 8, 9)} == {2}
    assert person_of[13] == 3 and person_of[15] == 4
    assert {r.split for r in bch if r.meta["person"] in (1, 2)} == {"dev"}
    assert {r.split for r in bch if r.meta["person"] in (3, 4, 5)} == {"test"}
    assert all(set(r.truth["side"]) == {""} for r in bch)


@requires_dataset(bach.FOLDER)
def test_bach_units_axes_clipping(bch):
    for r in bch:
        s = r.sensors[Placement.RIGHT_SHIN]
        acc = s.samples.acc_mps2
        assert np.isnan(s.samples.gyr_radps).all() and s.acc_range_g == 8.0
        assert np.allclose(np.round(acc / G * 64), acc / G * 64)  # 1/64 g steps
        if r.condition.startswith("walk"):
            assert 0.95 * G < np.median(np.linalg.norm(acc, axis=1)) < 1.3 * G, r.recording_id
        clipped = (s.samples.flags & SampleFlag.CLIPPED_ACC) != 0
        assert clipped.sum() == r.meta["n_clipped_acc"]
        assert (clipped.sum() > 0) == (r.meta["trial"] in (1, 2, 7, 8, 9, 15))
        # vertical axis x reads ≈ -1 g on average except in the flipped-mount trials
        assert r.meta["acc_x_sign"] == (1 if r.meta["trial"] in (14, 15, 17, 18) else -1)


@requires_dataset(bach.FOLDER)
def test_bach_50n_rule_rederived_from_raw_force(bch):
    d = dataset_dir(bach.FOLDER)
    ref = bach.read_events(d)
    for r in bch:
        _, vgrf = bach.read_trial(r.meta["trial"])
        mine = bach.events_50n(vgrf)
        theirs = ref[r.meta["trial"]]
        assert [k for k, _ in mine] == [k for k, _, _ in theirs]
        assert max(abs(i - j) for (_, i), (_, j, _) in zip(mine, theirs, strict=True)) <= 1
        s = bach.stance_force(vgrf)
        for _, i, t in theirs:  # interpolated crossing times agree too (file has 5 decimals)
            t_mine = (i - 1 + (bach.THRESHOLD_N - s[i - 1]) / (s[i] - s[i - 1])) / bach.FS_HZ
            assert t_mine == pytest.approx(t, abs=1e-5)
        # truth = reference events: IC sample at/above 50 N on the smoothed force
        ic = r.truth["ic_sample_idx"]
        assert np.all(s[ic] >= bach.THRESHOLD_N) and np.all(s[ic - 1] < bach.THRESHOLD_N)


@requires_dataset(gaitmap.FOLDER)
def test_plot_truth_writes_png(gm, tmp_path):
    from stridecore.bench.plot import plot_truth

    out = plot_truth(gm[0], tmp_path / "x.png", 2.0, 2.0, placement="left_foot",
                     reference=("ref", np.arange(100) / 25.0, np.zeros(100)))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no sensor"):
        plot_truth(gm[0], tmp_path / "y.png", 2.0, 2.0, placement="right_foot")


@pytest.mark.parametrize("mod", [gaitmap, alcantara, bach], ids=lambda m: m.NAME)
def test_docs_carry_the_frozen_rule(mod):
    doc = (Path(__file__).parents[1] / "docs" / "datasets" / f"{mod.NAME}.md").read_text()

    def norm(s: str) -> str:
        return " ".join(s.replace("`", "").replace("*", "").replace("−", "-").split())

    assert norm(mod.RULE) in norm(doc)
    assert norm(mod.SPLIT_RULE) in norm(doc)
    assert f"RULE_VERSION = {mod.RULE_VERSION}" in doc
    assert EXPECTED[mod.NAME]["hash"] in doc
