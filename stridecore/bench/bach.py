"""Bach, Dominici & Daffertshofer 2022: shank 3-axis accelerometer + vertical GRF, treadmill.

Source: GitHub ``marlow17/PredictingGroundReactionForces`` ``data/walk+run.mat`` (GPL-3.0: read
from the shared folder only, never copied into the project; no plots committed). Paper: Bach
M.M., Dominici N., Daffertshofer A., "Predicting vertical ground reaction forces from 3D
accelerometery using reservoir computers leads to accurate gait event detection" (VU
Amsterdam, 2022). 18 trials (7 running, 11 walking), 142.857 Hz (7 ms), acc in g (1/64 g
steps), x = vertical, y = medio-lateral, z = antero-posterior per the source README; no gyro.
We read the folder's ``csv/`` export of the .mat (same samples) and ``reference_events.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firmware_protocol.batch import SampleFlag
from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, event_truth, make_samples
from stridecore.schema import GaitMode, Placement

NAME = "bach"
FOLDER = "bach2022_running_walking_shank_accel_vgrf"
FS_HZ = 1000.0 / 7.0
G = 9.80665
ACC_RANGE_G = 8.0
CLIP_G = 7.95  # observed rails: -7.969 g (-510/64) and +7.953 g (+509/64)
METHOD = "abs50N_ma30ms_hold60ms"
THRESHOLD_N = 50.0
MA_SAMPLES = 5  # 30 ms ≈ 5 samples, centred, edges padded with the end values
HOLD_SAMPLES = 9  # 60 ms ≈ 8.6 samples → 9 (8–10 give identical events on this set)
SOURCE = "-vGRF ma30ms >=50N hold60ms (reference_events.csv)"

RULE = (
    "Truth is reference_events.csv's abs50N_ma30ms_hold60ms events (the dataset README's "
    "recommended rule): stance force = -vgrf_raw_N smoothed by a centred 5-sample (30 ms) "
    "moving average; IC is the first sample at or above 50 N and TO the first sample below it, "
    "a crossing counting only if the signal stays on the new side for 60 ms; t_ic_s / t_to_s "
    "are the file's linearly interpolated crossing times. The test suite re-derives these "
    "events from the raw force. Each IC is paired with the next TO; a TO before the first IC "
    "is dropped, an IC without a following TO keeps TO empty. The force is under one foot, "
    "presumably the instrumented leg, but neither the data nor the README says which: the "
    "sensor is placed as right_shin by convention only and side is left empty (unknown). "
    "gait_mode, speed from the trial's condition and walk+run_INFO.csv; level treadmill "
    "(grade 0°); no landing labels."
)
RULE_VERSION = 1
SPLIT_RULE = (
    "By person. Persons are inferred from walk+run_INFO.csv: trials with identical sex, mass "
    "and height are one person, numbered by first appearance: P1 F 69 kg 169 cm (trials 1–4), "
    "P2 M 80/176 (5–9), P3 M 76/184 (10–13, 16), P4 F 65/176 (14–15), P5 M 60/180 (17–18). "
    "P1–P2 are dev, P3–P5 test, running and walking alike (so runners 1–2 dev, 3–4 test; "
    "equivalently trials 1–9 dev, 10–18 test)."
)
DEV_PERSONS = (1, 2)


def _trial_files(d: Path) -> dict[int, Path]:
    out = {}
    for p in sorted((d / "csv").glob("trial_*_*.csv")):
        out[int(p.stem.split("_")[1])] = p
    return out


def read_trial(trial: int) -> tuple[np.ndarray, np.ndarray]:
    """(acc_g (N, 3) as recorded, vgrf_raw_N (N,), stance negative) of one trial."""
    d = dataset_dir(FOLDER)
    x = np.loadtxt(_trial_files(d)[trial], delimiter=",", skiprows=1)
    return x[:, 1:4], x[:, 4]


def read_info(d: Path) -> list[dict[str, object]]:
    """walk+run_INFO.csv rows with a ``person`` number (1-based, by first appearance)."""
    with (d / "walk+run_INFO.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.reader(fh)][1:]
    out: list[dict[str, object]] = []
    persons: dict[tuple, int] = {}
    for r in rows:
        if not r or not r[0].strip():
            continue
        key = (r[1].strip(), float(r[2]), float(r[3]))
        persons.setdefault(key, len(persons) + 1)
        out.append({"trial": int(r[0]), "sex": key[0], "mass_kg": key[1], "height_cm": key[2],
                    "speed_kmh": float(r[4]), "person": persons[key]})
    return out


def read_events(d: Path, method: str = METHOD) -> dict[int, list[tuple[str, int, float]]]:
    """{trial: [(event 'IC'/'TC', sample index, interpolated t_s), ...]} in file order."""
    out: dict[int, list[tuple[str, int, float]]] = {}
    with (d / "reference_events.csv").open(newline="") as fh:
        rd = csv.reader(fh)
        next(rd)
        for r in rd:
            if r[3] == method:
                out.setdefault(int(r[0]), []).append((r[2], int(r[4]), float(r[5])))
    return out


def stance_force(vgrf_raw_n: np.ndarray) -> np.ndarray:
    """-vGRF (N) smoothed by the centred 30 ms moving average of :data:`RULE`."""
    h = MA_SAMPLES // 2
    p = np.pad(-np.asarray(vgrf_raw_n, float), h, mode="edge")
    return np.convolve(p, np.ones(MA_SAMPLES) / MA_SAMPLES, mode="valid")


def events_50n(vgrf_raw_n: np.ndarray) -> list[tuple[str, int]]:
    """Re-derive the 50 N hold-60 ms events [(IC/TC, sample index)] from the raw force."""
    above = stance_force(vgrf_raw_n) >= THRESHOLD_N
    out: list[tuple[str, int]] = []
    state = bool(above[0])
    for i in range(1, len(above)):
        if above[i] != state and np.all(above[i:i + HOLD_SAMPLES] == above[i]):
            state = bool(above[i])
            out.append(("IC" if state else "TC", i))
    return out


def crossing_index(stance: np.ndarray, i: int, threshold_n: float = THRESHOLD_N) -> float:
    """Fractional sample index where ``stance`` (the smoothed force of :func:`stance_force`)
    crosses ``threshold_n`` between samples ``i - 1`` and ``i``: the linear interpolation of
    :data:`RULE` (``reference_events.csv``'s ``t_s_interpolated`` is this divided by
    :data:`FS_HZ`)."""
    return i - 1 + (threshold_n - stance[i - 1]) / (stance[i] - stance[i - 1])


def events_50n_interpolated(vgrf_raw_n: np.ndarray) -> list[tuple[str, int, float]]:
    """:func:`events_50n` with each event's interpolated crossing as a fractional sample
    index: [(IC/TC, sample index, fractional index)] — the whole of :data:`RULE` applied to a
    force sampled at :data:`FS_HZ` (stance negative, as recorded)."""
    s = stance_force(vgrf_raw_n)
    return [(k, i, crossing_index(s, i)) for k, i in events_50n(vgrf_raw_n)]


def pair(events: list[tuple[str, int, float]]) -> tuple[np.ndarray, ...]:
    """(ic_idx, to_idx, t_ic, t_to): each IC with the next TC; leading TC dropped."""
    ic, to, t_ic, t_to = [], [], [], []
    for k, (kind, idx, t) in enumerate(events):
        if kind != "IC":
            continue
        nxt = events[k + 1] if k + 1 < len(events) else None
        if nxt is not None and nxt[0] != "TC":
            raise ValueError("bach: two ICs in a row")
        ic.append(idx)
        t_ic.append(t)
        to.append(nxt[1] if nxt else -1)
        t_to.append(nxt[2] if nxt else np.nan)
    return (np.array(ic, np.int64), np.array(to, np.int64), np.array(t_ic, float),
            np.array(t_to, float))


@register(NAME)
def load() -> Iterator[Recording]:
    """18 recordings (7 running, 11 walking), one ``right_shin`` accelerometer each."""
    d = dataset_dir(FOLDER)
    files = _trial_files(d)
    events = read_events(d)
    placement = Placement.RIGHT_SHIN
    for row in read_info(d):
        trial = int(row["trial"])  # type: ignore[call-overload]
        path = files[trial]
        mode = GaitMode.RUN if path.stem.endswith("running") else GaitMode.WALK
        x = np.loadtxt(path, delimiter=",", skiprows=1)
        acc_g = x[:, 1:4]
        samples = make_samples(acc_g * G, None, FS_HZ)
        clipped = (np.abs(acc_g) >= CLIP_G).any(axis=1)
        samples.flags[clipped] |= np.uint8(SampleFlag.CLIPPED_ACC)
        speed = float(row["speed_kmh"]) / 3.6  # type: ignore[arg-type]
        person = int(row["person"])  # type: ignore[call-overload]
        split = "dev" if person in DEV_PERSONS else "test"
        condition = f"{mode.value};speed={speed:.2f};slope=0"
        rec_id = f"{NAME}/trial_{trial:02d}"
        ic, to, t_ic, t_to = pair(events.get(trial, []))
        truth = event_truth(ic, to, t_ic, t_to, recording_id=rec_id, dataset=NAME, split=split,
                            condition=condition, fs_hz=FS_HZ, placement=placement.value,
                            side="", gait_mode=mode.value, grade_deg=0.0, speed_mps=speed,
                            source=SOURCE)
        note = ("shank, x vertical / y medio-lateral / z antero-posterior as recorded; "
                f"side unknown (right by convention); mean acc_x {acc_g[:, 0].mean():+.2f} g")
        stream = SensorStream(placement, FS_HZ, samples, acc_range_g=ACC_RANGE_G, note=note)
        meta = {"trial": trial, "person": person, "sex": row["sex"],
                "mass_kg": row["mass_kg"], "height_cm": row["height_cm"],
                "speed_kmh": row["speed_kmh"], "n_clipped_acc": int(clipped.sum()),
                "acc_x_sign": int(np.sign(acc_g[:, 0].mean()))}
        yield Recording(NAME, rec_id, split, condition, {placement: stream}, truth, meta)
