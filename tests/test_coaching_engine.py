"""Cue-engine policy on hand-built step streams: exact timing checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from stridecore.coaching import CoachConfig, CueEngine, Kit, SystemEvent
from stridecore.coaching.rules import RULES_BY_NAME, impact_prior
from stridecore.schema import CUE_LOG, STEPS, Cue

FOOT = ("left_foot", "right_foot")
FOOT_SHIN = ("left_foot", "right_foot", "left_shin", "right_shin")
FOOT_PELVIS = ("left_foot", "right_foot", "pelvis")
ALL = ("left_foot", "right_foot", "left_shin", "right_shin", "left_thigh", "right_thigh",
       "pelvis")
GOOD = {"strike_angle_deg": 4.0, "grade_deg": 0.0, "cadence_spm": 170.0, "gait_mode": "run",
        "knee_peak_deg": 40.0, "shank_angle_ic_deg": 6.0, "shank_loading_rotation_deg": 30.0,
        "peak_tibial_acc_g": 8.0, "pelvic_drop_deg": 5.0, "push_off_mps": 0.3,
        "peak_acc_g": 12.0}
STEP_S = 60.0 / 170.0


def steps(n: int, placements=FOOT, t0: float = 1.0, step_s: float = STEP_S, **over) -> dict:
    """``n`` contacts alternating legs; one row per kit sensor of that leg (+ pelvis).
    ``over``: metric -> value or callable(contact index) -> value."""
    rows = []
    for i in range(n):
        side = "left" if i % 2 == 0 else "right"
        t = t0 + i * step_s
        for p in placements:
            if p != "pelvis" and not p.startswith(side):
                continue
            r = {c: math.nan for c in STEPS.names}
            r.update(recording_id="", placement=p, side=side, ic_sample_idx=-1,
                     to_sample_idx=-1, landing="", terrain="", clipped=False,
                     mount_changed=False, t_ic_s=t, t_to_s=t + 0.25, t_emit_s=t + 0.25)
            r.update(GOOD)
            for k, v in over.items():
                r[k] = v(i) if callable(v) else v
            rows.append(r)
    rows.sort(key=lambda r: (r["t_emit_s"], r["placement"]))
    return {c: np.array([r[c] for r in rows], dtype=object if isinstance(rows[0][c], str)
                        else None) for c in STEPS.names}


def run(stream: dict, placements=FOOT, cfg: CoachConfig | None = None) -> CueEngine:
    e = CueEngine(Kit.from_placements(placements), cfg or CoachConfig())
    e.on_steps(stream, float(np.max(stream["t_emit_s"])))
    return e


def spoken(e: CueEngine, cue: Cue | None = None) -> list:
    return [d for d in e.decisions if d.spoken and (cue is None or d.cue is cue)]


def window(cfg: CoachConfig, quick_feet: bool = False) -> int:
    """Contacts after an episode's first at which its cue is ready (``STEP_S`` apart)."""
    if quick_feet:
        return max(cfg.cadence_persist_steps - 1, math.ceil(cfg.cadence_persist_s / STEP_S))
    return max(cfg.persist_steps - 1, math.ceil(cfg.persist_s / STEP_S))


def test_good_form_is_silent():
    e = run(steps(2000, ALL), ALL)
    assert e.decisions == []


def test_persistence_needs_steps_and_seconds():
    cfg = CoachConfig()
    e = run(steps(200, strike_angle_deg=25.0), FOOT, cfg)
    first = spoken(e, Cue.LAND_MIDFOOT)[0]
    # the fault enters on contact 0 (median of one value): cue on contact persist - 1 at the
    # earliest, and persist_s after the entry contact's IC
    k = round((first.trigger_t_ic_s - 1.0) / STEP_S)
    assert k == window(cfg)
    assert first.trigger_t_ic_s - 1.0 >= cfg.persist_s
    assert first.fault == "heel_strike" and first.text == "Land midfoot"
    # steps only: with a long persist_s the seconds decide
    e2 = run(steps(200, strike_angle_deg=25.0), FOOT, CoachConfig(persist_s=20.0))
    assert spoken(e2)[0].trigger_t_ic_s - 1.0 >= 20.0
    # a fault shorter than the persistence is never cued
    e3 = run(steps(200, strike_angle_deg=lambda i: 25.0 if i % 40 < 12 else 4.0), FOOT, cfg)
    assert spoken(e3) == []


