"""Marpino 2018 walking set: foot, shank and thigh IMUs on both legs, heel/toe pressure truth.

Source: GitHub ``Marpino/Walking-dataset`` (2019, no licence stated: read from the shared
datasets folder only, never copied into the project). Overground 5 m walks of young, elderly
and pathological walkers plus one young subject's extra walks; six IMU units at 100 Hz logging
raw integers (acc raw/10000 g, gyro raw/100 deg/s, upstream README; converted here, never
rotated). The two foot units also sample a toe (``Ext1``) and a heel (``Ext2``) pressure sensor,
so the truth comes from the same device as the foot IMU. In 11 recordings the left-foot unit
logged its IMU at 50 Hz (every row repeated); its stream is de-duplicated to 50 Hz, while its
pressure channels stay at 100 Hz. The truth rule below is frozen (:data:`RULE_VERSION`).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stridecore.bench.datasets import dataset_dir, register
from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import TRUTH, GaitMode, Landing, Placement
from stridecore.tables import Columns, coerce

FOLDER = "marpino2018_walking_foot_shank_thigh_imu_heel_toe_pressure"
NAME = "marpino"
RULE_VERSION = 1
FS_HZ = 100.0
G = 9.80665

# Frozen truth-rule constants (RULE_VERSION 1).
BASE_PCT = 5.0  # swing baseline b: this percentile of the recording's summed heel+toe counts
LOAD_PCT = 98.0  # loaded level L: this percentile
LO_FRAC = 0.10  # loaded while above b + LO_FRAC (L - b) ...
HI_FRAC = 0.30  # ... in a run that reaches b + HI_FRAC (L - b)
MIN_UNLOADED_S = 0.15  # shorter unloaded gaps are bridged; an IC needs this much swing before
MIN_CONTACT_S = 0.10  # shorter loaded runs are not contacts
MAX_CONTACT_S = 2.0  # a longer loaded run is the last step into standing: IC kept, TO unknown
SWING_GYRO_RADPS = 1.0  # the foot must turn faster than this in the swing before an IC
ONSET_FRAC = 0.10  # a channel's onset: rise above its pre-contact minimum by this × its range
ONSET_PRE_S = 0.15  # the pre-contact minimum is taken over this long before IC
ONSET_LOOKBACK_S = 0.10  # channel onsets are searched from this long before IC
ORDER_SAMPLES = 2  # heel/toe onset lead (samples) for the heel / forefoot landing proxy

RULE = (
    "Per foot unit, the summed heel+toe pressure s = Ext1 + Ext2 (raw counts) gets baseline "
    f"b = P{BASE_PCT:g} and loaded level L = P{LOAD_PCT:g} of the whole recording; the foot is "
    f"loaded during a run of s above b + {LO_FRAC:g}(L-b) that reaches b + {HI_FRAC:g}(L-b). "
    f"Unloaded gaps shorter than {MIN_UNLOADED_S * 1000:g} ms are bridged, loaded runs shorter "
    f"than {MIN_CONTACT_S * 1000:g} ms dropped. IC = first sample of a loaded run that follows "
    f"at least {MIN_UNLOADED_S * 1000:g} ms unloaded during which the foot IMU's angular rate "
    f"exceeds {SWING_GYRO_RADPS:g} rad/s somewhere (a real swing). A run after an unloaded gap "
    "without such a swing continues the previous contact (the foot stayed down: weight "
    "shifting), or is standing if no contact came before (a run loaded from the recording "
    "start is standing, not a step). TO = first sample after the contact's last run (summed "
    "pressure back near baseline); a contact longer than "
    f"{MAX_CONTACT_S:g} s (the last step into standing) or reaching the recording end has no "
    "TO. Landing proxy (not a strike angle): a channel's onset is the first sample from "
    f"IC - {ONSET_LOOKBACK_S * 1000:g} ms where it exceeds its minimum over the "
    f"{ONSET_PRE_S * 1000:g} ms before IC by {ONSET_FRAC:g} of its own P{BASE_PCT:g}-"
    f"P{LOAD_PCT:g} range; heel onset >= {ORDER_SAMPLES} samples before the toe onset -> heel, "
    f"toe >= {ORDER_SAMPLES} before heel -> forefoot, else midfoot (a channel without onset in "
    "the contact counts as last). Times on the foot unit's row grid (Time_k[0] + 10 ms per "
    "row); the leg's other sensors get their nearest own sample."
)

SPLIT_RULE = (
    "Young = dev; Elderly and Additional/Disability = test; Additional/Marzia (one young "
    "subject, the data's author: straight, rectangle and circle walks) and "
    "Additional/LongDistance (the same subject) = dev: one subject's 29 recordings would "
    "dominate the test set, and she may also be among the Young subjects, so keeping her in "
    "dev avoids subject leakage. Disability recordings have dead pressure channels (constant "
    "~4093 counts) and no truth, so the loader skips them: the test split is Elderly only."
)

SOURCE = (f"foot-unit heel+toe pressure sum P{BASE_PCT:g}-P{LOAD_PCT:g} "
          f"{LO_FRAC:g}/{HI_FRAC:g}, swing>={MIN_UNLOADED_S * 1000:g}ms, v{RULE_VERSION}")

# Sensor suffix -> placement (upstream README). _7 (back) is not synchronised: skipped.
UNITS: dict[int, Placement] = {
    1: Placement.RIGHT_FOOT, 2: Placement.RIGHT_SHIN, 3: Placement.RIGHT_THIGH,
    4: Placement.LEFT_THIGH, 5: Placement.LEFT_SHIN, 6: Placement.LEFT_FOOT,
}
FOOT_UNIT = {"right": 1, "left": 6}
LEG = {"right": (Placement.RIGHT_FOOT, Placement.RIGHT_SHIN, Placement.RIGHT_THIGH),
       "left": (Placement.LEFT_FOOT, Placement.LEFT_SHIN, Placement.LEFT_THIGH)}


@dataclass(frozen=True)
class Contact:
    """One foot contact on the foot unit's row grid (row indices, 100 Hz)."""

    ic: int
    to: int  # -1 when unknown
    heel_onset: int  # -1 when the heel channel shows no onset in the contact
    toe_onset: int

    @property
    def landing(self) -> Landing:
        return landing_proxy(self.heel_onset, self.toe_onset)


