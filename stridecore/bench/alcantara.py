"""Alcantara et al. 2022: sacral 2-axis accelerometer + treadmill normal GRF, running on slopes.

Source: GitHub ``alcantarar/Recurrent_GRF_Prediction`` ``data/`` (Apache-2.0); Alcantara R.S.,
Edwards W.B., Millet G.Y., Grabowski A.M., "Predicting continuous ground reaction forces from
accelerometers during uphill and downhill running: a recurrent neural network solution",
PeerJ 2022. One subject (no. 2), 31 trials of 2,480 samples at 500 Hz (≈5 s).

Accelerometer: a custom biaxial unit on the sacrum, vertical and antero-posterior (AP) axes,
low-pass 20 Hz, in g *including gravity* (whole-trial mean of the vertical channel 1.03–1.26 g;
the paper says negative vertical values occur in the aerial phase, i.e. near free fall, and
were set to 0). Loaded as placement ``pelvis`` with AP on x, vertical on z and y NaN: an *axis
assignment* of the two recorded channels, not a rotation (signs and values untouched, × g).
GRF: normal (perpendicular to the belt) force in body weights, low-pass 30 Hz, same time base.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import numpy as np

from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, event_truth, make_samples
from stridecore.schema import GaitMode, Placement

NAME = "alcantara"
FOLDER = "alcantara2022_running_slopes_sacral_grf_onesub"
FS_HZ = 500.0
N_SAMPLES = 2480
G = 9.80665
THRESHOLD_BW = 0.05  # authors' stance threshold (paper: "5 % BW")
MIN_PEAK_BW = 0.2  # a contact must reach this; flight-phase ringing peaks at ≤ 0.07 BW
SOURCE = "normal GRF>0.05BW (peak>=0.2BW), interpolated"

RULE = (
    "Stance is normal GRF > 0.05 body weights (the authors' 5 % BW threshold). A contact is a "
    "run of consecutive samples above the threshold whose peak reaches 0.2 BW; shorter bumps "
    "(treadmill ringing in the aerial phase, ≤ 8 ms and ≤ 0.07 BW, in 6 of 31 trials) are "
    "ignored. IC is the first sample above the threshold, TO the first sample at or below it "
    "after the run; t_ic_s / t_to_s are the linearly interpolated threshold crossings "
    "(s since the trial start). A run already above the threshold at the first sample (TO "
    "without IC) is dropped; a run still above it at the last sample keeps its IC with no TO. "
    "Side is unknown (one force channel under both feet), so side is empty; the sensor is the "
    "sacrum (placement pelvis). Grade and speed from Sub_Info; landing left empty because the "
    "strike labels are per-trial percentages of right-foot strikes only (kept in meta)."
)
RULE_VERSION = 1
SPLIT_RULE = (
    "By treadmill speed: every 3.33 m/s trial is dev (21 trials: the preferred and ±10 % "
    "step-frequency trials and repeats, all five slopes), every 2.5 and 4.17 m/s trial is test "
    "(10 trials, one of each speed per slope, either side of the dev speed). One subject: the test "
    "figure measures generalisation across speed, not across people."
)
DEV_SPEED_MPS = 3.33


def crossings(grf_bw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ic_idx, to_idx, t_ic_s, t_to_s) of the contacts in one trial by :data:`RULE`."""
    above = grf_bw > THRESHOLD_BW
    edges = np.flatnonzero(np.diff(np.r_[0, above.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]  # run = [start, end)
    keep = np.array([grf_bw[s:e].max() >= MIN_PEAK_BW for s, e in zip(starts, ends, strict=True)],
                    bool) & (starts > 0)
    ic, to = starts[keep], ends[keep]
    n = len(grf_bw)

    def t_cross(i: np.ndarray) -> np.ndarray:
        a, b = grf_bw[i - 1], grf_bw[i]
        return (i - 1 + (THRESHOLD_BW - a) / (b - a)) / FS_HZ

    has_to = to < n
    t_ic = t_cross(ic)
    t_to = np.full(len(to), np.nan)
    t_to[has_to] = t_cross(to[has_to])
    return ic.astype(np.int64), np.where(has_to, to, -1).astype(np.int64), t_ic, t_to


def _read(d) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    acc = np.loadtxt(d / "Accelerometer_one_sub.csv.gz", delimiter=",")
    grf = np.loadtxt(d / "GRF_one_sub.csv.gz", delimiter=",")
    with (d / "Sub_Info_one_sub.csv").open(newline="") as fh:
        info = list(csv.DictReader(fh))
    if acc.shape != (len(info), 2 * N_SAMPLES) or grf.shape != (len(info), N_SAMPLES):
        raise ValueError(f"{d}: unexpected shapes {acc.shape}, {grf.shape}, {len(info)} trials")
    return acc, grf, info


def load_grf() -> np.ndarray:
    """Normal GRF (body weights), shape (31 trials, 2480 samples) at 500 Hz, for checks/plots."""
    return _read(dataset_dir(FOLDER))[1]


def _num(x: str) -> float:
    return float("nan") if x.strip().upper() in ("", "NA") else float(x)


@register(NAME)
def load() -> Iterator[Recording]:
    """31 recordings (one per trial), one ``pelvis`` sensor each (x = AP, z = vertical)."""
    d = dataset_dir(FOLDER)
    acc_g, grf, info = _read(d)
    placement = Placement.PELVIS
    for k, row in enumerate(info):
        rec_id = f"{NAME}/trial_{k + 1:02d}"
        speed, slope = _num(row["Speed"]), _num(row["Slope"])
        split = "dev" if speed == DEV_SPEED_MPS else "test"
        condition = f"run;speed={speed:g};slope={slope:g}"
        vert, ap = acc_g[k, :N_SAMPLES], acc_g[k, N_SAMPLES:]
        acc = np.stack([ap, np.full(N_SAMPLES, np.nan), vert], axis=1) * G
        samples = make_samples(acc, None, FS_HZ)
        ic, to, t_ic, t_to = crossings(grf[k])
        truth = event_truth(ic, to, t_ic, t_to, recording_id=rec_id, dataset=NAME, split=split,
                            condition=condition, fs_hz=FS_HZ, placement=placement.value,
                            side="", gait_mode=GaitMode.RUN.value, grade_deg=slope,
                            speed_mps=speed, source=SOURCE)
        step_s = np.diff(t_ic)
        meta = {
            "subject": row["Sub"], "sex": row["Sex"], "height_cm": _num(row["Height"]),
            "mass_kg": _num(row["Mass"]), "speed_mps": speed, "slope_deg": slope,
            "step_freq_condition": None if row["StepFreq"].strip() in ("", "NA")
            else row["StepFreq"],
            "rfs_pct": _num(row["RFS"]), "mfs_pct": _num(row["MFS"]),
            "ffs_pct": _num(row["FFS"]),
            "step_rate_hz_measured": float(1.0 / np.median(step_s)) if len(step_s) else None,
        }
        stream = SensorStream(placement, FS_HZ, samples, acc_range_g=None,
                              note="sacrum, x = antero-posterior, z = vertical, y absent; "
                                   "negative vertical values clipped to 0 by the authors")
        yield Recording(NAME, rec_id, split, condition, {placement: stream}, truth, meta)
