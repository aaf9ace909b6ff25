"""Left/right symmetry of every step metric, over the last steps of each leg.

Each step record (any placement) is filed by its segment (foot, shin, pelvis) and side (a
pelvis row's side is the leg in stance). For every metric measured on both legs,
:meth:`Symmetry.table` gives the median of the last ``window`` steps of each leg and the
symmetry index

    SI = (L − R) / (½ (|L| + |R|)) × 100 %

(Robinson et al. 1987, J Manipulative Physiol Ther 10:172; 0 = symmetric, the sign says which
leg is larger). Medians make it robust to an odd step; the result depends only on the records
themselves (in time order per leg), not on how the two legs' records interleave.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from stridecore.tables import Columns

METRICS: dict[str, tuple[str, ...]] = {
    "foot": ("contact_ms", "cadence_spm", "strike_angle_deg", "roll_through_ms", "peak_acc_g",
             "stride_length_m", "toe_off_speed_mps"),
    "shin": ("contact_ms", "cadence_spm", "peak_tibial_acc_g", "shank_angle_ic_deg",
             "shank_loading_rotation_deg", "knee_ic_deg", "knee_peak_deg"),
    "pelvis": ("contact_ms", "pelvic_drop_deg", "push_off_mps"),  # side = the stance leg
}
"""The metrics compared per segment (those the segment's pipeline measures)."""


@dataclass(frozen=True)
class SymmetryRow:
    segment: str
    metric: str
    left: float  # median of the left leg's last steps
    right: float
    si_pct: float  # (L − R) / mean(|L|, |R|) × 100; NaN without both legs
    n_left: int
    n_right: int


class Symmetry:
    """Rolling left/right comparison of each metric (``window`` steps per leg)."""

    def __init__(self, window: int = 20) -> None:
        self.window = int(window)
        self._v: dict[tuple[str, str, str], deque[tuple[float, float]]] = {}

    def add(self, steps: Columns) -> None:
        """Step records of any sensor (STEPS columns; ``placement`` and ``side`` set)."""
        n = len(steps.get("t_ic_s", ()))
        for i in range(n):
            seg = str(steps["placement"][i]).rsplit("_", 1)[-1]
            side = str(steps["side"][i])
            if seg not in METRICS or side not in ("left", "right"):
                continue
            t = float(steps["t_ic_s"][i])
            for m in METRICS[seg]:
                if m not in steps:
                    continue
                x = float(steps[m][i])
                if math.isfinite(x):
                    q = self._v.setdefault((seg, m, side), deque(maxlen=self.window))
                    if not q or t > q[-1][0]:
                        q.append((t, x))

    def table(self) -> list[SymmetryRow]:
        rows = []
        for seg, metrics in METRICS.items():
            for m in metrics:
                lq, rq = self._v.get((seg, m, "left"), ()), self._v.get((seg, m, "right"), ())
                if not lq and not rq:
                    continue
                left = float(np.median([x for _, x in lq])) if lq else math.nan
                right = float(np.median([x for _, x in rq])) if rq else math.nan
                den = 0.5 * (abs(left) + abs(right))
                si = (left - right) / den * 100.0 if lq and rq and den > 0 else math.nan
                rows.append(SymmetryRow(seg, m, left, right, si, len(lq), len(rq)))
        return rows

    def as_dict(self) -> dict[str, dict[str, float | int | None]]:
        def r(x: float, nd: int = 2) -> float | None:
            return round(x, nd) if math.isfinite(x) else None

        return {f"{w.segment}.{w.metric}": {"left": r(w.left), "right": r(w.right),
                                             "si_pct": r(w.si_pct, 1), "n_left": w.n_left,
                                             "n_right": w.n_right} for w in self.table()}