def landing_proxy(heel_onset: int, toe_onset: int) -> Landing:
    """Heel / midfoot / forefoot from the order of heel and toe pressure onsets (rows).

    A proxy for the landing type, not a strike angle: the heel loaded ``ORDER_SAMPLES`` or more
    before the toe -> heel, the toe that much before the heel -> forefoot, else midfoot; a
    channel without onset (-1) counts as last.
    """
    if heel_onset < 0 and toe_onset < 0:
        return Landing.MIDFOOT
    if heel_onset < 0:
        return Landing.FOREFOOT
    if toe_onset < 0:
        return Landing.HEEL
    lead = toe_onset - heel_onset
    if lead >= ORDER_SAMPLES:
        return Landing.HEEL
    if lead <= -ORDER_SAMPLES:
        return Landing.FOREFOOT
    return Landing.MIDFOOT


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    m = np.concatenate(([False], np.asarray(mask, bool), [False]))
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[::2].tolist(), d[1::2].tolist(), strict=True))


def loaded_mask(s: np.ndarray) -> np.ndarray:
    """Loaded samples of a summed pressure trace by the frozen percentile/hysteresis rule."""
    s = np.asarray(s, float)
    b, top = np.percentile(s, [BASE_PCT, LOAD_PCT])
    out = np.zeros(len(s), bool)
    if not top > b:
        return out  # a dead or constant channel pair
    lo, hi = b + LO_FRAC * (top - b), b + HI_FRAC * (top - b)
    for i, j in _runs(s > lo):
        if s[i:j].max() >= hi:
            out[i:j] = True
    return out


def _onset(x: np.ndarray, ic: int, end: int, fs_hz: float) -> int:
    """A channel's onset row near ``ic`` (see RULE), -1 if it does not rise in the contact."""
    b, top = np.percentile(x, [BASE_PCT, LOAD_PCT])
    if not top > b:
        return -1
    ref = x[max(0, ic - round(ONSET_PRE_S * fs_hz)): ic + 1].min()
    start = max(0, ic - round(ONSET_LOOKBACK_S * fs_hz))
    hit = np.flatnonzero(x[start:end] > ref + ONSET_FRAC * (top - b))
    return start + int(hit[0]) if len(hit) else -1


