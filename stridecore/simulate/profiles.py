"""Named runners and session scripts.

:data:`PROFILES` holds the runner presets; :func:`default_session` scripts a varied trail run
that exercises every item of the form guide (``seed/downhill-form-guide.txt``): a flat dirt
warm-up, a moderate and a steep descent (heel strike + locked knee scheduled on the steep one),
a climb with a steep top, a walk break, the guide's downhill walk-run drill (walk down a 12 %
slope with soft knees and a midfoot landing, then jog, then build speed), a rocky and a soft
section, form faults that appear and fade, and fatigue over the last third.
:func:`make_runner` puts the two together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stridecore.schema import Fault, GaitMode, Side, Terrain
from stridecore.simulate.route import Route, Section
from stridecore.simulate.runner import (
    ContextTrigger,
    CueResponse,
    FaultEpisode,
    Runner,
    RunnerProfile,
    SessionScript,
    Stage,
    nominal_speed_mps,
)

LK, HS, OS = Fault.LOCKED_KNEE, Fault.HEEL_STRIKE, Fault.OVERSTRIDE
HD, TS, NP, HL, SR = (Fault.HIP_DROP, Fault.TORSO_SWAY, Fault.NO_PUSH_OFF, Fault.HARD_LANDING,
                      Fault.SLOW_ROLL)

TRAIL = RunnerProfile(
    name="trail",
    triggers=(
        # steep descents: heel strike with a straight knee (Vernillo 2017), 80 % of descents
        ContextTrigger((HS, LK), max_grade_deg=-8.0, probability=0.8, after_steps=10),
        # tired legs stop absorbing: knee stiffens, impact rises (Mizrahi 2000)
        ContextTrigger((LK, HL), max_grade_deg=-3.0, min_fatigue=0.4, probability=0.9,
                       after_steps=8),
    ),
)
"""Habitual midfoot trail runner, mostly follows the guide's landing table; prone to heel
strike + locked knee on steep descents and to a stiff, hard landing when tired."""

HEEL_STRIKER = RunnerProfile(
    name="heel_striker", cadence_spm=162.0, contact_s=0.26, strike_habit_deg=11.0,
    downhill_strike_gain=0.6, terrain_adapt=0.2, knee_ic_deg=18.0, knee_peak_deg=38.0,
    asym_strike_deg=2.0,
    triggers=(
        ContextTrigger((HS,), max_grade_deg=-5.0, probability=1.0, after_steps=4),
        ContextTrigger((OS,), max_grade_deg=-4.0, probability=0.7, after_steps=12),
        ContextTrigger((HL,), max_grade_deg=-2.0, min_fatigue=0.3, probability=1.0),
    ),
    response=CueResponse(p_correct=0.6),
)
"""Rearfoot striker (11° on the flat) who lets the foot run ahead of the hips downhill."""

FOREFOOT = RunnerProfile(
    name="forefoot", pace_mps=3.3, cadence_spm=178.0, contact_s=0.23, strike_habit_deg=-7.0,
    downhill_strike_gain=0.4, terrain_adapt=0.3, knee_ic_deg=22.0, vert_osc_scale=0.9,
    triggers=(
        ContextTrigger((NP,), min_fatigue=0.5, probability=0.6, gait=None),
        ContextTrigger((HL,), max_grade_deg=-3.0, terrains=(Terrain.ROCKY,), probability=0.3),
    ),
    response=CueResponse(p_correct=0.8),
)
"""Experienced forefoot runner (stays forefoot on dirt; the guide's rocky advice is its habit
anyway); few faults."""

NOVICE = RunnerProfile(
    name="novice", pace_mps=2.5, cadence_spm=160.0, contact_s=0.28, strike_habit_deg=9.0,
    terrain_adapt=0.1, walk_climb_above_pct=8.0, walk_break_every_s=300.0, knee_ic_deg=19.0,
    vert_osc_scale=1.15, pelvic_drop_deg=6.0, trunk_sway_deg=3.5, asym_step_frac=0.03,
    asym_contact_frac=0.04, asym_pelvic_drop_deg=1.5, asym_knee_deg=2.0,
    variability_scale=1.3, fatigue_gain=1.3,
    triggers=(
        ContextTrigger((HS, LK), max_grade_deg=-5.0, probability=0.9, after_steps=6),
        ContextTrigger((OS,), max_grade_deg=-4.0, probability=0.6, after_steps=10),
        ContextTrigger((NP,), max_grade_deg=-6.0, probability=0.5, after_steps=8),
        ContextTrigger((HD, TS), min_fatigue=0.3, probability=1.0, gait=None),
        ContextTrigger((SR,), terrains=(Terrain.SOFT,), probability=0.8, gait=None),
    ),
    response=CueResponse(p_correct=0.5, delay_steps=10, relapse_s=45.0),
)
"""Beginner: slower, heel-leaning, asymmetric, walks climbs over 8 % and takes walk breaks;
many faults, takes cues less often and relapses sooner."""

WALKER = RunnerProfile(
    name="walker", runs=False, walk_speed_mps=1.3, walk_strike_deg=17.0,
    triggers=(
        ContextTrigger((HD,), min_fatigue=0.5, probability=1.0, gait=GaitMode.WALK),
        ContextTrigger((LK,), max_grade_deg=-8.0, probability=0.5, gait=GaitMode.WALK),
    ),
)
"""Hiker: walks everything (forced jog stages included)."""

PROFILES: dict[str, RunnerProfile] = {
    p.name: p for p in (TRAIL, HEEL_STRIKER, FOREFOOT, NOVICE, WALKER)
}


def get_profile(name: str) -> RunnerProfile:
    """The preset called ``name``; ValueError listing the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown runner profile {name!r}; known: "
                         f"{', '.join(sorted(PROFILES))}") from None


