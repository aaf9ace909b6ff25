"""gaitmap example data: lateral-shoe IMUs on both feet, level walking, motion-capture IC/TC.

Source: GitHub ``mad-lab-fau/gaitmap`` ``example_data/`` (MIT, © 2020 MaD-Lab Erlangen), an
excerpt of the FAU "sensor position comparison 2019" study (subject 5047, test ``normal_20``:
2 × 20 m at normal walking speed with a turn). Events are the mocap step file as converted by
upstream ``example_data/extract_example_data.py``; stride definitions as in gaitmap's docs
("min_vel" strides: mid-stance to mid-stance).

Samples come from ``imu_sample_not_rotated.csv.gz``: the NilsPod sensor frame as mounted (the
same rows as ``imu_sample.csv.gz``, which gaitmap rotated into its foot frame; both are the
upstream ``test_df`` with one row per 204.8 Hz sample from the test start, so the sample index is
the index of ``stride_events_sample.csv.gz``). Units: m/s² and deg/s → rad/s.

Strike angle (RULE_VERSION 2): from the heel (``FCC``) and toe (``TOE``) markers of
``mocap_sample.csv.gz`` (100 Hz, mm, z up). Upstream cuts the mocap to the same test and maps
its frames to IMU samples by the rate ratio alone (events × 204.8 / 100, rounded; the
orientation reference back with × 100 / 204.8), so mocap frame k is at k / 100 s on the IMU
time base. The heel–toe marker line is not the sole (the markers sit on the shoe at different
heights above it: +1 … +3° with the foot flat), so its angle with the foot flat in mid-stance is
subtracted: Falbriard 2020's "standing angle subtracted" convention, the same quantity as
``strike_angle_deg`` in the schema and :data:`stridecore.schema.LANDING_CUTOFFS`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firmware_protocol.batch import SampleFlag
from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import LANDING_CUTOFFS, TRUTH, GaitMode, Placement
from stridecore.tables import Columns, coerce

NAME = "gaitmap"
FOLDER = "gaitmap_example"
FS_HZ = 204.8
MOCAP_HZ = 100.0
FLAT_WINDOW = (0.30, 0.50)  # fraction of the contact time after IC: the foot is flat
G = 9.80665
ACC_RANGE_G = 16.0  # assumed ±16 g: impact peaks cluster at 15.8–16.1 g (probable clipping)
CLIP_FRACTION = 0.99  # |acc axis| ≥ 99 % of the range is flagged CLIPPED_ACC
SOURCE = ("mocap hs->to (gaitmap stride_events pre_ic/tc); strike angle: mocap heel-toe "
          "marker pitch at IC minus its median at 30-50 % of contact, v2")

RULE = (
    "Truth is the motion-capture heel strike (IC) and toe off (TO) of gaitmap's "
    "stride_events_sample.csv.gz, already converted upstream from 100 Hz mocap frames to "
    "204.8 Hz IMU samples (rounded). A row there is a min-velocity stride: start = min_vel "
    "(mid-stance of contact k), then tc (toe off ending contact k), then ic (heel strike of "
    "contact k+1), end = next min_vel; pre_ic is the heel strike of contact k. So contact k is "
    "(pre_ic, tc) of the same row, and each row's ic equals the next row's pre_ic. Per foot we "
    "emit one contact per row as IC = pre_ic, TO = tc, plus the last row's ic as a final contact "
    "with no TO (the stride that would hold its toe off was cut by the excerpt). Every true "
    "contact therefore appears once. Times are sample index / 204.8 Hz. Level walking, "
    "grade 0°, speed not measured. Strike angle (added in RULE_VERSION 2) from the markers of "
    "mocap_sample.csv.gz (100 Hz, mm, z vertical; mocap frame k is at k / 100 s on the IMU "
    "time base, so IMU sample i is at frame i × 100 / 204.8): per frame, the heel–toe pitch "
    "φ = atan2(z_TOE − z_FCC, horizontal x–y distance from FCC to TOE) in degrees, positive "
    "toes-up (FCC = heel marker). For each contact with a TO, φ_flat = median φ over the "
    "frames k with IC + 0.30 c ≤ k ≤ IC + 0.50 c (IC and contact time c in frames), and "
    "strike_angle_deg = φ at the IC time (linear interpolation between frames) − φ_flat. "
    "strike_angle_world_deg is set equal to it (level floor: the flat foot is horizontal, so "
    "φ_level = φ_flat). landing = LANDING_CUTOFFS.classify(strike_angle_deg). The final "
    "contact of each foot (no TO) has strike angles NaN and landing empty."
)
RULE_VERSION = 2
SPLIT_RULE = (
    "One subject, one walk: the left-foot recording is dev and the right-foot recording is "
    "test. The test figure is optimistic (same person, same walk, same sensor model and mount "
    "as dev)."
)


def _read_imu(path: Path) -> dict[str, np.ndarray]:
    """Two-level-header IMU csv → {"left_sensor": (N, 6), ...} as acc_xyz, gyr_xyz."""
    with gzip.open(path, "rt") as fh:
        sensors = fh.readline().strip().split(",")[1:]
        axes = fh.readline().strip().split(",")[1:]
    data = np.loadtxt(path, delimiter=",", skiprows=2)
    if not np.array_equal(data[:, 0], np.arange(len(data))):
        raise ValueError(f"{path}: index column is not 0..N-1")
    col = {key: 1 + i for i, key in enumerate(zip(sensors, axes, strict=True))}
    names = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
    return {s: data[:, [col[(s, ax)] for ax in names]] for s in sorted(set(sensors))}


def _read_mocap(path: Path) -> dict[str, np.ndarray]:
    """Two-level-header marker csv → {"L_TOE": (N, 3) x, y, z in mm, ...}; frame k at k / 100 s."""
    with gzip.open(path, "rt") as fh:
        markers = fh.readline().strip().split(",")[1:]
        axes = fh.readline().strip().split(",")[1:]
    data = np.loadtxt(path, delimiter=",", skiprows=2)
    if not np.array_equal(data[:, 0], np.arange(len(data))):
        raise ValueError(f"{path}: index column is not 0..N-1")
    col = {key: 1 + i for i, key in enumerate(zip(markers, axes, strict=True))}
    return {m: data[:, [col[(m, ax)] for ax in "xyz"]] for m in sorted(set(markers))}


def heel_toe_pitch(toe: np.ndarray, heel: np.ndarray) -> np.ndarray:
    """Per-frame pitch (°) of the heel→toe marker line, + toes-up; z vertical."""
    d = toe - heel
    return np.degrees(np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1])))


def strike_angles(phi: np.ndarray, ic: np.ndarray, to: np.ndarray) -> np.ndarray:
    """strike_angle_deg per contact by :data:`RULE` (ic, to: IMU sample indices; to = -1 → NaN).

    ``phi`` is the heel–toe pitch per mocap frame (:func:`heel_toe_pitch`).
    """
    frames = np.arange(len(phi))
    out = np.full(len(ic), np.nan)
    for k, (i, t) in enumerate(zip(ic, to, strict=True)):
        if t < 0:
            continue
        f_ic, f_to = i * MOCAP_HZ / FS_HZ, t * MOCAP_HZ / FS_HZ
        if not 0 <= f_ic < f_to <= frames[-1]:
            raise ValueError(f"gaitmap: contact {k} outside the mocap frames")
        c = f_to - f_ic
        lo, hi = f_ic + FLAT_WINDOW[0] * c, f_ic + FLAT_WINDOW[1] * c
        flat = phi[(frames >= lo) & (frames <= hi)]
        out[k] = np.interp(f_ic, frames, phi) - np.median(flat)
    return out


def _read_events(path: Path) -> dict[str, np.ndarray]:
    with gzip.open(path, "rt") as fh:
        header = fh.readline().strip().split(",")
        rows = [line.strip().split(",") for line in fh if line.strip()]
    return {h: np.array([r[i] for r in rows], object if h == "foot" else float)
            for i, h in enumerate(header)}


def contacts(events: dict[str, np.ndarray], foot: str) -> tuple[np.ndarray, np.ndarray]:
    """(ic, to) sample indices of one foot's contacts by :data:`RULE`; to = -1 if unknown."""
    sel = events["foot"] == foot
    order = np.argsort(events["start"][sel])
    pre_ic = events["pre_ic"][sel][order].astype(np.int64)
    tc = events["tc"][sel][order].astype(np.int64)
    ic = events["ic"][sel][order].astype(np.int64)
    if not np.array_equal(ic[:-1], pre_ic[1:]):
        raise ValueError(f"gaitmap {foot}: strides do not chain (ic != next pre_ic)")
    if not (np.all(pre_ic < tc) and np.all(tc < ic)):
        raise ValueError(f"gaitmap {foot}: events out of order (pre_ic < tc < ic)")
    return np.r_[pre_ic, ic[-1]], np.r_[tc, -1]


