"""Kernel step records (float rows) -> STEPS-schema columns: the part every contact kernel shares.

A kernel module names its record columns ``S_IC_IDX, S_IC_TUS, S_TO_IDX, S_TO_TUS,
S_PREV_IC_TUS, S_EMIT_TUS, S_PEAK_G, S_CLIPPED``; times are device µs, turned into seconds by
the caller's ``t`` (µs -> s plus its time offset).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from stridecore.schema import STEPS
from stridecore.tables import Columns, empty_column


def contact_columns(s: np.ndarray, k: ModuleType, placement: str, side: str,
                    t: Callable[[np.ndarray], np.ndarray]) -> Columns:
    """Placement, side, contact and toe-off (index, s), contact time, cadence from the
    previous contact of the same sensor, peak |a|, clipping and emission time."""
    n = len(s)
    t_ic, t_to = t(s[:, k.S_IC_TUS]), t(s[:, k.S_TO_TUS])
    stride_ms = (t_ic - t(s[:, k.S_PREV_IC_TUS])) * 1e3
    stride_ms[~(stride_ms > 0)] = np.nan
    return {
        "placement": np.full(n, placement, object),
        "side": np.full(n, side, object),
        "ic_sample_idx": s[:, k.S_IC_IDX].astype(np.int64),
        "to_sample_idx": np.where(np.isfinite(s[:, k.S_TO_IDX]), s[:, k.S_TO_IDX],
                                  -1).astype(np.int64),
        "t_ic_s": t_ic,
        "t_to_s": t_to,
        "contact_ms": (t_to - t_ic) * 1e3,
        "cadence_spm": 2 * 60000.0 / stride_ms,  # one sensor: a stride is two steps
        "peak_acc_g": s[:, k.S_PEAK_G],
        "clipped": s[:, k.S_CLIPPED] > 0,
        "t_emit_s": t(s[:, k.S_EMIT_TUS]),
    }


def steps_table(cols: Columns, n: int) -> Columns:
    """What ``tables.coerce(cols, STEPS)`` gives, without its conversions: every column given
    already has its schema dtype and str columns hold plain str; the rest are empty."""
    return {c.name: cols[c.name] if c.name in cols else empty_column(c, n)
            for c in STEPS.columns}