def foot_contacts(toe: np.ndarray, heel: np.ndarray, fs_hz: float = FS_HZ,
                  swing_ok: np.ndarray | None = None) -> list[Contact]:
    """Contacts of one foot from its toe and heel pressure channels (the frozen RULE).

    ``swing_ok[i]`` says whether the foot moved like a swing at row ``i`` (foot angular rate
    above :data:`SWING_GYRO_RADPS`); ``None`` accepts every unloaded gap as a swing.
    """
    toe, heel = np.asarray(toe, float), np.asarray(heel, float)
    loaded = loaded_mask(toe + heel)
    n = len(loaded)
    min_gap = round(MIN_UNLOADED_S * fs_hz)
    for s, e in _runs(~loaded):  # bridge short unloaded gaps between loaded runs
        if s > 0 and e < n and e - s < min_gap:
            loaded[s:e] = True
    min_run, max_run = round(MIN_CONTACT_S * fs_hz), round(MAX_CONTACT_S * fs_hz)
    spans: list[list[int]] = []  # [IC, end of loading] per contact
    gap_start = 0  # start of the unloaded gap before the current run
    standing = True  # no contact yet: loaded runs without a swing before them are standing
    for s, e in _runs(loaded):
        if e - s < min_run:
            continue
        swing = s > 0 and s - gap_start >= min_gap
        if swing and swing_ok is not None:
            swing = bool(np.asarray(swing_ok[gap_start:s]).any())
        gap_start = e
        if swing:
            spans.append([s, e])
            standing = False
        elif not standing:
            spans[-1][1] = e  # the foot never left the ground: the same contact goes on
    out: list[Contact] = []
    for s, e in spans:
        to = e if (e < n and e - s <= max_run) else -1
        out.append(Contact(ic=s, to=to, heel_onset=_onset(heel, s, e, fs_hz),
                           toe_onset=_onset(toe, s, e, fs_hz)))
    return out


def _read(path: Path) -> dict[str, np.ndarray]:
    with gzip.open(path, "rt") as fh:
        head = fh.readline().strip().split(",")
        use = [i for i, h in enumerate(head) if not h.endswith("_7")]
        data = np.loadtxt(fh, delimiter=",", usecols=use, dtype=np.int64, ndmin=2)
    return {head[i]: data[:, j] for j, i in enumerate(use)}


def _stream(cols: dict[str, np.ndarray], k: int, t0_ms: int) -> SensorStream:
    """Unit ``k`` on its own time base, rows whose Time_k does not advance removed."""
    t = cols[f"Time_{k}"]
    keep = np.concatenate(([True], np.diff(t) > 0))
    keep &= t >= np.maximum.accumulate(t)  # never step back in time
    acc = np.stack([cols[f"Acc_read_{a}_{k}"] for a in "xyz"], 1)[keep] / 10000.0 * G
    gyr = np.stack([cols[f"Gyro_read_{a}_{k}"] for a in "xyz"], 1)[keep] / 100.0 * math.pi / 180
    ts = (t[keep] - t0_ms) / 1000.0
    dt = float(np.median(np.diff(ts))) if len(ts) > 1 else 1 / FS_HZ
    fs = round(1.0 / dt, 6) if dt > 0 else FS_HZ
    dropped = int((~keep).sum())
    note = f"unit _{k}; {dropped} rows with a repeated Time_{k} dropped"
    if fs < FS_HZ * 0.75:
        note += f"; this unit logged its IMU at {fs:g} Hz in this recording"
    return SensorStream(UNITS[k], fs, make_samples(acc, gyr, fs, ts), note=note)


def _nearest(t: np.ndarray, x: float) -> int:
    i = int(np.searchsorted(t, x))
    if i <= 0:
        return 0
    if i >= len(t):
        return len(t) - 1
    return i - 1 if x - t[i - 1] <= t[i] - x else i


