"""Sensor model: where an IMU sits on a segment, its clock and its errors.

A :class:`SensorSpec` names the segment (foot, shank, thigh, pelvis) and side, a mount preset
(lever arm from the segment origin and orientation), an extra mounting rotation, the sample
clock, and the error model (white noise from the datasheet noise densities, constant bias, bias
random walk, per-axis scale error, range clipping) plus the gain of the impact transient.

Signals (``ideal_signals``): the accelerometer reads specific force at the sensor point,
``R_sensor←world · (p̈_sensor − g)``, with p̈_sensor = p̈_origin + α×r + ω×(ω×r); the gyroscope
reads the segment's angular velocity in the sensor frame. Noise and bias drift are drawn in
fixed blocks of ``NOISE_BLOCK`` samples, each seeded from (seed, sensor, block number), so any
split of a recording into chunks gives bit-identical samples.

Units: noise density µg/√Hz and mdps/√Hz (datasheet units; one-sided PSD), converted to a
per-sample σ = density·√(fs/2) (white noise band-limited to Nyquist), bias random walk in
m/s²/√s and rad/s/√s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from firmware_protocol.batch import SampleFlag
from stridecore.schema import Placement, Side
from stridecore.simulate.body import BodyParams, SegmentTrajectory
from stridecore.simulate.motion import G_MPS2

NOISE_BLOCK = 4096  # samples per independently seeded noise block
BIAS_KNOT_S = 1.0  # bias random walk: one knot per second, linear in between
_BIAS_KNOTS_PER_BLOCK = 4096

SEGMENT_OF = {"foot": "foot", "shin": "shank", "thigh": "thigh", "pelvis": "pelvis"}
FOOT_MOUNTS = ("laces", "heel", "lateral")

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float],
                tuple[float, float, float]]
IDENTITY: Matrix3 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
UPSIDE_DOWN: Matrix3 = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))  # 180° about x


def rotation_from_euler_deg(seq: str, angles_deg: tuple[float, ...] | list[float]) -> Matrix3:
    """A ``SensorSpec.rotation`` from Euler angles (deg) in scipy's ``seq`` convention (lower
    case extrinsic, upper case intrinsic): the sensor reads ``R @ v`` for a vector ``v`` given
    in the preset mount frame, R = ``Rotation.from_euler(seq, angles).as_matrix()``."""
    m = Rotation.from_euler(seq, angles_deg, degrees=True).as_matrix()
    return tuple(tuple(float(x) for x in row) for row in m)  # type: ignore[return-value]


def _as_matrix(m) -> np.ndarray:
    a = np.asarray(m, np.float64)
    if a.shape != (3, 3):
        raise ValueError("a rotation must be 3×3")
    if not np.allclose(a @ a.T, np.eye(3), atol=1e-6) or np.linalg.det(a) < 0:
        raise ValueError("a rotation must be orthonormal with determinant +1")
    return a


def _mount_preset(segment: str, side: Side | None, mount: str,
                  body: BodyParams) -> tuple[np.ndarray, np.ndarray]:
    """(R sensor←segment, lever arm in the segment frame, m) of a mount preset."""
    sgn = 1.0 if side is Side.LEFT else -1.0
    if segment == "foot":
        if mount in ("default", "laces"):  # on the laces over the midfoot, flat
            return np.eye(3), np.array([0.06, 0.0, 0.005])
        if mount == "heel":  # on the heel counter, z pointing backward, x up
            r = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
            return r, np.array([-body.heel_to_ankle_m - 0.01, 0.0, -0.035])
        if mount == "lateral":  # below the lateral malleolus, z pointing outward
            r = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]) if sgn < 0 \
                else np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
            return r, np.array([0.0, sgn * 0.045, -0.03])
        raise ValueError(f"foot mount must be one of {FOOT_MOUNTS}, not {mount!r}")
    if mount != "default":
        raise ValueError(f"{segment} has only the 'default' mount")
    if segment == "shank":  # anterior distal tibia (the tibial-shock site), 2/3 down
        return np.eye(3), np.array([0.03, 0.0, -0.65 * body.shank_m])
    if segment == "thigh":  # anterior-lateral mid-thigh
        return np.eye(3), np.array([0.06, 0.0, -0.5 * body.thigh_m])
    return np.eye(3), np.array([-0.10, 0.0, 0.08])  # pelvis: over the sacrum


@dataclass(frozen=True)
class SensorSpec:
    """One simulated IMU (units in the names).

    Give ``placement`` or ``segment`` + ``side``. ``mount`` picks the preset lever arm and
    orientation (foot: "laces", "heel", "lateral"); ``rotation`` is an extra rotation applied
    after it (components in the sensor frame = rotation @ components in the preset frame, e.g.
    :data:`UPSIDE_DOWN`); ``lever_arm_m`` overrides the preset lever arm (segment frame, from
    the segment origin). Sample k is at true time ``t0_s + k / (fs_hz·(1 + odr_error_ppm·1e-6))``;
    the device clock reads ``clock_offset_s + t·(1 + clock_drift_ppm·1e-6)``.
    """

    placement: Placement | None = None
    segment: str | None = None
    side: Side | str | None = None
    mount: str = "default"
    rotation: Matrix3 = IDENTITY
    lever_arm_m: tuple[float, float, float] | None = None
    fs_hz: float = 1000.0
    t0_s: float = 0.0
    odr_error_ppm: float = 0.0
    clock_drift_ppm: float = 0.0
    clock_offset_s: float = 0.0
    acc_noise_ug_rthz: float = 90.0  # LSM6DSO-class: 70–130 µg/√Hz
    gyr_noise_mdps_rthz: float = 5.0  # 3.8–7 mdps/√Hz
    acc_bias_mps2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gyr_bias_radps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_bias_walk_mps2_rts: float = 0.0  # bias random walk, m/s² per √s
    gyr_bias_walk_radps_rts: float = 0.0  # rad/s per √s
    acc_scale_error: tuple[float, float, float] = (0.0, 0.0, 0.0)  # fraction per axis
    gyr_scale_error: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_range_g: float = 16.0
    gyro_range_dps: float = 2000.0
    impact_gain: float = 1.0  # 0: no impact transient

    def __post_init__(self) -> None:
        pl = self.placement
        if pl is None:
            if self.segment is None:
                raise ValueError("give a placement or a segment")
            seg = self.segment
            side = Side(self.side) if self.side is not None else None
            if seg == "pelvis":
                pl = Placement.PELVIS
            else:
                if side is None:
                    raise ValueError(f"{seg} needs a side")
                name = {"foot": "foot", "shank": "shin", "thigh": "thigh"}.get(seg)
                if name is None:
                    raise ValueError(f"unknown segment {seg!r}")
                pl = Placement(f"{side.value}_{name}")
        pl = Placement(pl)
        object.__setattr__(self, "placement", pl)
        object.__setattr__(self, "segment", SEGMENT_OF[pl.value.split("_")[-1]])
        object.__setattr__(self, "side", pl.side)
        if not 100.0 <= self.fs_hz <= 1600.0:
            raise ValueError("fs_hz must be within 100–1600 Hz")
        _as_matrix(self.rotation)

    @property
    def side_index(self) -> int | None:
        return None if self.side is None else (0 if self.side is Side.LEFT else 1)

    @property
    def fs_true_hz(self) -> float:
        """The IMU's real output data rate."""
        return self.fs_hz * (1.0 + self.odr_error_ppm * 1e-6)

    def t_true_s(self, k: np.ndarray) -> np.ndarray:
        return self.t0_s + np.asarray(k, np.float64) / self.fs_true_hz

    def t_device_us(self, t_true_s: np.ndarray) -> np.ndarray:
        return (self.clock_offset_s + t_true_s * (1.0 + self.clock_drift_ppm * 1e-6)) * 1e6

    def sample_at_or_after(self, t_s: np.ndarray | float) -> np.ndarray:
        """Index of the first sample at or after true time ``t_s``."""
        x = (np.asarray(t_s, np.float64) - self.t0_s) * self.fs_true_hz
        return np.ceil(x - 1e-9).astype(np.int64)

    def mount_frame(self, body: BodyParams) -> tuple[np.ndarray, np.ndarray]:
        """(R sensor←segment (3, 3), lever arm in the segment frame (3,), m)."""
        r0, arm = _mount_preset(self.segment, self.side, self.mount, body)
        if self.lever_arm_m is not None:
            arm = np.asarray(self.lever_arm_m, np.float64)
        return _as_matrix(self.rotation) @ r0, arm

    @property
    def acc_sigma_mps2(self) -> float:
        """Per-sample white-noise σ of the accelerometer at fs: density·√(fs/2)."""
        return self.acc_noise_ug_rthz * 1e-6 * G_MPS2 * math.sqrt(self.fs_hz / 2.0)

    @property
    def gyr_sigma_radps(self) -> float:
        return math.radians(self.gyr_noise_mdps_rthz * 1e-3) * math.sqrt(self.fs_hz / 2.0)

    @property
    def stream_key(self) -> int:
        return self.placement.device_code


