"""Body model: anthropometrics and sagittal multi-segment kinematics rendered from a gait plan.

World frame: X forward along the path, Y left, Z up (m). Each leg moves in its own sagittal plane
(y = ±pelvis_width/2); the pelvis also rolls (pelvic drop) and shifts sideways (trunk sway).

Segment angles (rad, all "+ = distal end forward/up", a rotation of −angle about world +Y):

- foot pitch ``phi``: sole direction heel→toe is (cos φ, sin φ) in (X, Z); + toes up;
- shank angle ``sigma``: knee→ankle is (sin σ, −cos σ); + ankle ahead of the knee;
- thigh angle ``theta``: hip→knee is (sin θ, −cos θ); + knee ahead of the hip;
- knee flexion ``kappa = theta − sigma`` (+ flexed), ankle angle ``phi − sigma`` (+ dorsiflexed).

Segment frames coincide with the world frame when standing upright on level ground (x forward,
y left, z up; z runs along the long axis of shank and thigh, distal→proximal, and along the sole
normal of the foot). Segment origins: pelvis = mid-point of the hip joint centres, thigh = hip,
shank = knee, foot = ankle joint centre.

How a plan row becomes motion (one row = one foot contact):

- Stance is driven from the ground. The first contact point (heel if ``strike_angle_deg`` ≥ 0,
  else the ball/MTP) sits at (x_ic_m, z_ic_m); the foot rotates about it from the strike angle to
  flat (foot pitch = grade) over ``roll_s`` (heel or forefoot rocker, forefoot at least
  ``MIN_FOREFOOT_ROLL_S``), stays flat with zero velocity, then rotates about the toe pad from
  heel-off to toe-off (−35…−65° to the ground, deeper with ``push_off_mps``).
- The pelvis follows quintic-Hermite curves: forward position through knots at each IC placed
  so that the shank angle at IC follows a landing model (more inclined for heel strikes, on
  descents and for steps longer than nominal for the speed), plus a zero-net braking/propulsion
  wiggle whose depth is ``push_off_mps``; height through knots where the stance knee must equal
  ``knee_ic_deg`` (at IC) and ``knee_peak_deg`` (its stance peak), in walking a near-straight
  knee at mid-stance, in running a toe-off knee and a ballistic (z̈ = −g) flight that lands no
  faster than ``V_LAND_MAX``; at contact the pelvis descends no faster than lets the stance
  knee flex at ``KNEE_RATE_IC_MAX`` (less for a near-straight knee, see
  :func:`_knee_rate_ic_max`; the flight is braked late otherwise: a pelvis still falling onto
  a near-straight knee flexed it at 600–2,000 °/s, real knees a few hundred), in walking
  at its mean loading-response rate (knee_ic → knee_peak); sideways shift toward the stance
  leg plus trunk sway, and roll (pelvic drop) peaking at 30 % of stance.
- The stance leg follows by two-link inverse kinematics hip→ankle (knee compressed smoothly
  near full extension, never below 1°). The swing leg follows curves of thigh angle and knee
  flexion (swing peak ~100° running, ~60° walking) from toe-off into the next contact, where
  they join the stance IK in angle and rate (so the foot lands exactly on its contact point
  with the stance foot's velocity); the thigh retracts and the knee extends through a knot at
  the start of the last ``TERMINAL_SWING_FRAC`` of swing, through which the shank (thigh −
  knee) decelerates uniformly into its contact rate (free knot rates there made the shank
  re-accelerate forward and then reverse at ~14,000 °/s²: ~4 g at the mid-shank before
  contact, real shanks read 1–2 g); if the knee would extend past
  ``KNEE_MIN_SWING`` before it flexes into the landing, it stops there and flexes into the
  contact with a near-uniform acceleration (over at least ``KNEE_ONSET_S[0]``; the stance
  knee rate at contact is limited so that this stays flexed). Joint-space curves keep the leg
  from being stretched to full extension before contact (an ankle path in world coordinates
  asked for more reach than the leg had, and the knee snapped against full extension: 40–70 g
  at the shank before contact); the foot pitch follows knots to −80° (running) and back up to
  the next strike angle.
- Everything is carried as a jet (value, first, second time derivative), so accelerations are
  exact derivatives of positions and angular rates exact derivatives of angles. Positions and
  velocities are continuous everywhere; accelerations are continuous except for steps at
  contact and toe-off in the swing-leg thigh/knee curves (the take-off and landing forces).

Locality: the kinematics at time t depend only on plan rows up to the 3rd row after t (rows are
read up to ``LOOKAHEAD_ROWS`` ahead), so a plan extended lazily never changes what was already
rendered before ``final_until(plan)``. Before a bout's first row and after its last (a bout ends
where the plan ends or rows are more than ``GAP_S`` apart) the body stands still; the transition
blends the gait (extrapolated by virtual rows) with the standing pose over about a stride, so
the blend shows a start and a stop step that are not plan rows (not in the truth).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from stridecore.schema import GaitMode, Side
from stridecore.simulate.motion import G_MPS2
from stridecore.simulate.plan import GAIT_MODES, SIDES, STEP_PLAN_DTYPE

GAP_S = 2.0  # rows further apart than this: the runner stops and stands in between
LOOKAHEAD_ROWS = 4  # samples at t are final once the plan holds this many rows after t
LOOKAHEAD_S = 3.0  # how far ahead of t a lazily extended plan must reach (≥ GAP_S + a step)
_N_BEFORE = 4  # virtual rows extrapolated before a bout
_N_AFTER = 4  # and after it
V_LAND_MAX = 1.0  # m/s, pelvis vertical speed at contact (steep descents)
MIN_FOREFOOT_ROLL_S = 0.035
IC_TRANSITION_S = 0.015  # heel strike: the foot pitch rate goes from swing to heel rocker
HEEL_ROCKER_PEAK = 1.3  # heel rocker rate after the strike transition / its mean rate
TERMINAL_SWING_FRAC = 0.3  # last part of swing: thigh and knee curves into the contact state

KNEE_RATE_IC_MAX = math.radians(400.0)  # stance knee flexion rate at contact, at most
KNEE_MIN_SWING = math.radians(2.0)  # least terminal-swing knee flexion (knee flexing at IC)
KNEE_ONSET_S = (0.04, 0.4)  # least knee flexion → IC: at least (s), at most (× terminal swing)

# interval modes of a leg
ROLL, FLAT, PUSH, SWING = 0, 1, 2, 3


# --------------------------------------------------------------------------- anthropometrics
@dataclass(frozen=True)
class BodyParams:
    """Segment lengths and foot geometry (m), shoe on.

    Defaults are a 1.75 m adult from :meth:`from_height` (Winter 2009, *Biomechanics and Motor
    Control of Human Movement*, 4th ed., segment lengths as fractions of height: thigh 0.245,
    shank 0.246, foot length 0.152, ankle height 0.039; hip joint centres 0.1 H apart).
    """

    height_m: float = 1.75
    thigh_m: float = 0.429  # hip joint centre to knee joint centre
    shank_m: float = 0.431  # knee to ankle joint centre
    foot_m: float = 0.286  # heel to toe tip (shoe)
    heel_to_ankle_m: float = 0.077  # heel contact point to ankle, along the sole
    ankle_height_m: float = 0.093  # ankle joint centre above the sole (shoe sole included)
    mtp_from_heel_m: float = 0.204  # heel contact point to the ball (MTP) pivot, along the sole
    toe_pivot_from_heel_m: float = 0.231  # heel to the push-off pivot (toe pad), along the sole
    pelvis_width_m: float = 0.175  # between the hip joint centres
    trunk_m: float = 0.504  # hip joint centre to shoulder

    @classmethod
    def from_height(cls, height_m: float = 1.75, *, shoe_sole_m: float = 0.025,
                    shoe_length_m: float = 0.02) -> BodyParams:
        """Winter's proportions for ``height_m``, plus a shoe (sole thickness and length)."""
        foot = 0.152 * height_m
        return cls(height_m=height_m, thigh_m=0.245 * height_m, shank_m=0.246 * height_m,
                   foot_m=foot + shoe_length_m,
                   heel_to_ankle_m=0.25 * foot + 0.5 * shoe_length_m,
                   ankle_height_m=0.039 * height_m + shoe_sole_m,
                   mtp_from_heel_m=0.73 * foot + 0.5 * shoe_length_m,
                   toe_pivot_from_heel_m=0.5 * (0.73 * foot + foot) + shoe_length_m,
                   pelvis_width_m=0.1 * height_m, trunk_m=0.288 * height_m)

    @property
    def leg_m(self) -> float:
        return self.thigh_m + self.shank_m


