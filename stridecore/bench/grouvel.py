"""Grouvel et al. 2023 running (and 2 walking) trials: 8 IMUs and pressure insoles, coarse.

Source: the synchronised CSVs re-hosted by GitHub ``ThomasAston/movetru`` of Grouvel G.,
Carcreff L., Moissenet F., Armand S., "A dataset of asymptomatic human gait and movements
obtained from markers, IMUs, insoles and force plates", Sci Data 10:180 (2023),
doi:10.1038/s41597-023-02077-3 (paper CC BY 4.0, data terms unverified: read from the shared
datasets folder only, never copied). GaitUp Physilog 6S IMUs (acc in g, gyro in deg/s) and
Moticon insoles, squeezed onto the 100 Hz mocap row grid with a trial-specific factor: on the
insole clock ``x_Time`` the IMU/insole stream has an effective rate of only 17–32 Hz, so this set
is informational (event timing to ±1 row ≈ ±20–30 ms, landing proxy from the insole CoP).
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import TRUTH, GaitMode, Landing, Placement
from stridecore.tables import Columns, coerce

FOLDER = "grouvel2023_via_movetru_running_8imu_insoles_mocap"
NAME = "grouvel"
RULE_VERSION = 1
G = 9.80665

# Frozen truth-rule constants (RULE_VERSION 1).
FORCE_N = 50.0  # an insole is loaded while TotalForce > FORCE_N
MIN_UNLOADED_ROWS = 2  # an IC needs this many unloaded rows before it
MIN_PEAK_N = 200.0  # a loaded run whose TotalForce never reaches this is not a step
REARFOOT_BELOW_PCT = 100.0 / 3.0  # Cavanagh & Lafortune 1980 strike-index thirds
FOREFOOT_ABOVE_PCT = 200.0 / 3.0

RULE = (
    "Time base: the insole clock x_Time (s) of each row; rows whose x_Time is NaN or does not "
    "advance are dropped (none in this copy); fs_hz = 1 / median(dt). Per insole, loaded = "
    f"TotalForce > {FORCE_N:g} N. IC = first loaded row after at least {MIN_UNLOADED_ROWS} "
    "unloaded rows (a run loaded from the trial start is standing, not a step); TO = first "
    "unloaded row after it (none if the run reaches the trial end); a loaded run whose "
    f"TotalForce never reaches {MIN_PEAK_N:g} N is dropped. Strike index = insole centre of "
    "pressure along the foot at the IC row as % of insole length from the heel, "
    "(CoP + 0.5) × 100, using the column named CenterOfPressureX: the data show it is the "
    "heel-to-toe axis (it tracks the pressure-weighted sensor number 1 (heel) ... 16 (toes) "
    "with r ≈ 0.99, sits at -0.41 at every walking heel strike and rises through stance), "
    "while the column named CenterOfPressureY is medio-lateral. Landing proxy by Cavanagh & "
    f"Lafortune 1980 thirds: rearfoot (heel) < {REARFOOT_BELOW_PCT:.1f} %, midfoot "
    f"{REARFOOT_BELOW_PCT:.1f}-{FOREFOOT_ABOVE_PCT:.1f} %, forefoot > "
    f"{FOREFOOT_ABOVE_PCT:.1f} %; not a strike angle, and at 17-32 Hz the IC row may already "
    "be 0-50 ms into the contact. Truth rows for the foot, shin and thigh of that leg, all on "
    "the same row index."
)
SPLIT_RULE = (
    "P01-P05 = dev, P06-P10 = test (by participant; the two walking trials P02 and P05 are "
    "dev). P01 has no insole and no x_Time (IMU time base unknown): skipped."
)
SOURCE = f"Moticon TotalForce>{FORCE_N:g}N, CoP(X) strike index thirds, v{RULE_VERSION}"

SEGMENTS: dict[str, Placement] = {
    "LF": Placement.LEFT_FOOT, "RF": Placement.RIGHT_FOOT,
    "LS": Placement.LEFT_SHIN, "RS": Placement.RIGHT_SHIN,
    "LT": Placement.LEFT_THIGH, "RT": Placement.RIGHT_THIGH,
    "SA": Placement.PELVIS,
}  # TR (trunk) has no placement: not loaded
LEG = {"left": (Placement.LEFT_FOOT, Placement.LEFT_SHIN, Placement.LEFT_THIGH),
       "right": (Placement.RIGHT_FOOT, Placement.RIGHT_SHIN, Placement.RIGHT_THIGH)}


def strike_landing(strike_index_pct: float) -> Landing:
    """Landing class from the strike index (% of foot length from the heel), Cavanagh 1980."""
    if strike_index_pct < REARFOOT_BELOW_PCT:
        return Landing.HEEL
    if strike_index_pct > FOREFOOT_ABOVE_PCT:
        return Landing.FOREFOOT
    return Landing.MIDFOOT


def insole_contacts(force_n: np.ndarray) -> list[tuple[int, int]]:
    """(IC row, TO row or -1) of one insole's TotalForce (N) by the frozen RULE."""
    f = np.nan_to_num(np.asarray(force_n, float), nan=0.0)
    loaded = f > FORCE_N
    m = np.concatenate(([False], loaded, [False]))
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    out: list[tuple[int, int]] = []
    for s, e in zip(d[::2].tolist(), d[1::2].tolist(), strict=True):
        if s < MIN_UNLOADED_ROWS or loaded[s - MIN_UNLOADED_ROWS: s].any():
            continue
        if f[s:e].max() < MIN_PEAK_N:
            continue
        out.append((s, e if e < len(f) else -1))
    return out