@dataclass(frozen=True)
class _Leg:
    label: str
    nominal_s: float  # at 600 s session length
    grade_pct: float
    terrain: Terrain = Terrain.DIRT
    gait: GaitMode | None = None
    speed_factor: float = 1.0
    drill: bool = False
    faults: tuple[Fault, ...] = ()
    min_s: float = 0.0  # kept at least this long whatever the session length


KEY_DESCENT = "descent_steep"
"""Stage label of the steep descent with a scheduled persistent heel strike + locked knee."""


def default_session(duration_s: float = 600.0, seed: int = 0, *,
                    profile: RunnerProfile | str = "trail") -> SessionScript:
    """A varied trail run of ``duration_s`` (≥ 60 s) for ``profile`` (its pace sets the section
    lengths). Legs are scaled from a 600 s plan; the steep descent keeps ≥ 20 s, so every
    session has a descent with a persistent fault (heel strike + locked knee, scheduled).
    Grades and fault times vary a little with ``seed``; deterministic for a seed."""
    if duration_s < 60:
        raise ValueError("default_session needs duration_s ≥ 60")
    prof = get_profile(profile) if isinstance(profile, str) else profile
    rng = np.random.default_rng([int(seed), 0x5E55])

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    legs = [
        _Leg("warmup", 90, u(-1, 1), speed_factor=0.85),
        _Leg("descent_moderate", 50, u(-10, -7)),
        _Leg(KEY_DESCENT, 45, u(-26, -20), faults=(HS, LK), min_s=20.0),
        _Leg("recover", 20, 0.0),
        _Leg("climb", 35, u(9.5, 12)),
        _Leg("climb_steep", 25, 15.0),
        _Leg("walk_break", 30, 0.0, gait=GaitMode.WALK),
        _Leg("drill_walk", 25, -12.0, gait=GaitMode.WALK, drill=True),
        _Leg("drill_jog", 20, -12.0, gait=GaitMode.RUN, speed_factor=0.6, drill=True),
        _Leg("drill_build", 15, -12.0, gait=GaitMode.RUN, speed_factor=0.85, drill=True),
        _Leg("rocky", 25, u(-7, -4), Terrain.ROCKY),
        _Leg("rocky_sway", 25, u(-7, -4), Terrain.ROCKY, faults=(TS,)),
        _Leg("soft", 25, u(-1, 1), Terrain.SOFT),
        _Leg("soft_slow_roll", 20, u(-1, 1), Terrain.SOFT, faults=(SR,)),
        _Leg("paved", 30, u(0, 2), Terrain.PAVED),
        _Leg("descent_late_overstride", 25, u(-16, -13), faults=(OS,)),
        _Leg("descent_late", 25, u(-16, -13)),
    ]
    scale = duration_s / 600.0
    sections: list[Section] = []
    stages: list[Stage] = []
    x = t = 0.0
    for leg in legs:
        dur = max(leg.nominal_s * scale, leg.min_s)
        v = nominal_speed_mps(prof, leg.grade_pct, leg.terrain, leg.gait, leg.speed_factor)
        length = dur * v
        sections.append(Section(length, leg.grade_pct, leg.terrain, leg.label))
        stages.append(Stage(x, x + length, leg.label, leg.gait, leg.speed_factor, leg.drill,
                            leg.faults))
        x, t = x + length, t + dur
    # the finish: flat dirt, long enough that the route never runs out
    v = nominal_speed_mps(prof, 0.0)
    finish = (max(duration_s - t, 0.0) + 600.0) * v
    sections.append(Section(finish, 0.0, Terrain.DIRT, "finish"))
    stages.append(Stage(x, x + finish, "finish"))
    d = duration_s
    episodes = (
        FaultEpisode(HD, d * u(0.19, 0.21), d * u(0.26, 0.28), Side.RIGHT),
        FaultEpisode(NP, d * u(0.37, 0.39), d * u(0.44, 0.46)),
    )
    return SessionScript(Route(sections, seed=seed), duration_s, tuple(stages), episodes,
                         fatigue_window_s=(d * 2 / 3, d), name=f"default-{prof.name}")


def make_runner(profile_name: str = "trail", duration_s: float = 600.0, seed: int = 0,
                **runner_kwargs: object) -> Runner:
    """A :class:`Runner` of the named profile on :func:`default_session`; extra keyword
    arguments go to :class:`Runner` (e.g. ``response=``, ``lookahead_rows=``)."""
    prof = get_profile(profile_name)
    script = default_session(duration_s, seed, profile=prof)
    return Runner.from_script(prof, script, seed, **runner_kwargs)


def steady_runner(profile: RunnerProfile | str, grade_pct: float,
                  terrain: Terrain = Terrain.DIRT, seed: int = 0,
                  **runner_kwargs: object) -> Runner:
    """A runner on one long constant-grade section (no session, no fatigue): calibration."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return Runner(prof, Route.constant(grade_pct, 6000.0, terrain, seed=seed), seed,
                  **runner_kwargs)  # type: ignore[arg-type]