@dataclass(frozen=True)
class GaitStyle:
    """Shape constants of one gait mode (° and fractions; literature ranges in the comments).

    Running: knee swing peak 90–130° rising with speed, toe-off foot pitch −45…−65° to the ground,
    foot −70…−90° in early swing (Novacheck 1998, Gait Posture 7:77). Walking: loading-response
    knee peak at ~20 % of stance, ~60° swing flexion at ~30 % of swing, foot ~−50° at toe-off
    (Perry & Burnfield 2010, *Gait Analysis*).
    """

    heel_off_frac: float  # heel-off time, fraction of contact
    knee_peak_frac: float  # time of the stance knee peak, fraction of contact
    knee_to_deg: float  # knee at toe-off (used for the pelvis height when there is flight)
    mid_stance_knee_deg: float | None  # walking: knee at mid-stance (pelvis highest)
    toe_off_pitch_deg: float  # foot to ground at toe-off with no push-off
    toe_off_pitch_per_push: float  # ° per m/s of push_off_mps (more plantarflexion)
    swing_pitch_knots: tuple[tuple[float, float], ...]  # (fraction of swing, ° to ground)
    swing_pitch_pre_ic: tuple[float, float]  # (fraction of swing, ° above the strike angle)
    knee_swing_base_deg: float
    knee_swing_per_mps: float
    knee_swing_range_deg: tuple[float, float]
    knee_swing_frac: float  # time of the swing knee peak, fraction of swing
    thigh_at_knee_max_deg: float  # thigh angle when the swing knee peaks
    shank_ic_base_deg: float  # shank to vertical at IC: base + per_strike·strike + ...
    shank_ic_per_strike: float
    shank_ic_per_downhill: float  # ° per ° of downhill grade
    shank_ic_per_overstride: float  # ° per m of step length beyond the nominal for the speed
    lateral_shift_m: float  # pelvis shift toward the stance leg
    default_step_s: float
    # foot pitch rate at heel strike (rad/s, + toes up): the swing foot is still dorsiflexing
    # toward the strike angle when the heel lands, then slaps down within IC_TRANSITION_S
    # None: the heel rocker starts at its fastest at contact (no separate strike transition)
    pitch_rate_ic: float | None = None
    # walking pre-swing: fraction of the push-off rotation done by the contralateral IC (the
    # rest, the fast part, in double support); None: one push-off curve heel-off → toe-off
    heel_rise_frac: float | None = None
    # swing foot rate shape (fractions of swing): rate from the toe-off rate to a plateau by
    # the first, plateau, terminal-swing deceleration to ``pitch_rate_ic`` from the second;
    # None: the pitch knots below
    swing_rate_ramps: tuple[float, float] | None = None


RUN_STYLE = GaitStyle(
    heel_off_frac=0.5, knee_peak_frac=0.42, knee_to_deg=18.0, mid_stance_knee_deg=None,
    toe_off_pitch_deg=-35.0, toe_off_pitch_per_push=-50.0,
    swing_pitch_knots=((0.25, -80.0), (0.6, -35.0)), swing_pitch_pre_ic=(0.88, 6.0),
    knee_swing_base_deg=70.0, knee_swing_per_mps=10.0, knee_swing_range_deg=(85.0, 130.0),
    knee_swing_frac=0.42, thigh_at_knee_max_deg=18.0,
    shank_ic_base_deg=3.5, shank_ic_per_strike=0.25, shank_ic_per_downhill=0.2,
    shank_ic_per_overstride=15.0, lateral_shift_m=0.012, default_step_s=0.35)

WALK_STYLE = GaitStyle(
    heel_off_frac=0.55, knee_peak_frac=0.22, knee_to_deg=35.0, mid_stance_knee_deg=6.0,
    toe_off_pitch_deg=-40.0, toe_off_pitch_per_push=-40.0,
    swing_pitch_knots=((0.45, -12.0),), swing_pitch_pre_ic=(0.85, 4.0),
    knee_swing_base_deg=55.0, knee_swing_per_mps=4.0, knee_swing_range_deg=(50.0, 70.0),
    knee_swing_frac=0.32, thigh_at_knee_max_deg=10.0,
    shank_ic_base_deg=12.0, shank_ic_per_strike=0.2, shank_ic_per_downhill=0.15,
    shank_ic_per_overstride=10.0, lateral_shift_m=0.022, default_step_s=0.55,
    pitch_rate_ic=1.0, swing_rate_ramps=(0.2, 0.8))  # heel_rise_frac: stance knee locks


def style_for(gait_mode: int) -> GaitStyle:
    return RUN_STYLE if GAIT_MODES[int(gait_mode)] is GaitMode.RUN else WALK_STYLE


def nominal_step_m(speed_mps: float, running: bool) -> float:
    """Typical step length at a speed: cadence 150 + 7·v spm running, 95 + 14·v walking."""
    cad = 150.0 + 7.0 * speed_mps if running else 95.0 + 14.0 * speed_mps
    return speed_mps * 60.0 / cad


# --------------------------------------------------------------------------- jets
class Jet:
    """A quantity with its first and second time derivatives (arrays or scalars)."""

    __slots__ = ("d", "dd", "v")

    def __init__(self, v, d, dd) -> None:
        self.v, self.d, self.dd = v, d, dd

    @staticmethod
    def const(v, like=None) -> Jet:
        z = 0.0 if like is None else np.zeros_like(like, dtype=np.float64)
        return Jet(v + z, z, z)

    def __add__(self, o) -> Jet:
        if isinstance(o, Jet):
            return Jet(self.v + o.v, self.d + o.d, self.dd + o.dd)
        return Jet(self.v + o, self.d, self.dd)

    __radd__ = __add__

    def __sub__(self, o) -> Jet:
        if isinstance(o, Jet):
            return Jet(self.v - o.v, self.d - o.d, self.dd - o.dd)
        return Jet(self.v - o, self.d, self.dd)

    def __rsub__(self, o) -> Jet:
        return Jet(o - self.v, -self.d, -self.dd)

    def __neg__(self) -> Jet:
        return Jet(-self.v, -self.d, -self.dd)

    def __mul__(self, o) -> Jet:
        if isinstance(o, Jet):
            return Jet(self.v * o.v, self.d * o.v + self.v * o.d,
                       self.dd * o.v + 2.0 * self.d * o.d + self.v * o.dd)
        return Jet(self.v * o, self.d * o, self.dd * o)

    __rmul__ = __mul__

    def chain(self, f, f1, f2) -> Jet:
        """g(self) given g, g', g'' evaluated at self.v."""
        return Jet(f, f1 * self.d, f2 * self.d * self.d + f1 * self.dd)

    def __getitem__(self, sel) -> Jet:
        return Jet(self.v[sel], self.d[sel], self.dd[sel])

    def put(self, sel, o: Jet) -> None:
        self.v[sel], self.d[sel], self.dd[sel] = o.v, o.d, o.dd


def _sc(x):
    if isinstance(x, float):
        return math.sin(x), math.cos(x)
    return np.sin(x), np.cos(x)


def jsin(u: Jet) -> Jet:
    s, c = _sc(u.v)
    return u.chain(s, c, -s)


def jcos(u: Jet) -> Jet:
    s, c = _sc(u.v)
    return u.chain(c, -s, -c)


def jsqrt(u: Jet) -> Jet:
    r = np.sqrt(u.v)
    return u.chain(r, 0.5 / r, -0.25 / (r * u.v))


def jacos(u: Jet) -> Jet:
    if isinstance(u.v, float):
        q = 1.0 / math.sqrt(1.0 - u.v * u.v)
        return u.chain(math.acos(u.v), -q, -u.v * q * q * q)
    q = 1.0 / np.sqrt(1.0 - u.v * u.v)
    return u.chain(np.arccos(u.v), -q, -u.v * q * q * q)


def jatan2(y: Jet, x: Jet) -> Jet:
    r2 = x.v * x.v + y.v * y.v
    num = x.v * y.d - y.v * x.d
    d = num / r2
    dd = (x.v * y.dd - y.v * x.dd) / r2 - num * 2.0 * (x.v * x.d + y.v * y.d) / (r2 * r2)
    if isinstance(x.v, float) and isinstance(y.v, float):
        return Jet(math.atan2(y.v, x.v), d, dd)
    return Jet(np.arctan2(y.v, x.v), d, dd)


def smoothstep(t, a: float, b: float) -> Jet:
    """C2 quintic step from 0 at t ≤ a to 1 at t ≥ b, as a jet in t."""
    h = b - a
    u = np.clip((np.asarray(t, np.float64) - a) / h, 0.0, 1.0)
    v = u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)
    d = 30.0 * u * u * (1.0 - u) ** 2 / h
    dd = 60.0 * u * (1.0 - u) * (1.0 - 2.0 * u) / (h * h)
    return Jet(v, d, dd)


# --------------------------------------------------------------------------- quintic pieces
def quintic(h: float, y0: float, v0: float, a0: float, y1: float, v1: float,
            a1: float) -> list[float]:
    """Coefficients c0..c5 (in u = t − t0) of the quintic with the given end jets over [0, h]."""
    dy = y1 - y0
    h2, h3 = h * h, h * h * h
    return [y0, v0, 0.5 * a0,
            (20.0 * dy - (8.0 * v1 + 12.0 * v0) * h - (3.0 * a0 - a1) * h2) / (2.0 * h3),
            (-30.0 * dy + (14.0 * v1 + 16.0 * v0) * h + (3.0 * a0 - 2.0 * a1) * h2)
            / (2.0 * h3 * h),
            (12.0 * dy - 6.0 * (v1 + v0) * h - (a0 - a1) * h2) / (2.0 * h3 * h2)]


