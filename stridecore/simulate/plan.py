"""The gait plan: what the runner intends, one row per foot contact — the simulator's seam.

A session model (profiles, terrain, faults, the closed-loop runner) writes plan rows; the body
model renders them into segment kinematics and sensor signals. Rows alternate legs in time
order. All times are true time (s); angles in degrees; positions along the path (m).
"""

from __future__ import annotations

import numpy as np

from stridecore.schema import Fault, GaitMode, Side, Terrain

SIDES = (Side.LEFT, Side.RIGHT)
GAIT_MODES = (GaitMode.WALK, GaitMode.RUN, GaitMode.STILL)
TERRAINS = tuple(Terrain)
FAULTS = tuple(Fault)

STEP_PLAN_DTYPE = np.dtype([
    ("side", np.int8),  # index into SIDES
    ("gait_mode", np.int8),  # index into GAIT_MODES (walk or run)
    ("t_ic_s", np.float64),  # true time of initial contact
    ("contact_s", np.float64),  # IC to toe-off
    ("x_ic_m", np.float64),  # heel (first contact point) position along the path at IC
    ("z_ic_m", np.float64),  # ground height there
    ("grade_deg", np.float64),  # ground slope under the foot, + uphill
    ("terrain", np.int8),  # index into TERRAINS
    ("speed_mps", np.float64),  # mean forward speed around this step
    ("strike_angle_deg", np.float64),  # sole to ground at IC, + toes-up
    ("roll_s", np.float64),  # IC to foot flat
    ("knee_ic_deg", np.float64),  # knee flexion at IC
    ("knee_peak_deg", np.float64),  # peak knee flexion in stance
    ("vert_osc_m", np.float64),  # pelvis vertical oscillation, peak to peak
    ("push_off_mps", np.float64),  # forward velocity gained at the end of stance (0 = none)
    ("pelvic_drop_deg", np.float64),  # contralateral pelvic drop in this stance
    ("trunk_sway_deg", np.float64),  # trunk lateral sway amplitude in this step
    ("impact_scale", np.float64),  # multiplier on the modelled impact transient (1 = nominal)
    ("faults", np.uint16),  # bit i set = FAULTS[i] active
])


def fault_mask(*faults: Fault) -> int:
    m = 0
    for f in faults:
        m |= 1 << FAULTS.index(f)
    return m


def fault_names(mask: int) -> str:
    """'+'-joined fault names of a mask ('' for none), as in the truth table."""
    return "+".join(f.value for i, f in enumerate(FAULTS) if mask >> i & 1)


def validate(plan: np.ndarray) -> None:
    """Raise ValueError if rows are not in time order, legs do not alternate within a bout,
    or values are outside what a human can do."""
    if plan.dtype != STEP_PLAN_DTYPE:
        raise ValueError("plan must have STEP_PLAN_DTYPE")
    if plan.size < 2:
        return
    if np.any(np.diff(plan["t_ic_s"]) <= 0):
        raise ValueError("plan rows must be in strictly increasing t_ic_s")
    if np.any(plan["contact_s"] <= 0.05) or np.any(plan["contact_s"] > 1.5):
        raise ValueError("contact_s outside 0.05–1.5 s")
    if np.any(np.abs(plan["grade_deg"]) > 35):
        raise ValueError("grade_deg outside ±35°")


def steady_plan(n_steps: int = 40, *, gait: GaitMode = GaitMode.RUN, speed_mps: float = 3.0,
                cadence_spm: float = 170.0, contact_s: float = 0.25, grade_deg: float = 0.0,
                strike_angle_deg: float = 10.0, knee_ic_deg: float = 20.0,
                knee_peak_deg: float = 40.0, t0_s: float = 1.0,
                terrain: Terrain = Terrain.PAVED) -> np.ndarray:
    """A constant gait on a constant slope: for tests of the body model."""
    p = np.zeros(n_steps, STEP_PLAN_DTYPE)
    step_s = 60.0 / cadence_spm
    p["side"] = np.arange(n_steps) % 2
    p["gait_mode"] = GAIT_MODES.index(gait)
    p["t_ic_s"] = t0_s + np.arange(n_steps) * step_s
    p["contact_s"] = contact_s
    x = np.arange(n_steps) * speed_mps * step_s
    p["x_ic_m"] = x
    p["z_ic_m"] = x * np.tan(np.deg2rad(grade_deg))
    p["grade_deg"] = grade_deg
    p["terrain"] = TERRAINS.index(terrain)
    p["speed_mps"] = speed_mps
    p["strike_angle_deg"] = strike_angle_deg
    p["roll_s"] = 0.04 if strike_angle_deg > 0 else 0.02
    p["knee_ic_deg"] = knee_ic_deg
    p["knee_peak_deg"] = knee_peak_deg
    p["vert_osc_m"] = 0.08 if gait is GaitMode.RUN else 0.04
    p["push_off_mps"] = 0.3
    p["impact_scale"] = 1.0
    return p