def test_latency_is_decision_minus_ic():
    e = run(steps(200, strike_angle_deg=25.0))
    for d in e.decisions:
        assert d.latency_ms == pytest.approx((d.t_host_s - d.trigger_t_ic_s) * 1e3)
    d = spoken(e)[0]
    assert d.t_host_s == pytest.approx(d.trigger_t_ic_s + 0.25)  # the row's t_emit_s


def test_hysteresis():
    # flat: enter > 20°, leave < 16°: 18° after entering keeps the fault, 14° ends it
    held = run(steps(200, strike_angle_deg=lambda i: 25.0 if i < 3 else 18.0))
    assert len(spoken(held, Cue.LAND_MIDFOOT)) >= 1
    left = run(steps(200, strike_angle_deg=lambda i: 25.0 if i < 3 else 14.0))
    assert spoken(left) == []
    never = run(steps(200, strike_angle_deg=18.0))
    assert spoken(never) == []


def test_soft_ground_landing_after_a_spike_is_not_a_heel_strike():
    """On a descent, one 3-contact median above 18° followed by a heel-to-midfoot landing
    (the guide's advice on soft ground, 15-16° downhill) is no fault; a heel strike that
    ramps in through 14-17° is dated from where it passed 14°."""
    cfg = CoachConfig()
    spike = run(steps(300, grade_deg=-8.0,
                      strike_angle_deg=lambda i: 19.0 if 100 <= i < 102 else 16.0))
    assert spoken(spike) == []
    n0 = 100
    ramp = run(steps(300, grade_deg=-8.0, strike_angle_deg=lambda i: 8.0 if i < n0 else
                     min(14.5 + 1.5 * (i - n0), 22.0)))
    d = spoken(ramp, Cue.LAND_MIDFOOT)[0]
    k = round((d.trigger_t_ic_s - 1.0) / STEP_S)
    assert k - n0 == window(cfg)


def test_brief_dips_do_not_restart_a_fault():
    # 2 normal contacts in every 5 pull the 3-contact median below exit once per 5 contacts:
    # with 3 exit steps (land midfoot's default, strike_exit_steps) the fault stays one
    # episode (it ends only after 3 such contacts in a row); with 1 every dip restarts its
    # persistence
    dips = steps(200, strike_angle_deg=lambda i: 4.0 if i % 5 in (3, 4) else 25.0)
    cfg = CoachConfig()
    assert cfg.strike_exit_steps == 3
    first = spoken(run(dips, cfg=cfg), Cue.LAND_MIDFOOT)[0]
    assert round((first.trigger_t_ic_s - 1.0) / STEP_S) <= window(cfg) + 1
    assert spoken(run(dips, cfg=CoachConfig(strike_exit_steps=1))) == []
    # on a descent too: a heel strike whose 3-median dips below exit (17°) for a contact
    down = steps(200, grade_deg=-8.0,
                 strike_angle_deg=lambda i: 8.0 if i % 7 in (5, 6) else 20.0)
    assert spoken(run(down, cfg=cfg), Cue.LAND_MIDFOOT)
    assert spoken(run(down, cfg=CoachConfig(strike_exit_steps=1))) == []
    # a real correction still ends it: no second cue, and a praise
    fixed = run(steps(200, strike_angle_deg=lambda i: 25.0 if i < 40 else 4.0), cfg=cfg)
    assert [d.cue for d in spoken(fixed)] == [Cue.LAND_MIDFOOT, Cue.PRAISE]
    # push off holds through its dips by default (push_exit_steps)
    pdips = steps(200, FOOT_PELVIS, push_off_mps=lambda i: 0.3 if i % 5 in (3, 4) else 0.0)
    assert spoken(run(pdips, FOOT_PELVIS), Cue.PUSH_OFF)
    assert not spoken(run(pdips, FOOT_PELVIS, CoachConfig(push_exit_steps=1)), Cue.PUSH_OFF)


def test_cooldown_grows_and_floor_spaces_cues():
    cfg = CoachConfig()
    n = int(600 / STEP_S)
    e = run(steps(n, strike_angle_deg=25.0), FOOT, cfg)
    t = [d.t_host_s for d in spoken(e, Cue.LAND_MIDFOOT)]
    gaps = np.diff(t)
    assert len(t) >= 4
    for i, g in enumerate(gaps):
        want = min(cfg.cooldown_s * cfg.cooldown_growth ** i, cfg.cooldown_max_s)
        assert want <= g < want + 1.0
    reasons = [d.suppressed_reason for d in e.decisions if not d.spoken]
    assert reasons == ["cooldown"] * len(t)  # once per saying, not per step


