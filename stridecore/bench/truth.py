"""Frozen truth: a stable hash and counts of a truth table, so any change to a rule is visible."""

from __future__ import annotations

import hashlib

import numpy as np

from stridecore.schema import TRUTH
from stridecore.tables import Columns

# Columns that define the truth (not metadata like source text).
HASHED = ("recording_id", "placement", "side", "ic_sample_idx", "to_sample_idx", "t_ic_s",
          "t_to_s", "landing", "strike_angle_deg", "knee_ic_deg", "knee_peak_deg", "grade_deg")


def truth_hash(truth: Columns) -> str:
    """sha256 (first 16 hex digits) over the hashed columns, floats rounded to 0.1 ms / 0.01°.

    Row order matters: loaders emit rows sorted by recording, placement and IC.
    """
    h = hashlib.sha256()
    for name in HASHED:
        if name not in truth:
            continue
        v = truth[name]
        if TRUTH[name].dtype.startswith("float"):
            r = np.where(np.isfinite(v), np.round(np.asarray(v, float), 4), np.nan)
            h.update(name.encode() + b"=" + ",".join(f"{x:.4f}" for x in r).encode())
        else:
            h.update(name.encode() + b"=" + ",".join(str(x) for x in v).encode())
    return h.hexdigest()[:16]
