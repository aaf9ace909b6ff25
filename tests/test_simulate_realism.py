"""Issue 3's realism numbers: the simulator against real recordings (skips without the data).

The full tables over more seeds are `benchmarks/sim_realism.py`, results in
`benchmarks/RESULTS.md`."""

import numpy as np
import pytest
from datasets_helper import requires_dataset

from stridecore.bench import alcantara, bach, gaitmap
from stridecore.schema import Placement
from stridecore.simulate import realism as R


@requires_dataset(gaitmap.FOLDER)
@pytest.mark.parametrize("seed", [0, 1001])
def test_walking_foot_gyro_waveform_matches_gaitmap(seed):
    # stance and swing normalised separately: the gaitmap subject's toe-off is at 67 % of the
    # stride, the simulated walker's at 60 % (Perry: 60–62 %); linear IC→IC r is reported by
    # benchmarks/sim_realism.py
    ref = R.gaitmap_reference(to_frac=0.6)
    rec = R.sim_gaitmap_like(seed)
    for pl in (Placement.LEFT_FOOT, Placement.RIGHT_FOOT):
        m, waves = R.stride_gyro_template(rec, pl, to_frac=0.6)
        assert len(waves) >= 20
        assert R.waveform_correlation(m, ref["mean"]) >= 0.9


@requires_dataset(bach.FOLDER)
@pytest.mark.parametrize("seed", [0, 1001])
def test_shank_running_stride_and_contact_match_bach(seed):
    ref = R.bach_reference()["pooled"]
    sim = R.shank_running_features(R.sim_bach_like(seed), Placement.RIGHT_SHIN)
    rows = R.compare_rows(ref, sim, 0.10, ["stride_s", "contact_ms"])
    assert all(r[4] for r in rows), R.format_rows(rows)


def test_bach_rule_on_simulated_force_finds_every_contact():
    # the like-for-like events: Bach's frozen 50 N rule on the two-mass vGRF of the simulated
    # steps finds each touchdown once, within about a sample of it (the force starts from zero
    # at touchdown; the centred 30 ms average can pull the crossing of a fast rise up to half
    # a 7 ms sample before it), and each lift-off before it (the force tapers to zero)
    ses = R.sim_bach_session(0)
    geo = R.contacts(ses.recording, Placement.RIGHT_SHIN)
    rule = R.contacts(R.force_rule_recording(ses), Placement.RIGHT_SHIN)
    assert len(rule.ic_s) == len(geo.ic_s)
    d_ic = (rule.ic_s - geo.ic_s) * 1e3
    assert np.all((d_ic > -3.5) & (d_ic < 10.0)), d_ic
    assert np.median(d_ic) > 0.0
    d_to = (rule.to_s - geo.to_s) * 1e3
    d_to = d_to[np.isfinite(d_to)]
    assert np.all((d_to < 0.0) & (d_to > -25.0)), d_to


@requires_dataset(bach.FOLDER)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shank_impact_peak_timing_matches_bach(seed):
    # like-for-like: IC by Bach's 50 N rule on the simulated force; the impact peak's timing
    # (render.HEEL_IMPACT_PEAK_FRAC) comes from Bach's dev runners only (persons 1–2)
    ref = R.bach_reference()["pooled"]
    rec = R.force_rule_recording(R.sim_bach_session(seed), Placement.RIGHT_SHIN)
    sim = R.shank_running_features(rec, Placement.RIGHT_SHIN)
    rows = R.compare_rows(ref, sim, 0.10, ["ic_to_peak_ms"])
    assert all(r[4] for r in rows), R.format_rows(rows)


@requires_dataset(alcantara.FOLDER)
def test_slope_trend_follows_alcantara():
    real = R.alcantara_reference().as_dict()
    sim = R.slope_trend(R.sim_alcantara_like(0)).as_dict()
    grades = (-10, -5, 0, 5, 10)
    # cadence: lower downhill, higher uphill, in the same order of grades as the real trials
    rc = [real[f"cadence_spm@{g:+d}deg"] for g in grades]
    sc = [sim[f"cadence_spm@{g:+d}deg"] for g in grades]
    assert np.array_equal(np.argsort(rc), np.argsort(sc))
    assert np.sign(sim["cadence_spm_per_deg"]) == np.sign(real["cadence_spm_per_deg"]) == 1
    # contact time barely changes with slope in both (within ±10 % of level at every grade)
    for g in (-10, -5, 5, 10):
        assert abs(real[f"contact_rel_level@{g:+d}deg"]) < 0.10
        assert abs(sim[f"contact_rel_level@{g:+d}deg"]) < 0.10