def _read(path: Path) -> dict[str, np.ndarray]:
    with gzip.open(path, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    head = rows[0]
    body = np.array([[float(v) if v.strip() else math.nan for v in r] for r in rows[1:] if r],
                    dtype=np.float64)
    return {h: body[:, i] for i, h in enumerate(head)}


def trial_ids() -> list[str]:
    """Trial names (``P02_S01_Running_01`` ...) of the synchronised CSVs, P01 included."""
    d = dataset_dir(FOLDER) / "synchronised"
    return sorted(p.name[: -len(".csv.gz")] for p in d.glob("*.csv.gz"))


def load_one(trial: str) -> Recording:
    """One trial with its insole truth; raises ValueError for P01 (no insole, no x_Time)."""
    cols = _read(dataset_dir(FOLDER) / "synchronised" / f"{trial}.csv.gz")
    if "x_Time" not in cols:
        raise ValueError(f"grouvel: {trial} has no insole / x_Time")
    t = cols["x_Time"]
    keep = np.isfinite(t)
    keep[keep] &= np.concatenate(([True], np.diff(t[keep]) > 0))
    last = -math.inf
    for i in np.flatnonzero(keep):  # x_Time must advance past every kept row
        if t[i] <= last:
            keep[i] = False
        else:
            last = t[i]
    n_dropped = int((~keep).sum())
    cols = {k: v[keep] for k, v in cols.items()}
    t_s = cols["x_Time"] - cols["x_Time"][0]
    fs = float(1.0 / np.median(np.diff(t_s)))
    participant = trial.split("_")[0]
    split = "dev" if int(participant[1:]) <= 5 else "test"
    walking = "_Gait_" in trial
    mode = GaitMode.WALK if walking else GaitMode.RUN
    condition = "walk;overground" if walking else "run;overground"
    sensors: dict[Placement, SensorStream] = {}
    for seg, p in SEGMENTS.items():
        if f"P6_{seg}_acc_x" not in cols:
            continue  # P05 has no left-thigh IMU
        acc = np.stack([cols[f"P6_{seg}_acc_{a}"] for a in "xyz"], 1) * G
        gyr = np.radians(np.stack([cols[f"P6_{seg}_gyro_{a}"] for a in "xyz"], 1))
        sensors[p] = SensorStream(p, fs, make_samples(acc, gyr, fs, t_s),
                                  note=f"Physilog P6_{seg} on x_Time rows (effective {fs:.1f} Hz)")
    rows: dict[str, list] = {k: [] for k in (
        "placement", "side", "ic_sample_idx", "to_sample_idx", "t_ic_s", "t_to_s", "landing")}
    strike: dict[str, list[float]] = {}
    for side, placements in LEG.items():
        contacts = insole_contacts(cols[f"{side}TotalForce_N_"])
        cop = cols[f"{side}CenterOfPressureX___"]
        si = [float((cop[ic] + 0.5) * 100.0) for ic, _ in contacts]
        strike[side] = si
        for p in placements:
            if p not in sensors:
                continue
            for (ic, to), s in zip(contacts, si, strict=True):
                rows["placement"].append(p.value)
                rows["side"].append(side)
                rows["ic_sample_idx"].append(ic)
                rows["to_sample_idx"].append(to)
                rows["t_ic_s"].append(float(t_s[ic]))
                rows["t_to_s"].append(float(t_s[to]) if to >= 0 else math.nan)
                rows["landing"].append(strike_landing(s).value)
    nrow = len(rows["placement"])
    order = sorted(range(nrow), key=lambda i: (rows["placement"][i], rows["t_ic_s"][i]))
    truth_cols = {k: [v[i] for i in order] for k, v in rows.items()}
    rec_id = f"{NAME}/{trial}"
    truth_cols.update(
        recording_id=[rec_id] * nrow, dataset=[NAME] * nrow, split=[split] * nrow,
        condition=[condition] * nrow, fs_hz=[fs] * nrow, gait_mode=[mode.value] * nrow,
        source=[SOURCE] * nrow)
    truth: Columns = coerce(truth_cols, TRUTH)
    truth["contact_ms"] = (truth["t_to_s"] - truth["t_ic_s"]) * 1000.0
    return Recording(dataset=NAME, recording_id=rec_id, split=split, condition=condition,
                     sensors=sensors, truth=truth,
                     meta={"participant": participant, "rows_dropped": n_dropped,
                           "effective_fs_hz": fs, "strike_index_pct": strike,
                           "truth_placements": [p.value for leg in LEG.values() for p in leg
                                                if p in sensors],
                           "rule_version": RULE_VERSION})


@register(NAME)
def load() -> Iterator[Recording]:
    """The 20 trials with insoles (P02–P10 running, P02/P05 walking), sorted by name.

    Sensors missing from a trial are absent from ``sensors`` and get no truth rows (P05 has
    no left-thigh IMU).
    """
    for trial in trial_ids():
        if not trial.startswith("P01_"):
            yield load_one(trial)