# --------------------------------------------------------------------------- rigid body
def _rot_axis(axis: int, ang: np.ndarray) -> np.ndarray:
    """(N, 3, 3) world←segment rotation by ``ang`` about world axis ``axis``."""
    c, s = np.cos(ang), np.sin(ang)
    n = ang.size
    r = np.zeros((n, 3, 3))
    if axis == 1:
        r[:, 0, 0], r[:, 0, 2], r[:, 1, 1], r[:, 2, 0], r[:, 2, 2] = c, s, 1.0, -s, c
    else:
        r[:, 0, 0], r[:, 1, 1], r[:, 1, 2], r[:, 2, 1], r[:, 2, 2] = 1.0, c, -s, s, c
    return r


def segment_signals(traj: SegmentTrajectory, lever_arm_m: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(specific force, angular rate, sensor position) in the segment frame / world for a
    point at ``lever_arm_m`` (segment frame) on a segment moving as ``traj``."""
    rot = _rot_axis(traj.axis, traj.angle_rad)
    n = traj.angle_rad.size
    w = np.zeros((n, 3))
    a = np.zeros((n, 3))
    w[:, traj.axis] = traj.rate_radps
    a[:, traj.axis] = traj.accel_radps2
    f_world = traj.acc_mps2.copy()
    f_world[:, 2] += G_MPS2
    # R^T f (rows of R^T = columns of R)
    f_seg = np.einsum("nji,nj->ni", rot, f_world)
    r = np.broadcast_to(np.asarray(lever_arm_m, np.float64), (n, 3))
    f_seg = f_seg + np.cross(a, r) + np.cross(w, np.cross(w, r))
    pos = traj.pos_m + np.einsum("nij,nj->ni", rot, r)
    return f_seg, w, pos


# --------------------------------------------------------------------------- errors
def _block_rng(seed: int, key: int, kind: int, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed),
                                                        spawn_key=(int(key), kind, int(block))))


def white_noise(spec: SensorSpec, seed: int, k0: int, k1: int) -> np.ndarray:
    """(k1 − k0, 6) standard normal draws of samples k0..k1−1, chunk invariant."""
    out = np.empty((k1 - k0, 6))
    b0, b1 = k0 // NOISE_BLOCK, (k1 - 1) // NOISE_BLOCK
    for b in range(b0, b1 + 1):
        z = _block_rng(seed, spec.stream_key, 0, b).standard_normal((NOISE_BLOCK, 6))
        lo, hi = max(k0, b * NOISE_BLOCK), min(k1, (b + 1) * NOISE_BLOCK)
        out[lo - k0:hi - k0] = z[lo - b * NOISE_BLOCK:hi - b * NOISE_BLOCK]
    return out


def _walk_knots(spec: SensorSpec, seed: int, j0: int, j1: int) -> np.ndarray:
    """Random walk (unit σ per knot) at knots j0..j1 (inclusive), (n, 6)."""
    per = _BIAS_KNOTS_PER_BLOCK
    b_last = j1 // per
    start = np.zeros(6)
    out = np.empty((j1 - j0 + 1, 6))
    for b in range(0, b_last + 1):
        steps = _block_rng(seed, spec.stream_key, 1, b).standard_normal((per, 6))
        steps[0] = 0.0 if b == 0 else steps[0]
        walk = start + np.cumsum(steps, axis=0)
        lo, hi = max(j0, b * per), min(j1 + 1, (b + 1) * per)
        if lo < hi:
            out[lo - j0:hi - j0] = walk[lo - b * per:hi - b * per]
        start = walk[-1]
    return out


def bias_drift(spec: SensorSpec, seed: int, t_s: np.ndarray) -> np.ndarray:
    """(N, 6) bias random walk (acc m/s², gyro rad/s) at times t (relative to t0)."""
    n = t_s.size
    if n == 0 or (spec.acc_bias_walk_mps2_rts == 0 and spec.gyr_bias_walk_radps_rts == 0):
        return np.zeros((n, 6))
    u = np.maximum(t_s - spec.t0_s, 0.0) / BIAS_KNOT_S
    j0, j1 = int(np.floor(u.min())), int(np.floor(u.max())) + 1
    knots = _walk_knots(spec, seed, j0, j1)
    j = np.floor(u).astype(np.int64)
    w = (u - j)[:, None]
    out = knots[j - j0] * (1.0 - w) + knots[j - j0 + 1] * w
    step = math.sqrt(BIAS_KNOT_S)
    out[:, :3] *= spec.acc_bias_walk_mps2_rts * step
    out[:, 3:] *= spec.gyr_bias_walk_radps_rts * step
    return out


def apply_errors(spec: SensorSpec, seed: int, k0: int, t_s: np.ndarray, acc: np.ndarray,
                 gyr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured (acc, gyr, flags) of samples k0.. from ideal signals: scale error, bias,
    bias drift, white noise, range clipping (flags CLIPPED_ACC / CLIPPED_GYR)."""
    n = t_s.size
    z = white_noise(spec, seed, k0, k0 + n)
    drift = bias_drift(spec, seed, t_s)
    a = acc * (1.0 + np.asarray(spec.acc_scale_error)) + np.asarray(spec.acc_bias_mps2) \
        + drift[:, :3] + z[:, :3] * spec.acc_sigma_mps2
    g = gyr * (1.0 + np.asarray(spec.gyr_scale_error)) + np.asarray(spec.gyr_bias_radps) \
        + drift[:, 3:] + z[:, 3:] * spec.gyr_sigma_radps
    a_max = spec.acc_range_g * G_MPS2
    g_max = math.radians(spec.gyro_range_dps)
    flags = np.zeros(n, np.uint8)
    flags[(np.abs(a) > a_max).any(axis=1)] |= np.uint8(SampleFlag.CLIPPED_ACC)
    flags[(np.abs(g) > g_max).any(axis=1)] |= np.uint8(SampleFlag.CLIPPED_GYR)
    return np.clip(a, -a_max, a_max), np.clip(g, -g_max, g_max), flags
