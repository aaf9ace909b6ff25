"""The data dictionary: every table stridecore reads or writes, its columns, units and enums.

This module is the single place column names come from; ``docs/schema.md`` is generated from
it (``python -m stridecore.schema``) and a test checks the two agree. Later issues extend the
tables here — nobody invents a column name elsewhere.

Conventions
-----------
- Units are SI unless the column name says otherwise; every name ends in its unit
  (``_mps2``, ``_radps``, ``_deg``, ``_ms``, ``_us``, ``_s``, ``_g``, ``_spm``, ``_m``, ``_mps``,
  ``_hz``).
- Sensor axes: the sensor housing frame as mounted, right-handed; never rotated by loaders.
  ``acc_*`` is specific force (a sensor at rest reads +9.81 m/s² along the axis pointing up);
  ``gyr_*`` is angular rate, right-hand rule.
- ``grade_deg``: slope of the ground along the direction of travel, positive uphill.
- ``strike_angle_deg``: foot strike angle, sagittal angle of the sole relative to the ground at
  initial contact, positive toes-up (heel first), standing angle subtracted.
- Time bases: ``sample_idx`` (device sample index since START, int64, unwrapped from the wire's
  u32), ``t_device_us`` (device clock, µs), ``t_host_s`` (host monotonic clock, s, after the
  time-sync fit), ``t_s`` (seconds since the session or recording start, for tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware_protocol.batch import FRAME_DTYPE, SampleFlag, Samples
from firmware_protocol.messages import DevicePlacement


class Placement(StrEnum):
    """Where a sensor is worn."""

    LEFT_FOOT = "left_foot"
    RIGHT_FOOT = "right_foot"
    LEFT_SHIN = "left_shin"
    RIGHT_SHIN = "right_shin"
    LEFT_THIGH = "left_thigh"
    RIGHT_THIGH = "right_thigh"
    PELVIS = "pelvis"

    @property
    def side(self) -> Side | None:
        if self.value.startswith("left"):
            return Side.LEFT
        if self.value.startswith("right"):
            return Side.RIGHT
        return None

    @property
    def device_code(self) -> int:
        """The ``placement`` byte of the wire protocol's GET_INFO reply."""
        return int(DevicePlacement[self.name])

    @classmethod
    def from_device_code(cls, code: int) -> Placement | None:
        name = DevicePlacement(code).name
        return None if name == "UNKNOWN" else cls[name]


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"


class Landing(StrEnum):
    """Landing (foot strike) type, classified from ``strike_angle_deg`` by LANDING_CUTOFFS."""

    HEEL = "heel"
    MIDFOOT = "midfoot"
    FOREFOOT = "forefoot"


class Terrain(StrEnum):
    """Ground types of the form guide's landing table (``seed/downhill-form-guide.txt``)."""

    DIRT = "dirt"  # steady, loose dirt: midfoot, under the centre of mass
    ROCKY = "rocky"  # rocky or root-filled: forefoot, on the ball of the foot
    SOFT = "soft"  # sandy or soft ground: heel-to-midfoot with a quick roll forward
    PAVED = "paved"  # road, track, treadmill: no terrain-specific landing advice


class GaitMode(StrEnum):
    WALK = "walk"
    RUN = "run"
    STILL = "still"


class Fault(StrEnum):
    """Form faults of the form guide a sensor can see; each maps to one corrective Cue."""

    LOCKED_KNEE = "locked_knee"  # straight knee at contact, little stance flexion
    HEEL_STRIKE = "heel_strike"  # rearfoot landing where the terrain asks for mid/forefoot
    OVERSTRIDE = "overstride"  # long stride, low cadence, foot far ahead of the hips
    HIP_DROP = "hip_drop"  # contralateral pelvic drop in stance
    TORSO_SWAY = "torso_sway"  # trunk sways side to side (core not braced)
    NO_PUSH_OFF = "no_push_off"  # no propulsive impulse at the end of stance
    HARD_LANDING = "hard_landing"  # high tibial impact
    SLOW_ROLL = "slow_roll"  # soft ground: long heel-to-flat roll


