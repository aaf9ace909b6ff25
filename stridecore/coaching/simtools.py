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

from stridecore.schema import Fault, Placement, Terrain
from stridecore.simulate.imu import SensorSpec
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
                        terrain: Terrain = Terrain.DIRT, profile: str = "trail"
                        ) -> tuple[Runner, list[FaultEpisode], float]:
    """A fault-free runner on one long constant descent with one scheduled episode per fault
    (``fault_s`` long, ``gap_s`` apart, the first after ``lead_s``). Returns the runner, the
    episodes and the session duration (s)."""
    eps, t = [], lead_s
    for f in faults:
        eps.append(FaultEpisode(f, t, t + fault_s))
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
