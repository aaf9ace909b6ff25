"""Tan & Wang KAM/KFM example data: 8 IMUs, force-plate stance and markers, treadmill walking.

Source: GitHub ``TheOne-1/KAM_and_KFM_Estimation`` (``example_data.h5``; paper Tan, Wang et al.,
IEEE Trans. Ind. Informatics 2022, doi:10.1109/TII.2022.3189648; no licence stated: read from the
shared datasets folder only, never copied). Two subjects × 10 right-leg steps on an instrumented
split-belt treadmill, 100 Hz, each step a window from right heel strike − 20 samples to right
toe-off + 20 samples, zero-padded to 152 samples. SageMotion IMUs (y up along the segment, z the
surface normal); accelerations in m/s², angular rates in deg/s (checked from the data: foot
|acc| ≈ 9.8 in mid-stance, swing peaks ≈ 500–600, which only deg/s makes plausible).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np

from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import LANDING_CUTOFFS, TRUTH, GaitMode, Placement
from stridecore.tables import coerce

FOLDER = "tan2022_kam_kfm_example_8imu_forceplate"
FILE = "example_data.h5"
NAME = "tan"
RULE_VERSION = 1
FS_HZ = 100.0
# The foot-flat reference for the strike angle: the median over this part of stance.
FLAT_FRACTION = (0.4, 0.6)
# The loading-response peak of knee flexion: the maximum over this first part of stance.
LOADING_FRACTION = 0.5

RULE = (
    "One recording per step window (trailing all-zero rows removed). Right-leg stance from the "
    "force plate's force_phase: IC = first sample with force_phase = 1, TO = last sample of "
    "that run of 1s (contact_ms = (TO - IC) × 10 ms). Knee flexion from markers (mm) in the "
    "sagittal plane (lab y forward, z up; x dropped): flexion = 180° - angle at the knee "
    "centre (mid RFLE/RFME) between the trochanter RFT and the ankle centre (mid RTAM/RFAL); "
    "knee_ic_deg at IC, knee_peak_deg = maximum over the first "
    f"{LOADING_FRACTION:.0%} of stance (the loading-response peak; the rise into swing before "
    "TO is excluded). The trochanter is not the hip centre and there is no static trial, so "
    "the angle carries a subject-specific offset of a few degrees. Strike angle = sagittal "
    "angle of the heel (RFCC) -> 2nd metatarsal head (RFM2) line at IC minus its median over "
    f"{FLAT_FRACTION[0]:.0%}-{FLAT_FRACTION[1]:.0%} of stance (foot flat), + toes up; landing "
    "from LANDING_CUTOFFS. Truth rows for the right foot, shin and thigh only (no left-leg "
    "force): score only the right-leg placements on this set."
)
SPLIT_RULE = "subject_01 = dev (10 steps), subject_02 = test (10 steps)."
SOURCE = f"force_phase first/last 1; knee RFT-knee-ankle sagittal; v{RULE_VERSION}"

SEGMENTS: dict[str, Placement] = {
    "R_FOOT": Placement.RIGHT_FOOT, "L_FOOT": Placement.LEFT_FOOT,
    "R_SHANK": Placement.RIGHT_SHIN, "L_SHANK": Placement.LEFT_SHIN,
    "R_THIGH": Placement.RIGHT_THIGH, "L_THIGH": Placement.LEFT_THIGH,
    "WAIST": Placement.PELVIS,
}  # CHEST has no placement: not loaded
TRUTH_PLACEMENTS = (Placement.RIGHT_FOOT, Placement.RIGHT_SHIN, Placement.RIGHT_THIGH)
SPLITS = {"subject_01": "dev", "subject_02": "test"}


def knee_flexion_deg(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray,
                     plane: tuple[int, int] | None = (1, 2)) -> np.ndarray:
    """Knee flexion (°) = 180° − the angle hip–knee–ankle, from (N, 3) marker positions.

    ``plane`` selects the two coordinates to project on (default lab y, z: the sagittal plane
    of a subject walking along y); ``None`` uses the 3-D angle. 0° = straight leg.
    """
    a = np.atleast_2d(np.asarray(hip, float) - np.asarray(knee, float))
    b = np.atleast_2d(np.asarray(ankle, float) - np.asarray(knee, float))
    if plane is not None:
        a, b = a[:, list(plane)], b[:, list(plane)]
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def sagittal_pitch_deg(back: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Angle (°) of the back→front marker line above the horizontal, lab y forward / z up."""
    d = np.atleast_2d(np.asarray(front, float) - np.asarray(back, float))
    return np.degrees(np.arctan2(d[:, 2], d[:, 1]))