def test_priority_and_global_floor():
    cfg = CoachConfig()
    e = run(steps(400, FOOT_PELVIS, strike_angle_deg=25.0, push_off_mps=0.02), FOOT_PELVIS,
            cfg)
    said = spoken(e)
    assert [d.cue for d in said[:2]] == [Cue.LAND_MIDFOOT, Cue.PUSH_OFF]
    assert said[1].t_host_s - said[0].t_host_s >= cfg.floor_s
    assert said[1].t_host_s - said[0].t_host_s < cfg.floor_s + 1.0
    sup = [d.suppressed_reason for d in e.decisions if not d.spoken and d.cue is Cue.PUSH_OFF]
    # ready with the heel strike or a contact later (the first pelvis row comes before the
    # engine knows the pelvis reports contacts): waits for the floor, logged once
    assert sup[0] in ("priority", "floor") and sup.count("floor") == 1
    form = [d.t_host_s for d in said]
    assert np.all(np.diff(form) >= cfg.floor_s - 1e-9)


def test_praise_after_correction_rarely():
    cfg = CoachConfig()
    # 30 s of heel strikes, 40 s good, again 30 s faulted and 40 s good
    bad = lambda i: 25.0 if (i * STEP_S) % 70 < 30 else 4.0  # noqa: E731
    e = run(steps(int(140 / STEP_S), strike_angle_deg=bad), FOOT, cfg)
    cues = [d.cue for d in spoken(e)]
    assert cues == [Cue.LAND_MIDFOOT, Cue.PRAISE, Cue.LAND_MIDFOOT]
    pr = spoken(e, Cue.PRAISE)[0]
    assert pr.fault == "heel_strike"
    assert pr.t_host_s - spoken(e)[0].t_host_s >= cfg.floor_s
    sup = [d for d in e.decisions if d.cue is Cue.PRAISE and not d.spoken]
    assert [d.suppressed_reason for d in sup] == ["cooldown"]
    # no praise without a cue: a fault that went away before being said
    e2 = run(steps(300, strike_angle_deg=lambda i: 25.0 if i < 10 else 4.0))
    assert spoken(e2) == []


