"""Simulated step streams for testing and benchmarking the cue engine.

The simulator has no switch for "no faults"; :func:`fault_free_script` removes every fault
source (profile triggers, stage faults, scheduled episodes) from a session script without
touching the simulator. :func:`truth_stream` renders the truth table of a runner's plan for
the sensors of a kit (no sample rendering: fast) and orders its rows as they would arrive
(by ``t_to_s``, the pipeline emitting a step at toe-off).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from stridecore.coaching.config import CoachConfig
from stridecore.coaching.events import CueDecision
from stridecore.coaching.rules import RULES
from stridecore.schema import Cue, Fault, Placement, Terrain
from stridecore.simulate.imu import SensorSpec
from stridecore.simulate.plan import FAULTS
from stridecore.simulate.profiles import default_session, get_profile
from stridecore.simulate.render import step_truth
from stridecore.simulate.route import Route, Section
from stridecore.simulate.runner import (
    CueResponse,
    FaultEpisode,
    Runner,
    RunnerProfile,
    SessionScript,
)
from stridecore.tables import Columns

ALL_PLACEMENTS = tuple(Placement)


def fault_free_profile(profile: RunnerProfile | str = "trail") -> RunnerProfile:
    """``profile`` without context triggers, never correcting (no cue changes anything)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return dataclasses.replace(prof, triggers=(), response=CueResponse(p_correct=0.0))


def fault_free_script(script: SessionScript, terrain: Terrain | None = None) -> SessionScript:
    """``script`` without stage faults and episodes; every section on ``terrain`` if given."""
    route = script.route
    if terrain is not None:
        route = Route([dataclasses.replace(s, terrain=terrain) for s in route.sections],
                      seed=route.seed)
    stages = tuple(dataclasses.replace(s, faults=()) for s in script.stages)
    return dataclasses.replace(script, route=route, stages=stages, episodes=())


def fault_free_runner(duration_s: float, seed: int, profile: str = "trail",
                      terrain: Terrain | None = None) -> Runner:
    """The default session of ``profile`` with every fault source removed."""
    prof = fault_free_profile(profile)
    script = fault_free_script(default_session(duration_s, seed, profile=prof), terrain)
    return Runner.from_script(prof, script, seed)


def single_fault_runner(faults: Sequence[Fault], seed: int = 0, *, grade_pct: float = -15.0,
                        lead_s: float = 30.0, fault_s: float = 40.0, gap_s: float = 50.0,
                        terrain: Terrain = Terrain.DIRT, profile: str = "trail",
                        severity: float = 1.0) -> tuple[Runner, list[FaultEpisode], float]:
    """A fault-free runner on one long constant descent with one scheduled episode per fault
    (``fault_s`` long, ``gap_s`` apart, the first after ``lead_s``; ``severity``: the level
    each ramps to, :class:`FaultEpisode`). Returns the runner, the episodes and the session
    duration (s)."""
    eps, t = [], lead_s
    for f in faults:
        eps.append(FaultEpisode(f, t, t + fault_s, severity=severity))
        t += fault_s + gap_s
    duration = t
    prof = fault_free_profile(profile)
    route = Route([Section(duration * 6.0 + 500.0, grade_pct, terrain)], seed=seed)
    runner = Runner(prof, route, seed, episodes=eps, duration_s=duration,
                    fatigue_window_s=(1e9, 2e9))
    return runner, eps, duration


def truth_stream(runner: Runner, placements: Sequence[Placement | str], duration_s: float,
                 fs_hz: float = 208.0) -> Columns:
    """The truth rows of ``placements`` for ``runner``'s plan up to ``duration_s``, ordered by
    arrival (``t_to_s``, then placement). ``fault`` keeps the true faults of each step."""
    plan = runner.plan_until(duration_s + 5.0)
    plan = plan[plan["t_ic_s"] < duration_s]
    specs = [SensorSpec(Placement(p), fs_hz=fs_hz) for p in placements]
    t = step_truth(plan, specs)
    arr = np.where(np.isfinite(t["t_to_s"]), t["t_to_s"], t["t_ic_s"])
    order = np.lexsort((t["placement"].astype(str), arr))
    return {k: v[order] for k, v in t.items()}