def _step(x: np.ndarray, ix: dict[str, int]) -> dict[str, float | int]:
    """Truth values of one step window (sample indices on the window)."""
    fp = x[:, ix["force_phase"]] > 0.5
    on = np.flatnonzero(fp)
    if len(on) == 0:
        raise ValueError("tan: a step window without force_phase")
    ic = int(on[0])
    run_end = np.flatnonzero(~fp[ic:])
    to = ic + (int(run_end[0]) if len(run_end) else len(fp) - ic) - 1

    def mk(name: str) -> np.ndarray:
        return x[:, [ix[f"{name}_{a}"] for a in "XYZ"]]

    knee = (mk("RFLE") + mk("RFME")) / 2
    ankle = (mk("RTAM") + mk("RFAL")) / 2
    flex = knee_flexion_deg(mk("RFT"), knee, ankle)
    load_end = ic + max(1, math.ceil(LOADING_FRACTION * (to - ic)))
    pitch = sagittal_pitch_deg(mk("RFCC"), mk("RFM2"))
    n_st = to - ic
    flat = pitch[ic + round(FLAT_FRACTION[0] * n_st): ic + round(FLAT_FRACTION[1] * n_st) + 1]
    strike = float(pitch[ic] - np.median(flat))
    return {"ic": ic, "to": to, "knee_ic": float(flex[ic]),
            "knee_peak": float(flex[ic:load_end + 1].max()), "strike": strike}


@register(NAME)
def load() -> Iterator[Recording]:
    """The 20 step windows (subject_01 steps 0–9 = dev, subject_02 = test)."""
    import h5py  # optional dependency (the "bench" extra)

    path = dataset_dir(FOLDER) / FILE
    with h5py.File(path, "r") as f:
        names = json.loads(f.attrs["columns"])
        ix = {c: i for i, c in enumerate(names)}
        data = {s: np.asarray(f[s][...], np.float64) for s in sorted(f.keys())}
    for subject, arr in data.items():
        split = SPLITS[subject]
        for w in range(arr.shape[0]):
            x = arr[w]
            valid = np.flatnonzero(np.any(x != 0, axis=1))
            x = x[: int(valid[-1]) + 1]
            sensors: dict[Placement, SensorStream] = {}
            for seg, p in SEGMENTS.items():
                acc = x[:, [ix[f"Accel{a}_{seg}"] for a in "XYZ"]]
                gyr = np.radians(x[:, [ix[f"Gyro{a}_{seg}"] for a in "XYZ"]])
                sensors[p] = SensorStream(p, FS_HZ, make_samples(acc, gyr, FS_HZ),
                                          note=f"SageMotion {seg}")
            st = _step(x, ix)
            rec_id = f"{NAME}/{subject}_step{w:02d}"
            nrow = len(TRUTH_PLACEMENTS)
            t_ic, t_to = st["ic"] / FS_HZ, st["to"] / FS_HZ
            truth = coerce({
                "recording_id": [rec_id] * nrow, "dataset": [NAME] * nrow,
                "split": [split] * nrow, "condition": ["walk;treadmill"] * nrow,
                "fs_hz": [FS_HZ] * nrow,
                "placement": [p.value for p in sorted(TRUTH_PLACEMENTS, key=str)],
                "side": ["right"] * nrow,
                "ic_sample_idx": [st["ic"]] * nrow, "to_sample_idx": [st["to"]] * nrow,
                "t_ic_s": [t_ic] * nrow, "t_to_s": [t_to] * nrow,
                "contact_ms": [(t_to - t_ic) * 1000.0] * nrow,
                "gait_mode": [GaitMode.WALK.value] * nrow,
                "strike_angle_deg": [st["strike"]] * nrow,
                "landing": [LANDING_CUTOFFS.classify(st["strike"]).value] * nrow,
                "knee_ic_deg": [st["knee_ic"]] * nrow, "knee_peak_deg": [st["knee_peak"]] * nrow,
                "source": [SOURCE] * nrow,
            }, TRUTH)
            yield Recording(
                dataset=NAME, recording_id=rec_id, split=split, condition="walk;treadmill",
                sensors=sensors, truth=truth,
                meta={"subject": subject, "step": w, "n_samples": len(x),
                      "body_mass_kg": float(x[0, ix["body weight"]]),
                      "body_height_m": float(x[0, ix["body height"]]),
                      "truth_placements": [p.value for p in TRUTH_PLACEMENTS],
                      "rule_version": RULE_VERSION})
