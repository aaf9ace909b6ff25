"""The session model: route, runner, faults, closed loop and session scripts write valid,
deterministic, lazily planned gait plans with the trends the literature reports."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridecore.schema import Cue, Fault, GaitMode, Side, Terrain
from stridecore.simulate.plan import FAULTS, GAIT_MODES, SIDES, TERRAINS, fault_mask, validate
from stridecore.simulate.profiles import (
    KEY_DESCENT,
    PROFILES,
    default_session,
    get_profile,
    make_runner,
    steady_runner,
)
from stridecore.simulate.route import Route, Section, deg_to_pct, pct_to_deg
from stridecore.simulate.runner import (
    CORRECTED,
    CORRECTS,
    CUE_FOR_FAULT,
    IGNORED,
    NOT_PRESENT,
    CueResponse,
    FaultEpisode,
    Runner,
    corrective_cue,
)

RUN = GAIT_MODES.index(GaitMode.RUN)
WALK = GAIT_MODES.index(GaitMode.WALK)
CLEAN = dataclasses.replace(PROFILES["trail"], name="clean", triggers=())


def bit(plan: np.ndarray, fault: Fault) -> np.ndarray:
    return (plan["faults"] & fault_mask(fault)) != 0


def steady_stats(grade_deg: float, profile=CLEAN, seed: int = 1, t_s: float = 240.0,
                 terrain: Terrain = Terrain.DIRT) -> dict[str, float]:
    r = steady_runner(profile, deg_to_pct(grade_deg), terrain, seed)
    p = r.plan_until(t_s)
    e = r.extras
    keep = p["t_ic_s"] > 30.0  # past the start-up
    p, e = p[keep], e[keep]
    return dict(
        run=float(np.mean(p["gait_mode"] == RUN)),
        cadence=60.0 / float(np.mean(e["step_s"])),
        step=float(np.mean(e["step_length_m"])),
        step_cv=float(np.std(e["step_s"]) / np.mean(e["step_s"])),
        contact=float(np.mean(p["contact_s"])),
        strike=float(np.mean(p["strike_angle_deg"])),
        strike_sd=float(np.std(p["strike_angle_deg"])),
        heel=float(np.mean(p["strike_angle_deg"] > 8.0)),
        knee_ic=float(np.mean(p["knee_ic_deg"])),
        knee_peak=float(np.mean(p["knee_peak_deg"])),
        roll=float(np.mean(p["roll_s"])),
        impact=float(np.mean(p["impact_scale"])),
        speed=float(np.mean(p["speed_mps"])),
    )


# --- route ------------------------------------------------------------------------------


def test_route_smooth_grade_and_exact_height():
    r = Route([Section(100, 0.0), Section(50, -30.0, Terrain.ROCKY), Section(200, 15.0,
               Terrain.SOFT), Section(80, -8.0, Terrain.PAVED)], transition_m=20.0, seed=3)
    x = np.linspace(-10, 500, 20001)
    g = r.grade_pct(x)
    assert g.min() >= -30 - 1e-9 and g.max() <= 15 + 1e-9
    assert np.max(np.abs(np.diff(g))) < 0.2  # no jumps: blends over 20 m
    assert np.max(np.abs(np.gradient(r.height_m(x), x) * 100 - g)) < 0.01  # z' = grade
    # scalar path = array path
    for xi in (-5.0, 95.0, 100.0, 125.0, 149.0, 151.0, 349.0, 480.0):
        assert r.grade_pct(xi) == pytest.approx(float(r.grade_pct(np.array([xi]))[0]))
        assert r.height_m(xi) == pytest.approx(float(r.height_m(np.array([xi]))[0]))
    assert r.grade_deg(125.0) == pytest.approx(pct_to_deg(-30.0))
    assert [r.terrain(v) for v in (50, 120, 200, 400)] == [
        Terrain.DIRT, Terrain.ROCKY, Terrain.SOFT, Terrain.PAVED]
    assert r.length_m == 430


def test_route_roughness_by_terrain_and_deterministic():
    rough = Route([Section(500, -5.0, Terrain.ROCKY)], seed=4)
    paved = Route([Section(500, -5.0, Terrain.PAVED)], seed=4)
    xs = np.arange(0, 500, 1.1)

    def dev(r: Route) -> tuple[float, float]:
        ff = np.array([r.footfall(float(v)) for v in xs])
        return (float(np.std(ff[:, 0] - r.height_m(xs))),
                float(np.std(ff[:, 1] - r.grade_deg(xs))))

    (zr, gr), (zp, gp) = dev(rough), dev(paved)
    assert 0.02 < zr < 0.06 and 3.0 < gr < 7.0
    assert zp < 0.005 and gp < 0.5
    again = Route([Section(500, -5.0, Terrain.ROCKY)], seed=4)
    assert rough.footfall(123.4) == again.footfall(123.4)


def test_random_route_deterministic_within_limits():
    a, b = Route.random(7, 3000.0), Route.random(7, 3000.0)
    assert a.sections == b.sections and a.length_m >= 3000.0
    assert Route.random(8).sections != a.sections
    g = np.array([s.grade_pct for s in a.sections])
    assert g.min() >= -30 and g.max() <= 15
    with pytest.raises(ValueError):
        Route([Section(10, -40.0)])


# --- determinism, laziness, validity -----------------------------------------------------


def test_deterministic_for_a_seed():
    a = make_runner("trail", 120.0, seed=5).plan_until(1e9)
    b = make_runner("trail", 120.0, seed=5).plan_until(1e9)
    c = make_runner("trail", 120.0, seed=6).plan_until(1e9)
    assert np.array_equal(a, b)
    assert a.size != c.size or not np.array_equal(a, c)


@settings(max_examples=25)
@given(st.lists(st.floats(0.0, 12.0), min_size=1, max_size=25), st.integers(0, 3))
def test_lazy_plan_equals_one_call_and_never_changes(increments, seed):
    lazy = make_runner("novice", 90.0, seed)
    t, previous = 0.0, np.zeros(0, dtype=lazy.plan.dtype)
    for dt in increments:
        t += dt
        got = lazy.plan_until(t)
        assert np.array_equal(got[: previous.size], previous)  # returned rows never change
        after = np.sum(got["t_ic_s"] > t)
        assert after >= lazy.lookahead_rows or lazy.finished
        assert np.all(got["t_ic_s"][: got.size - after] <= t)
        previous = got
    once = make_runner("novice", 90.0, seed).plan_until(t)
    assert np.array_equal(once, previous)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_default_sessions_validate(name):
    r = make_runner(name, 600.0, seed=2)
    p = r.plan_until(1e9)
    validate(p)
    assert r.finished and p["t_ic_s"][-1] <= 600.0
    assert np.all(np.diff(p["side"]) != 0)  # legs alternate
    d = np.diff(p["x_ic_m"])
    assert np.all(d > 0.2) and np.all(d < 2.5)  # step lengths (m)
    assert np.all((p["roll_s"] > 0) & (p["roll_s"] < p["contact_s"]))
    assert np.all(p["pelvic_drop_deg"] > 0) and np.all(p["impact_scale"] > 0)
    run = p["gait_mode"] == RUN
    assert np.all(p["contact_s"][run] < np.diff(p["t_ic_s"], append=np.inf)[run])  # flight


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ValueError, match=r"known: .*novice.*trail"):
        make_runner("sprinter")
    with pytest.raises(ValueError, match="forefoot"):
        get_profile("x")


def test_delay_shorter_than_lookahead_is_refused():
    with pytest.raises(ValueError, match="delay_steps"):
        Runner(CLEAN, Route.constant(0.0), response=CueResponse(delay_steps=3))
    with pytest.raises(ValueError, match="lookahead"):
        Runner(CLEAN, Route.constant(0.0), lookahead_rows=3)


# --- grade, terrain and fatigue trends -----------------------------------------------------


def test_descent_vs_flat():
    flat, down = steady_stats(0.0), steady_stats(-10.0)
    assert flat["run"] == down["run"] == 1.0
    assert 160 < flat["cadence"] < 180 and 0.22 < flat["contact"] < 0.28
    assert -8.0 < 100 * (down["cadence"] / flat["cadence"] - 1) < -2.0  # a few % lower
    assert down["heel"] > flat["heel"] + 0.2  # more heel strikes (Vernillo 2017)
    assert down["knee_ic"] < flat["knee_ic"] - 4  # straighter at contact
    assert down["knee_peak"] > flat["knee_peak"] + 5  # more stance flexion
    assert abs(down["contact"] / flat["contact"] - 1) < 0.05  # contact time ~unchanged
    # the plan's impact scale has no grade term: the renderer's impact model has it
    # (+54 % at −9°, Gottschall & Kram 2005; test_impact_sizes_follow_the_literature), and
    # the same factor in both compounded to 100–300 g foot peaks on steep descents
    assert abs(down["impact"] / flat["impact"] - 1) < 0.05


def test_knee_at_nine_percent_downhill():
    s = steady_stats(pct_to_deg(-9.0))
    assert 15.5 < s["knee_ic"] < 18.5 and 40 < s["knee_peak"] < 46  # ~17° / ~43°


def test_uphill_shorter_steps_and_novice_walks_steep_climbs():
    flat, up = steady_stats(0.0), steady_stats(5.0)
    assert up["run"] == 1.0 and up["step"] < 0.9 * flat["step"]
    assert up["speed"] < flat["speed"]
    novice = dataclasses.replace(PROFILES["novice"], walk_break_every_s=math.inf)
    steep = steady_stats(pct_to_deg(15.0), profile=novice)
    assert steep["run"] == 0.0 and steep["contact"] > 0.5
    assert steady_stats(pct_to_deg(6.0), profile=novice)["run"] == 1.0


def test_terrain_landing_and_variability():
    dirt = steady_stats(0.0)
    rocky = steady_stats(0.0, terrain=Terrain.ROCKY)
    soft = steady_stats(0.0, terrain=Terrain.SOFT)
    assert rocky["strike"] < -1.6 < dirt["strike"]  # guide: forefoot on rocky ground
    assert rocky["step_cv"] > 1.8 * dirt["step_cv"] and rocky["strike_sd"] > 1.5 * dirt[
        "strike_sd"]
    assert soft["roll"] > 1.2 * dirt["roll"] and soft["strike"] > dirt["strike"]
    assert soft["impact"] < dirt["impact"]


def test_fatigue_drift_over_the_last_third():
    r = Runner(CLEAN, Route.constant(0.0, 4000.0), 3, duration_s=900.0)
    p = r.plan_until(1e9)
    early, late = p[p["t_ic_s"] < 550], p[p["t_ic_s"] > 840]
    flex = lambda q: np.mean(q["knee_peak_deg"] - q["knee_ic_deg"])  # noqa: E731
    assert flex(late) < 0.8 * flex(early)  # Mizrahi 2000
    # impact rises on tired legs only through the profile's labelled hard-landing trigger
    assert np.mean(late["impact_scale"]) == pytest.approx(np.mean(early["impact_scale"]),
                                                          rel=0.05)
    assert np.all(r.extras["fatigue"][p["t_ic_s"] < 600] == 0)


def test_tired_legs_land_harder_as_a_labelled_fault():
    """The trail runner's impact rises with fatigue (Mizrahi 2000: +61 %) on descents, and
    every row of that rise carries the hard-landing bit: no unlabelled hard landing."""
    r = Runner(PROFILES["trail"], Route.constant(-10.0, 6000.0), 3, duration_s=900.0)
    p = r.plan_until(1e9)
    run = p["gait_mode"] == GAIT_MODES.index(GaitMode.RUN)
    hl = (p["faults"] & fault_mask(Fault.HARD_LANDING)) != 0
    early = run & (p["t_ic_s"] < 550)
    late = run & (p["t_ic_s"] > 840)
    assert hl[late].all() and not hl[early].any()
    assert np.mean(p["impact_scale"][late]) > 1.4 * np.mean(p["impact_scale"][early])
    tired_clean = run & ~hl & (p["t_ic_s"] > 600)
    assert np.mean(p["impact_scale"][tired_clean]) < 1.1 * np.mean(p["impact_scale"][early])


def test_left_right_asymmetry():
    p = steady_runner("novice", 0.0, seed=2).plan_until(200.0)
    left = p["side"] == 0
    assert np.mean(p["pelvic_drop_deg"][left]) - np.mean(p["pelvic_drop_deg"][~left]) > 1.0
    assert np.mean(p["contact_s"][left]) > np.mean(p["contact_s"][~left])


# --- default session ---------------------------------------------------------------------


def _runs(mask: np.ndarray, t: np.ndarray, gap: int = 1) -> list[float]:
    """Durations (s) of runs of True in ``mask``, bridging gaps of up to ``gap`` rows."""
    out, start, last = [], None, None
    for i, m in enumerate(mask):
        if m:
            if start is None or i - last > gap + 1:
                if start is not None:
                    out.append(t[last] - t[start])
                start = i
            last = i
    if start is not None:
        out.append(t[last] - t[start])
    return out


def test_default_session_contents():
    r = make_runner("trail", 600.0, seed=0)
    p = r.plan_until(1e9)
    e = r.extras
    t = p["t_ic_s"]
    g = r.route.grade_deg(p["x_ic_m"])
    assert {TERRAINS[i] for i in np.unique(p["terrain"])} == set(Terrain)
    labels = np.array([r.stages[i].label for i in e["stage"]])
    flat_walk = (p["gait_mode"] == WALK) & (np.abs(g) < 2) & (labels == "walk_break")
    assert max(_runs(flat_walk, t)) > 15.0  # a walk break
    assert max(_runs(g < -5.0, t)) > 30.0  # a descent
    assert max(_runs(g > 4.5, t)) > 30.0  # a climb
    drill = e["drill"]
    assert np.any(drill & (p["gait_mode"] == WALK)) and np.any(drill & (p["gait_mode"] == RUN))
    assert np.all(g[drill] < -2.0) and np.median(g[drill]) < -5.5  # walk-run drill, 10–15 %
    assert np.all(p["knee_peak_deg"][drill & (p["gait_mode"] == RUN)] > 30)  # soft knees
    # faults appear and fade
    for f in (Fault.HIP_DROP, Fault.TORSO_SWAY, Fault.SLOW_ROLL, Fault.NO_PUSH_OFF):
        b = bit(p, f)
        assert np.any(np.diff(b.astype(int)) == 1) and np.any(np.diff(b.astype(int)) == -1)
        assert 0 < np.mean(b) < 0.25
    hd = bit(p, Fault.HIP_DROP)
    assert set(p["side"][hd]) == {SIDES.index(Side.RIGHT)}  # scheduled on the right leg
    assert np.mean(p["pelvic_drop_deg"][hd]) > 8 > np.mean(p["pelvic_drop_deg"][~hd])
    # fault levels ramp over several steps
    lv = r.fault_levels[:, FAULTS.index(Fault.TORSO_SWAY)]
    assert np.any((lv > 0.1) & (lv < 0.9))
    # fatigue only in the last third
    assert np.all(e["fatigue"][t < 400] == 0) and e["fatigue"][-1] > 0.95


@settings(max_examples=12)
@given(st.floats(60.0, 900.0), st.integers(0, 50), st.sampled_from(sorted(PROFILES)))
def test_any_duration_has_a_descent_with_a_persistent_fault(duration, seed, name):
    r = make_runner(name, duration, seed)
    p = r.plan_until(1e9)
    assert p["t_ic_s"][-1] <= duration
    desc = r.route.grade_deg(p["x_ic_m"]) < -3.0
    best = max(max(_runs(desc & bit(p, f), p["t_ic_s"]), default=0.0) for f in Fault)
    assert best >= 8.0
    key = next(s for s in r.stages if s.label == KEY_DESCENT)
    assert key.faults  # scheduled, not left to chance


def test_session_script_depends_on_seed_only():
    a, b = default_session(300.0, 9), default_session(300.0, 9)
    assert a.stages == b.stages and a.episodes == b.episodes
    assert a.route.sections == b.route.sections
    with pytest.raises(ValueError):
        default_session(30.0, 1)


# --- closed loop -------------------------------------------------------------------------


def cue_runner(p: float, relapse_s: float = 30.0, seed: int = 0, **kw) -> Runner:
    resp = CueResponse(p_correct=p, delay_steps=5, relapse_s=relapse_s, relapse_jitter=0.0,
                       **kw)
    return Runner(CLEAN, Route.constant(0.0, 30000.0), seed,
                  episodes=[FaultEpisode(Fault.HIP_DROP, 5.0, 1e9)], response=resp)


def test_cued_fault_disappears_after_d_steps_until_relapse():
    r = cue_runner(1.0)
    before = r.plan_until(40.0)
    rec = r.cue(Cue.HIPS_LEVEL, 40.0)
    p = r.plan_until(200.0)
    assert np.array_equal(p[: before.size], before)  # the cue changed no planned row
    k = rec.row_idx
    assert p["t_ic_s"][k - 1] <= 40.0 < p["t_ic_s"][k]
    assert rec.outcome == CORRECTED and rec.present == (Fault.HIP_DROP,)
    assert rec.effect_idx == k + 5 >= before.size
    hd = bit(p, Fault.HIP_DROP)
    assert np.all(hd[20:k + 5])  # still there during the delay
    assert rec.effect_t_s == p["t_ic_s"][k + 5]
    assert rec.relapse_t_s == pytest.approx(rec.effect_t_s + 30.0)
    away = (p["t_ic_s"] >= rec.effect_t_s) & (p["t_ic_s"] < rec.relapse_t_s)
    assert not np.any(hd[away])
    assert np.mean(p["pelvic_drop_deg"][away]) < 7.0
    back = p["t_ic_s"] > rec.relapse_t_s + 3.0
    assert np.all(hd[back])  # relapse: the episode is still on
    assert r.cue_log == [rec]


def test_p_zero_never_corrects():
    r = cue_runner(0.0)
    for t in (40.0, 70.0, 100.0):
        r.plan_until(t)
        r.cue(Cue.HIPS_LEVEL, t)
    p = r.plan_until(150.0)
    assert np.all(bit(p, Fault.HIP_DROP)[p["t_ic_s"] > 8.0])
    assert [c.outcome for c in r.cue_log] == [IGNORED] * 3


def test_cue_for_an_absent_fault_and_per_fault_p():
    r = cue_runner(0.0, p_by_fault={Fault.HIP_DROP: 1.0})
    r.plan_until(20.0)
    assert r.cue(Cue.SOFTEN_KNEES, 20.0).outcome == NOT_PRESENT
    assert r.cue(Fault.HIP_DROP, 20.0).outcome == CORRECTED  # a Fault works as a cue
    assert r.cue("hips_level", 20.5).outcome == "pending"  # correction on its way
    p = r.plan_until(40.0)
    assert not np.any(bit(p, Fault.HIP_DROP)[p["t_ic_s"] > 25.0])


def test_one_sided_fault_is_present_whichever_leg_landed_last():
    r = Runner(CLEAN, Route.constant(0.0), 0, response=CueResponse(p_correct=0.0),
               episodes=[FaultEpisode(Fault.HIP_DROP, 5.0, 1e9, Side.RIGHT)])
    for t in np.arange(20.0, 25.0, 0.13):
        r.plan_until(t)
        assert r.cue(Cue.HIPS_LEVEL, float(t)).outcome == IGNORED
    p = r.plan
    assert set(p["side"][bit(p, Fault.HIP_DROP)]) == {SIDES.index(Side.RIGHT)}


def test_correction_rate_matches_p():
    r = cue_runner(0.6, relapse_s=6.0, seed=11)
    for t in np.arange(30.0, 30.0 + 20.0 * 200, 20.0):
        r.plan_until(t)
        r.cue(Cue.HIPS_LEVEL, float(t))
    outcomes = [c.outcome for c in r.cue_log]
    assert set(outcomes) <= {CORRECTED, IGNORED}
    assert outcomes.count(CORRECTED) / len(outcomes) == pytest.approx(0.6, abs=0.08)


def test_praise_is_logged_as_deserved_or_not_and_delays_relapse():
    r = cue_runner(1.0, relapse_s=30.0)
    r.plan_until(20.0)
    assert r.cue("praise", 20.0).outcome == "praise"  # plain strings work too
    assert r.cue(Cue.PRAISE, 20.0).deserved is False
    rec = r.cue(Cue.HIPS_LEVEL, 20.0)
    r.plan_until(30.0)
    relapse = rec.relapse_t_s
    praise = r.cue(Cue.PRAISE, 30.0)
    assert praise.deserved is True
    assert rec.relapse_t_s == pytest.approx(30.0 + (relapse - 30.0) * 1.5)


def test_quicker_steps_raise_cadence_downhill():
    resp = CueResponse(p_correct=1.0, delay_steps=5, relapse_s=math.inf)
    r = steady_runner(CLEAN, deg_to_pct(-10.0), seed=4, response=resp)
    r.plan_until(60.0)
    rec = r.cue(Cue.QUICKER_STEPS, 60.0)
    assert rec.outcome == NOT_PRESENT and rec.cadence_boost  # no overstride, still quicker
    t = r.plan_until(120.0)["t_ic_s"]
    e = r.extras
    before = 60 / np.mean(e["step_s"][(t > 30) & (t < 60)])
    after = 60 / np.mean(e["step_s"][t > 65])
    assert 1.04 < after / before < 1.09  # Heiderscheit 2011: +5–10 %


def test_context_fault_on_steep_descent_is_cued_away():
    trail = PROFILES["trail"]
    prone = dataclasses.replace(trail, triggers=tuple(
        dataclasses.replace(tr, probability=1.0) for tr in trail.triggers))
    r = steady_runner(prone, deg_to_pct(-12.0), seed=1,
                      response=CueResponse(p_correct=1.0, relapse_s=math.inf))
    p = r.plan_until(30.0)
    both = bit(p, Fault.HEEL_STRIKE) & bit(p, Fault.LOCKED_KNEE)
    assert not np.any(both[:10]) and np.all(both[20:])  # appears after ~10 steps in
    assert np.mean(p["strike_angle_deg"][both]) > 15
    assert np.mean(p["knee_peak_deg"][both]) < 30  # the guide's soft knee is 30–45°
    r.cue(corrective_cue(Fault.HEEL_STRIKE), 30.0)
    r.cue(Cue.SOFTEN_KNEES, 30.0)
    p = r.plan_until(90.0)
    later = p["t_ic_s"] > 36.0
    assert not np.any(bit(p, Fault.HEEL_STRIKE)[later] | bit(p, Fault.LOCKED_KNEE)[later])
    assert np.mean(p["knee_peak_deg"][later]) > 40


@pytest.mark.parametrize("fault", list(Fault))
def test_fault_signatures(fault):
    """Same seed, same noise: the episode's rows differ from a clean twin only by the fault."""
    route = Route.constant(deg_to_pct(-6.0), 3000.0)
    clean = Runner(CLEAN, route, 8).plan_until(150.0)
    r = Runner(CLEAN, route, 8, episodes=[FaultEpisode(fault, 30.0, 1e9)])
    p = r.plan_until(150.0)
    on, ref = p[p["t_ic_s"] > 40.0], clean[clean["t_ic_s"] > 40.0]
    assert np.all(bit(on, fault)) and not np.any(bit(ref, fault))
    assert set(np.unique(on["faults"])) == {fault_mask(fault)}

    def m(q: np.ndarray, col: str) -> float:
        return float(np.mean(q[col]))

    cad = lambda q: 60.0 / float(np.mean(np.diff(q["t_ic_s"])))  # noqa: E731
    if fault is Fault.LOCKED_KNEE:
        assert m(on, "knee_ic_deg") < m(ref, "knee_ic_deg") - 6
        assert m(on, "knee_peak_deg") < 30 < m(ref, "knee_peak_deg")
        assert m(on, "impact_scale") > 1.2 * m(ref, "impact_scale")
    elif fault is Fault.HEEL_STRIKE:
        assert m(on, "strike_angle_deg") > 18 and np.mean(on["strike_angle_deg"] > 15) > 0.9
        assert m(on, "roll_s") > m(ref, "roll_s")
    elif fault is Fault.OVERSTRIDE:
        assert cad(on) < 0.95 * cad(ref)
        assert np.mean(np.diff(on["x_ic_m"])) > 1.04 * np.mean(np.diff(ref["x_ic_m"]))
        assert m(on, "strike_angle_deg") > m(ref, "strike_angle_deg") + 5
        assert m(on, "push_off_mps") < 0.8 * m(ref, "push_off_mps")
        assert m(on, "impact_scale") > m(ref, "impact_scale")
    elif fault is Fault.HIP_DROP:
        assert m(on, "pelvic_drop_deg") > 8 > m(ref, "pelvic_drop_deg")
    elif fault is Fault.TORSO_SWAY:
        assert m(on, "trunk_sway_deg") > 2 * m(ref, "trunk_sway_deg")
    elif fault is Fault.NO_PUSH_OFF:
        assert m(on, "push_off_mps") < 0.05 < 0.15 < m(ref, "push_off_mps")
    elif fault is Fault.HARD_LANDING:
        assert m(on, "impact_scale") == pytest.approx(1.6 * m(ref, "impact_scale"), rel=0.02)
    elif fault is Fault.SLOW_ROLL:
        assert m(on, "roll_s") > 2 * m(ref, "roll_s")
    unchanged = {Fault.HIP_DROP: "trunk_sway_deg", Fault.TORSO_SWAY: "pelvic_drop_deg",
                 Fault.HARD_LANDING: "knee_peak_deg", Fault.NO_PUSH_OFF: "strike_angle_deg"}
    if fault in unchanged:  # a fault changes what it names, not the rest
        col = unchanged[fault]
        assert np.allclose(on[col], ref[col])


def test_cue_vocabulary():
    for f in Fault:
        assert f in CORRECTS[CUE_FOR_FAULT[f]]
    assert corrective_cue(Fault.HEEL_STRIKE, Terrain.ROCKY) is Cue.LAND_FOREFOOT
    assert corrective_cue(Fault.HEEL_STRIKE, Terrain.SOFT) is Cue.QUICK_ROLL
    assert corrective_cue(Fault.HEEL_STRIKE) is Cue.LAND_MIDFOOT
    assert set(CORRECTS) == set(Cue)
    assert CORRECTS[Cue.QUICKER_STEPS] == (Fault.OVERSTRIDE,)
