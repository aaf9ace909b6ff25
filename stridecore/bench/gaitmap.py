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
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firmware_protocol.batch import SampleFlag
from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import TRUTH, GaitMode, Placement
from stridecore.tables import Columns, coerce

NAME = "gaitmap"
FOLDER = "gaitmap_example"
FS_HZ = 204.8
G = 9.80665
ACC_RANGE_G = 16.0  # assumed ±16 g: impact peaks cluster at 15.8–16.1 g (probable clipping)
CLIP_FRACTION = 0.99  # |acc axis| ≥ 99 % of the range is flagged CLIPPED_ACC
SOURCE = "mocap hs->to (gaitmap stride_events pre_ic/tc)"

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
    "grade 0°, speed and landing not measured."
)
RULE_VERSION = 1
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
           ic: np.ndarray, to: np.ndarray) -> Columns:
    n = len(ic)
    t_ic = ic / FS_HZ
    t_to = np.where(to >= 0, to / FS_HZ, np.nan)
    return coerce({
        "recording_id": [rec_id] * n, "dataset": [NAME] * n, "split": [split] * n,
        "condition": [condition] * n, "fs_hz": np.full(n, FS_HZ),
        "placement": [placement.value] * n, "side": [placement.side.value] * n,
        "ic_sample_idx": ic, "to_sample_idx": to, "t_ic_s": t_ic, "t_to_s": t_to,
        "contact_ms": (t_to - t_ic) * 1000.0, "gait_mode": [GaitMode.WALK.value] * n,
        "grade_deg": np.zeros(n), "source": [SOURCE] * n,
    }, TRUTH)


@register(NAME)
def load() -> Iterator[Recording]:
    """Two recordings (left foot: dev, right foot: test), one lateral-shoe sensor each."""
    d = dataset_dir(FOLDER)
    imu = _read_imu(d / "imu_sample_not_rotated.csv.gz")
    events = _read_events(d / "stride_events_sample.csv.gz")
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
        rec_id = f"{NAME}/5047_normal_20_{foot}"
        stream = SensorStream(placement, FS_HZ, samples, acc_range_g=ACC_RANGE_G,
                              note="lateral shoe, NilsPod frame as recorded (not rotated)")
        yield Recording(NAME, rec_id, split, condition, {placement: stream},
                        _truth(rec_id, split, condition, placement, ic, to),
                        meta={"subject": "5047", "test": "normal_20", "foot": foot,
                              "n_clipped_acc": int(clipped.sum())})
