"""Loaders and frozen truth rules of the Marpino, Tan and Grouvel sets (docs/datasets/*.md).

The rule tests run everywhere (synthetic traces, hand-computed); the dataset tests skip where
../shared/datasets is absent. Hashes pin the truth: a change to a rule must change its
RULE_VERSION, the pinned hash and the counts in the docs together.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from datasets_helper import requires_dataset

from stridecore.bench import grouvel, marpino, tan
from stridecore.bench.datasets import LOADERS
from stridecore.bench.truth import truth_hash
from stridecore.schema import TRUTH, Landing, Placement
from stridecore.tables import concat

# ---------------------------------------------------------------- rules on synthetic data


def _synthetic_pressure() -> tuple[np.ndarray, np.ndarray]:
    """Toe and heel counts at 100 Hz: standing, swing, heel-first step, swing, toe-first step."""
    toe = np.full(400, 100.0)
    heel = np.full(400, 100.0)
    heel[0:50] = 1000.0  # standing on the heel from the start
    heel[100:150] = 1000.0  # step 1: heel at 100 ...
    toe[105:170] = 1000.0  # ... toe at 105, unloaded from 170
    toe[250:320] = 1000.0  # step 2: toe at 250 ...
    heel[253:320] = 1000.0  # ... heel at 253, unloaded from 320
    return toe, heel


def test_marpino_rule_on_a_hand_computed_trace() -> None:
    # Sum: baseline P5 = 200, loaded P98 = 2000 -> lower level 380, confirm level 740.
    toe, heel = _synthetic_pressure()
    got = marpino.foot_contacts(toe, heel, 100.0)
    assert [(c.ic, c.to) for c in got] == [(100, 170), (250, 320)]
    # Onsets: each channel's P5-P98 range is 900 -> onset at +90 over its pre-IC minimum.
    assert [(c.heel_onset, c.toe_onset) for c in got] == [(100, 105), (253, 250)]
    assert [c.landing for c in got] == [Landing.HEEL, Landing.FOREFOOT]


def test_marpino_rule_swing_gate() -> None:
    toe, heel = _synthetic_pressure()
    assert marpino.foot_contacts(toe, heel, 100.0, np.zeros(400, bool)) == []
    moved = np.zeros(400, bool)
    moved[60] = True  # a swing before step 1 only: step 2 continues contact 1 ...
    got = marpino.foot_contacts(toe, heel, 100.0, moved)
    assert [(c.ic, c.to) for c in got] == [(100, -1)]  # ... 2.2 s > MAX_CONTACT_S: no TO
    got = marpino.foot_contacts(toe, heel, 200.0, moved)  # the same samples at 200 Hz: 1.1 s
    assert [(c.ic, c.to) for c in got] == [(100, 320)]


def test_marpino_rule_last_step_into_standing_has_no_toe_off() -> None:
    toe, heel = _synthetic_pressure()
    heel[253:] = 1000.0  # step 2 stays loaded to the end
    got = marpino.foot_contacts(toe, heel, 100.0)
    assert [(c.ic, c.to) for c in got] == [(100, 170), (250, -1)]


def test_marpino_landing_proxy() -> None:
    assert marpino.landing_proxy(10, 12) == Landing.HEEL
    assert marpino.landing_proxy(10, 11) == Landing.MIDFOOT
    assert marpino.landing_proxy(12, 10) == Landing.FOREFOOT
    assert marpino.landing_proxy(-1, 10) == Landing.FOREFOOT
    assert marpino.landing_proxy(10, -1) == Landing.HEEL


def test_tan_knee_angle_from_a_marker_triple() -> None:
    hip, knee = np.array([0.0, 0.0, 1000.0]), np.array([0.0, 0.0, 500.0])
    straight = np.array([0.0, 0.0, 0.0])
    bent = knee + 500.0 * np.array([0.0, -math.sin(math.radians(30)), -math.cos(math.radians(30))])
    assert tan.knee_flexion_deg(hip, knee, straight)[0] == pytest.approx(0.0, abs=1e-9)
    assert tan.knee_flexion_deg(hip, knee, bent)[0] == pytest.approx(30.0)
    # A lateral (x) offset of the trochanter leaves the sagittal angle alone, not the 3-D one.
    wide = hip + np.array([80.0, 0.0, 0.0])
    assert tan.knee_flexion_deg(wide, knee, bent)[0] == pytest.approx(30.0)
    assert tan.knee_flexion_deg(wide, knee, bent, plane=None)[0] > 30.0
    heel, toe = np.zeros(3), np.array([0.0, 100.0, 100.0 * math.tan(math.radians(20))])
    assert tan.sagittal_pitch_deg(heel, toe)[0] == pytest.approx(20.0)


def test_grouvel_insole_rule_on_a_hand_computed_trace() -> None:
    f = np.array([300, 300, 40, 0, 0, 600, 800, 100, 40, 0, 0, 20, 60, 150, 0, 0, 500, 900])
    # Standing at 0-1; step at 5 (TO 8); 12-13 never reaches 200 N; step at 16 runs to the end.
    assert grouvel.insole_contacts(f) == [(5, 8), (16, -1)]
    assert grouvel.insole_contacts(np.array([0, 60, 0, 0, 900, 900, 0])) == [(4, 6)]
    assert grouvel.strike_landing(20.0) == Landing.HEEL
    assert grouvel.strike_landing(50.0) == Landing.MIDFOOT
    assert grouvel.strike_landing(70.0) == Landing.FOREFOOT


def test_registered() -> None:
    assert {"marpino", "tan", "grouvel"} <= set(LOADERS)
    for mod in (marpino, tan, grouvel):
        assert mod.RULE_VERSION == 1 and mod.RULE and mod.SPLIT_RULE and mod.FOLDER


# ---------------------------------------------------------------- the real sets

# Frozen truth (RULE_VERSION 1): hash over all truth rows of the set, and counts per split:
# (recordings, foot contacts, truth rows). The same numbers are in docs/datasets/<name>.md.
PINNED = {
    "marpino": ("d48e2cdb5318463d", {"dev": (48, 699, 2097), "test": (16, 180, 540)}),
    "tan": ("50d920a5108c970c", {"dev": (10, 10, 30), "test": (10, 10, 30)}),
    "grouvel": ("ced0c76f45529321", {"dev": (10, 141, 404), "test": (10, 115, 345)}),
}
CONTACT_MS = {"marpino": (300.0, 2000.0), "tan": (500.0, 800.0), "grouvel": (150.0, 1100.0)}
MODULES = {"marpino": marpino, "tan": tan, "grouvel": grouvel}
_CACHE: dict[str, list] = {}


def _recordings(name: str) -> list:
    if name not in _CACHE:
        _CACHE[name] = list(MODULES[name].load())
    return _CACHE[name]


def _params():
    return [pytest.param(n, marks=requires_dataset(MODULES[n].FOLDER), id=n) for n in MODULES]


@pytest.mark.parametrize("name", _params())
def test_counts_and_hash(name: str) -> None:
    recs = _recordings(name)
    pinned_hash, counts = PINNED[name]
    got = {}
    for split in ("dev", "test"):
        rs = [r for r in recs if r.split == split]
        feet = sum(int(np.isin(r.truth["placement"], ["left_foot", "right_foot"]).sum())
                   for r in rs)
        got[split] = (len(rs), feet, sum(len(r.truth["recording_id"]) for r in rs))
    assert got == counts
    assert truth_hash(concat([r.truth for r in recs], TRUTH)) == pinned_hash


@pytest.mark.parametrize("name", _params())
def test_truth_is_well_formed(name: str) -> None:
    lo_ms, hi_ms = CONTACT_MS[name]
    for r in _recordings(name):
        t = r.truth
        assert set(TRUTH.names) <= set(t)
        assert set(t["recording_id"]) <= {r.recording_id}
        assert set(t["split"]) <= {r.split} and r.split in ("dev", "test")
        keys = list(zip(t["placement"], t["t_ic_s"], strict=True))
        assert keys == sorted(keys), r.recording_id
        for p in set(t["placement"]):
            m = t["placement"] == p
            st = r.sensors[Placement(p)]
            n = len(st.samples)
            ic, to = t["ic_sample_idx"][m], t["to_sample_idx"][m]
            assert np.all((ic >= 0) & (ic < n)) and np.all(np.diff(ic) > 0), (r.recording_id, p)
            assert np.all((to == -1) | ((to > ic) & (to < n)))
            assert np.all(t["fs_hz"][m] == st.fs_hz)
            assert set(t["side"][m]) == {Placement(p).side.value}
            # the sample index points at the truth time on that sensor's own clock
            ts = st.samples.t_device_us[ic] / 1e6
            assert np.all(np.abs(ts - t["t_ic_s"][m]) <= 0.5 / st.fs_hz + 1e-9)
        c = t["contact_ms"][np.isfinite(t["contact_ms"])]
        assert np.all((c >= lo_ms) & (c <= hi_ms)), (r.recording_id, c.min(), c.max())
        assert set(t["gait_mode"]) <= {"walk", "run"}
        assert set(t["landing"]) <= {x.value for x in Landing}


@pytest.mark.parametrize("name", _params())
def test_units_still_gravity(name: str) -> None:
    for r in _recordings(name):
        for p, st in r.sensors.items():
            s = st.samples
            assert s.acc_mps2.shape == (len(s), 3) and np.isfinite(s.acc_mps2).all()
            assert np.all(np.diff(s.t_device_us) > 0)
            if name == "tan":  # windows start in swing: use the right foot in mid-stance
                if p != Placement.RIGHT_FOOT:
                    continue
                i, o = int(r.truth["ic_sample_idx"][0]), int(r.truth["to_sample_idx"][0])
                still = slice(i + (o - i) * 2 // 5, i + (o - i) * 3 // 5)
            else:  # the recordings start standing
                still = slice(0, max(5, int(0.4 * st.fs_hz)))
            acc = np.median(np.linalg.norm(s.acc_mps2[still], axis=1))
            gyr = np.median(np.linalg.norm(s.gyr_radps[still], axis=1))
            assert 9.0 < acc < 10.6, (r.recording_id, p, acc)
            assert gyr < 1.0, (r.recording_id, p, gyr)


@requires_dataset(tan.FOLDER)
def test_tan_knee_values_are_walking_like() -> None:
    t = concat([r.truth for r in _recordings("tan")], TRUTH)
    assert np.all((t["knee_ic_deg"] > 0) & (t["knee_ic_deg"] < 20))
    assert np.all((t["knee_peak_deg"] > 15) & (t["knee_peak_deg"] < 30))
    assert np.all(t["knee_peak_deg"] > t["knee_ic_deg"])
    assert set(t["landing"]) == {"heel"}


@requires_dataset(marpino.FOLDER)
def test_marpino_left_foot_imu_at_50_hz_in_some_files() -> None:
    rates = {r.recording_id: r.sensors[Placement.LEFT_FOOT].fs_hz for r in _recordings("marpino")}
    assert set(rates.values()) == {50.0, 100.0}
    assert rates["marpino/Young__20180518_1"] == 50.0
    assert rates["marpino/Young__20180621_1"] == 100.0
