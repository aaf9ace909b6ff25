"""A user's own labelled data: a samples CSV (or a recording) plus a labels CSV.

The samples CSV has the schema's ``samples`` columns: ``acc_{x,y,z}_mps2`` (required),
``gyr_{x,y,z}_radps`` (optional), and a time base — ``t_s``, ``t_device_us`` or ``sample_idx``
with ``--fs``. The labels CSV has any subset of the ``truth`` columns; it needs ``t_ic_s`` or
``ic_sample_idx`` on every row. Units are checked, because the commonest mistake is g for m/s²
or deg/s for rad/s: both give one clear error line rather than nonsense results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stridecore.bench.recording import Recording, SensorStream, make_samples
from stridecore.schema import SAMPLES, TRUTH, Placement
from stridecore.tables import TableError, coerce, n_rows, read_csv

G = 9.80665


def check_units(acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, where: str) -> None:
    """Raise TableError if the accelerometer looks like g or the gyro like deg/s."""
    mag = np.linalg.norm(acc_mps2, axis=1)
    mag = mag[np.isfinite(mag)]
    if mag.size:
        med = float(np.median(mag))
        if 0.5 < med < 2.0:
            raise TableError(f"{where}: accelerometer looks like g (median |acc| = {med:.2f}); "
                             "the acc_*_mps2 columns must be m/s² (multiply by 9.80665)")
        if not 3.0 < med < 40.0:
            raise TableError(f"{where}: median |acc| = {med:.3g} is not a body-worn "
                             "accelerometer in m/s² (expected about 9.8 with gravity)")
    if gyr_radps is not None and np.isfinite(gyr_radps).any():
        peak = float(np.nanmax(np.abs(gyr_radps)))
        if peak > 50.0:
            raise TableError(f"{where}: gyro peaks at {peak:.0f}, more than any foot turns in "
                             "rad/s; the gyr_*_radps columns must be rad/s (deg/s × π/180)")


def load_user(samples_csv: str | Path, labels_csv: str | Path, placement: Placement | str,
              fs_hz: float | None = None, recording_id: str | None = None) -> Recording:
    """A :class:`Recording` from a user's samples and labels files (split ``test``)."""
    placement = Placement(placement)
    s = read_csv(samples_csv, SAMPLES, required=("acc_x_mps2", "acc_y_mps2", "acc_z_mps2"))
    n = n_rows(s)
    if n < 2:
        raise TableError(f"{samples_csv}: fewer than two samples")
    acc = np.column_stack([s[f"acc_{a}_mps2"] for a in "xyz"])
    gyr = np.column_stack([s[f"gyr_{a}_radps"] for a in "xyz"])
    has_gyr = bool(np.isfinite(gyr).any())
    if "t_s" in s:
        try:
            t = np.array([float(x) if x != "" else np.nan for x in s["t_s"]])
        except ValueError:
            raise TableError(f"{samples_csv}: t_s must be numbers in seconds") from None
    elif np.isfinite(s["t_device_us"]).all():
        t = (s["t_device_us"] - s["t_device_us"][0]) / 1e6
    elif fs_hz:
        t = np.arange(n) / fs_hz
    else:
        raise TableError(f"{samples_csv}: no time base: give a t_s or t_device_us column, "
                         "or the sample rate (--fs)")
    t = np.asarray(t, float)
    dt = np.diff(t)
    if not (np.isfinite(t).all() and np.all(dt > 0)):
        raise TableError(f"{samples_csv}: sample times must be finite and increasing")
    fs = fs_hz or float(1.0 / np.median(dt))
    check_units(acc, gyr if has_gyr else None, str(samples_csv))
    samples = make_samples(acc, gyr if has_gyr else None, fs, t_s=t - t[0])
    rid = recording_id or Path(samples_csv).stem
    lab = read_csv(labels_csv, TRUTH)
    m = n_rows(lab)
    if m == 0:
        raise TableError(f"{labels_csv}: no label rows")
    if not (np.all(np.isfinite(lab["t_ic_s"])) or np.all(lab["ic_sample_idx"] >= 0)):
        raise TableError(f"{labels_csv}: every row needs t_ic_s or ic_sample_idx")
    for col, default in (("recording_id", rid), ("dataset", "user"), ("split", "test"),
                         ("placement", placement.value),
                         ("side", placement.side.value if placement.side else "")):
        lab[col] = np.where(lab[col] == "", default, lab[col]).astype(object)
    lab["fs_hz"] = np.where(np.isfinite(lab["fs_hz"]), lab["fs_hz"], fs)
    sensor = SensorStream(placement, fs, samples, note=f"user file {samples_csv}")
    return Recording("user", rid, "test", "", {placement: sensor}, coerce(lab, TRUTH))
