"""The two-mass vertical GRF model (Clark, Ryan & Weyand 2017) of stridecore.simulate.grf."""

import numpy as np
import pytest

from stridecore.schema import Placement
from stridecore.simulate import grf
from stridecore.simulate import realism as R
from stridecore.simulate.render import IMPACT_PEAK_MAX_S

MASS_KG = 70.0
G = grf.G_MPS2


def _steady_run(n_steps=20, contact_s=0.25, step_s=0.35, dv_mps=1.5, dt1_s=0.05, dt_s=1e-4):
    """Alternating feet of a steady run (both feet's force added), on a fine time grid."""
    ic = 0.1 + np.arange(n_steps) * step_s
    t = np.arange(0.0, ic[-1] + step_s + 0.1, dt_s)
    f = grf.two_mass_vgrf_n(t, ic, contact_s, step_s, MASS_KG, dt1_s, dv_mps)
    return t, f, ic


def test_step_impulse_is_body_weight_times_step_time():
    t, f, ic = _steady_run()
    dt = t[1] - t[0]
    # each contact's impulse is m·g·(contact + aerial) ...
    per = [f[(t >= a) & (t < a + 0.35)].sum() * dt for a in ic]
    assert np.allclose(per, MASS_KG * G * 0.35, rtol=0.01)
    # ... so over whole steps the mean force is body weight (within 5 %)
    w = (t >= ic[0]) & (t < ic[-1] + 0.35)
    assert f[w].mean() == pytest.approx(MASS_KG * G, rel=0.05)


def test_force_is_zero_outside_contact_and_starts_from_zero():
    t, f, ic = _steady_run(n_steps=3, step_s=0.35, contact_s=0.25)
    assert np.all(f >= 0.0)
    for a in ic:
        assert np.all(f[(t < a) & (t > a - 0.1)] == 0.0)  # flight
        assert np.all(f[(t > a + 0.25) & (t < a + 0.35)] == 0.0)
        k = int(np.searchsorted(t, a))
        assert f[k + 10] < 0.02 * MASS_KG * G  # 1 ms after touchdown: < 2 % of body weight


def test_rear_foot_impact_peak_in_literature_range():
    # heel-strike running at ~3 m/s: a distinct vertical impact peak some 20–40 ms after
    # touchdown (Cavanagh & Lafortune 1980, J Biomech 13:397; Lieberman et al. 2010, Nature
    # 463:531), then the active peak of ~2.5–2.8 body weights near mid-stance
    t, f, ic = _steady_run(n_steps=1, contact_s=0.25, step_s=0.35, dv_mps=1.5, dt1_s=0.05)
    tp, fp = grf.impact_peak(t, f, ic[0])
    assert 0.020 <= tp <= 0.040
    active = f.max() / (MASS_KG * G)
    assert fp / (MASS_KG * G) < active
    assert 2.2 <= active <= 3.0
    t_active = t[int(np.argmax(f))] - ic[0]
    assert 0.40 * 0.25 <= t_active <= 0.55 * 0.25
    # a faster impact (shorter Δt1) peaks earlier
    t, f, ic = _steady_run(n_steps=1, contact_s=0.25, step_s=0.35, dv_mps=1.5, dt1_s=0.04)
    assert grf.impact_peak(t, f, ic[0])[0] < tp


def test_impact_impulse_is_the_lower_limb_stopping():
    imp = grf.contact_impulses(np.array([0.25]), np.array([0.35]), MASS_KG,
                               np.array([0.05]), np.array([1.5]))
    m1 = grf.M1_FRACTION * MASS_KG
    assert imp.j1_ns[0] == pytest.approx(m1 * (1.5 + G * 0.05))
    assert imp.j1_ns[0] + imp.j2_ns[0] == pytest.approx(imp.j_total_ns[0])
    # the raised-cosine bells carry exactly those impulses
    t = np.linspace(-0.01, 0.3, 300001)
    f1 = grf.raised_cosine(t, imp.a1_n[0], 0.025, 0.025)
    b2 = grf.B2_FRACTION * 0.25
    f2 = grf.raised_cosine(t, imp.a2_n[0], b2, b2, 0.25 - b2)
    dt = t[1] - t[0]
    assert f1.sum() * dt == pytest.approx(imp.j1_ns[0], rel=1e-4)
    assert f2.sum() * dt == pytest.approx(imp.j2_ns[0], rel=1e-4)


def test_simulated_runner_force_carries_body_weight():
    ses = R.sim_bach_session(0, duration_s=20.0)
    f, inp = R.sim_contact_forces(ses, Placement.RIGHT_SHIN)
    assert len(f) == len(ses.recording.sensors[Placement.RIGHT_SHIN].samples.t_device_us)
    # one leg carries half the steps: its mean force is half body weight (sampled at 7 ms)
    t = ses.specs[0].t_true_s(np.arange(len(f)))
    w = (t >= inp.t_ic_s[1]) & (t < inp.t_ic_s[-1])
    assert f[w].mean() == pytest.approx(0.5 * R.BODY_MASS_KG * G, rel=0.05)
    # Δt1 = twice the impact-peak time: ≤ 2 × 50 ms (Nigg's impact window)
    assert np.all((inp.impact_dt_s > 0.03) & (inp.impact_dt_s <= 2 * IMPACT_PEAK_MAX_S))
    # Δv1: the lower limb's speed lost in the impact, ~1 m/s at 8 km/h
    assert np.all((inp.impact_dv_mps > 0.3) & (inp.impact_dv_mps < 2.0))