class Cue(StrEnum):
    """Spoken cues, one per item of the form guide's checklist that a sensor can judge."""

    SOFTEN_KNEES = "soften_knees"  # "Keep knees soft, not locked"
    LAND_MIDFOOT = "land_midfoot"  # "Land mid/forefoot, adjust for terrain"
    LAND_FOREFOOT = "land_forefoot"  # rocky ground
    QUICK_ROLL = "quick_roll"  # soft ground: heel-to-midfoot, roll forward quickly
    HIPS_LEVEL = "hips_level"  # "Maintain core bracing and hip level"
    SHORTEN_STRIDE = "shorten_stride"  # "Use a short stride and quick turnover"
    QUICKER_STEPS = "quicker_steps"
    PUSH_OFF = "push_off"  # "Generate a tiny push-off after each foot-strike"
    SOFTER_LANDING = "softer_landing"  # impact (tibial acceleration) feedback
    PRAISE = "praise"  # a corrected fault, said rarely
    # system cues: said outside the form-cue spacing rules
    SENSOR_LOST = "sensor_lost"  # a sensor's link dropped
    SENSOR_BACK = "sensor_back"  # it came back
    LOW_BATTERY = "low_battery"  # a sensor reported a low battery
    SENSOR_SLIPPED = "sensor_slipped"  # the mounting changed: check the strap
    SNOOZED = "snoozed"  # the sensor's button was pressed: form cues paused
    RESUMED = "resumed"  # form cues back after the snooze


@dataclass(frozen=True)
class LandingCutoffs:
    """Foot-strike-angle class limits (°, relative to the ground, positive toes-up).

    Altman & Davis 2012 (Gait Posture 35:298): rearfoot > 8.0°, forefoot < −1.6°. Chosen
    because it is defined on exactly the quantity a foot IMU measures after Falbriard 2020
    (sole angle to the ground at contact, standing angle subtracted), it is the three-class rule
    most running studies use, so our numbers compare with theirs. Mo 2023's alternative
    (7.4°, −0.8°) differs by < 1°; benchmarks report the class agreement under both.
    """

    heel_above_deg: float = 8.0
    forefoot_below_deg: float = -1.6

    def classify(self, strike_angle_deg: float) -> Landing:
        if strike_angle_deg > self.heel_above_deg:
            return Landing.HEEL
        if strike_angle_deg < self.forefoot_below_deg:
            return Landing.FOREFOOT
        return Landing.MIDFOOT


LANDING_CUTOFFS = LandingCutoffs()
LANDING_CUTOFFS_MO2023 = LandingCutoffs(heel_above_deg=7.4, forefoot_below_deg=-0.8)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # numpy dtype string, or "str" / "enum:<Name>" / "bool"
    unit: str  # "" for dimensionless
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


C = Column

SAMPLE_FLAGS_DOC = ", ".join(f"{f.value}={f.name}" for f in SampleFlag)

SAMPLES = Table(
    "samples",
    "One row per IMU sample of one sensor. In memory a block is "
    "`firmware_protocol.Samples` (acc/gyr as (N, 3) arrays whose columns are x, y, z); "
    "exports flatten them to the columns below.",
    (
        C("sample_idx", "int64", "samples", "device sample index since START (unwrapped u32)"),
        C("t_device_us", "float64", "µs", "device clock: frame t_us + i × estimated period"),
        C("t_host_s", "float64", "s", "host monotonic clock from the time-sync fit"),
        C("t_s", "float64", "s", "host time since the session start (t_host_s − session t0)"),
        C("acc_x_mps2", "float64", "m/s²", "specific force, sensor x"),
        C("acc_y_mps2", "float64", "m/s²", "specific force, sensor y"),
        C("acc_z_mps2", "float64", "m/s²", "specific force, sensor z"),
        C("gyr_x_radps", "float64", "rad/s", "angular rate, sensor x"),
        C("gyr_y_radps", "float64", "rad/s", "angular rate, sensor y"),
        C("gyr_z_radps", "float64", "rad/s", "angular rate, sensor z"),
        C("flags", "uint8", "", f"SampleFlag bits: {SAMPLE_FLAGS_DOC}"),
        C("backfilled", "bool", "", "refilled from the device's backlog after a disconnect "
          "(not seen live)"),
        C("device", "str", "", "the sensor's key in the session recording"),
        C("placement", "enum:Placement", "", "where the sensor is worn"),
    ),
)

