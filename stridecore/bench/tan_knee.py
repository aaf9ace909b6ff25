"""Continuous marker knee flexion of the Tan 2022 step windows (:mod:`stridecore.bench.tan`).

The loader keeps only the per-step truth (knee at IC, loading peak). This reads the same file
and returns the continuous sagittal knee flexion per window, by the same rule and function
(:func:`stridecore.bench.tan.knee_flexion_deg`: 180° − the trochanter–knee–ankle angle in the
lab y/z plane, 100 Hz, degrees, 0 = straight, + flexed; it carries the trochanter offset of a
few degrees described in ``docs/datasets/tan.md``). Read from the shared folder only.
"""

from __future__ import annotations

import json

import numpy as np

from stridecore.bench import tan
from stridecore.bench.datasets import dataset_dir


def marker_knee_deg() -> dict[str, np.ndarray]:
    """Recording id (``tan/subject_01_step00`` …) → marker knee flexion (deg) per sample,
    trimmed like the loader (trailing all-zero rows removed), so index i is sample i."""
    import h5py  # optional dependency (the "bench" extra)

    with h5py.File(dataset_dir(tan.FOLDER) / tan.FILE, "r") as f:
        names = json.loads(f.attrs["columns"])
        ix = {c: i for i, c in enumerate(names)}
        data = {s: np.asarray(f[s][...], np.float64) for s in sorted(f.keys())}
    out: dict[str, np.ndarray] = {}
    for subject, arr in data.items():
        for w in range(arr.shape[0]):
            x = arr[w]
            valid = np.flatnonzero(np.any(x != 0, axis=1))
            x = x[: int(valid[-1]) + 1]

            def mk(name: str, x: np.ndarray = x) -> np.ndarray:
                return x[:, [ix[f"{name}_{a}"] for a in "XYZ"]]

            knee = (mk("RFLE") + mk("RFME")) / 2
            ankle = (mk("RTAM") + mk("RFAL")) / 2
            out[f"{tan.NAME}/{subject}_step{w:02d}"] = tan.knee_flexion_deg(mk("RFT"), knee,
                                                                              ankle)
    return out