def eval_quintic(c, u: float) -> tuple[float, float, float]:
    c0, c1, c2, c3, c4, c5 = c
    v = c0 + u * (c1 + u * (c2 + u * (c3 + u * (c4 + u * c5))))
    d = c1 + u * (2 * c2 + u * (3 * c3 + u * (4 * c4 + u * 5 * c5)))
    dd = 2 * c2 + u * (6 * c3 + u * (12 * c4 + u * 20 * c5))
    return v, d, dd


class PiecewiseQuintic:
    """Breaks ``t`` (m + 1,) and coefficients ``c`` (m, 6) in local time; evaluates to jets.
    Outside the breaks the first / last piece is extended."""

    def __init__(self, t, c) -> None:
        self.t = np.asarray(t, np.float64)
        self.c = np.asarray(c, np.float64).reshape(-1, 6)

    def index(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, len(self.c) - 1)

    def __call__(self, t, k: np.ndarray | None = None) -> Jet:
        t = np.asarray(t, np.float64)
        if k is None:
            k = self.index(t)
        u = t - self.t[k]
        c = self.c[k]
        c0, c1, c2, c3, c4, c5 = (c[..., i] for i in range(6))
        v = c0 + u * (c1 + u * (c2 + u * (c3 + u * (c4 + u * c5))))
        d = c1 + u * (2 * c2 + u * (3 * c3 + u * (4 * c4 + u * 5 * c5)))
        dd = 2 * c2 + u * (6 * c3 + u * (12 * c4 + u * 20 * c5))
        return Jet(v, d, dd)

    def scalar(self, t: float) -> tuple[float, float, float]:
        if not hasattr(self, "_tl"):
            self._tl, self._cl = self.t.tolist(), self.c.tolist()
        k = min(max(bisect.bisect_right(self._tl, t) - 1, 0), len(self._cl) - 1)
        return eval_quintic(self._cl[k], t - self._tl[k])


def hermite(knots: list[tuple[float, float, float | None, float | None]]) -> PiecewiseQuintic:
    """C2 quintic Hermite through knots (t, y, dy, ddy); a None derivative is taken from the
    parabola through the knot and its two neighbours (one-sided line at the ends)."""
    n = len(knots)
    t = [k[0] for k in knots]
    y = [k[1] for k in knots]
    v: list[float] = []
    a: list[float] = []
    for i in range(n):
        dv, da = knots[i][2], knots[i][3]
        if dv is None or da is None:
            if 0 < i < n - 1:
                h0, h1 = t[i] - t[i - 1], t[i + 1] - t[i]
                s0, s1 = (y[i] - y[i - 1]) / h0, (y[i + 1] - y[i]) / h1
                ev = (s0 * h1 + s1 * h0) / (h0 + h1)
                ea = 2.0 * (s1 - s0) / (h0 + h1)
            elif n > 1:
                j = 1 if i == 0 else i
                ev, ea = (y[j] - y[j - 1]) / (t[j] - t[j - 1]), 0.0
            else:
                ev, ea = 0.0, 0.0
            dv = ev if dv is None else dv
            da = ea if da is None else da
        v.append(dv)
        a.append(da)
    if n == 1:
        return PiecewiseQuintic([t[0], t[0] + 1.0], [[y[0], 0, 0, 0, 0, 0]])
    c = [quintic(t[i + 1] - t[i], y[i], v[i], a[i], y[i + 1], v[i + 1], a[i + 1])
         for i in range(n - 1)]
    return PiecewiseQuintic(t, c)


# --------------------------------------------------------------------------- geometry helpers
def knee_reach(body: BodyParams, kappa: float) -> float:
    """Hip–ankle distance at which the stance IK gives knee flexion ``kappa`` (rad)."""
    lt, ls = body.thigh_m, body.shank_m
    return math.sqrt(lt * lt + ls * ls + 2.0 * lt * ls * _raw_cos(kappa))


def _rot_xz(c, s, dx, dz):
    return dx * c - dz * s, dx * s + dz * c


@dataclass
class _Row:
    """One contact (a plan row or a virtual one) with derived stance geometry (rad, s, m)."""

    side: int
    mode: int
    ic: float
    contact: float
    x: float
    z: float
    grade: float
    terrain: int
    speed: float
    strike: float
    roll: float
    knee_ic: float
    knee_peak: float
    push: float
    drop: float
    sway: float
    impact_scale: float
    faults: int
    plan_idx: int  # -1 for virtual rows
    # derived
    to: float = 0.0
    ho: float = 0.0
    phi_ic: float = 0.0
    phid_ic: float = 0.0
    phi_to: float = 0.0
    phid_to: float = 0.0
    pivot1: tuple[float, float] = (0.0, 0.0)
    d1: tuple[float, float] = (0.0, 0.0)
    mtp: tuple[float, float] = (0.0, 0.0)
    ankle_flat: tuple[float, float] = (0.0, 0.0)
    roll_p: list[tuple[float, list[float]]] = field(default_factory=list)  # (from ic, coefs)
    push_p: list[tuple[float, list[float]]] = field(default_factory=list)  # (from ho, coefs)
    next_same: int = -1
    prev_same: int = -1
    shank_ic: float = 0.0
    step_m: float = math.nan

    @property
    def style(self) -> GaitStyle:
        return style_for(self.mode)


def _rows_from_plan(plan: np.ndarray) -> list[_Row]:
    cols = {n: plan[n].tolist() for n in STEP_PLAN_DTYPE.names}
    out = []
    for i in range(plan.size):
        out.append(_Row(
            side=int(cols["side"][i]), mode=int(cols["gait_mode"][i]), ic=cols["t_ic_s"][i],
            contact=cols["contact_s"][i], x=cols["x_ic_m"][i], z=cols["z_ic_m"][i],
            grade=math.radians(cols["grade_deg"][i]), terrain=int(cols["terrain"][i]),
            speed=cols["speed_mps"][i], strike=math.radians(cols["strike_angle_deg"][i]),
            roll=cols["roll_s"][i], knee_ic=math.radians(cols["knee_ic_deg"][i]),
            knee_peak=math.radians(cols["knee_peak_deg"][i]), push=cols["push_off_mps"][i],
            drop=math.radians(cols["pelvic_drop_deg"][i]),
            sway=math.radians(cols["trunk_sway_deg"][i]), impact_scale=cols["impact_scale"][i],
            faults=int(cols["faults"][i]), plan_idx=i))
    return out


def _virtual(src: _Row, side: int, ic: float, x: float, z: float) -> _Row:
    """A virtual contact (not a plan row) like ``src`` on ``side`` at time ``ic``, (x, z)."""
    return _Row(side=side, mode=src.mode, ic=ic, contact=src.contact, x=x, z=z,
                grade=src.grade, terrain=src.terrain, speed=src.speed, strike=src.strike,
                roll=src.roll, knee_ic=src.knee_ic, knee_peak=src.knee_peak, push=src.push,
                drop=src.drop, sway=src.sway, impact_scale=src.impact_scale, faults=0,
                plan_idx=-1)