def test_muted_on_climbs_walks_and_stops():
    assert spoken(run(steps(400, strike_angle_deg=25.0, grade_deg=6.0))) == []
    assert spoken(run(steps(400, strike_angle_deg=25.0, gait_mode="walk"))) == []
    # running with a stop of 5 s every 15 contacts (5.3 s): no bout is long enough
    s = steps(300, strike_angle_deg=25.0)
    rows = {k: v.copy() for k, v in s.items()}
    idx = np.round((rows["t_ic_s"] - 1.0) / STEP_S).astype(int)
    shift = 5.0 * (idx // 15)
    for k in ("t_ic_s", "t_to_s", "t_emit_s"):
        rows[k] = rows[k] + shift
    assert spoken(run(rows)) == []
    # descent: stricter than the flat (18° enters there, 20° on the flat)
    assert spoken(run(steps(400, strike_angle_deg=19.0, grade_deg=-6.0)))
    assert spoken(run(steps(400, strike_angle_deg=19.0, grade_deg=0.0))) == []


def test_kit_gating_and_foot_impact_never_cues():
    bad = {"peak_tibial_acc_g": 30.0, "knee_peak_deg": 10.0, "pelvic_drop_deg": 15.0,
           "shank_angle_ic_deg": 25.0, "shank_loading_rotation_deg": 5.0, "peak_acc_g": 80.0}
    e = run(steps(600, ALL, **bad), FOOT)  # rows of sensors outside the kit are ignored
    assert spoken(e) == [] and e.ignored_rows > 0
    # foot rows carrying shin/knee/pelvis columns (as the simulator's truth does) are not
    # measurements of those: a foot-only kit stays silent
    e = run(steps(600, FOOT, **bad), FOOT)
    assert spoken(e) == []
    # a shin kit hears impact from the shin only, never from the foot's peak_acc_g
    e = run(steps(600, FOOT_SHIN, peak_acc_g=80.0), FOOT_SHIN)
    assert spoken(e) == []
    e = run(steps(600, FOOT_SHIN, peak_tibial_acc_g=30.0), FOOT_SHIN)
    assert {d.cue for d in spoken(e)} == {Cue.SOFTER_LANDING}


def test_nan_is_not_a_fault():
    nan = {k: math.nan for k in GOOD if k != "gait_mode"}
    assert run(steps(600, ALL, **nan), ALL).decisions == []
    # missing values inside a fault do not break it, nor start one
    e = run(steps(400, strike_angle_deg=lambda i: math.nan if i % 3 == 0 else 25.0))
    assert spoken(e, Cue.LAND_MIDFOOT)


def test_pairing_counts_contacts_not_rows():
    cfg = CoachConfig(persist_steps=20, persist_s=0.0)
    e = run(steps(200, FOOT_SHIN, strike_angle_deg=25.0), FOOT_SHIN, cfg)
    k = round((spoken(e)[0].trigger_t_ic_s - 1.0) / STEP_S)
    assert k == cfg.persist_steps - 1
    # a shin IC 30 ms off the foot's still pairs
    s = steps(200, FOOT_SHIN, strike_angle_deg=25.0)
    shin = np.char.endswith(s["placement"].astype(str), "shin")
    s["t_ic_s"] = np.where(shin, s["t_ic_s"] + 0.03, s["t_ic_s"])
    e = run(s, FOOT_SHIN, cfg)
    assert round((spoken(e)[0].trigger_t_ic_s - 1.0) / STEP_S) == cfg.persist_steps - 1


def test_hip_drop_one_sided():
    e = run(steps(300, ALL, pelvic_drop_deg=lambda i: 13.0 if i % 2 else 5.0), ALL)
    assert {d.cue for d in spoken(e)} == {Cue.HIPS_LEVEL}


def test_system_cues_bypass_floor_but_never_overlap():
    cfg = CoachConfig()
    e = CueEngine(Kit.from_placements(FOOT), cfg)
    s = steps(200, strike_angle_deg=25.0)
    first = s["t_emit_s"] < 7.3  # the cue comes at 7.25 s
    e.on_steps({k: v[first] for k, v in s.items()}, 7.25)
    form_t = spoken(e)[0].t_host_s
    assert form_t == pytest.approx(7.25)
    out = e.on_system(SystemEvent.SENSOR_LOST, key="left_foot", now_s=form_t + 1.0)
    out += e.on_system(SystemEvent.LOW_BATTERY, key="right_foot", now_s=form_t + 1.5)
    assert [d.cue for d in out] == []  # the form cue's clip is still playing: queued
    rest = {k: v[~first & (s["t_emit_s"] < form_t + 10.0)] for k, v in s.items()}
    out = [d for d in e.on_steps(rest, form_t + 10.0) if d.spoken]
    assert [d.cue for d in out] == [Cue.SENSOR_LOST, Cue.LOW_BATTERY]
    assert out[0].t_host_s == pytest.approx(form_t + cfg.clip_s)
    assert out[1].t_host_s == pytest.approx(form_t + 2 * cfg.clip_s)
    assert out[0].fault == "sensor:left_foot"
    # within the form floor, but said
    assert out[1].t_host_s - form_t < cfg.floor_s
    out = e.on_system(SystemEvent.LOW_BATTERY, key="right_foot", now_s=form_t + 12.0)
    assert [(d.spoken, d.suppressed_reason) for d in out] == [(False, "repeat")]
    out = e.on_system(SystemEvent.SENSOR_BACK, key="left_foot", now_s=form_t + 14.0)
    assert [(d.cue, d.spoken) for d in out] == [(Cue.SENSOR_BACK, True)]


def test_snooze_and_resume():
    cfg = CoachConfig(snooze_s=60.0)
    e = CueEngine(Kit.from_placements(FOOT), cfg)
    out = e.on_system(SystemEvent.BUTTON, key="left_foot", now_s=0.5)
    assert [d.cue for d in out] == [Cue.SNOOZED]
    s = steps(int(120 / STEP_S), strike_angle_deg=25.0)
    e.on_steps(s, float(s["t_emit_s"].max()))
    cues = [(d.cue, d.spoken, d.suppressed_reason) for d in e.decisions]
    assert cues[1] == (Cue.LAND_MIDFOOT, False, "snoozed")
    assert cues[2] == (Cue.RESUMED, True, "")
    resumed = e.decisions[2].t_host_s
    assert resumed == pytest.approx(60.5)
    assert cues[3][:2] == (Cue.LAND_MIDFOOT, True)
    assert e.decisions[3].t_host_s >= resumed + cfg.clip_s
    # tick alone ends a snooze; a second press resumes early
    e = CueEngine(Kit.from_placements(FOOT), cfg)
    e.on_system(SystemEvent.BUTTON, now_s=0.0)
    assert [d.cue for d in e.tick(61.0)] == [Cue.RESUMED]
    e.on_system(SystemEvent.BUTTON, now_s=100.0)
    assert [d.cue for d in e.on_system(SystemEvent.BUTTON, now_s=110.0)] == [Cue.RESUMED]


def test_mount_changed_says_slipped_once():
    s = steps(100, mount_changed=lambda i: 20 <= i < 25)
    e = run(s)
    said = spoken(e)
    assert [d.cue for d in said] == [Cue.SENSOR_SLIPPED] * 2  # one per foot
    assert {d.fault for d in said} == {"sensor:left_foot", "sensor:right_foot"}
    assert said[1].t_host_s - said[0].t_host_s >= CoachConfig().clip_s


def test_log_table_schema():
    e = run(steps(400, FOOT_PELVIS, strike_angle_deg=25.0, push_off_mps=0.02), FOOT_PELVIS)
    tab = e.log_table()
    assert tuple(tab) == CUE_LOG.names
    n = len(e.decisions)
    assert n > 2 and all(len(v) == n for v in tab.values())
    assert tab["spoken"].dtype == bool and tab["t_host_s"].dtype == np.float64
    assert set(tab["cue"]) <= {c.value for c in Cue}


def test_tick_completes_last_contact_and_detects_stop():
    cfg = CoachConfig()
    e = CueEngine(Kit.from_placements(FOOT_SHIN), cfg)
    s = steps(40, FOOT_SHIN, strike_angle_deg=25.0)
    # drop the last shin row: the last contact waits for it
    keep = np.ones(len(s["t_ic_s"]), bool)
    keep[np.flatnonzero(np.char.endswith(s["placement"].astype(str), "shin"))[-1]] = False
    s = {k: v[keep] for k, v in s.items()}
    e.on_steps(s, float(s["t_emit_s"].max()))
    n0 = e.report()["contacts"]
    e.tick(float(s["t_ic_s"].max()) + cfg.settle_timeout_s)
    assert e.report()["contacts"] == n0 + 1
    e.tick(float(s["t_emit_s"].max()) + cfg.stop_s + 0.1)
    assert not any(r["in_fault"] for r in e.report()["rules"].values())


def test_cause_first_a_lower_priority_fault_waits_for_a_building_one():
    # impact high from contact 0, heel strike from contact 5 to 149 (a heel strike raises
    # tibial impact): "light feet" waits while the heel strike builds up and lasts, "land
    # midfoot" first; light feet only after its own persistence once the heel strike is over
    cfg = CoachConfig()
    s = steps(300, FOOT_SHIN, grade_deg=-6.0, peak_tibial_acc_g=30.0,
              strike_angle_deg=lambda i: 25.0 if 5 <= i < 150 else 4.0)
    e = run(s, FOOT_SHIN, cfg)
    said = spoken(e)
    # land midfoot (said again after its cooldown), then praise and light feet
    light = [d for d in said if d.cue is Cue.SOFTER_LANDING]
    assert said[0].cue is Cue.LAND_MIDFOOT and light
    assert all(d.cue in (Cue.LAND_MIDFOOT, Cue.PRAISE) for d in said
               if d.t_host_s < light[0].t_host_s)
    persist = window(cfg)
    k = round((said[0].trigger_t_ic_s - 1.0) / STEP_S)
    assert k - 5 == persist
    # no light-feet decision at all (spoken or suppressed) while the heel strike lasts
    assert min(d.trigger_t_ic_s for d in e.decisions if d.cue is Cue.SOFTER_LANDING) > \
        1.0 + 150 * STEP_S
    # the heel episode closes once the window median is back under the exit (contact 151);
    # light feet persists from there (and then waits for the floor after the praise)
    k2 = round((light[0].trigger_t_ic_s - 1.0) / STEP_S)
    assert k2 >= 151 + persist
    # heel strike all along: light feet is never said (the cause's cue answers it)
    e3 = run(steps(300, FOOT_SHIN, grade_deg=-6.0, peak_tibial_acc_g=30.0,
                   strike_angle_deg=lambda i: 25.0 if i >= 5 else 4.0), FOOT_SHIN, cfg)
    assert {d.cue for d in spoken(e3)} == {Cue.LAND_MIDFOOT}
    # without the heel strike, light feet is said at its own persistence
    e2 = run(steps(300, FOOT_SHIN, grade_deg=-6.0, peak_tibial_acc_g=30.0), FOOT_SHIN, cfg)
    assert spoken(e2)[0].cue is Cue.SOFTER_LANDING
    assert spoken(e2)[0].t_host_s < said[0].t_host_s


def test_personal_baseline_impact_and_stride():
    cfg = CoachConfig(personal_baselines=True)
    n0 = 150  # contacts to learn the baseline
    base = dict(grade_deg=-6.0, stride_length_m=2.0)
    # a constant 30 g is this runner's normal: the absolute rule would cue, the baseline not
    assert spoken(run(steps(400, FOOT_SHIN, peak_tibial_acc_g=30.0, **base), FOOT_SHIN,
                      CoachConfig())) != []
    assert spoken(run(steps(400, FOOT_SHIN, peak_tibial_acc_g=30.0, **base), FOOT_SHIN,
                      cfg)) == []
    # × 1.6 after the baseline is learnt: light feet, at the persistence
    e = run(steps(400, FOOT_SHIN, peak_tibial_acc_g=lambda i: 48.0 if i >= n0 else 30.0,
                  **base), FOOT_SHIN, cfg)
    said = spoken(e)
    assert [d.cue for d in said] [:1] == [Cue.SOFTER_LANDING]
    k = round((said[0].trigger_t_ic_s - 1.0) / STEP_S)
    assert k - n0 == window(cfg)
    # × 1.2 is within the runner's spread: silent
    assert spoken(run(steps(400, FOOT_SHIN, peak_tibial_acc_g=lambda i: 36.0 if i >= n0
                            else 30.0, **base), FOOT_SHIN, cfg)) == []
    # the grade prior: flat → steep descent (−9°: × 1.54) is not a hard landing
    g = lambda i: 0.0 if i < n0 else -9.0  # noqa: E731
    tib = lambda i: 10.0 if i < n0 else 15.4  # noqa: E731
    e = run(steps(400, FOOT_SHIN, grade_deg=g, peak_tibial_acc_g=tib, stride_length_m=2.0),
            FOOT_SHIN, cfg)
    assert spoken(e, Cue.SOFTER_LANDING) == []
    # shank angle: own baseline + 4° = overstride
    e = run(steps(400, FOOT_SHIN, shank_angle_ic_deg=lambda i: 10.0 if i >= n0 else 6.0,
                  **base), FOOT_SHIN, cfg)
    assert {d.cue for d in spoken(e)} == {Cue.SHORTEN_STRIDE}
    assert spoken(run(steps(400, FOOT_SHIN, shank_angle_ic_deg=7.5, **base), FOOT_SHIN,
                      cfg)) == []


def test_quick_feet_is_cadence_at_the_runners_speed():
    """Cadence 8 % below the runner's own at the same speed is slow feet; a slow section
    (cadence ∝ speed^0.25) and the grade's lower target are not."""
    n0 = 150

    def stream(cad, speed, grade=-6.0):
        c = cad if callable(cad) else (lambda i: cad)
        v = speed if callable(speed) else (lambda i: speed)
        return steps(400, FOOT, grade_deg=grade, cadence_spm=c,
                     stride_length_m=lambda i: v(i) * 120.0 / c(i))

    # steps from contact n0 on 8 % slower; a foot's cadence at a contact is the stride ending
    # there (its two last steps): half the change at n0 + 1, all of it from n0 + 2
    def step(k):
        return 1 / 0.92 if k >= n0 else 1.0

    slow_feet = run(stream(lambda i: 340.0 / (step(i - 2) + step(i - 1)), 3.4), FOOT)
    said = spoken(slow_feet)
    assert [d.cue for d in said][:1] == [Cue.QUICKER_STEPS] and said[0].fault == "overstride"
    cfg = CoachConfig()
    k = round((said[0].trigger_t_ic_s - 1.0) / STEP_S)
    # the episode is dated back to the first slow step (the stride lag): cued one persistence
    # window (quick feet's own, longer than the default) after n0, as a per-step cadence would be
    assert cfg.cadence_persist_steps > cfg.persist_steps
    assert k - n0 == window(cfg, quick_feet=True)
    # one window median just past exit (0.965) restarts the persistence with the default
    # exit after 1 contact, not with ``exit_steps`` = 2 (rocky ground's scatter then says
    # false "Quick feet": the default stays 1)
    dip = {n0 + 8: 0.97, n0 + 10: 0.965}

    def dipped(i):
        return 170.0 * (1.0 if i < n0 else dip.get(i, 0.92))

    def first_at(c):
        d = spoken(run(stream(dipped, 3.4), FOOT, c))[0]
        assert d.cue is Cue.QUICKER_STEPS
        return round((d.trigger_t_ic_s - 1.0) / STEP_S)

    steady = first_at(replace(cfg, exit_steps=99))
    assert first_at(replace(cfg, exit_steps=2)) == steady
    assert cfg.exit_steps == 1 and first_at(cfg) > steady
    # after a walk break the episode is not dated back across the break (to a contact before)
    walk = n0 - 1

    def cad(i):
        return 170.0 * (0.92 if i > walk else 1.0)

    brk = run(steps(400, FOOT, grade_deg=-6.0, cadence_spm=cad,
                    stride_length_m=lambda i: 3.4 * 120.0 / cad(i),
                    gait_mode=lambda i: "walk" if i == walk else "run"), FOOT)
    k = round((spoken(brk)[0].trigger_t_ic_s - 1.0) / STEP_S)
    assert k - walk - 1 == window(cfg, quick_feet=True)
    # 40 % slower with the cadence a runner has at that speed: silent
    slow = lambda i: 0.6 if i >= n0 else 1.0  # noqa: E731
    assert spoken(run(stream(lambda i: 170.0 * slow(i) ** 0.25, lambda i: 3.4 * slow(i)),
                      FOOT)) == []
    # flat → −9°: the target falls 0.35 %/° (Vernillo 2017), so −3 % cadence is on target
    g = lambda i: 0.0 if i < n0 else -9.0  # noqa: E731
    assert spoken(run(stream(lambda i: 170.0 * (0.97 if i >= n0 else 1.0), 3.4, g),
                      FOOT)) == []
    # no stride length (speed unknown): the rule is silent, whatever the cadence
    assert spoken(run(steps(400, FOOT, grade_deg=-6.0,
                            cadence_spm=lambda i: 150.0 if i >= n0 else 170.0), FOOT)) == []


def test_knee_without_feet_takes_the_flat_setting():
    """No foot: the grade is unknown, and the knee rule takes its flat setting (< 25°): a
    tired runner's 28° is not a locked knee, 20° is."""
    kit = ("left_shin", "right_shin", "left_thigh", "right_thigh")
    assert spoken(run(steps(300, kit, knee_peak_deg=28.0), kit)) == []
    said = spoken(run(steps(300, kit, knee_peak_deg=20.0), kit))
    assert [d.cue for d in said][:1] == [Cue.SOFTEN_KNEES]
    # with feet on a descent the descent setting (< 30°) holds
    with_feet = ("left_foot", "right_foot", *kit)
    assert spoken(run(steps(300, with_feet, knee_peak_deg=28.0, grade_deg=-6.0), with_feet))
    # a knee that locks from 48° through 31° is dated from where it passed the descent's
    # exit (33°), not the flat setting's (28°): one persistence after the 31° contacts
    cfg, n0 = CoachConfig(), 100
    ramp = run(steps(300, kit, knee_peak_deg=lambda i: 48.0 if i < n0 else
                     (31.0 if i < n0 + 3 else 19.0)), kit, cfg)
    d = spoken(ramp, Cue.SOFTEN_KNEES)[0]
    assert round((d.trigger_t_ic_s - 1.0) / STEP_S) - n0 == window(cfg)


def test_hard_landing_on_broken_ground_is_judged_at_each_footfalls_slope():
    """A −8.5° rocky descent whose footfalls tilt ±3° (white, seeded): impacts follow each
    footfall's own slope (× exp(0.048/° of descent)). A hard landing (1.5× the runner's level
    from contact 60) is cued within the persistence window + 2 contacts, and the same run
    without it says nothing."""
    cfg = CoachConfig()
    rng = np.random.default_rng(2)  # judged against the smoothed grade's threshold: 24 contacts
    n = 200
    own = -8.5 + rng.uniform(-3.0, 3.0, n)
    level = 0.72 * cfg.tibial_max_g  # the runner's normal flat-equivalent impact, g
    jitter = np.exp(rng.normal(0.0, 0.08, n))

    def tib(fault_from: int):
        def f(i: int) -> float:
            hard = 1.5 if i >= fault_from else 1.0
            return level * hard * jitter[i] * math.exp(cfg.impact_prior_per_deg * -own[i])
        return f

    calm = run(steps(n, FOOT_SHIN, grade_deg=lambda i: own[i], peak_tibial_acc_g=tib(n)),
               FOOT_SHIN, cfg)
    assert spoken(calm) == []
    e = run(steps(n, FOOT_SHIN, grade_deg=lambda i: own[i], peak_tibial_acc_g=tib(60)),
            FOOT_SHIN, cfg)
    said = spoken(e, Cue.SOFTER_LANDING)
    assert said, "no light feet"
    t_fault = 1.0 + 60 * STEP_S
    n_said = round((said[0].trigger_t_ic_s - t_fault) / STEP_S) + 1
    assert n_said <= cfg.persist_steps + 2


def _descent_impacts(cfg: CoachConfig) -> tuple[float, float, float]:
    """(grade °, the runner's impact level g, a ramp-in impact g) on a −10° descent: impacts
    at a steady 0.75 × ``tibial_max_g`` flat-equivalent, and 1.15 × that, past
    ``tibial_normal_g`` but below light feet's exit threshold."""
    g = -10.0
    prior = impact_prior(cfg, g)
    level = 0.75 * cfg.tibial_max_g * prior
    enter, leave = RULES_BY_NAME["impact_abs"].thresholds(cfg, g)
    ramp = 1.15 * level
    assert cfg.tibial_normal_g * prior < ramp < leave < enter < 1.5 * level
    return g, level, ramp


def _light_feet_contact(tib: Callable[[int], float], grade_deg: float, cfg: CoachConfig) -> int:
    """The contact number whose step said the first "Light feet" (impacts ``tib(i)``)."""
    stream = steps(300, FOOT_SHIN, grade_deg=grade_deg, peak_tibial_acc_g=tib)
    d = spoken(run(stream, FOOT_SHIN, cfg), Cue.SOFTER_LANDING)[0]
    return round((d.trigger_t_ic_s - 1.0) / STEP_S)


def test_hard_landing_that_ramps_in_is_dated_from_where_it_left_the_normal_band():
    """A hard landing ramps in with three contacts at the ramp value before 1.5 × the level.
    Its episode is dated from the ramp's first contact, so the cue comes one persistence
    after it; with the normal edge at the exit threshold, 3 contacts later."""
    cfg = CoachConfig()
    g, level, ramp = _descent_impacts(cfg)
    n0 = 100

    def tib(i: int) -> float:
        return level if i < n0 else (ramp if i < n0 + 3 else 1.5 * level)

    for c, late in ((cfg, 0), (replace(cfg, tibial_normal_g=cfg.tibial_max_g), 3)):
        assert _light_feet_contact(tib, g, c) - n0 == window(cfg) + late


def test_a_fault_that_left_the_normal_band_long_before_is_dated_backdate_steps_back():
    """A heel strike that lingers 6 contacts at 15° (past the firm-ground edge, below enter)
    before 25°: its episode is dated ``backdate_steps`` contacts before the first contact past
    enter, not from that contact (a longer lead-in does not shorten the persistence more)."""
    cfg = CoachConfig()
    n0, lead = 100, 6
    assert lead > cfg.backdate_steps
    stream = steps(300, grade_deg=-8.0, strike_angle_deg=lambda i: 8.0 if i < n0 else
                   (15.0 if i < n0 + lead else 25.0))
    d = spoken(run(stream, FOOT, cfg), Cue.LAND_MIDFOOT)[0]
    k = round((d.trigger_t_ic_s - 1.0) / STEP_S)
    assert k - (n0 + lead - cfg.backdate_steps) == window(cfg)


def test_one_contact_back_in_the_normal_band_does_not_restart_the_dating():
    """A hard landing whose second contact reads at the runner's own level (a noisy ramp-in):
    its episode is still dated from its first contact past the normal edge
    (``backdate_gap_steps`` 1); with no gap allowed, from the contact after the dip (2
    later)."""
    cfg = CoachConfig()
    g, level, ramp = _descent_impacts(cfg)
    n0 = 100

    def tib(i: int) -> float:
        return {n0: ramp, n0 + 1: level}.get(i, level if i < n0 else 1.5 * level)

    for c, late in ((cfg, 0), (replace(cfg, backdate_gap_steps=0), 2)):
        assert _light_feet_contact(tib, g, c) - n0 == window(cfg) + late
