"""Every setting of the cue engine, in one frozen dataclass (units in the field names).

Thresholds are window medians (``window_steps`` contacts, both legs; hip drop per leg) compared
with an *enter* value; the fault is left only past the relaxed *exit* value (hysteresis).
"Descent" is a smoothed foot grade ≤ ``descent_below_deg``, "climb" > ``climb_above_deg``,
anything between is "flat". An unknown grade (no foot sensor) takes the descent settings
(:meth:`~stridecore.coaching.rules.Rule.thresholds`). ``docs/coaching.md`` has the
rules table and where each number comes from; the thresholds marked provisional there were set
on the simulator only (fault-free vs faulted truth, ``benchmarks/coaching_sim.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CoachConfig:
    """Cue-engine settings. Times in s, angles in °, accelerations in g, speeds in m/s."""

    # --- contact assembly (rows of several sensors -> one step) ------------------------------
    pair_tolerance_s: float = 0.04  # foot and shin rows of one contact: |ΔIC| ≤ this
    settle_s: float = 0.5  # a contact is complete once a row with IC this much later arrives
    settle_timeout_s: float = 1.5  # ... or, without new rows, once tick() is this far past IC
    # --- context ------------------------------------------------------------------------------
    grade_window_steps: int = 5  # median of this many foot grades (rocky ground tilts ±5°)
    descent_below_deg: float = -2.86  # −5 %: descent rules and targets below this
    climb_above_deg: float = 2.86  # +5 %: form cues muted above this
    stop_s: float = 4.0  # no contact for this long = a stop: every fault episode ends
    # --- persistence, spacing, fading --------------------------------------------------------
    window_steps: int = 3  # median of the last contacts with the metric (both legs)
    side_window_steps: int = 3  # per-leg median (hip drop: one-sided)
    persist_steps: int = 16  # a fault must hold this many contacts ...
    persist_s: float = 6.0  # ... and this long before its cue (science.md: ~8 s or N steps)
    cadence_persist_steps: int = 20  # quick feet's: a step's cadence on rocky ground scatters
    cadence_persist_s: float = 7.5  # ±6 %, against a −5.5 % threshold (dev seeds, 35 h: 16
    # contacts / 6 s said one false "Quick feet" on fault-free rocky running, 20 / 7.5 none)
    exit_steps: int = 1  # a fault ends once its window median stays past exit this many contacts
    # (quick feet's too: 2 kept a slow-feet episode through one 3-median at 0.961, +9 late on
    # a dev seed, but said false cues on rocky ground)
    push_exit_steps: int = 3  # ... push off's (its step-to-step scatter spans its band)
    strike_exit_steps: int = 3  # ... land midfoot's (detected heel strikes' 3-medians dip
    # below exit for 1-2 contacts on 9 of 40 dev episodes; a dip restarted the persistence)
    backdate_steps: int = 4  # a fault's episode starts where its metric left the normal band
    # (past the exit threshold), at most this many contacts before it first passed enter (a
    # run that began earlier is dated there)
    backdate_gap_steps: int = 1  # contacts back inside the normal band that a run past it
    # may hold (a single in-band contact between two past the edge does not restart it)
    push_backdate_gap_steps: int = 0  # ... push off's (1 dated scatter on rocky ground into
    # a false "Push off")
    floor_s: float = 20.0  # global minimum between two form cues (praise included)
    cooldown_s: float = 45.0  # the same cue again, after its first saying
    cooldown_growth: float = 1.5  # × per further saying of that cue (fading)
    cooldown_max_s: float = 600.0
    clip_s: float = 2.5  # one cue at a time: no cue starts within this of the previous one
    # --- praise -------------------------------------------------------------------------------
    praise_hold_steps: int = 12  # a cued fault must stay corrected this many contacts
    praise_window_s: float = 60.0  # ... confirmed within this long after its cue
    praise_cooldown_s: float = 240.0  # at most one praise per this long
    # --- system cues --------------------------------------------------------------------------
    snooze_s: float = 300.0  # button press: form cues paused this long
    low_battery_repeat_s: float = 900.0  # "battery low" again for the same sensor after this
    slipped_repeat_s: float = 60.0  # "sensor slipped" again for the same sensor after this
    # --- soften knees (knee_peak_deg: thigh + shin on one leg) ----------------------------------
    knee_peak_min_deg: float = 30.0  # descent: peak stance flexion below this = locked knee
    knee_peak_exit_deg: float = 33.0
    knee_peak_flat_min_deg: float = 25.0  # flat: milder
    knee_peak_flat_exit_deg: float = 28.0
    # shin-only proxy (shank_loading_rotation_deg), PROVISIONAL: no validated cut-off exists
    shank_rotation_min_deg: float = 18.0
    shank_rotation_exit_deg: float = 21.0
    shank_rotation_flat_min_deg: float = 12.0
    shank_rotation_flat_exit_deg: float = 15.0
    # --- land midfoot (strike_angle_deg, foot) ------------------------------------------------
    strike_max_deg: float = 18.0  # descent: heel-first landing above this (class cut-off 8°)
    strike_exit_deg: float = 17.0  # soft ground's heel-to-midfoot (the guide) holds 15-16°
    # for 16 contacts on steep descents (3-median, dev seeds, 1 h): exit 14 said false cues
    strike_normal_deg: float = 14.0  # descent: a landing above this has left the firm-ground
    # midfoot band (dates the episode's start; a simulated heel strike ramps in through it)
    strike_flat_max_deg: float = 20.0
    strike_flat_exit_deg: float = 16.0
    # --- personal, grade-banded baselines (light feet, shorten stride; foot + shin kits) -------
    # EXPERIMENTAL, off: on the simulator they catch hard landing and overstride but say
    # 3-5 false "light feet" per hour on fault-free runs (fatigue, rocky ground; dev seeds)
    personal_baselines: bool = False
    # bands by the smoothed foot grade: flat > descent_below_deg ≥ moderate > steep_below_deg
    steep_below_deg: float = -6.84  # −12 %
    baseline_min_steps: int = 40  # contacts in a band before its own baseline holds
    baseline_memory_steps: int = 600  # median of the last this many contacts of the band
    # literature prior for the grade effect (used to carry a learnt band to an unlearnt one and
    # within a band): impact × exp(k · ° of descent), k = ln(1.54)/9 (+54 % at −9°,
    # Gottschall & Kram 2005); shank angle at IC + this many ° per ° of descent (simulator)
    impact_prior_per_deg: float = 0.048
    shank_ic_prior_deg_per_deg: float = 0.3
    # --- shorten stride (shank_angle_ic_deg, shin) --------------------------------------------
    shank_ic_rise_enter_deg: float = 3.0  # own baseline + this = overstride (foot + shin)
    shank_ic_rise_exit_deg: float = 2.0
    shank_ic_max_deg: float = 13.0  # descent: foot far ahead at contact
    shank_ic_exit_deg: float = 11.0
    shank_ic_flat_max_deg: float = 11.0
    shank_ic_flat_exit_deg: float = 9.5
    # --- quick feet (cadence at the runner's speed vs the grade's target, foot) ---------------
    cadence_min_ratio: float = 0.945  # speed-normalised cadence below this × the grade's target
    cadence_exit_ratio: float = 0.96
    cadence_speed_exponent: float = 0.25  # cadence ∝ speed^k (Cavanagh & Kram 1989)
    cadence_descent_pct_per_deg: float = 0.35  # target: −0.35 %/° of descent (Vernillo 2017)
    cadence_baseline_steps: int = 60  # running contacts before the own baseline holds
    cadence_baseline_memory_steps: int = 600  # median of the last this many (grade-normalised)
    # --- light feet (peak_tibial_acc_g, shin only) --------------------------------------------
    impact_ratio_enter: float = 1.35  # × own baseline = hard landing (foot + shin)
    impact_ratio_exit: float = 1.25
    # shin without feet (grade unknown): absolute settings
    tibial_max_g: float = 10.4  # flat: impact above this (each contact's impact carried to
    # the smoothed grade from its own; dev seeds, 25 h fault-free: 0 false cues at 10.2-10.4,
    # hard landing ≤ window + 3; without the carry 9.6 said 2, 10.4 was up to +17 late) ...
    # ... × exp(impact_prior_per_deg × ° of descent) (the grade prior above) ...
    tibial_cap_g: float = 20.0  # ... up to this; the setting without a foot (grade unknown)
    tibial_hysteresis_g: float = 2.0  # exit = enter − this
    tibial_normal_g: float = 8.8  # flat, × the grade prior: a contact above this has left the
    # normal band (dates the episode's start where below the exit; p90 of fault-free dev
    # contacts; a hard landing ramps in through it)
    # --- hips level (pelvic_drop_deg, pelvis sensor, per leg) ---------------------------------
    pelvic_drop_max_deg: float = 9.5
    pelvic_drop_exit_deg: float = 7.5
    # --- core (pelvis_sway_m: sideways pelvis excursion toward the stance leg, per leg) -------
    pelvis_sway_max_m: float = 0.043  # simulated fault-free rocky running: 3-step medians up
    pelvis_sway_exit_m: float = 0.038  # to 42 mm (truth), 45 (pipeline); a torso-sway fault's
    # steps ≥ 44.5 mm (p10, pipeline); dev seeds; no real running truth
    # --- push off ------------------------------------------------------------------------------
    push_off_min_mps: float = 0.1  # push_off_mps (body's forward gain) below this
    push_off_exit_mps: float = 0.13
    toe_off_speed_min_mps: float = 0.5  # PROVISIONAL: foot's toe-off speed proxy below this
    toe_off_speed_exit_mps: float = 0.7

    def __post_init__(self) -> None:
        if min(self.backdate_steps, self.backdate_gap_steps, self.push_backdate_gap_steps) < 0:
            raise ValueError("backdate_steps and the backdate gaps must be ≥ 0")
        for name in ("window_steps", "exit_steps", "push_exit_steps", "strike_exit_steps",
                     "side_window_steps",
                     "persist_steps", "cadence_persist_steps", "grade_window_steps",
                     "praise_hold_steps", "cadence_baseline_steps", "baseline_min_steps",
                     "baseline_memory_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1")
        if self.climb_above_deg < self.descent_below_deg:
            raise ValueError("climb_above_deg must be ≥ descent_below_deg")