def split_bouts(t_ic: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [i0, i1) of rows no more than ``GAP_S`` apart."""
    n = len(t_ic)
    if n == 0:
        return []
    cuts = [0] + [i + 1 for i in range(n - 1) if t_ic[i + 1] - t_ic[i] > GAP_S] + [n]
    return [(cuts[k], cuts[k + 1]) for k in range(len(cuts) - 1)]


def final_until(plan: np.ndarray) -> float:
    """Samples before this time no longer change when rows are appended to ``plan``."""
    if plan.size < LOOKAHEAD_ROWS:
        return -math.inf
    return float(plan["t_ic_s"][-LOOKAHEAD_ROWS])


# --------------------------------------------------------------------------- one bout
class _Bout:
    """Kinematics of one bout of consecutive rows, extended by virtual rows at both ends."""

    def __init__(self, real: list[_Row], body: BodyParams) -> None:
        self.body = body
        self.d_toe = (body.heel_to_ankle_m - body.toe_pivot_from_heel_m, body.ankle_height_m)
        self.rows = self._extend(real)
        self.first_real = _N_BEFORE
        self.last_real = _N_BEFORE + len(real) - 1
        for r in self.rows:
            self._stance_geometry(r)
        self._link()
        self._shank_targets()
        self._pelvis_x()
        self._pelvis_frontal()
        self._pelvis_z()
        self._legs()

    # ---- rows
    def _extend(self, real: list[_Row]) -> list[_Row]:
        n = len(real)
        f, last = real[0], real[-1]
        if n >= 2:
            dt_f, dx_f = real[1].ic - f.ic, real[1].x - f.x
            dt_l, dx_l = last.ic - real[-2].ic, last.x - real[-2].x
        else:
            dt_f = dt_l = f.style.default_step_s
            dx_f = dx_l = f.speed * dt_f
        dt_f, dt_l = min(max(dt_f, 0.2), 1.5), min(max(dt_l, 0.2), 1.5)
        before = []
        for k in range(_N_BEFORE, 0, -1):
            side = f.side if k % 2 == 0 else 1 - f.side
            src = f if side == f.side or n < 2 else real[1]
            before.append(_virtual(src, side, f.ic - k * dt_f, f.x - k * dx_f,
                                   f.z - k * dx_f * math.tan(f.grade)))
        after = []
        for k in range(1, _N_AFTER + 1):
            side = last.side if k % 2 == 0 else 1 - last.side
            src = last if side == last.side or n < 2 else real[-2]
            after.append(_virtual(src, side, last.ic + k * dt_l, last.x + k * dx_l,
                                  last.z + k * dx_l * math.tan(last.grade)))
        return before + list(real) + after

    def _stance_geometry(self, r: _Row) -> None:
        b, st = self.body, r.style
        r.contact = min(max(r.contact, 0.06), 1.5)
        # a forefoot landing lets the heel down over at least MIN_FOREFOOT_ROLL_S
        lo = MIN_FOREFOOT_ROLL_S if r.strike < math.radians(-1.0) else 0.0
        r.roll = min(max(r.roll, lo), 0.45 * r.contact)
        r.to = r.ic + r.contact
        ha, hx = b.ankle_height_m, b.heel_to_ankle_m
        d_heel = (hx, ha)
        d_mtp = (hx - b.mtp_from_heel_m, ha)
        r.phi_ic = r.grade + r.strike
        r.pivot1 = (r.x, r.z)
        r.d1 = d_heel if r.strike >= 0 else d_mtp
        cg, sg = math.cos(r.grade), math.sin(r.grade)
        ox, oz = _rot_xz(cg, sg, *r.d1)
        r.ankle_flat = (r.x + ox, r.z + oz)
        d_toe = self.d_toe
        mx, mz = _rot_xz(cg, sg, -d_toe[0], -d_toe[1])
        r.mtp = (r.ankle_flat[0] + mx, r.ankle_flat[1] + mz)  # push-off pivot (toe pad)
        r.phi_to = r.grade + math.radians(st.toe_off_pitch_deg
                                          + st.toe_off_pitch_per_push * max(r.push, 0.0))

    def _link(self) -> None:
        rows = self.rows
        last = {0: -1, 1: -1}
        for i, r in enumerate(rows):
            r.prev_same = last[r.side]
            if r.prev_same >= 0:
                rows[r.prev_same].next_same = i
            last[r.side] = i
        for i, r in enumerate(rows):
            if i > 0:
                p = rows[i - 1]
                r.step_m = math.hypot(r.ankle_flat[0] - p.ankle_flat[0],
                                      r.ankle_flat[1] - p.ankle_flat[1])
            nxt = rows[r.next_same].ic if r.next_same >= 0 else r.ic + 2 * r.style.default_step_s
            r.to = min(r.to, nxt - 0.12)
            r.contact = r.to - r.ic
            r.roll = min(r.roll, 0.45 * r.contact)
            r.ho = max(r.ic + r.roll + 0.05 * r.contact, r.ic + r.style.heel_off_frac * r.contact)
            r.ho = min(r.ho, r.to - 0.2 * r.contact)
            self._rockers(r, rows[i + 1] if i + 1 < len(rows) else None)

    @staticmethod
    def _rockers(r: _Row, nxt: _Row | None) -> None:
        """Stance foot pitch pieces: heel (or forefoot) rocker from IC to flat, push-off from
        heel-off to toe-off.

        Heel strike (Perry & Burnfield 2010, ch. 4; Winter 2009): the swing foot is still
        dorsiflexing (``pitch_rate_ic``) when the heel lands; the impact turns that within
        ``IC_TRANSITION_S`` into the heel-rocker rotation toward flat (a smooth step in rate,
        finite angular acceleration, angle continuous), which peaks early in loading response
        and ends at foot flat with zero rate. A forefoot landing lets the heel down from rest.

        Push-off: about the toe pad with the peak plantarflexion rate at toe-off. In walking the
        heel rises slowly in terminal stance (``heel_rise_frac`` of the rotation by the
        contralateral IC) and the bulk of the plantarflexion is in pre-swing, the double
        support (Perry & Burnfield 2010: heel rise ~31 %, opposite IC 50 %, toe-off 62 % of
        the gait cycle).
        """
        st = r.style
        if r.roll <= 1e-6:
            r.phid_ic = 0.0
            r.roll_p = []
        elif r.strike >= 0.0 and st.pitch_rate_ic is None:
            r.phid_ic = 1.8 * (r.grade - r.phi_ic) / r.roll
            r.roll_p = [(0.0, quintic(r.roll, r.phi_ic, r.phid_ic, 0.0, r.grade, 0.0, 0.0))]
        elif r.strike >= 0.0:
            w0 = st.pitch_rate_ic
            tau = min(IC_TRANSITION_S, 0.3 * r.roll)
            rest = r.roll - tau
            k = HEEL_ROCKER_PEAK
            w1 = k * (r.grade - r.phi_ic - 0.5 * w0 * tau) / (rest * (1.0 + 0.5 * k * tau / rest))
            phi_a = r.phi_ic + 0.5 * (w0 + w1) * tau
            r.phid_ic = w0
            r.roll_p = [(0.0, quintic(tau, r.phi_ic, w0, 0.0, phi_a, w1, 0.0)),
                        (tau, quintic(rest, phi_a, w1, 0.0, r.grade, 0.0, 0.0))]
        else:
            r.phid_ic = 0.0
            r.roll_p = [(0.0, quintic(r.roll, r.phi_ic, 0.0, 0.0, r.grade, 0.0, 0.0))]
        h = r.to - r.ho
        f = st.heel_rise_frac
        t_c = nxt.ic if nxt is not None and nxt.side != r.side else math.nan
        if f is not None and r.ho + 0.25 * h < t_c < r.to - 0.15 * h:
            h1, h2 = t_c - r.ho, r.to - t_c
            phi_c = r.grade + f * (r.phi_to - r.grade)
            v_c = 2.0 * (phi_c - r.grade) / h1
            r.phid_to = 2.0 * (r.phi_to - phi_c) / h2 - v_c
            r.push_p = [(0.0, quintic(h1, r.grade, 0.0, 0.0, phi_c, v_c, 0.0)),
                        (h1, quintic(h2, phi_c, v_c, 0.0, r.phi_to, r.phid_to, 0.0))]
        else:
            r.phid_to = 2.0 * (r.phi_to - r.grade) / h
            r.push_p = [(0.0, quintic(h, r.grade, 0.0, 0.0, r.phi_to, r.phid_to, 0.0))]

    def _shank_targets(self) -> None:
        for i, r in enumerate(self.rows):
            st = r.style
            running = GAIT_MODES[r.mode] is GaitMode.RUN
            step = r.step_m if i > 0 else nominal_step_m(r.speed, running)
            over = step - nominal_step_m(r.speed, running)
            deg = (st.shank_ic_base_deg + st.shank_ic_per_strike * math.degrees(r.strike)
                   + st.shank_ic_per_downhill * max(-math.degrees(r.grade), 0.0)
                   + st.shank_ic_per_overstride * over)
            r.shank_ic = math.radians(min(max(deg, -5.0), 30.0))

    # ---- foot
    def foot_scalar(self, i: int, t: float):
        """(ankle x jet, ankle z jet, phi jet) of row i's stance foot at time t (scalars)."""
        r = self.rows[i]
        if t < r.ic + r.roll and r.roll_p:
            phi = _eval_pieces(r.roll_p, t - r.ic)
            piv, d = r.pivot1, r.d1
        elif t < r.ho:
            return (r.ankle_flat[0], 0.0, 0.0), (r.ankle_flat[1], 0.0, 0.0), (r.grade, 0.0, 0.0)
        else:
            phi = _eval_pieces(r.push_p, min(t, r.to) - r.ho)
            piv, d = r.mtp, self.d_toe
        j = _ankle_jet(Jet(*phi), piv, d)
        return (j[0].v, j[0].d, j[0].dd), (j[1].v, j[1].d, j[1].dd), phi

    # ---- pelvis
    def _pelvis_x(self) -> None:
        b = self.body
        knots = []
        for i, r in enumerate(self.rows):
            ax, _, _ = self.foot_scalar(i, r.ic)
            sig, kap = r.shank_ic, r.knee_ic
            dx = b.shank_m * math.sin(sig) + b.thigh_m * math.sin(sig + kap)
            knots.append((r.ic, ax[0] - dx, None, None))
        self.x_base = hermite(knots)
        self.ic = np.array([r.ic for r in self.rows])
        self._ic_list = self.ic.tolist()
        self.push = np.array([r.push for r in self.rows])
        self.to = np.array([r.to for r in self.rows])

    def _mod_scalar(self, r: _Row, t: float) -> tuple[float, float, float]:
        if not (r.ic <= t <= r.to):
            return 0.0, 0.0, 0.0
        return _modulation(r, t)

    def pelvis_x_scalar(self, t: float) -> tuple[float, float, float]:
        v, d, dd = self.x_base.scalar(t)
        k = bisect.bisect_right(self._ic_list, t) - 1
        for i in (k - 1, k):
            if 0 <= i < len(self.rows):
                m = self._mod_scalar(self.rows[i], t)
                v, d, dd = v + m[0], d + m[1], dd + m[2]
        return v, d, dd

    def _pelvis_frontal(self) -> None:
        yk, rk = [], []
        for r in self.rows:
            sgn = 1.0 if SIDES[r.side] is Side.LEFT else -1.0
            lat = r.style.lateral_shift_m + 0.5 * self.body.trunk_m * math.sin(abs(r.sway))
            yk.append((r.ic + 0.5 * r.contact, sgn * lat, None, None))
            # right stance: the left side drops (roll about +X negative), and vice versa
            rk.append((r.ic + 0.3 * r.contact, sgn * r.drop, None, None))
        self.y = hermite(yk)
        self.rollp = hermite(rk)

    def hip_z_offset(self, side: int, roll: float) -> float:
        sgn = 1.0 if SIDES[side] is Side.LEFT else -1.0
        return sgn * 0.5 * self.body.pelvis_width_m * math.sin(roll)

    def _z_for_knee(self, i: int, t: float, kappa: float) -> float:
        r = self.rows[i]
        ax, az, _ = self.foot_scalar(i, t)
        hx = self.pelvis_x_scalar(t)[0]
        d = knee_reach(self.body, kappa)
        dx = ax[0] - hx
        dz = math.sqrt(max(d * d - dx * dx, (0.5 * d) ** 2))
        return az[0] + dz - self.hip_z_offset(r.side, self.rollp.scalar(t)[0])

    def _z_rate_for_still_knee(self, i: int, t: float, pz: float) -> float:
        """Pelvis vertical velocity at t that keeps row i's hip–ankle distance constant."""
        r = self.rows[i]
        ax, az, _ = self.foot_scalar(i, t)
        hx = self.pelvis_x_scalar(t)
        rl = self.rollp.scalar(t)
        sgn = 1.0 if SIDES[r.side] is Side.LEFT else -1.0
        off = sgn * 0.5 * self.body.pelvis_width_m
        hz = pz + off * math.sin(rl[0])
        dx, dz = ax[0] - hx[0], hz - az[0]
        zh_rate = az[1] - dx * (ax[1] - hx[1]) / dz
        return zh_rate - off * math.cos(rl[0]) * rl[1]

    def _stance_knee_rate(self, i: int, t: float, pz: float, vz: float, az: float = 0.0
                          ) -> float:
        """Row i's stance IK knee flexion rate at t for pelvis height ``pz``, rate ``vz``."""
        r = self.rows[i]
        ax, azj, _ = self.foot_scalar(i, t)
        hz = _hip_z_jet(Jet(pz, vz, az), Jet(*self.rollp.scalar(t)), r.side, self.body)
        _, kap = _ik(Jet(*self.pelvis_x_scalar(t)), hz, Jet(*ax), Jet(*azj), self.body)
        return kap.d

    def _z_rate_for_knee_rate(self, i: int, t: float, pz: float, kdot: float) -> float:
        """Pelvis vertical velocity at t at which row i's stance knee flexes at ``kdot`` (the
        IK knee rate is linear in it, falling as the pelvis descends more slowly)."""
        k0 = self._stance_knee_rate(i, t, pz, 0.0)
        k1 = self._stance_knee_rate(i, t, pz, 0.1)
        return 0.1 * (k0 - kdot) / (k0 - k1)

    def _pelvis_z(self) -> None:
        g = G_MPS2
        knots: list[list] = []
        rows = self.rows
        for i, r in enumerate(rows):
            st = r.style
            nxt = rows[i + 1] if i + 1 < len(rows) else None
            flight = nxt is not None and r.to < nxt.ic - 0.03
            knots.append([r.ic, self._z_for_knee(i, r.ic, r.knee_ic), None, None, "ic", i])
            tp = r.ic + st.knee_peak_frac * r.contact
            knots.append([tp, self._z_for_knee(i, tp, r.knee_peak), None, None, "pk", i])
            if st.mid_stance_knee_deg is not None:
                tm = r.ic + 0.5 * r.contact
                if tm > tp + 0.02 and (nxt is None or tm < nxt.ic - 0.02):
                    knots.append([tm, self._z_for_knee(i, tm, math.radians(
                        st.mid_stance_knee_deg)), None, None, "mid", i])
            if flight:
                # toe-off: knee at ``knee_to_deg`` unless that leaves the pelvis higher above
                # the ground than at the next contact (+1.5 cm): flight is near symmetric
                fall = (self.pelvis_x_scalar(nxt.ic)[0] - self.pelvis_x_scalar(r.to)[0]) \
                    * math.tan(0.5 * (r.grade + nxt.grade))
                z_to = min(self._z_for_knee(i, r.to, math.radians(st.knee_to_deg)),
                           max(self._z_for_knee(i + 1, nxt.ic, nxt.knee_ic) + 0.015 - fall,
                               self._z_for_knee(i, r.to, math.radians(45.0))))
                knots.append([r.to, z_to, None, None, "to", i])
        # ballistic flight between a toe-off knot and the next contact knot
        for k in range(len(knots) - 1):
            if knots[k][4] == "to" and knots[k + 1][4] == "ic":
                t0, z0, t1, z1 = knots[k][0], knots[k][1], knots[k + 1][0], knots[k + 1][1]
                h = t1 - t0
                knots[k][2:4] = [(z1 - z0) / h + 0.5 * g * h, -g]
                v1 = (z1 - z0) / h - 0.5 * g * h
                # a steep descent lands no faster than V_LAND_MAX: the flight ends braked
                knots[k + 1][2:4] = [v1, -g] if v1 >= -V_LAND_MAX else [-V_LAND_MAX, 0.0]
                # the leg lands with the knee flexing no faster than KNEE_RATE_IC_MAX: the
                # pelvis descends more slowly at contact (braked late in flight)
                v_l = self._z_rate_for_knee_rate(knots[k + 1][5], t1, z1,
                                                 _knee_rate_ic_max(rows[knots[k + 1][5]]))
                if v_l > knots[k + 1][2]:
                    knots[k + 1][2:4] = [v_l, 0.0]
        # no flight (walking): the knee flexes at contact at its mean loading-response rate
        for k in range(len(knots) - 1):
            if knots[k][4] == "ic" and knots[k][2] is None and knots[k + 1][4] == "pk":
                r = rows[knots[k][5]]
                rate = (r.knee_peak - r.knee_ic) / (knots[k + 1][0] - knots[k][0])
                knots[k][2] = self._z_rate_for_knee_rate(
                    knots[k][5], knots[k][0], knots[k][1],
                    min(max(rate, 0.0), _knee_rate_ic_max(r)))
        # running stance: lowest at the knee peak, vertical impulse of a half-sine force
        for k in range(1, len(knots) - 1):
            if knots[k][4] == "pk" and knots[k - 1][2] is not None and knots[k + 1][4] == "to":
                v_ic, v_to = knots[k - 1][2], knots[k + 1][2]
                tc = knots[k + 1][0] - knots[k - 1][0]
                r = rows[knots[k][5]]
                v_g = self.pelvis_x_scalar(knots[k][0])[1] * math.tan(r.grade)  # follow slope
                knots[k][2:4] = [v_g, math.pi * (v_to - v_ic + g * tc) / (2.0 * tc) - g]
        # walking: the knee is stationary at its stance peak and at mid-stance
        for k in knots:
            if k[4] in ("pk", "mid") and k[2] is None:
                k[2] = self._z_rate_for_still_knee(k[5], k[0], k[1])
        knots.sort(key=lambda k: k[0])
        kn = [knots[0]]
        for k in knots[1:]:
            if k[0] > kn[-1][0] + 0.005:
                kn.append(k)
        self.z = hermite([(k[0], k[1], k[2], k[3]) for k in kn])

    # ---- legs
    def _legs(self) -> None:
        """Per leg: interval table (mode, row, pivot, foot-frame offset), foot pitch and the
        swing thigh/knee curves."""
        self.legs = {}
        for side in (0, 1):
            idx = [i for i, r in enumerate(self.rows) if r.side == side]
            tab: list[tuple] = []  # (t0, mode, row, pivot, d, phi coefs)
            th_k: list[tuple] = []
            kap_k: list[tuple] = []
            for n_, i in enumerate(idx):
                r = self.rows[i]
                for u, c in r.roll_p:
                    tab.append((r.ic + u, ROLL, i, r.pivot1, r.d1, c))
                tab.append((r.ic + r.roll, FLAT, i, r.mtp, self.d_toe,
                            [r.grade, 0, 0, 0, 0, 0]))
                for u, c in r.push_p:
                    tab.append((r.ho + u, PUSH, i, r.mtp, self.d_toe, c))
                j = r.next_same
                if j < 0 or n_ + 1 >= len(idx):
                    tab.append((r.to, SWING, i, (0.0, 0.0), (0.0, 0.0),
                                [r.phi_to, r.phid_to, 0, 0, 0, 0]))
                    continue
                pieces, th, ka = self._swing(i, j)
                tab.extend(pieces)
                th_k.extend(th)
                kap_k.extend(ka)
            brk = [x[0] for x in tab]
            ends = [*brk, brk[-1] + 1.0]
            self.legs[side] = {
                "brk": np.array(brk), "mode": np.array([x[1] for x in tab], np.int8),
                "row": np.array([x[2] for x in tab], np.int64),
                "piv": np.array([x[3] for x in tab]), "d": np.array([x[4] for x in tab]),
                "phi": PiecewiseQuintic(ends, [x[5] for x in tab]),
                "kap": _pp_from_list(kap_k), "theta": _pp_from_list(th_k),
            }

    def _swing(self, i: int, j: int) -> list[tuple]:
        """Pieces of the swing from row i's toe-off to row j's contact: thigh and knee curves
        from toe-off (joined to the stance IK in angle and rate) through the swing knee peak
        and a terminal-swing knot (thigh retracting, knee extending) into the stance IK's
        angle and rate at contact: the foot lands on its contact point with the stance foot's
        velocity, and the acceleration steps at contact (the landing force)."""
        r, q = self.rows[i], self.rows[j]
        st = r.style
        tsw = q.ic - r.to
        t_l = q.ic - TERMINAL_SWING_FRAC * tsw
        # foot pitch
        gsw = 0.5 * (r.grade + q.grade)
        pk = [(r.to, r.phi_to, r.phid_to, 0.0)]
        if st.swing_rate_ramps is not None:
            # the foot's rotation reverses after toe-off (ankle dorsiflexing, shank swinging
            # forward), rotates toes-up at a near constant rate through mid-swing and slows in
            # terminal swing (shank decelerated) to ``pitch_rate_ic`` at heel strike
            fa, fb = st.swing_rate_ramps
            w0, w1 = r.phid_to, q.phid_ic
            wp = ((q.phi_ic - r.phi_to) / tsw - 0.5 * fa * w0 - 0.5 * (1.0 - fb) * w1) \
                / (0.5 * (1.0 + fb - fa))
            pa = r.phi_to + 0.5 * fa * tsw * (w0 + wp)
            pk.append((r.to + fa * tsw, pa, wp, 0.0))
            pk.append((r.to + fb * tsw, pa + (fb - fa) * tsw * wp, wp, 0.0))
        else:
            for f, deg in st.swing_pitch_knots:
                pk.append((r.to + f * tsw, gsw + math.radians(deg), None, None))
            f, deg = st.swing_pitch_pre_ic
            pk.append((r.to + f * tsw, q.phi_ic + math.radians(deg), None, None))
        pk.append((q.ic, q.phi_ic, q.phid_ic, 0.0))
        phi_pp = hermite(pk)
        # thigh and knee until terminal swing
        th0, kap0 = self._stance_ik_scalar(i, r.to)
        th1, kap1 = self._stance_ik_scalar(j, q.ic)
        kmax = math.radians(min(max(st.knee_swing_base_deg + st.knee_swing_per_mps * r.speed,
                                    st.knee_swing_range_deg[0]), st.knee_swing_range_deg[1]))
        tk = r.to + st.knee_swing_frac * tsw
        te = r.to + 0.1 * tsw
        ke = max(kap0[0] + 0.5 * kap0[1] * 0.1 * tsw, math.radians(8.0))
        k_l = kap1[0] + 0.5 * (kmax - kap1[0])
        th_l = th1[0] + math.radians(6.0)
        tpp = hermite([(r.to, th0[0], th0[1], 0.0),
                       (tk, math.radians(st.thigh_at_knee_max_deg), None, None),
                       (t_l, th_l, None, None), (q.ic, th1[0], th1[1], 0.0)])
        # terminal swing: the shank angle is a parabola (uniform deceleration) from the knot
        # to its contact angle and rate; the knee knot's rate and acceleration follow
        h = q.ic - t_l
        tj = tpp.scalar(t_l)
        s1, sd1 = th1[0] - kap1[0], th1[1] - kap1[1]
        sd_l = 2.0 * (s1 - (th_l - k_l)) / h - sd1
        sdd = (sd1 - sd_l) / h
        kk = [(r.to, kap0[0], kap0[1], 0.0), (te, ke, None, None), (tk, kmax, 0.0, None),
              (t_l, k_l, tj[1] - sd_l, tj[2] - sdd), (q.ic, kap1[0], kap1[1], -sdd)]
        kpp = hermite(kk)
        floor = min(KNEE_MIN_SWING, kap1[0] - math.radians(1.0))
        if kap1[1] > 0.0 and kpp(np.linspace(t_l, q.ic, 16)).v.min() < floor:
            # the curve would overextend the knee before it flexes into the landing: the knee
            # stops extending at its least flexion (``floor``, or lower if the landing's flexion
            # rate needs more than ``KNEE_ONSET_S``) and flexes with a near-uniform acceleration
            # into the stance IK's rate at contact
            d = min(max(2.0 * (kap1[0] - floor) / kap1[1], KNEE_ONSET_S[0]),
                    KNEE_ONSET_S[1] * (q.ic - t_l))
            kk[-1:] = [(q.ic - d, kap1[0] - 0.5 * kap1[1] * d, 0.0, 0.0),
                       (q.ic, kap1[0], kap1[1], kap1[1] / d)]
            kpp = hermite(kk)
        out = [(t0, SWING, i, (0.0, 0.0), (0.0, 0.0), c)
               for t0, c in zip(phi_pp.t[:-1].tolist(), phi_pp.c.tolist(), strict=True)]
        th = [(float(tpp.t[m]), tpp.c[m].tolist()) for m in range(len(tpp.c))]
        ka = [(float(kpp.t[m]), kpp.c[m].tolist()) for m in range(len(kpp.c))]
        return out, th, ka

    def _stance_ik_scalar(self, i: int, t: float):
        """(thigh angle jet, knee flexion jet) of row i's stance leg at t (scalars)."""
        r = self.rows[i]
        ax, az, _ = self.foot_scalar(i, t)
        px = self.pelvis_x_scalar(t)
        pz = self.z.scalar(t)
        rl = self.rollp.scalar(t)
        hz = _hip_z_jet(Jet(*pz), Jet(*rl), r.side, self.body)
        psi, kap = _ik(Jet(*px), hz, Jet(*ax), Jet(*az), self.body)
        th = psi + _beta_thigh_jet(self.body, kap)
        return (th.v, th.d, th.dd), (kap.v, kap.d, kap.dd)

    # ---- support and blending
    def row_ics(self) -> np.ndarray:
        """IC times of this bout's rows (virtual ones included), in order (cached)."""
        if getattr(self, "_row_ics", None) is None or len(self._row_ics) != len(self.rows):
            self._row_ics = np.array([r.ic for r in self.rows])
        return self._row_ics

    def support(self) -> tuple[float, float, float, float]:
        """(start of the start blend, its end, start of the stop blend, its end)."""
        f, last = self.rows[self.first_real], self.rows[self.last_real]
        step_f = f.ic - self.rows[self.first_real - 1].ic
        step_l = self.rows[self.last_real + 1].ic - last.ic
        tb_f = min(2.0 * step_f, 1.0)
        tb_l = min(2.0 * step_l, 1.0)
        a1 = f.ic - 0.1 * step_f
        b0 = last.to
        return a1 - tb_f, a1, b0, b0 + tb_l

    def standing_pose(self, at_start: bool) -> dict[str, float]:
        a0, a1, b0, b1 = self.support()
        r = self.rows[self.first_real] if at_start else self.rows[self.last_real]
        if at_start:
            x = self.pelvis_x_scalar(a1)[0] - r.speed * (a1 - a0) / 2
        else:
            x = self.pelvis_x_scalar(b0)[0] + r.speed * (b1 - b0) / 2
        b = self.body
        g = r.grade
        gx = x + b.ankle_height_m * math.sin(g)
        gz = r.z + (gx - r.x) * math.tan(g)
        az = gz + b.ankle_height_m * math.cos(g)
        return {"x": x, "z": az + b.leg_m, "grade": g}

    # ---- evaluation
    def coords(self, t: np.ndarray, sides: tuple[int, ...]) -> dict:
        """Generalised coordinates (jets) at times t: pelvis x, y, z, roll; per leg theta,
        sigma, phi, kappa, ankle (stance, from the ground) and the stance mask."""
        px = self.x_base(t)
        k = np.searchsorted(self.ic, t, side="right") - 1
        for off in (-1, 0):
            kk = k + off
            ok = (kk >= 0) & (kk < len(self.rows))
            ok &= (t >= self.ic[np.clip(kk, 0, None)]) & (t <= self.to[np.clip(kk, 0, None)])
            if ok.any():
                i = kk[ok]
                px.put(ok, px[ok] + _modulation_arr(self.ic[i], self.to[i] - self.ic[i],
                                                    self.push[i], t[ok]))
        out = {"px": px, "py": self.y(t), "pz": self.z(t), "roll": self.rollp(t)}
        for side in sides:
            out[side] = self._leg(t, side, out)
        return out

    def _leg(self, t: np.ndarray, side: int, pel: dict) -> dict:
        b = self.body
        leg = self.legs[side]
        k = np.clip(np.searchsorted(leg["brk"], t, side="right") - 1, 0, len(leg["brk"]) - 1)
        mode = leg["mode"][k]
        phi = leg["phi"](t, k)
        hz = _hip_z_jet(pel["pz"], pel["roll"], side, b)
        hx = pel["px"]
        stance = mode != SWING  # ankle driven from the ground
        n = t.size
        theta = Jet(np.zeros(n), np.zeros(n), np.zeros(n))
        kap = Jet(np.zeros(n), np.zeros(n), np.zeros(n))
        ax = Jet(np.zeros(n), np.zeros(n), np.zeros(n))
        az = Jet(np.zeros(n), np.zeros(n), np.zeros(n))
        if stance.any():
            s = stance
            a_x, a_z = _ankle_jet(phi[s], leg["piv"][k[s]].T, leg["d"][k[s]].T)
            p, q = _ik(hx[s], hz[s], a_x, a_z, b)
            theta.put(s, p + _beta_thigh_jet(b, q))
            kap.put(s, q)
            ax.put(s, a_x)
            az.put(s, a_z)
        sw = ~stance
        if sw.any():
            theta.put(sw, leg["theta"](t[sw]))
            kap.put(sw, leg["kap"](t[sw]))
        sigma = theta - kap
        return {"theta": theta, "sigma": sigma, "phi": phi, "kappa": kap, "ax": ax, "az": az,
                "stance": stance, "mode": mode, "row": leg["row"][k]}


def _knee_rate_ic_max(r: _Row) -> float:
    """Fastest stance knee flexion at contact: ``KNEE_RATE_IC_MAX``, less for a near-straight
    knee, which the swing reaches from ``KNEE_MIN_SWING`` flexing with a uniform acceleration
    over ``KNEE_ONSET_S[0]`` (a faster landing would hyper-extend it just before contact)."""
    return min(KNEE_RATE_IC_MAX, max(2.0 * (r.knee_ic - KNEE_MIN_SWING) / KNEE_ONSET_S[0], 0.0))


def _shift(c: list[float], h: float) -> list[float]:
    """Coefficients of the same quintic in u' = u − h."""
    if h == 0.0:
        return list(c)
    c0, c1, c2, c3, c4, c5 = c
    return [c0 + h * (c1 + h * (c2 + h * (c3 + h * (c4 + h * c5)))),
            c1 + h * (2 * c2 + h * (3 * c3 + h * (4 * c4 + h * 5 * c5))),
            c2 + h * (3 * c3 + h * (6 * c4 + h * 10 * c5)),
            c3 + h * (4 * c4 + h * 10 * c5),
            c4 + 5 * h * c5,
            c5]


def _eval_pieces(pieces: list[tuple[float, list[float]]], u: float
                 ) -> tuple[float, float, float]:
    """Scalar jet of consecutive quintic pieces (start offset, coefficients) at offset u."""
    k = 0
    while k + 1 < len(pieces) and u >= pieces[k + 1][0]:
        k += 1
    return eval_quintic(pieces[k][1], u - pieces[k][0])


def _pp_from_list(lst: list[tuple[float, list[float]]]) -> PiecewiseQuintic:
    if not lst:
        return PiecewiseQuintic([0.0, 1.0], [[0.0] * 6])
    t = [a for a, _ in lst]
    return PiecewiseQuintic([*t, t[-1] + 1.0], [c for _, c in lst])


def _modulation(r: _Row, t):
    """Braking then propulsion: pelvis forward velocity − A·(1 − cos 2πτ)·cos πτ over stance
    (τ = (t − ic)/contact); zero net displacement, a dip of ``push_off_mps`` below the IC and
    toe-off speed (max of (1 − cos 2πτ)·cos πτ is 0.7698)."""
    T = r.contact
    a = max(r.push, 0.05) / 0.7698
    tau = (np.asarray(t) - r.ic) / T if not isinstance(t, float) else (t - r.ic) / T
    pi = math.pi
    s1, s3 = np.sin(pi * tau), np.sin(3 * pi * tau)
    c1, c3 = np.cos(pi * tau), np.cos(3 * pi * tau)
    x = -a * T * (s1 / (2 * pi) - s3 / (6 * pi))
    v = -a * (0.5 * c1 - 0.5 * c3)
    acc = -a / T * (-0.5 * pi * s1 + 1.5 * pi * s3)
    if isinstance(t, float):
        return float(x), float(v), float(acc)
    return Jet(x, v, acc)


def _modulation_arr(ic: np.ndarray, contact: np.ndarray, push: np.ndarray,
                    t: np.ndarray) -> Jet:
    """:func:`_modulation` for arrays of rows and times."""
    a = np.maximum(push, 0.05) / 0.7698
    tau = (t - ic) / contact
    pi = math.pi
    s1, s3 = np.sin(pi * tau), np.sin(3 * pi * tau)
    c1, c3 = np.cos(pi * tau), np.cos(3 * pi * tau)
    return Jet(-a * contact * (s1 / (2 * pi) - s3 / (6 * pi)), -a * (0.5 * c1 - 0.5 * c3),
               -a / contact * (-0.5 * pi * s1 + 1.5 * pi * s3))


def _ankle_jet(phi: Jet, piv, d) -> tuple[Jet, Jet]:
    """Ankle position jets of a foot at pitch ``phi`` pivoting about a fixed point ``piv``."""
    c, s = jcos(phi), jsin(phi)
    dx, dz = d[0], d[1]
    return c * dx - s * dz + piv[0], s * dx + c * dz + piv[1]


def _hip_z_jet(pz: Jet, roll: Jet, side: int, body: BodyParams) -> Jet:
    sgn = 1.0 if SIDES[side] is Side.LEFT else -1.0
    return pz + jsin(roll) * (sgn * 0.5 * body.pelvis_width_m)


def _beta_thigh(body: BodyParams, kappa: float) -> float:
    lt, ls = body.thigh_m, body.shank_m
    return math.atan2(ls * math.sin(kappa), lt + ls * math.cos(kappa))


def _beta_thigh_jet(body: BodyParams, kap: Jet) -> Jet:
    lt, ls = body.thigh_m, body.shank_m
    return jatan2(jsin(kap) * ls, jcos(kap) * ls + lt)


# Near full extension the knee is compressed smoothly: cos κ above cos 8° is mapped by a tanh
# onto (cos 8°, cos 1°), so an out-of-reach hip leaves the knee at ≥ 1° instead of a kink; the
# chain then falls a little short of the ankle (sub-millimetre at the plan's knee angles).
_C0 = math.cos(math.radians(8.0))
_CSPAN = math.cos(math.radians(1.0)) - _C0


def _soft_cos(c: Jet) -> Jet:
    if isinstance(c.v, float):
        u = (c.v - _C0) / _CSPAN
        if u <= 0.0:
            return c
        th = math.tanh(u)
        return c.chain(_C0 + _CSPAN * th, 1.0 - th * th, -2.0 * th * (1.0 - th * th) / _CSPAN)
    u = (c.v - _C0) / _CSPAN
    hi = u > 0.0
    if not np.any(hi):
        return c
    th = np.tanh(np.where(hi, u, 0.0))
    f = np.where(hi, _C0 + _CSPAN * th, c.v)
    f1 = np.where(hi, 1.0 - th * th, 1.0)
    f2 = np.where(hi, -2.0 * th * (1.0 - th * th) / _CSPAN, 0.0)
    return c.chain(f, f1, f2)


def _raw_cos(kappa: float) -> float:
    """Inverse of the soft map: the raw cos κ that the IK maps onto knee flexion ``kappa``."""
    c = math.cos(max(kappa, math.radians(1.5)))
    if c <= _C0:
        return c
    return _C0 + _CSPAN * math.atanh((c - _C0) / _CSPAN)


def _ik(hx: Jet, hz: Jet, ax: Jet, az: Jet, body: BodyParams) -> tuple[Jet, Jet]:
    """Hip→ankle direction psi (from downward vertical, + forward) and knee flexion kappa."""
    lt, ls = body.thigh_m, body.shank_m
    dx = ax - hx
    dz = hz - az
    psi = jatan2(dx, dz)
    c = (dx * dx + dz * dz - (lt * lt + ls * ls)) * (1.0 / (2.0 * lt * ls))
    return psi, jacos(_soft_cos(c))


# --------------------------------------------------------------------------- the model
@dataclass
class SegmentTrajectory:
    """World motion of a segment: origin position, velocity, acceleration (N, 3) and its
    orientation as a rotation by ``angle`` (rad) about world axis ``axis`` (0 = X, 1 = Y)
    with rate and angular acceleration."""

    pos_m: np.ndarray
    vel_mps: np.ndarray
    acc_mps2: np.ndarray
    axis: int
    angle_rad: np.ndarray
    rate_radps: np.ndarray
    accel_radps2: np.ndarray


SEGMENTS = ("pelvis", "thigh", "shank", "foot")


class Kinematics:
    """Rendered body kinematics of a plan; evaluate with :meth:`coords`, :meth:`segment`."""

    def __init__(self, plan: np.ndarray, body: BodyParams | None = None) -> None:
        if plan.dtype != STEP_PLAN_DTYPE:
            raise ValueError("plan must have STEP_PLAN_DTYPE")
        self.body = body or BodyParams()
        self.plan = plan
        rows = _rows_from_plan(plan)
        self.bouts: list[_Bout] = []
        for i0, i1 in split_bouts(plan["t_ic_s"]):
            self.bouts.append(_Bout(rows[i0:i1], self.body))
        self.windows = [bt.support() for bt in self.bouts]
        # standing pose before each bout (and after the last)
        self.poses = []
        for k, bt in enumerate(self.bouts):
            self.poses.append(self.bouts[k - 1].standing_pose(False) if k > 0
                              else bt.standing_pose(True))
        self.poses.append(self.bouts[-1].standing_pose(False) if self.bouts
                          else {"x": 0.0, "z": self.body.ankle_height_m + self.body.leg_m,
                                "grade": 0.0})
        self._row_map = {}
        for k, bt in enumerate(self.bouts):
            for i, r in enumerate(bt.rows):
                if r.plan_idx >= 0:
                    self._row_map[r.plan_idx] = (k, i)

    def row(self, plan_idx: int) -> tuple[_Bout, _Row]:
        k, i = self._row_map[plan_idx]
        return self.bouts[k], self.bouts[k].rows[i]

    def _standing(self, t: np.ndarray, sides) -> dict:
        """Standing pose coordinates at each t (the pose after the latest bout started)."""
        starts = np.array([w[1] for w in self.windows]) if self.windows else np.zeros(0)
        k = np.searchsorted(starts, t, side="right")  # poses[k]: before bout k / after k-1
        x = np.array([p["x"] for p in self.poses])[k]
        zp = np.array([p["z"] for p in self.poses])[k]
        g = np.array([p["grade"] for p in self.poses])[k]
        def z() -> np.ndarray:
            return np.zeros_like(t)

        out = {"px": Jet(x, z(), z()), "py": Jet(z(), z(), z()), "pz": Jet(zp, z(), z()),
               "roll": Jet(z(), z(), z())}
        for s in sides:
            out[s] = {"theta": Jet(z(), z(), z()), "sigma": Jet(z(), z(), z()),
                      "phi": Jet(g.copy(), z(), z()), "kappa": Jet(z(), z(), z()),
                      "stance": np.zeros(t.size, bool)}
        return out

    def coords(self, t, sides: tuple[int, ...] = (0, 1)) -> dict:
        """Generalised coordinates at times ``t`` (jets): pelvis ``px, py, pz, roll`` and per
        side index ``theta, sigma, phi, kappa`` (+ ``ax, az`` ground ankle where ``stance``)."""
        t = np.asarray(t, np.float64).ravel()
        out = self._standing(t, sides)
        weights = []
        for k, (a0, a1, b0, b1) in enumerate(self.windows):
            sel = (t > a0) & (t < b1)
            if sel.any():
                w = smoothstep(t[sel], a0, a1) * (1.0 - smoothstep(t[sel], b0, b1))
                weights.append((k, sel, w))
        for k, sel, w in weights:
            q = self.bouts[k].coords(t[sel], sides)
            pure = w.v == 1.0
            if len(weights) > 1:
                other = [s2 for k2, s2, _ in weights if k2 != k]
                for s2 in other:
                    pure &= ~s2[sel]
            _blend_into(out, q, sel, w, pure, sides)
        return out

    def pelvis_vertical_force(self, t: np.ndarray) -> np.ndarray:
        """The pelvis's vertical specific force (m/s², +up) at true times t while a bout runs
        (from its first real contact to its last toe-off; NaN elsewhere: the kinematic curve).

        The pelvis height curve is a geometric device for the legs (knots where the knee takes
        its planned angles, a flight braked late): its second derivative is not a force and
        put −1…+2.5 g into a simulated flight. The sacrum's vertical specific force is instead
        the body's vertical ground reaction force per unit of the upper body's mass, contact by
        contact, with each contact's impulse = g × its step time (the upper body does not
        accelerate over a steady step): running, the active bell of the two-mass model
        (:mod:`stridecore.simulate.grf`, Clark, Ryan & Weyand 2017: raised cosine over the
        contact peaking at 47 %; the impact is the pelvis's own transient, added by the
        renderer); walking, a double hump (raised cosines at 25 % and 75 % of the contact,
        valley 0.6 of the peaks: ~1.2 g peaks, Winter 1990). Real sacral traces for
        comparison: Alcantara 2022 (benchmarks/sim_realism.py). The position and velocity of
        the pelvis stay the kinematic ones."""
        from stridecore.simulate.grf import B2_FRACTION, raised_cosine

        t = np.asarray(t, np.float64).ravel()
        out = np.full(t.size, np.nan)
        g = G_MPS2
        for bt in self.bouts:
            rows = bt.rows
            t0, t1 = rows[bt.first_real].ic, rows[bt.last_real].to
            lo, hi = np.searchsorted(t, [t0, t1])
            if hi <= lo:
                continue
            tt = t[lo:hi]
            f = np.zeros(tt.size)
            # only the rows whose contact overlaps these times (rows are in IC order; a
            # contact lasts < 2 s): a whole session's rows per block made it O(rows × blocks)
            ics = bt.row_ics()
            i0 = max(int(np.searchsorted(ics, tt[0] - 2.0)), 0)
            i1 = min(int(np.searchsorted(ics, tt[-1], side="right")), len(rows) - 1)
            for i in range(i0, i1):
                r = rows[i]
                tc = r.contact
                if r.ic + tc < t0 or r.ic > t1 or tc <= 0.0:
                    continue
                step = rows[i + 1].ic - r.ic
                u = tt - r.ic
                if GAIT_MODES[r.mode] is GaitMode.RUN:
                    b2 = B2_FRACTION * tc
                    f += raised_cosine(u, 2.0 * g * step / tc, b2, b2, tc - b2)
                else:
                    a = g * step / (0.65 * tc)
                    c = 0.25 * tc
                    f += a * (raised_cosine(u, 1.0, c, c) + raised_cosine(u, 1.0, 3 * c, c)
                              + raised_cosine(u, 0.6, 2 * c, c))
            out[lo:hi] = f
        return out

    def segment(self, t, segment: str, side: int | None) -> SegmentTrajectory:
        """World motion of one segment (``segment`` in SEGMENTS; side index 0 left, 1 right)."""
        t = np.asarray(t, np.float64).ravel()
        b = self.body
        sides = () if segment == "pelvis" else (side,)
        q = self.coords(t, sides)
        n = t.size
        zero = np.zeros(n)
        if segment == "pelvis":
            pos = np.stack([q["px"].v, q["py"].v, q["pz"].v], 1)
            vel = np.stack([q["px"].d, q["py"].d, q["pz"].d], 1)
            acc = np.stack([q["px"].dd, q["py"].dd, q["pz"].dd], 1)
            sf = self.pelvis_vertical_force(t)
            m = np.isfinite(sf)
            acc[m, 2] = sf[m] - G_MPS2
            r = q["roll"]
            return SegmentTrajectory(pos, vel, acc, 0, r.v, r.d, r.dd)
        leg = q[side]
        y = (1.0 if SIDES[side] is Side.LEFT else -1.0) * 0.5 * b.pelvis_width_m
        hx, hz = q["px"], _hip_z_jet(q["pz"], q["roll"], side, b)
        th, sg, ph = leg["theta"], leg["sigma"], leg["phi"]
        if segment == "thigh":
            ox, oz, ang = hx, hz, th
        else:
            kx = hx + jsin(th) * b.thigh_m
            kz = hz - jcos(th) * b.thigh_m
            ankx = kx + jsin(sg) * b.shank_m
            ankz = kz - jcos(sg) * b.shank_m
            st = leg["stance"]
            if st.any():  # stance: from the ground, exact contact
                ankx.put(st, leg["ax"][st])
                ankz.put(st, leg["az"][st])
                kx.put(st, leg["ax"][st] - jsin(sg[st]) * b.shank_m)
                kz.put(st, leg["az"][st] + jcos(sg[st]) * b.shank_m)
            if segment == "shank":
                ox, oz, ang = kx, kz, sg
            elif segment == "foot":
                ox, oz, ang = ankx, ankz, ph
            else:
                raise ValueError(f"unknown segment {segment!r}")
        pos = np.stack([ox.v, zero + y, oz.v], 1)
        vel = np.stack([ox.d, zero, oz.d], 1)
        acc = np.stack([ox.dd, zero, oz.dd], 1)
        return SegmentTrajectory(pos, vel, acc, 1, -ang.v, -ang.d, -ang.dd)


def _blend_into(out: dict, q: dict, sel: np.ndarray, w: Jet, pure: np.ndarray,
                sides) -> None:
    """out[sel] += w·(q − out[sel]); where ``pure`` (weight 1, one bout) take q exactly."""
    def mix(base: Jet, new: Jet) -> None:
        cur = base[sel]
        m = cur + w * (new - cur)
        m.v[pure], m.d[pure], m.dd[pure] = new.v[pure], new.d[pure], new.dd[pure]
        base.put(sel, m)

    for key in ("px", "py", "pz", "roll"):
        mix(out[key], q[key])
    for s in sides:
        for key in ("theta", "sigma", "phi", "kappa"):
            mix(out[s][key], q[s][key])
        st = np.zeros(sel.sum(), bool)
        st[pure] = q[s]["stance"][pure]
        stance = out[s]["stance"]
        stance[sel] = st
        n = sel.size
        if "ax" not in out[s]:
            out[s]["ax"] = Jet(np.zeros(n), np.zeros(n), np.zeros(n))
            out[s]["az"] = Jet(np.zeros(n), np.zeros(n), np.zeros(n))
        out[s]["ax"].put(sel, q[s]["ax"])
        out[s]["az"].put(sel, q[s]["az"])