def _truth(rec_id: str, split: str, condition: str, placement: Placement,
           ic: np.ndarray, to: np.ndarray, strike: np.ndarray) -> Columns:
    n = len(ic)
    landing = [LANDING_CUTOFFS.classify(a).value if np.isfinite(a) else "" for a in strike]
    t_ic = ic / FS_HZ
    t_to = np.where(to >= 0, to / FS_HZ, np.nan)
    return coerce({
        "recording_id": [rec_id] * n, "dataset": [NAME] * n, "split": [split] * n,
        "condition": [condition] * n, "fs_hz": np.full(n, FS_HZ),
        "placement": [placement.value] * n, "side": [placement.side.value] * n,
        "ic_sample_idx": ic, "to_sample_idx": to, "t_ic_s": t_ic, "t_to_s": t_to,
        "contact_ms": (t_to - t_ic) * 1000.0, "gait_mode": [GaitMode.WALK.value] * n,
        "landing": landing, "strike_angle_deg": strike, "strike_angle_world_deg": strike.copy(),
        "grade_deg": np.zeros(n), "source": [SOURCE] * n,
    }, TRUTH)


@register(NAME)
def load() -> Iterator[Recording]:
    """Two recordings (left foot: dev, right foot: test), one lateral-shoe sensor each."""
    d = dataset_dir(FOLDER)
    imu = _read_imu(d / "imu_sample_not_rotated.csv.gz")
    events = _read_events(d / "stride_events_sample.csv.gz")
    mocap = _read_mocap(d / "mocap_sample.csv.gz")
    condition = "walk;speed=normal;slope=0"
    for foot, split in (("left", "dev"), ("right", "test")):
        placement = Placement(f"{foot}_foot")
        x = imu[f"{foot}_sensor"]
        samples = make_samples(x[:, :3], np.deg2rad(x[:, 3:]), FS_HZ)
        clipped = (np.abs(x[:, :3]) >= CLIP_FRACTION * ACC_RANGE_G * G).any(axis=1)
        samples.flags[clipped] |= np.uint8(SampleFlag.CLIPPED_ACC)
        ic, to = contacts(events, foot)
        if ic.max() >= len(samples):
            raise ValueError(f"gaitmap {foot}: event beyond the IMU data")
        m = foot[0].upper()
        strike = strike_angles(heel_toe_pitch(mocap[f"{m}_TOE"], mocap[f"{m}_FCC"]), ic, to)
        rec_id = f"{NAME}/5047_normal_20_{foot}"
        stream = SensorStream(placement, FS_HZ, samples, acc_range_g=ACC_RANGE_G,
                              note="lateral shoe, NilsPod frame as recorded (not rotated)")
        yield Recording(NAME, rec_id, split, condition, {placement: stream},
                        _truth(rec_id, split, condition, placement, ic, to, strike),
                        meta={"subject": "5047", "test": "normal_20", "foot": foot,
                              "n_clipped_acc": int(clipped.sum())})