FRAMES = Table(
    "frames",
    "One row per accepted IMU6 data frame (`firmware_protocol.FRAME_DTYPE`).",
    (
        C("frame_no", "int64", "", "running number of accepted frames (data and messages)"),
        C("seq", "uint16", "", "frame sequence number (wraps)"),
        C("type", "uint8", "", "0x10 live, 0x11 backlog"),
        C("t_us", "uint64", "µs", "device clock at the frame's first sample"),
        C("sample_idx", "int64", "samples", "index of the frame's first sample"),
        C("cfg_id", "uint8", "", "configuration the samples were taken with"),
        C("n", "uint8", "samples", "samples in the frame"),
        C("period_us", "float64", "µs", "sample period used for t_device_us in the frame"),
        C("end_byte", "int64", "", "bytes of decoder input up to the end of the frame (for a frame "
          "held in quarantine: of the frame that released it)"),
    ),
)

_STEP_COLUMNS = (
    C("placement", "enum:Placement", "", "sensor that detected the step"),
    C("side", "enum:Side", "", "left or right leg"),
    C("ic_sample_idx", "int64", "samples", "initial contact, sensor index; -1 unknown"),
    C("to_sample_idx", "int64", "samples", "toe-off, sensor index; -1 unknown"),
    C("t_ic_s", "float64", "s", "initial contact time since recording start"),
    C("t_to_s", "float64", "s", "toe-off time since recording start"),
    C("contact_ms", "float64", "ms", "IC to toe-off"),
    C("flight_ms", "float64", "ms", "toe-off to the other leg's next IC"),
    C("step_ms", "float64", "ms", "IC to the other leg's next IC"),
    C("cadence_spm", "float64", "steps/min", "60000 / step_ms"),
    C("gait_mode", "enum:GaitMode", "", "walk, run or still"),
    C("landing", "enum:Landing", "", "heel, midfoot or forefoot (LANDING_CUTOFFS)"),
    C("strike_angle_deg", "float64", "°", "sole to ground at IC, + toes-up"),
    C("strike_angle_world_deg", "float64", "°", "sole to horizontal at IC, + toes-up"),
    C("roll_through_ms", "float64", "ms", "IC to foot flat"),
    C("grade_deg", "float64", "°", "ground slope under the foot, + uphill"),
    C("terrain", "enum:Terrain", "", "ground type"),
    C("peak_acc_g", "float64", "g", "peak acceleration magnitude after IC (impact)"),
    C("peak_tibial_acc_g", "float64", "g", "peak axial shin acceleration after IC"),
    C("knee_ic_deg", "float64", "°", "knee flexion at IC"),
    C("knee_peak_deg", "float64", "°", "peak knee flexion in stance"),
    C("shank_angle_ic_deg", "float64", "°", "shank to vertical at IC, + foot ahead"),
    C("shank_loading_rotation_deg", "float64", "°", "shank rotation IC to loading peak"),
    C("pelvic_drop_deg", "float64", "°", "contralateral pelvic drop in stance"),
    C("pelvis_sway_m", "float64", "m",
      "sideways pelvis excursion toward the stance leg from the path's centre (trunk sway)"),
    C("stride_length_m", "float64", "m", "distance between two ICs of the same foot"),
    C("push_off_mps", "float64", "m/s", "forward velocity gained at the end of stance"),
)

STEPS = Table(
    "steps",
    "One row per detected step (foot contact) of one leg, as seen by one sensor. "
    "`stridecore detect` writes it; `stridecore score` reads it.",
    (C("recording_id", "str", "", "recording key (optional in a user's file)"),
     *_STEP_COLUMNS,
     C("clipped", "bool", "", "an accelerometer axis clipped around IC: peak_acc_g is a floor"),
     C("mount_changed", "bool", "", "the sensor's mounting changed (slipped) before this step"),
     C("toe_off_speed_mps", "float64", "m/s",
       "foot forward speed at toe-off relative to flat-foot (a foot sensor's push-off proxy)"),
     C("t_emit_s", "float64", "s", "stream time at which the pipeline emitted this record"),
     C("t_recv_s", "float64", "s", "host time the data that completed this record arrived "
       "(live and replay; empty offline)")),
)

