"""The runner: a state machine that writes the gait plan step by step, and listens to cues.

:class:`Runner` walks/runs along a :class:`~stridecore.simulate.route.Route` and produces
``STEP_PLAN_DTYPE`` rows lazily (:meth:`Runner.plan_until`). Per foot contact it chooses, from
its profile and its state (grade, terrain, fatigue, active faults, cues it has taken on):

- gait mode: walks steep climbs (``walk_climb_above_pct``, hysteresis 2 %), forced walk/run on
  scripted stages (walk breaks, the form guide's downhill walk-run drill), optional spontaneous
  walk breaks;
- speed: target pace × a grade factor (slower uphill; a little faster on gentle descents,
  braked on steep ones) × terrain, smoothed with a 2 s time constant;
- cadence and step length (speed = cadence × step length): cadence ∝ speed^0.25, −0.35 %/° of
  descent (downhill: lower step frequency, longer flight; Vernillo 2017 Sports Med 47:615),
  +6 % after an accepted "quicker steps"/"shorten stride" cue (Heiderscheit 2011: +5–10 %);
- contact time: ∝ speed^−0.6 (~0.25 s at pace), barely changed by slope at equal speed;
  walking: 60 % of the stride;
- strike angle: the runner's habit, drawn into the form guide's terrain landing range
  (rocky → forefoot, soft → heel-to-midfoot, dirt → midfoot) by ``terrain_adapt``, +0.5°/° of
  descent (more heel strikes downhill; Vernillo 2017), −0.4°/° uphill;
- knee: at contact 21° level, −0.78°/° of descent (~17° at 9 % down); stance peak 36° level,
  +1.3°/° of descent (~43° at 9 % down); walking 2–5° / ~17°;
- vertical oscillation (flight + stance compression), push-off (less downhill: braking),
  pelvic drop (~5°), trunk sway, impact scale (terrain, faults, variation: a
  multiplier on the renderer's impact model, which has its own speed, strike, grade — +54 %
  at −9°, Gottschall & Kram 2005 — and knee factors);
- step-to-step variability by terrain (rocky: ±5 % timing, ±8 % step length, 2× strike SD);
  left/right asymmetry; fatigue drift from a start time to the end (stance knee flexion
  −30 %; Mizrahi 2000: 13.6 → 8.1° after 30 min). Impact does not drift with fatigue by
  itself: its rise (Mizrahi 2000: 6.9 → 11.1 g, +61 %; Clansey 2012: none) is the profiles'
  hard-landing trigger on tired legs, a labelled fault (+60 %). Drifting it as well (+35 %,
  until 2026-11-27) counted the effect twice (2.2× on a tired descent) and gave runs with
  their faults removed an unlabelled hard landing.

Faults (:class:`~stridecore.schema.Fault`) have a level 0…1 per leg that ramps up/down over
``fault_ramp_steps`` steps toward 1 while a source is active: a scheduled episode (time window
or script stage) or a context trigger of the profile (e.g. heel strike + locked knee on steep
descents; more faults with fatigue). Row values blend from normal to faulted by the level; a
row's ``faults`` bit is set while the level is ≥ 0.5.

Closed loop: :meth:`Runner.cue` delivers a coaching cue at time ``t_s``. With probability
``p`` (:class:`CueResponse`, per fault or global) the runner corrects the faults the cue
addresses (:data:`CORRECTS`) from the row ``d = delay_steps`` after the first row following
``t_s``; the fault stays away until a relapse time, then returns if its source is still active.
Every cue and its outcome is appended to :attr:`Runner.cue_log`.

Lookahead and immutability: ``plan_until(t_s)`` returns every row planned so far, which covers
all rows with ``t_ic_s <= t_s`` and at least ``lookahead_rows`` (≥ 4) rows after ``t_s`` (fewer
only at the end of a finite session). Rows once planned never change; a cue therefore acts no
earlier than the first unplanned row, which ``delay_steps >= lookahead_rows`` guarantees for a
cue given at the time of the latest ``plan_until`` call.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stridecore.schema import Cue, Fault, GaitMode, Side, Terrain
from stridecore.simulate.plan import (
    FAULTS,
    GAIT_MODES,
    SIDES,
    STEP_PLAN_DTYPE,
    TERRAINS,
)
from stridecore.simulate.route import Route, pct_to_deg

G_MPS2 = 9.80665

# --- coaching vocabulary -------------------------------------------------------------------

CORRECTS: dict[Cue, tuple[Fault, ...]] = {
    Cue.SOFTEN_KNEES: (Fault.LOCKED_KNEE,),
    Cue.LAND_MIDFOOT: (Fault.HEEL_STRIKE,),
    Cue.LAND_FOREFOOT: (Fault.HEEL_STRIKE,),
    Cue.QUICK_ROLL: (Fault.HEEL_STRIKE, Fault.SLOW_ROLL),
    Cue.HIPS_LEVEL: (Fault.HIP_DROP, Fault.TORSO_SWAY),
    Cue.SHORTEN_STRIDE: (Fault.OVERSTRIDE,),
    Cue.QUICKER_STEPS: (Fault.OVERSTRIDE,),
    Cue.PUSH_OFF: (Fault.NO_PUSH_OFF,),
    Cue.SOFTER_LANDING: (Fault.HARD_LANDING,),
    Cue.PRAISE: (),
    # system cues (sensor and button events) correct nothing
    Cue.SENSOR_LOST: (),
    Cue.SENSOR_BACK: (),
    Cue.LOW_BATTERY: (),
    Cue.SENSOR_SLIPPED: (),
    Cue.SNOOZED: (),
    Cue.RESUMED: (),
}
"""Which faults a cue, if taken on, corrects."""

CUE_FOR_FAULT: dict[Fault, Cue] = {
    Fault.LOCKED_KNEE: Cue.SOFTEN_KNEES,
    Fault.HEEL_STRIKE: Cue.LAND_MIDFOOT,
    Fault.OVERSTRIDE: Cue.SHORTEN_STRIDE,
    Fault.HIP_DROP: Cue.HIPS_LEVEL,
    Fault.TORSO_SWAY: Cue.HIPS_LEVEL,
    Fault.NO_PUSH_OFF: Cue.PUSH_OFF,
    Fault.HARD_LANDING: Cue.SOFTER_LANDING,
    Fault.SLOW_ROLL: Cue.QUICK_ROLL,
}
"""The default corrective cue of each fault (terrain-independent; see :func:`corrective_cue`)."""

_STEP_CUES = (Cue.QUICKER_STEPS, Cue.SHORTEN_STRIDE)


def corrective_cue(fault: Fault, terrain: Terrain = Terrain.DIRT) -> Cue:
    """The cue the form guide's landing table gives for ``fault`` on ``terrain``: a heel
    strike is answered with "land forefoot" on rocky ground and "quick roll" on soft ground."""
    if fault is Fault.HEEL_STRIKE:
        if terrain is Terrain.ROCKY:
            return Cue.LAND_FOREFOOT
        if terrain is Terrain.SOFT:
            return Cue.QUICK_ROLL
    return CUE_FOR_FAULT[fault]


# --- parameters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CueResponse:
    """How a runner responds to cues.

    ``p_correct``: chance a cue is taken on (``p_by_fault`` overrides it per fault);
    ``delay_steps``: steps from the first row after the cue to the first corrected row (must be
    ≥ the runner's lookahead); ``relapse_s``: time after the correction when the fault may come
    back (× U(1 − jitter, 1 + jitter); ``math.inf`` = never); ``praise_relapse_gain``: praise
    stretches the remaining time to relapse of corrected faults by this factor (an assumption:
    positive feedback helps retention); ``cadence_boost``: step-rate factor after an accepted
    "quicker steps"/"shorten stride" cue (Heiderscheit 2011: +5–10 %).
    """

    p_correct: float = 0.7
    p_by_fault: Mapping[Fault, float] = field(default_factory=dict)
    delay_steps: int = 8
    relapse_s: float = 90.0
    relapse_jitter: float = 0.3
    praise_relapse_gain: float = 1.5
    praise_window_s: float = 30.0
    cadence_boost: float = 1.06

    def p_for(self, fault: Fault) -> float:
        return float(self.p_by_fault.get(fault, self.p_correct))


@dataclass(frozen=True)
class ContextTrigger:
    """A fault the runner is prone to in a context.

    The context holds while the smoothed grade is within [``min_grade_deg``,
    ``max_grade_deg``], fatigue ≥ ``min_fatigue``, the terrain is one of ``terrains`` (empty =
    any) and the gait is ``gait`` (None = any). On entering it the runner succumbs with
    ``probability``; if so the faults' source switches on ``after_steps`` steps in and off when
    the context ends.
    """

    faults: tuple[Fault, ...]
    max_grade_deg: float = 90.0
    min_grade_deg: float = -90.0
    min_fatigue: float = 0.0
    terrains: tuple[Terrain, ...] = ()
    gait: GaitMode | None = GaitMode.RUN
    probability: float = 1.0
    after_steps: int = 6


@dataclass(frozen=True)
class RunnerProfile:
    """A runner's habits, abilities and weaknesses (values on the flat at ``pace_mps``)."""

    name: str = "trail"
    pace_mps: float = 3.0
    cadence_spm: float = 170.0
    contact_s: float = 0.25
    walk_speed_mps: float = 1.35
    walk_cadence_spm: float = 112.0
    runs: bool = True  # False: walks everything
    walk_climb_above_pct: float = 14.0  # walks climbs steeper than this (math.inf: never)
    walk_break_every_s: float = math.inf  # spontaneous walk break after this much running
    walk_break_s: float = 30.0
    strike_habit_deg: float = 4.0  # running strike angle on flat ground (+ heel first)
    strike_sd_deg: float = 2.5
    walk_strike_deg: float = 18.0
    downhill_strike_gain: float = 0.5  # ° of strike angle per ° of descent (≤ 14°)
    terrain_adapt: float = 0.75  # 0…1: how far the runner follows the guide's landing table
    knee_ic_deg: float = 21.0
    knee_peak_deg: float = 36.0
    vert_osc_scale: float = 1.0
    push_off_mps: float = 0.3
    pelvic_drop_deg: float = 5.0
    trunk_sway_deg: float = 2.5
    asym_step_frac: float = 0.0  # left − right step time, fraction
    asym_contact_frac: float = 0.0
    asym_strike_deg: float = 0.0
    asym_pelvic_drop_deg: float = 0.0
    asym_knee_deg: float = 0.0
    variability_scale: float = 1.0
    fatigue_gain: float = 1.0  # 0: no fatigue drift
    triggers: tuple[ContextTrigger, ...] = ()
    fault_ramp_steps: int = 6
    response: CueResponse = field(default_factory=CueResponse)


@dataclass(frozen=True)
class Stage:
    """What the runner is told to do on ``[x_start_m, x_end_m)`` of the route: a forced gait
    (walk break, drill), a speed factor, the downhill walk-run ``drill`` (soft knees, midfoot,
    no context faults) and scheduled ``faults`` while on it."""

    x_start_m: float
    x_end_m: float
    label: str
    gait: GaitMode | None = None
    speed_factor: float = 1.0
    drill: bool = False
    faults: tuple[Fault, ...] = ()


@dataclass(frozen=True)
class FaultEpisode:
    """A fault scheduled on ``[t_start_s, t_end_s)``, on one leg or both (``side=None``).
    ``severity``: the level the fault ramps to, in the same ``fault_ramp_steps`` (1: the
    profile's fault; 2 doubles its effect, for the gross faults a kit without a grade can still
    catch; on a −15 % descent, truth tibial impact × 1.6–1.9 over the runner's level at 2,
    × 1.8–2.05 at 3, against × 1.3–1.55 at 1; shank angle at contact +6.5–7° and +10–11°,
    against +3–3.5°)."""

    fault: Fault
    t_start_s: float
    t_end_s: float
    side: Side | None = None
    severity: float = 1.0


@dataclass(frozen=True)
class SessionScript:
    """A route plus the instructions of a session. ``fatigue_window_s`` (start, end) of the
    fatigue drift; None = the last third of ``duration_s``."""

    route: Route
    duration_s: float
    stages: tuple[Stage, ...] = ()
    episodes: tuple[FaultEpisode, ...] = ()
    fatigue_window_s: tuple[float, float] | None = None
    name: str = ""


# cue outcomes
CORRECTED = "corrected"
IGNORED = "ignored"
NOT_PRESENT = "not_present"
PENDING = "pending"
PRAISE = "praise"


@dataclass
class CueRecord:
    """One cue received. ``row_idx``: first plan row after ``t_s``; ``effect_idx``: first
    corrected row (None unless corrected / cadence boost); ``effect_t_s`` and ``relapse_t_s``
    are filled once that row is planned; ``deserved`` (praise only): a correction took effect
    within the praise window and is still holding."""

    t_s: float
    cue: Cue | Fault
    targets: tuple[Fault, ...]
    present: tuple[Fault, ...]
    outcome: str
    p: float
    draw: float
    row_idx: int
    effect_idx: int | None = None
    effect_t_s: float | None = None
    relapse_t_s: float | None = None
    cadence_boost: bool = False
    deserved: bool | None = None


EXTRA_DTYPE = np.dtype([
    ("stage", np.int16),  # index into the runner's stages, -1 = none
    ("fatigue", np.float64),  # 0…1
    ("step_s", np.float64),  # this IC to the next row's IC
    ("step_length_m", np.float64),  # this IC to the next row's IC, along the path
    ("sources", np.uint16),  # fault-source bits (scheduled/context) before suppression
    ("cadence_boost", np.bool_),  # an accepted quicker-steps cue is in force
    ("drill", np.bool_),
])
"""Per-row state the plan does not carry (:attr:`Runner.extras`)."""

# --- model tables ---------------------------------------------------------------------------

_RUN_SPEED_GRADE = (np.array([-30, -20, -15, -10, -5, 0, 5, 10, 15], float),
                    np.array([0.78, 0.96, 1.02, 1.05, 1.05, 1.0, 0.88, 0.77, 0.68]))
_WALK_SPEED_GRADE = (np.array([-30, -15, -5, 0, 10, 15], float),
                     np.array([0.72, 0.9, 1.02, 1.0, 0.85, 0.78]))
_RUN_SPEED_TERRAIN = {Terrain.PAVED: 1.02, Terrain.DIRT: 1.0, Terrain.ROCKY: 0.88,
                      Terrain.SOFT: 0.92}
_WALK_SPEED_TERRAIN = {Terrain.PAVED: 1.0, Terrain.DIRT: 1.0, Terrain.ROCKY: 0.9,
                       Terrain.SOFT: 0.95}


@dataclass(frozen=True)
class _TerrainVar:
    step_cv: float
    length_cv: float
    strike_mult: float
    impact_cv: float
    roll_cv: float
    impact_base: float


_TERRAIN = {
    Terrain.PAVED: _TerrainVar(0.012, 0.012, 0.8, 0.06, 0.10, 1.10),
    Terrain.DIRT: _TerrainVar(0.020, 0.025, 1.0, 0.08, 0.12, 1.00),
    Terrain.SOFT: _TerrainVar(0.025, 0.035, 1.2, 0.10, 0.15, 0.70),
    Terrain.ROCKY: _TerrainVar(0.050, 0.080, 2.0, 0.18, 0.20, 1.05),
}
# the guide's landing table as strike-angle ranges (°): rocky → on the ball of the foot,
# soft → heel-to-midfoot, dirt → midfoot (LANDING_CUTOFFS' midfoot class); paved: no advice
_TERRAIN_STRIKE_DEG = {Terrain.ROCKY: (-12.0, -6.0), Terrain.SOFT: (6.0, 11.0),
                       Terrain.DIRT: (-1.6, 8.0)}

_FI = {f: i for i, f in enumerate(FAULTS)}
_N_FAULTS = len(FAULTS)
_N_NOISE = 14


def nominal_speed_mps(profile: RunnerProfile, grade_pct: float,
                      terrain: Terrain = Terrain.DIRT, gait: GaitMode | None = None,
                      speed_factor: float = 1.0) -> float:
    """The speed (m/s) the runner aims for on ``grade_pct`` and ``terrain`` (no fatigue, no
    noise); ``gait`` None = the runner's own choice (walks steep climbs)."""
    if gait is None:
        gait = (GaitMode.WALK if not profile.runs or grade_pct > profile.walk_climb_above_pct
                else GaitMode.RUN)
    if gait is GaitMode.WALK or not profile.runs:
        v = (profile.walk_speed_mps * float(np.interp(grade_pct, *_WALK_SPEED_GRADE))
             * _WALK_SPEED_TERRAIN[terrain])
        return min(max(v * min(speed_factor, 1.2), 0.6), 2.0)
    v = profile.pace_mps * float(np.interp(grade_pct, *_RUN_SPEED_GRADE))
    return max(v * _RUN_SPEED_TERRAIN[terrain] * speed_factor, 1.6)


def _lerp(a: float, b: float, w: float) -> float:
    return a + (b - a) * w


class Runner:
    """A simulated runner on a route, writing the gait plan lazily (see the module doc).

    ``seed`` fixes all randomness (step noise, context-trigger draws and cue draws use separate
    streams, so cues change only what they correct). ``stages``/``episodes`` script the
    session; ``duration_s`` ends it (no row after it); the fatigue drift runs over
    ``fatigue_window_s`` (default: the last third of ``duration_s``; none without a duration).
    ``response`` overrides ``profile.response``.
    """

    def __init__(self, profile: RunnerProfile, route: Route, seed: int = 0, *,
                 stages: Sequence[Stage] = (), episodes: Sequence[FaultEpisode] = (),
                 duration_s: float | None = None,
                 fatigue_window_s: tuple[float, float] | None = None,
                 response: CueResponse | None = None, lookahead_rows: int = 4,
                 t0_s: float = 1.0) -> None:
        self.profile = profile
        self.route = route
        self.seed = int(seed)
        self.response = profile.response if response is None else response
        if lookahead_rows < 4:
            raise ValueError("lookahead_rows must be ≥ 4")
        if self.response.delay_steps < lookahead_rows:
            raise ValueError(f"cue delay_steps ({self.response.delay_steps}) must be ≥ "
                             f"lookahead_rows ({lookahead_rows}): planned rows never change")
        self.lookahead_rows = int(lookahead_rows)
        self.stages = tuple(sorted(stages, key=lambda s: s.x_start_m))
        self._stage_starts = [s.x_start_m for s in self.stages]
        self.episodes = tuple(episodes)
        self.duration_s = duration_s
        if fatigue_window_s is None and duration_s is not None:
            fatigue_window_s = (duration_s * 2 / 3, duration_s)
        self.fatigue_window_s = fatigue_window_s
        self.cue_log: list[CueRecord] = []

        self._rng = np.random.default_rng([self.seed, 1])
        self._trig_rng = np.random.default_rng([self.seed, 2])
        self._cue_rng = np.random.default_rng([self.seed, 3])
        cap = 1024
        self._plan = np.zeros(cap, STEP_PLAN_DTYPE)
        self._extra = np.zeros(cap, EXTRA_DTYPE)
        self._levels = np.zeros((cap, _N_FAULTS), np.float32)
        self._n = 0
        self._done = False
        # state
        self._next_t = float(t0_s)
        self._next_x = 0.0
        self._side = int(self._rng.integers(2))
        self._v: float | None = None
        self._gait: GaitMode | None = None
        self._walking_climb = False
        self._run_since_t = float(t0_s)
        self._break_until_t = -math.inf
        self._lv = [[0.0, 0.0] for _ in range(_N_FAULTS)]  # fault level per [fault][side]
        self._trig = [[False, 0, False] for _ in profile.triggers]  # in ctx, steps, succumbed
        self._suppressed_until = [-math.inf] * _N_FAULTS
        self._corrected_by: dict[Fault, CueRecord] = {}
        self._pending: list[tuple[int, CueRecord, float]] = []  # effect row, record, hold s
        self._boost_until_t = -math.inf
        self._strike_ar = 0.0
        self._speed_ar = 0.0
        self._prev_step_s = 0.35

    @classmethod
    def from_script(cls, profile: RunnerProfile, script: SessionScript, seed: int = 0,
                    **kwargs: object) -> Runner:
        """A runner following ``script`` (its route, stages, episodes, duration, fatigue)."""
        return cls(profile, script.route, seed, stages=script.stages,
                   episodes=script.episodes, duration_s=script.duration_s,
                   fatigue_window_s=script.fatigue_window_s, **kwargs)  # type: ignore[arg-type]

    # --- public API -----------------------------------------------------------------------
    @property
    def n_planned(self) -> int:
        return self._n

    @property
    def plan(self) -> np.ndarray:
        """A copy of every row planned so far."""
        return self._plan[: self._n].copy()

    @property
    def extras(self) -> np.ndarray:
        """Per planned row: stage, fatigue, step time/length to the next IC, fault sources,
        cadence boost, drill (:data:`EXTRA_DTYPE`)."""
        return self._extra[: self._n].copy()

    @property
    def fault_levels(self) -> np.ndarray:
        """Per planned row, each fault's level 0…1 on that row's leg (columns: ``FAULTS``)."""
        return self._levels[: self._n].copy()

    @property
    def finished(self) -> bool:
        """True once the session's duration is reached (no more rows will come)."""
        return self._done

    def plan_until(self, t_s: float) -> np.ndarray:
        """Every row planned so far, after planning all rows with ``t_ic_s <= t_s`` and
        ``lookahead_rows`` more (fewer at the end of the session). Returned rows never change;
        later calls return a longer (or equal) plan with this one as its prefix."""
        self._plan_through(t_s, self.lookahead_rows)
        return self.plan

    def row_after(self, t_s: float) -> int:
        """Index of the first row with ``t_ic_s > t_s`` (planning up to it if needed)."""
        self._plan_through(t_s, 1)
        return int(np.searchsorted(self._plan["t_ic_s"][: self._n], t_s, side="right"))

    def cue(self, cue: Cue | Fault, t_s: float) -> CueRecord:
        """A coaching cue (or a fault to correct directly) reaches the runner at ``t_s``.

        Takes effect ``delay_steps`` after the first row following ``t_s`` (never on a planned
        row) with probability ``p`` if a fault it addresses is present; PRAISE stretches the
        time to relapse of faults recently corrected. Returns the log record."""
        resp = self.response
        if not isinstance(cue, Fault):
            cue = Cue(cue)
        k = self.row_after(t_s)
        now = k - 1
        targets = (cue,) if isinstance(cue, Fault) else CORRECTS[cue]
        draw, jitter = (float(u) for u in self._cue_rng.random(2))
        if cue is Cue.PRAISE:
            rec = CueRecord(t_s, cue, (), (), PRAISE, 1.0, draw, k)
            recent = [r for r in self._corrected_by.values()
                      if r.effect_t_s is not None and t_s - resp.praise_window_s
                      <= r.effect_t_s <= t_s]
            held = [r for r in recent
                    if all(not self._bit(now, f) for f in r.present)]
            rec.deserved = bool(held)
            for f, r in self._corrected_by.items():
                until = self._suppressed_until[_FI[f]]
                if r.effect_t_s is not None and until > t_s and math.isfinite(until):
                    new = t_s + (until - t_s) * resp.praise_relapse_gain
                    self._suppressed_until[_FI[f]] = new
                    r.relapse_t_s = new
            self.cue_log.append(rec)
            return rec
        pending = {f for _, r, _ in self._pending for f in r.present if r.outcome == CORRECTED}
        present = tuple(f for f in targets if self._present(now, f, t_s))
        p = resp.p_for(present[0] if present else targets[0])
        effect = max(k + resp.delay_steps, self._n)
        if present and all(f in pending for f in present):
            outcome = PENDING
        elif present:
            outcome = CORRECTED if draw < p else IGNORED
        else:
            outcome = NOT_PRESENT
        rec = CueRecord(t_s, cue, targets, present, outcome, p, draw, k)
        boost = cue in _STEP_CUES and draw < p
        if outcome == CORRECTED or boost:
            rec.effect_idx = effect
            rec.cadence_boost = boost
            hold_s = resp.relapse_s * (1 + resp.relapse_jitter * (2 * jitter - 1))
            self._pending.append((effect, rec, hold_s))
        self.cue_log.append(rec)
        return rec

    # --- internals ------------------------------------------------------------------------
    def _bit(self, row: int, f: Fault) -> bool:
        return row >= 0 and bool(self._plan["faults"][row] >> _FI[f] & 1)

    def _present(self, row: int, f: Fault, t_s: float) -> bool:
        """Fault ``f`` shows (or is about to: its source is on and not suppressed) on the
        latest contact of either leg at or before ``row``."""
        for r in (row, row - 1):
            if r < 0:
                continue
            if self._bit(r, f):
                return True
            if self._extra["sources"][r] >> _FI[f] & 1 and t_s >= self._suppressed_until[_FI[f]]:
                return True
        return False

    def _plan_through(self, t_s: float, n_after: int) -> None:
        while not self._done:
            n = self._n
            if n >= n_after and self._plan["t_ic_s"][n - n_after] > t_s:
                return
            self._step()

    def _stage_at(self, x: float) -> tuple[int, Stage | None]:
        i = bisect.bisect_right(self._stage_starts, x) - 1
        if i >= 0 and x < self.stages[i].x_end_m:
            return i, self.stages[i]
        return -1, None

    def _fatigue(self, t: float) -> float:
        if self.fatigue_window_s is None:
            return 0.0
        a, b = self.fatigue_window_s
        return min(max((t - a) / max(b - a, 1e-9), 0.0), 1.0)

    def _grow(self) -> None:
        cap = 2 * self._plan.size
        for name in ("_plan", "_extra", "_levels"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _choose_gait(self, t: float, grade_pct: float, stage: Stage | None) -> GaitMode:
        prof = self.profile
        if not prof.runs:
            return GaitMode.WALK
        if stage is not None and stage.gait is not None:
            return stage.gait
        if t < self._break_until_t:
            return GaitMode.WALK
        thr = prof.walk_climb_above_pct
        self._walking_climb = grade_pct > (thr - 2.0 if self._walking_climb else thr)
        if self._walking_climb:
            return GaitMode.WALK
        if (self._gait is GaitMode.RUN and t - self._run_since_t >= prof.walk_break_every_s
                and abs(grade_pct) < 6.0):
            self._break_until_t = t + prof.walk_break_s
            return GaitMode.WALK
        return GaitMode.RUN

    def _step(self) -> None:
        prof, resp = self.profile, self.response
        i, t, x = self._n, self._next_t, self._next_x
        if self.duration_s is not None and t > self.duration_s:
            self._done = True
            return
        if i >= self._plan.size:
            self._grow()
        side = self._side
        sgn = 0.5 if side == 0 else -0.5  # left + half the asymmetry, right − half
        z = self._rng.standard_normal(_N_NOISE).tolist()
        vs = prof.variability_scale

        grade_pct = float(self.route.grade_pct(x))
        grade = pct_to_deg(grade_pct)
        z_ic, grade_foot = self.route.footfall(x)
        terrain = self.route.terrain(x)
        tv = _TERRAIN[terrain]
        stage_i, stage = self._stage_at(x)
        drill = stage is not None and stage.drill
        fat = self._fatigue(t) * prof.fatigue_gain
        down = min(max(-grade, 0.0), 14.0)  # ° of descent used by the slope laws
        up = min(max(grade, 0.0), 10.0)

        # corrections and cadence boosts that take effect on this row
        for item in [p for p in self._pending if p[0] == i]:
            rec, rel = item[1], t + item[2]
            rec.effect_t_s, rec.relapse_t_s = t, rel
            if rec.outcome == CORRECTED:
                for f in rec.present:
                    fi = _FI[f]
                    self._suppressed_until[fi] = rel
                    self._lv[fi] = [min(v, 0.45) for v in self._lv[fi]]
                    self._corrected_by[f] = rec
            if rec.cadence_boost:
                self._boost_until_t = rel
            self._pending.remove(item)
        boost = t < self._boost_until_t

        # gait and speed
        gait = self._choose_gait(t, grade_pct, stage)
        sf = stage.speed_factor if stage is not None else 1.0
        if gait is GaitMode.RUN:
            target = nominal_speed_mps(prof, grade_pct, terrain, gait, sf) * (1 - 0.05 * fat)
        else:
            target = nominal_speed_mps(prof, grade_pct, terrain, gait, sf)
        self._speed_ar = 0.97 * self._speed_ar + 0.006 * vs * z[10]
        target *= 1 + self._speed_ar
        if self._v is None:
            self._v = 0.7 * target
        if gait is not self._gait:
            if gait is GaitMode.WALK:
                self._v = min(self._v, 2.0)
            else:
                self._v = max(self._v, min(target, 2.0))
                self._run_since_t = t
        prev_step = self._prev_step_s
        tau = 2.0 if gait is GaitMode.RUN else 1.0
        self._v += (target - self._v) * (1 - math.exp(-prev_step / tau))
        v = self._v
        self._gait = gait
        run = gait is GaitMode.RUN

        # fault sources → levels
        src = [[0.0, 0.0] for _ in range(_N_FAULTS)]  # the level each leg ramps to
        if stage is not None:
            for f in stage.faults:
                src[_FI[f]] = [1.0, 1.0]
        for ep in self.episodes:
            if ep.t_start_s <= t < ep.t_end_s:
                fi = _FI[ep.fault]
                for s in range(2):
                    if ep.side is None or SIDES[s] is ep.side:
                        src[fi][s] = max(src[fi][s], ep.severity)
        for trig, st in zip(prof.triggers, self._trig, strict=True):
            cond = (trig.min_grade_deg <= grade <= trig.max_grade_deg
                    and fat >= trig.min_fatigue
                    and (not trig.terrains or terrain in trig.terrains)
                    and (trig.gait is None or trig.gait is gait))
            if cond and not st[0]:
                st[2] = bool(self._trig_rng.random() < trig.probability)
                st[1] = 0
            st[0] = cond
            if cond:
                st[1] += 1
                if st[2] and st[1] > trig.after_steps and not drill:
                    for f in trig.faults:
                        src[_FI[f]] = [max(x, 1.0) for x in src[_FI[f]]]
        rate = 1.0 / max(prof.fault_ramp_steps, 1)
        src_bits = 0
        for fi in range(_N_FAULTS):
            sup = t < self._suppressed_until[fi]
            if src[fi][side]:
                src_bits |= 1 << fi
            for s in range(2):
                tgt = 0.0 if sup else src[fi][s]
                lv = self._lv[fi][s]
                dn = max(rate, 0.25) if sup else rate
                rise = rate * max(tgt, 1.0)  # a severe episode ramps up in the same steps
                self._lv[fi][s] = lv + min(max(tgt - lv, -dn), rise)
        L = [self._lv[fi][side] for fi in range(_N_FAULTS)]
        lk, hs, os_ = L[_FI[Fault.LOCKED_KNEE]], L[_FI[Fault.HEEL_STRIKE]], \
            L[_FI[Fault.OVERSTRIDE]]
        hd, ts, npo = L[_FI[Fault.HIP_DROP]], L[_FI[Fault.TORSO_SWAY]], \
            L[_FI[Fault.NO_PUSH_OFF]]
        hl, sr = L[_FI[Fault.HARD_LANDING]], L[_FI[Fault.SLOW_ROLL]]

        # cadence, step, contact
        if run:
            cad = (prof.cadence_spm * (v / prof.pace_mps) ** 0.25
                   * (1 - 0.0035 * down + 0.0025 * up) * (1 - 0.02 * fat))
            cad *= resp.cadence_boost if boost else 1.0
            cad *= 1 - 0.08 * os_
        else:
            cad = prof.walk_cadence_spm * (v / prof.walk_speed_mps) ** 0.5
        step_cv = tv.step_cv * vs * (1.0 if run else 0.7)
        step_s = 60.0 / cad * (1 + prof.asym_step_frac * sgn) * (1 + step_cv * z[0])
        step_len = v * step_s * (1 + tv.length_cv * vs * z[1])
        if run:
            contact = (prof.contact_s * (v / prof.pace_mps) ** -0.6
                       * (1 + 0.004 * up - 0.002 * down) * (1 + 0.05 * os_)
                       * (1.05 if terrain is Terrain.SOFT else 1.0)
                       * (1 + prof.asym_contact_frac * sgn) * (1 + 0.03 * vs * z[3]))
            contact = min(max(contact, 0.15), step_s - 0.03)
        else:
            contact = 1.2 * step_s * (1 + prof.asym_contact_frac * sgn) * (1 + 0.02 * z[3])
        flight = max(step_s - contact, 0.0)

        # strike angle (+ heel first) and roll
        self._strike_ar = 0.98 * self._strike_ar + 0.2 * z[11]
        sd = prof.strike_sd_deg * tv.strike_mult * vs
        if run:
            base = prof.strike_habit_deg
            if terrain in _TERRAIN_STRIKE_DEG:
                lo, hi = _TERRAIN_STRIKE_DEG[terrain]
                base = _lerp(base, min(max(base, lo), hi), prof.terrain_adapt)
            base += prof.downhill_strike_gain * down - 0.4 * up + 2.0 * fat
            if drill:
                base = min(base, 3.0)
            if boost:
                base -= 2.0
        else:
            base = prof.walk_strike_deg + 0.3 * down - 0.3 * up
            if drill:
                base = 5.0
        strike = base + prof.asym_strike_deg * sgn + self._strike_ar + sd * z[2]
        strike = _lerp(strike, max(strike + 12.0, 20.0 + 1.5 * z[2]), hs) + 7.0 * os_
        if run:
            roll = 0.025 + 0.0035 * strike if strike >= 0 else 0.03 + 0.004 * -strike
        else:
            roll = 0.06 + 0.003 * max(strike, 0.0)
        if terrain is Terrain.SOFT:
            roll *= 1.4 - 0.3 * prof.terrain_adapt  # quick roll when following the guide
        roll *= math.exp(tv.roll_cv * z[12])
        roll = _lerp(roll, max(2.2 * roll, 0.13), sr)
        roll = min(roll, (0.6 if run else 0.4) * contact)

        # knee
        if run:
            k_ic = max(prof.knee_ic_deg - 0.78 * down + 0.4 * up, 6.0)
            k_pk = min(prof.knee_peak_deg + 1.3 * down + 0.2 * up, 56.0)
            if terrain is Terrain.SOFT:
                k_ic += 1.0
            if drill:
                k_ic, k_pk = k_ic + 3.0, k_pk + 4.0
            if boost:
                k_pk -= 1.5
        else:
            k_ic = 3.0
            k_pk = 17.0 + 0.6 * down
            if drill:
                k_ic, k_pk = 8.0, 25.0
        k_ic += prof.asym_knee_deg * sgn + 1.5 * vs * z[4]
        flex = max(k_pk - k_ic + 2.0 * vs * z[5], 3.0) * (1 - 0.3 * fat)
        k_ic -= 3.0 * os_
        lk_ic = max(k_ic - (9.0 if run else 3.0), 0.5)
        flex = _lerp(flex, 0.45 * flex, lk)
        k_ic = _lerp(k_ic, lk_ic, lk)
        k_pk = k_ic + flex

        # vertical oscillation, push-off, pelvis, trunk, impact
        if run:
            vo = (0.02 + G_MPS2 * (flight + 0.4 * contact) ** 2 / 8) * (1 - 0.15 * lk)
            po = prof.push_off_mps * max(1 + 0.04 * up - 0.03 * down, 0.2)
        else:
            vo, po = 0.035, 0.12
        vo *= prof.vert_osc_scale * (1 + 0.05 * z[13])
        po *= (1 - 0.93 * npo) * (1 - 0.3 * os_) * (1 + 0.1 * z[9])
        pd = (prof.pelvic_drop_deg * (1.0 if run else 0.8) + prof.asym_pelvic_drop_deg * sgn
              + 1.5 * fat + (0.5 if terrain is Terrain.ROCKY else 0.0) + 0.6 * z[6])
        pd = max(pd, 0.5) + 6.0 * hd
        sway = (prof.trunk_sway_deg + (1.0 if terrain is Terrain.ROCKY else 0.0) + 1.0 * fat
                + 0.4 * z[7])
        sway = max(sway, 0.3) + 6.0 * ts
        # what the renderer's impact model (render.impact_peak_g) does not read from the row:
        # gait, speed, strike, grade and knee angle are its own factors, not repeated here
        imp = tv.impact_base
        # (fatigue raises impact only through the hard-landing fault: module doc)
        imp *= (0.95 if boost else 1.0) * (1 + 0.3 * lk) * (1 + 0.2 * os_)
        imp *= (1 + 0.6 * hl) * math.exp(tv.impact_cv * vs * z[8])

        bits = 0
        for fi in range(_N_FAULTS):
            if L[fi] >= 0.5:
                bits |= 1 << fi
        self._plan[i] = (side, GAIT_MODES.index(gait), t, contact, x, z_ic, grade_foot,
                         TERRAINS.index(terrain), v, strike, roll, k_ic, k_pk, vo, po, pd,
                         sway, imp, bits)
        self._extra[i] = (stage_i, fat, step_s, step_len, src_bits, boost, drill)
        self._levels[i] = L
        self._n = i + 1
        self._next_t = t + step_s
        self._next_x = x + step_len
        self._prev_step_s = step_s
        self._side = 1 - side