def _truth(rec_id: str, split: str, condition: str, cols: dict[str, np.ndarray],
           sensors: dict[Placement, SensorStream], t0_ms: int) -> Columns:
    rows: dict[str, list] = {k: [] for k in (
        "placement", "side", "ic_sample_idx", "to_sample_idx", "t_ic_s", "t_to_s", "contact_ms",
        "landing", "fs_hz")}
    for side, k in FOOT_UNIT.items():
        tk = cols[f"Time_{k}"]
        n = len(tk)
        row_t = (tk[0] - t0_ms) / 1000.0 + np.arange(n) / FS_HZ  # pressure rows, 100 Hz
        foot = sensors[LEG[side][0]]
        gmag = np.linalg.norm(foot.samples.gyr_radps, axis=1)
        ft = foot.samples.t_device_us / 1e6
        # swing_ok per pressure row: the foot gyro sample nearest to the row
        near = np.clip(np.searchsorted(ft, row_t), 0, len(ft) - 1)
        swing_ok = gmag[near] > SWING_GYRO_RADPS
        contacts = foot_contacts(cols[f"Ext1_{k}"], cols[f"Ext2_{k}"], FS_HZ, swing_ok)
        for p in LEG[side]:
            st = sensors[p]
            t = st.samples.t_device_us / 1e6
            for c in contacts:
                t_ic = float(row_t[c.ic])
                t_to = float(row_t[c.to]) if c.to >= 0 else math.nan
                rows["placement"].append(p.value)
                rows["side"].append(side)
                rows["ic_sample_idx"].append(_nearest(t, t_ic))
                rows["to_sample_idx"].append(_nearest(t, t_to) if c.to >= 0 else -1)
                rows["t_ic_s"].append(t_ic)
                rows["t_to_s"].append(t_to)
                rows["contact_ms"].append((t_to - t_ic) * 1000.0)
                rows["landing"].append(c.landing.value)
                rows["fs_hz"].append(st.fs_hz)
    nrow = len(rows["placement"])
    order = sorted(range(nrow), key=lambda i: (rows["placement"][i], rows["t_ic_s"][i]))
    cols_out = {k: [v[i] for i in order] for k, v in rows.items()}
    cols_out.update(recording_id=[rec_id] * nrow, dataset=[NAME] * nrow, split=[split] * nrow,
                    condition=[condition] * nrow, gait_mode=[GaitMode.WALK.value] * nrow,
                    source=[SOURCE] * nrow)
    return coerce(cols_out, TRUTH)


def _group(stem: str) -> tuple[str, str, str] | None:
    """(group, split, condition) of a data file stem; None for recordings without truth."""
    parts = stem.split("__")
    if parts[0] == "Young":
        return "Young", "dev", "walk;young"
    if parts[0] == "Elderly":
        return "Elderly", "test", "walk;elderly"
    if parts[0] == "Additional" and len(parts) == 3:
        if parts[1] == "Disability":
            return None  # dead pressure channels: no truth
        if parts[1] == "LongDistance":
            return "LongDistance", "dev", "walk;corridor"
        if parts[1] == "Marzia":
            return "Marzia", "dev", "walk;marzia"
    raise ValueError(f"marpino: unknown recording group {stem!r}")


def recording_ids() -> list[str]:
    """Data file stems (``Young__20180518_1`` ...) in load order, those without truth included."""
    d = dataset_dir(FOLDER) / "data"
    return sorted(p.name[: -len(".csv.gz")] for p in d.glob("*.csv.gz"))


def load_one(stem: str) -> Recording:
    """One recording by file stem (``Young__20180518_1``), truth included."""
    grp = _group(stem)
    if grp is None:
        raise ValueError(f"marpino: {stem} has no pressure truth")
    group, split, condition = grp
    cols = _read(dataset_dir(FOLDER) / "data" / f"{stem}.csv.gz")
    t0_ms = int(min(cols[f"Time_{k}"][0] for k in UNITS))
    sensors = {UNITS[k]: _stream(cols, k, t0_ms) for k in UNITS}
    rec_id = f"{NAME}/{stem}"
    truth = _truth(rec_id, split, condition, cols, sensors, t0_ms)
    return Recording(dataset=NAME, recording_id=rec_id, split=split, condition=condition,
                     sensors=sensors, truth=truth,
                     meta={"group": group, "file": f"data/{stem}.csv.gz",
                           "truth_placements": [p.value for p in UNITS.values()],
                           "rule_version": RULE_VERSION})


@register(NAME)
def load() -> Iterator[Recording]:
    """Every Marpino recording with pressure truth (Disability skipped), sorted by file name."""
    for stem in recording_ids():
        if _group(stem) is not None:
            yield load_one(stem)
