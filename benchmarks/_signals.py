"""Realistic int16 IMU counts shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np


def foot_counts(ph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 6) int16 counts of a running foot sensor at 16 g / 2000 dps for stride phase ``ph``
    (rad): gravity (2048 counts) on z plus swings of up to ~±2000 counts on the accelerometer;
    gyro within tens of counts, so most high bytes are 0x00 or 0xFF (the COBS-heavy case)."""
    n = ph.size
    raw = np.empty((n, 6))
    raw[:, 0] = 1400 * np.sin(ph) + 400 * np.sin(2 * ph + 0.3)
    raw[:, 1] = 500 * np.sin(ph + 1.1)
    raw[:, 2] = 2048 + 1500 * np.sin(ph + 0.5) ** 3
    raw[:, 3] = 60 * np.sin(ph + 0.2)
    raw[:, 4] = 90 * np.sin(ph + 2.0) + 20 * np.sin(3 * ph)
    raw[:, 5] = 25 * np.sin(ph + 0.7)
    raw[:, :3] += rng.normal(0, 25, (n, 3))
    raw[:, 3:] += rng.normal(0, 6, (n, 3))
    return np.clip(np.rint(raw), -32000, 32000).astype(np.int16)