TRUTH = Table(
    "truth",
    "True steps, one row per step per sensor, with the steps table's column names so any "
    "steps table can be scored against it. From an independent instrument (force plate, "
    "insole, pressure sensor, motion capture) by a frozen rule per dataset, or from the "
    "simulator. A column a source cannot give is empty (float NaN, sample index -1, "
    "empty string).",
    (
        C("recording_id", "str", "", "dataset/recording key"),
        C("dataset", "str", "", "dataset name, or 'sim' / 'user'"),
        C("split", "str", "", "dev (tuning allowed) or test"),
        C("condition", "str", "", "free-text condition key, e.g. 'run;slope=-10'"),
        C("fs_hz", "float64", "Hz", "the sensor's nominal sample rate (sample index -> ms)"),
        *_STEP_COLUMNS,
        C("speed_mps", "float64", "m/s", "running or walking speed"),
        C("step_length_m", "float64", "m", "distance from the other foot's IC to this IC"),
        C("fault", "str", "", "active form faults, '+'-joined (simulator)"),
        C("source", "str", "", "instrument and rule, e.g. 'vgrf>50N hold60ms'"),
    ),
)

CUE_LOG = Table(
    "cue_log",
    "One row per cue decision of the coaching engine (spoken or suppressed).",
    (
        C("t_host_s", "float64", "s", "decision time, host clock"),
        C("cue", "enum:Cue", "", "which cue"),
        C("fault", "str", "", "the persistent fault that triggered it"),
        C("spoken", "bool", "", "False if suppressed"),
        C("suppressed_reason", "str", "", "why not spoken (spacing, context, ...)"),
        C("text", "str", "", "the words said"),
        C("latency_ms", "float64", "ms", "from the triggering step's IC to audio onset"),
    ),
)

TABLES: tuple[Table, ...] = (SAMPLES, FRAMES, STEPS, TRUTH, CUE_LOG)
ENUMS = (Placement, Side, Landing, Terrain, GaitMode, Fault, Cue, SampleFlag)

# The in-memory sample block and frame table must agree with the dictionary.
assert tuple(FRAME_DTYPE.names) == FRAMES.names
assert {f"{q}_{a}_{u}" for q, u in (("acc", "mps2"), ("gyr", "radps")) for a in "xyz"} <= set(
    SAMPLES.names
)
assert {"sample_idx", "t_device_us", "flags"} <= set(SAMPLES.names)
assert {f.name for f in Samples.__dataclass_fields__.values()} == {
    "sample_idx", "t_device_us", "acc_mps2", "gyr_radps", "flags"}


def render_markdown() -> str:
    """``docs/schema.md``: conventions, cut-offs, enums and every table."""
    out = ["# Data dictionary", "",
           "Generated from `stridecore/schema.py` by `python -m stridecore.schema`; "
           "edit that file, not this one.", ""]
    out += ["## Conventions", ""]
    doc = (__doc__ or "").split("Conventions\n-----------\n", 1)[1]
    out += [doc.strip(), ""]
    cut = LANDING_CUTOFFS
    out += ["## Landing cut-offs", "",
            f"- heel: `strike_angle_deg` > {cut.heel_above_deg}°",
            f"- midfoot: {cut.forefoot_below_deg}° … {cut.heel_above_deg}°",
            f"- forefoot: `strike_angle_deg` < {cut.forefoot_below_deg}°", "",
            " ".join((LandingCutoffs.__doc__ or "").split()), ""]
    out += ["## Enums", ""]
    for e in ENUMS:
        vals = ", ".join(f"`{m.value}`" if isinstance(m.value, str) else f"`{m.name}`={m.value}"
                         for m in e)
        out.append(f"- **{e.__name__}**: {vals}")
    out.append("")
    for t in TABLES:
        out += [f"## Table `{t.name}`", "", t.doc, "",
                "| column | type | unit | meaning |", "|---|---|---|---|"]
        out += [f"| `{c.name}` | {c.dtype} | {c.unit} | {c.doc} |" for c in t.columns]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown())
