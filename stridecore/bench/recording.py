"""A labelled recording: raw sensor streams in schema units plus their truth table.

Every dataset loader yields these. Samples are in the sensor's own frame as mounted (loaders
convert units, never rotate), indexed by the sensor's own sample index from 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmware_protocol.batch import Samples
from stridecore.schema import TRUTH, Placement
from stridecore.tables import Columns, coerce


@dataclass(frozen=True)
class SensorStream:
    """One sensor of a recording.

    ``samples.acc_mps2`` / ``samples.gyr_radps`` are (N, 3) in the sensor frame; an axis the
    sensor does not have is NaN (no gyro: all three gyro columns NaN). ``samples.t_device_us``
    is the sensor's time base (µs since the recording start, irregular where the source is);
    ``fs_hz`` the nominal rate; ``acc_range_g`` the clipping limit where known.
    """

    placement: Placement
    fs_hz: float
    samples: Samples
    acc_range_g: float | None = None
    note: str = ""

    @property
    def has_gyro(self) -> bool:
        return bool(np.isfinite(self.samples.gyr_radps).any())

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.fs_hz


@dataclass(frozen=True)
class Recording:
    """One labelled recording of one dataset.

    ``truth`` is a :data:`~stridecore.schema.TRUTH` table (one row per true step per sensor,
    sample indices on that sensor); ``meta`` carries condition values (speed, slope, group,
    per-trial strike mix) as plain Python values.
    """

    dataset: str
    recording_id: str
    split: str  # "dev" or "test"
    condition: str
    sensors: dict[Placement, SensorStream]
    truth: Columns
    meta: dict[str, object] = field(default_factory=dict)


def make_samples(acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, fs_hz: float,
                 t_s: np.ndarray | None = None) -> Samples:
    """A :class:`Samples` block from (N, 3) arrays; missing gyro becomes NaN.

    ``t_s`` gives irregular sample times (s); otherwise ``i / fs_hz``.
    """
    acc = np.ascontiguousarray(acc_mps2, np.float64)
    n = acc.shape[0]
    gyr = (np.full((n, 3), np.nan) if gyr_radps is None
           else np.ascontiguousarray(gyr_radps, np.float64))
    t = np.arange(n) / fs_hz if t_s is None else np.asarray(t_s, np.float64)
    return Samples(sample_idx=np.arange(n, dtype=np.int64), t_device_us=t * 1e6,
                   acc_mps2=acc, gyr_radps=gyr, flags=np.zeros(n, np.uint8))


def event_truth(ic_sample_idx: np.ndarray, to_sample_idx: np.ndarray, t_ic_s: np.ndarray,
                t_to_s: np.ndarray, **per_recording: object) -> Columns:
    """A TRUTH table of one sensor's contacts: the event columns, ``contact_ms`` derived from
    them, and every other column given once for the recording (scalars are repeated)."""
    t_ic_s, t_to_s = np.asarray(t_ic_s, np.float64), np.asarray(t_to_s, np.float64)
    n = len(t_ic_s)
    cols: dict[str, object] = {"ic_sample_idx": ic_sample_idx, "to_sample_idx": to_sample_idx,
                               "t_ic_s": t_ic_s, "t_to_s": t_to_s,
                               "contact_ms": (t_to_s - t_ic_s) * 1000.0}
    for k, v in per_recording.items():
        cols[k] = [v] * n if isinstance(v, str) else np.full(n, v)
    return coerce(cols, TRUTH)
