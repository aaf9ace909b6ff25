"""The form rules: which metric says which fault, on which sensors, with which thresholds.

A :class:`Rule` reads one STEPS metric of a contact, from rows of the sensor segments in
``sources`` only (the simulator's truth fills every column for every sensor; a foot row's
``peak_tibial_acc_g`` is not a measurement of the foot). A NaN value is "not measured" and
leaves the rule's state untouched. :meth:`Rule.thresholds` gives ``(enter, exit)`` for a grade
(None: the rule is off there). The kit decides which rules run (:mod:`stridecore.coaching.kit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stridecore.coaching.config import CoachConfig
from stridecore.schema import Cue, Fault

_UNITS = (("_deg", "°"), ("_mps", " m/s"), ("_g", " g"), ("_m", " m"))
ABOVE = 1  # fault when the window median is above the enter threshold
BELOW = -1  # fault when below


def impact_prior(cfg: CoachConfig, grade_deg: float) -> float:
    """Tibial impact at ``grade_deg`` over the flat: exp(``impact_prior_per_deg`` × ° of
    descent), 1 on climbs (Gottschall & Kram 2005: +54 % at −9°)."""
    return math.exp(cfg.impact_prior_per_deg * max(-grade_deg, 0.0))


@dataclass(frozen=True)
class Rule:
    """One fault detector.

    ``name``: unique key; ``metric``: STEPS column (``cadence_ratio`` is cadence over the
    grade's target, computed by the engine); ``sources``: sensor segments whose rows may
    give the metric, in preference order; ``needs``: the kit requirement, one of ``foot``,
    ``shin``, ``pelvis``, ``thigh+shin`` (same leg), ``foot&shin`` (both), ``foot|pelvis``,
    ``foot|shin``;
    ``fallback_of``: off when that rule is enabled; ``per_side``: window per leg;
    ``priority``: lower is said first when faults compete; ``baseline``: ``"ratio"`` or
    ``"offset"`` = the metric is compared with the runner's own grade-banded baseline
    (the thresholds are then a ratio to it, or degrees above it), ``""`` = absolute;
    ``disabled``: why the rule never runs (kept for the kit matrix), ``""`` = it runs;
    ``experimental``: runs only with ``CoachConfig.personal_baselines`` (its absolute
    ``fallback_of`` partner runs otherwise); ``symptom``: silent while any higher-priority
    fault is in progress, not only while it builds up (a locked knee, a heel strike and an
    overstride raise tibial impact: their cue is the answer); ``stride_lag``: the metric
    averages the stride ending at a contact (a foot's cadence: its two last steps), so a change
    it shows began up to this many contacts before: a fault episode is dated back that far;
    ``gross_without_grade``: without a grade (no foot sensor) the rule holds one setting for
    every slope, set above a steep descent's normal values, so it catches gross faults only
    (the kit matrix says so).
    """

    name: str
    cue: Cue
    fault: Fault
    metric: str
    sources: tuple[str, ...]
    needs: str
    direction: int
    priority: int
    per_side: bool = False
    fallback_of: str = ""
    provisional: bool = False
    baseline: str = ""
    disabled: str = ""
    experimental: bool = False
    symptom: bool = False
    stride_lag: int = 0
    gross_without_grade: bool = False
    doc: str = ""

    def thresholds(self, cfg: CoachConfig, grade_deg: float) -> tuple[float, float] | None:
        """(enter, exit) at ``grade_deg``; None = muted (climb). Unknown grade (NaN: no foot
        sensor): the descent settings, the impact cap and no climb muting (the product is for
        descents; the flat settings fire on every steep descent a shin-only kit runs down),
        except the knee's flat setting (the descent one fires on tired flat running)."""
        unknown = math.isnan(grade_deg)
        g = cfg.descent_below_deg - 1.0 if unknown else grade_deg
        if g > cfg.climb_above_deg:
            return None
        down = g <= cfg.descent_below_deg
        n = self.name
        if n == "knee":  # unknown grade: the flat setting (a tired runner's knee on the flat
            # peaks at 29-31°; a locked knee on a descent ≤ 24°)
            return ((cfg.knee_peak_min_deg, cfg.knee_peak_exit_deg) if down and not unknown
                    else (cfg.knee_peak_flat_min_deg, cfg.knee_peak_flat_exit_deg))
        if n == "knee_shin":
            return ((cfg.shank_rotation_min_deg, cfg.shank_rotation_exit_deg) if down
                    else (cfg.shank_rotation_flat_min_deg, cfg.shank_rotation_flat_exit_deg))
        if n == "heel":
            return ((cfg.strike_max_deg, cfg.strike_exit_deg) if down
                    else (cfg.strike_flat_max_deg, cfg.strike_flat_exit_deg))
        if n == "stride_abs":
            return ((cfg.shank_ic_max_deg, cfg.shank_ic_exit_deg) if down
                    else (cfg.shank_ic_flat_max_deg, cfg.shank_ic_flat_exit_deg))
        if n == "cadence":
            return cfg.cadence_min_ratio, cfg.cadence_exit_ratio
        if n == "impact":
            return cfg.impact_ratio_enter, cfg.impact_ratio_exit
        if n == "stride":
            return cfg.shank_ic_rise_enter_deg, cfg.shank_ic_rise_exit_deg
        if n == "impact_abs":
            if unknown:
                return cfg.tibial_cap_g, cfg.tibial_cap_g - cfg.tibial_hysteresis_g
            enter = min(cfg.tibial_max_g * impact_prior(cfg, g), cfg.tibial_cap_g)
            return enter, enter - cfg.tibial_hysteresis_g
        if n == "hips":
            return cfg.pelvic_drop_max_deg, cfg.pelvic_drop_exit_deg
        if n == "sway":
            return cfg.pelvis_sway_max_m, cfg.pelvis_sway_exit_m
        if n == "push":
            return cfg.push_off_min_mps, cfg.push_off_exit_mps
        if n == "push_foot":
            return cfg.toe_off_speed_min_mps, cfg.toe_off_speed_exit_mps
        raise KeyError(n)

    def normal_edge(self, cfg: CoachConfig, grade_deg: float, leave: float) -> float:
        """Where the metric leaves the normal band, for dating an episode's start: the exit
        threshold ``leave``, except the landing's on descents (its exit also spans soft
        ground's heel-to-midfoot landing; a heel strike starts where a firm-ground landing
        ends), the knee's without a grade (the flat setting's exit, 28°, lies well inside a
        descent's locked knee: dated from the descent's exit) and light feet's with a known
        grade (``tibial_normal_g`` × the grade prior, where that is lower: a fixed 2 g
        hysteresis leaves the exit ~1.2× the runner's level on steep descents, above a hard
        landing's first contacts)."""
        if self.name == "heel" and not grade_deg > cfg.descent_below_deg:
            return min(leave, cfg.strike_normal_deg)
        if self.name == "knee" and math.isnan(grade_deg):
            return max(leave, cfg.knee_peak_exit_deg)
        if self.name == "impact_abs" and math.isfinite(grade_deg):
            return min(leave, cfg.tibial_normal_g * impact_prior(cfg, grade_deg))
        return leave

    def persistence(self, cfg: CoachConfig) -> tuple[int, float]:
        """(contacts, seconds) a fault must hold before its cue (quick feet's are longer: the
        cadence of single steps scatters most on technical ground)."""
        if self.name == "cadence":
            return cfg.cadence_persist_steps, cfg.cadence_persist_s
        return cfg.persist_steps, cfg.persist_s

    def exit_steps(self, cfg: CoachConfig) -> int:
        """Contacts in a row with the window median past exit that end a fault episode (push
        off's metric scatters across its whole band step to step: 3)."""
        if self.name == "push":
            return cfg.push_exit_steps
        return cfg.strike_exit_steps if self.name == "heel" else cfg.exit_steps

    def backdate_gap_steps(self, cfg: CoachConfig) -> int:
        """Contacts back inside the normal band that a run past it may hold and still date an
        episode (push off's metric scatters across its whole band step to step: none)."""
        return cfg.push_backdate_gap_steps if self.name == "push" else cfg.backdate_gap_steps

    def describe_no_grade(self, cfg: CoachConfig) -> str:
        """The setting without a grade (no foot sensor), for the kit matrix."""
        t = self.thresholds(cfg, math.nan)
        steep = self.thresholds(cfg, cfg.descent_below_deg - 10.0)
        if t is None or self.baseline or steep == self.thresholds(cfg, 0.0):
            return ""  # the same on every slope anyway
        op = ">" if self.direction == ABOVE else "<"
        unit = next((u for suffix, u in _UNITS if self.metric.endswith(suffix)), "")
        what = "gross faults only: " if self.gross_without_grade else ""
        return f"{what}{op} {t[0]:g}{unit} on any slope (no foot sensor: no grade)"

    def describe_thresholds(self, cfg: CoachConfig) -> str:
        """Human-readable thresholds for the docs and the kit matrix."""
        op = ">" if self.direction == ABOVE else "<"
        d, f = self.thresholds(cfg, cfg.descent_below_deg - 1.0), self.thresholds(cfg, 0.0)
        if self.name == "impact":
            return (f"> {cfg.impact_ratio_enter:g} × own baseline (exit "
                    f"{cfg.impact_ratio_exit:g} ×)")
        if self.name == "stride":
            return (f"> own baseline + {cfg.shank_ic_rise_enter_deg:g}° (exit "
                    f"+ {cfg.shank_ic_rise_exit_deg:g}°)")
        if self.name == "impact_abs":
            return (f"> {cfg.tibial_max_g:g} g × exp({cfg.impact_prior_per_deg:g}/° of "
                    f"descent), ≤ {cfg.tibial_cap_g:g} g (exit −{cfg.tibial_hysteresis_g:g} g); "
                    f"no foot: {cfg.tibial_cap_g:g} g")
        assert d is not None and f is not None
        if d == f:
            return f"{op} {d[0]:g} (exit {d[1]:g})"
        return f"descent {op} {d[0]:g} (exit {d[1]:g}); flat {op} {f[0]:g} (exit {f[1]:g})"


RULES: tuple[Rule, ...] = (
    Rule("knee", Cue.SOFTEN_KNEES, Fault.LOCKED_KNEE, "knee_peak_deg", ("thigh", "shin"),
         "thigh+shin", BELOW, 0,
         doc="peak stance knee flexion (form guide: soft knee ≈30–45°)"),
    Rule("knee_shin", Cue.SOFTEN_KNEES, Fault.LOCKED_KNEE, "shank_loading_rotation_deg",
         ("shin",), "shin", BELOW, 0, fallback_of="knee", provisional=True,
         disabled="the shin stage's loading rotation falls to 10–15° in slow running on soft "
                  "ground (truth 28–38°): false cues; needs thigh + shin",
         doc="shin-only proxy: shank rotation from IC to the loading peak"),
    Rule("stride", Cue.SHORTEN_STRIDE, Fault.OVERSTRIDE, "shank_angle_ic_deg", ("shin",),
         "foot&shin", ABOVE, 1, baseline="offset", experimental=True,
         doc="shank to vertical at IC (+ foot ahead) above the runner's own baseline for the "
             "grade band (the grade from the feet)"),
    Rule("stride_abs", Cue.SHORTEN_STRIDE, Fault.OVERSTRIDE, "shank_angle_ic_deg", ("shin",),
         "shin", ABOVE, 1, fallback_of="stride", gross_without_grade=True,
         doc="shank to vertical at IC, absolute thresholds (no foot: grade unknown)"),
    Rule("cadence", Cue.QUICKER_STEPS, Fault.OVERSTRIDE, "cadence_ratio", ("foot",),
         "foot", BELOW, 1, provisional=True, stride_lag=1,
         doc="cadence at the runner's speed over the grade's target (own flat baseline of "
             "cadence / speed^0.25, − 0.35 %/° of descent); the speed from the feet's stride "
             "length"),
    Rule("heel", Cue.LAND_MIDFOOT, Fault.HEEL_STRIKE, "strike_angle_deg", ("foot",), "foot",
         ABOVE, 2, doc="foot strike angle to the ground (+ heel first)"),
    Rule("impact", Cue.SOFTER_LANDING, Fault.HARD_LANDING, "peak_tibial_acc_g", ("shin",),
         "foot&shin", ABOVE, 3, baseline="ratio", experimental=True, symptom=True,
         doc="peak axial tibial acceleration over the runner's own baseline for the grade band "
             "(never a foot sensor's peak)"),
    Rule("impact_abs", Cue.SOFTER_LANDING, Fault.HARD_LANDING, "peak_tibial_acc_g", ("shin",),
         "shin", ABOVE, 3, fallback_of="impact", symptom=True, gross_without_grade=True,
         doc="peak axial tibial acceleration, absolute cap (no foot: grade unknown)"),
    Rule("hips", Cue.HIPS_LEVEL, Fault.HIP_DROP, "pelvic_drop_deg", ("pelvis",), "pelvis",
         ABOVE, 5, per_side=True, doc="contralateral pelvic drop in stance, per leg"),
    Rule("sway", Cue.HIPS_LEVEL, Fault.TORSO_SWAY, "pelvis_sway_m", ("pelvis",), "pelvis",
         ABOVE, 5, per_side=True,
         doc="sideways pelvis excursion toward the stance leg, per leg (the guide's core "
             "item: a braced core keeps the torso from swaying)"),
    Rule("push", Cue.PUSH_OFF, Fault.NO_PUSH_OFF, "push_off_mps", ("pelvis",), "pelvis",
         BELOW, 6, doc="the body's forward velocity gained at the end of stance (a pelvis "
                       "measure: a foot's own speed is not the body's)"),
    Rule("push_foot", Cue.PUSH_OFF, Fault.NO_PUSH_OFF, "toe_off_speed_mps", ("foot",), "foot",
         BELOW, 6, provisional=True,
         disabled="does not separate: the foot pipeline's toe-off speed rises with no push-off "
                  "(median 3.8 vs 3.0 m/s, dev seeds) and falls to ≤ 0 m/s fault-free on rocky "
                  "ground",
         doc="foot's forward speed at toe-off (used where push_off_mps is not measured)"),
)
"""Every rule, in priority order: knees first (the guide's aim is to off-load the knee), then
stride before landing (an overstride lands on the heel: the cause is said first)."""

RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}