def rows_of(steps: Columns, placements: Sequence[Placement | str]) -> Columns:
    """The rows of ``steps`` from ``placements`` only."""
    m = np.isin(steps["placement"].astype(str), [Placement(p).value for p in placements])
    return {k: v[m] for k, v in steps.items()}


@dataclasses.dataclass(frozen=True)
class EpisodeTiming:
    """When an injected fault was cued. Contacts count both feet, from the onset (the first
    foot contact with the fault's truth bit: its level ≥ 0.5)."""

    onset_t_s: float  # the onset contact's IC
    window_steps: int  # the persistence window in contacts after the onset
    decision: CueDecision | None  # the first cue said for the fault (not praise), or None
    steps: int  # contacts from the onset to the cue's triggering contact (-1: not cued)


def half_level_onset_s(runner: Runner, episode: FaultEpisode) -> float:
    """IC (s) of the first planned contact in ``episode`` whose fault level is at least half
    the episode's severity: the onset of a severe episode, whose truth bit (level ≥ 0.5) is
    set a sixth of the way up a severity-3 ramp. The same contact as the bit's for severity 1."""
    plan = runner.plan_until(episode.t_end_s)
    lv = runner.fault_levels[:, FAULTS.index(episode.fault)]
    ok = np.flatnonzero((plan["t_ic_s"] >= episode.t_start_s)
                        & (lv >= 0.5 * episode.severity - 1e-6))
    return float(plan["t_ic_s"][ok[0]])


def episode_timing(decisions: Sequence[CueDecision], foot_truth: Columns,
                   episode: FaultEpisode, config: CoachConfig, after_s: float = 2.0,
                   onset_t_s: float | None = None) -> EpisodeTiming:
    """The first cue said for ``episode``'s fault from its onset to ``after_s`` past its end,
    against the persistence window of the rule that said it (``persist_steps`` contacts, the
    onset's included, and ``persist_s`` from its IC; quick feet's ``cadence_persist_*``).
    ``foot_truth``: the truth rows of both feet, in IC order. The onset is the first contact
    with the fault's truth bit, or the first at or after ``onset_t_s`` if given
    (:func:`half_level_onset_s`). The cue's triggering contact is the truth contact nearest
    to its IC."""
    ics = foot_truth["t_ic_s"]
    if onset_t_s is None:
        has = np.array([episode.fault.value in f.split("+") for f in foot_truth["fault"]])
        on = int(np.flatnonzero(has)[0])
    else:
        on = int(np.searchsorted(ics, onset_t_s - 1e-6))
    said = [d for d in decisions if d.spoken and d.fault == episode.fault.value
            and d.cue is not Cue.PRAISE and ics[on] <= d.t_host_s < episode.t_end_s + after_s]
    # the persistence of the rule that said it (quick feet's is longer), else the default
    n_p, s_p = config.persist_steps, config.persist_s
    if said:
        rule = next(r for r in RULES if r.cue is said[0].cue and r.fault is episode.fault)
        n_p, s_p = rule.persistence(config)
    window = max(n_p - 1, int(np.searchsorted(ics, ics[on] + s_p - 1e-9)) - on)
    if not said:
        return EpisodeTiming(float(ics[on]), window, None, -1)
    # the triggering contact is the truth contact nearest its IC: a detector's IC lies a few
    # ms either side of the truth's (the foot's ~+15 ms on steep descents, the shin's −9 ms)
    t = said[0].trigger_t_ic_s
    j = int(np.searchsorted(ics, t))
    if j == len(ics) or (j > 0 and t - ics[j - 1] < ics[j] - t):
        j -= 1
    return EpisodeTiming(float(ics[on]), window, said[0], j - on)
