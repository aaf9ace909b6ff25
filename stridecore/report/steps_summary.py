"""A running summary of the step records a live pipeline emits (for the demo's live table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stridecore.pipeline import Output
from stridecore.schema import STEPS
from stridecore.tables import Columns, concat

RECENT = 10  # steps in the "recent" medians


@dataclass
class StepsSummary:
    """All step records so far (STEPS columns) and the contacts seen as they happened."""

    parts: list[Columns] = field(default_factory=list)
    ics: int = 0

    def add(self, out: Output) -> None:
        self.ics += out.n_ics
        if out.n_steps:
            self.parts.append(out.steps)

    def table(self) -> Columns:
        return concat(self.parts, STEPS) if self.parts else {}

    def as_dict(self) -> dict:
        """Counts and medians of the last :data:`RECENT` steps; ``None`` where unknown."""
        t = self.table()
        n = len(t.get("t_ic_s", ()))

        def med(col: str, nd: int = 1) -> float | None:
            if not n:
                return None
            x = t[col][-RECENT:]
            x = x[np.isfinite(x)]
            return round(float(np.median(x)), nd) if len(x) else None

        landing = {k: int(np.sum(t["landing"] == k)) for k in ("heel", "midfoot", "forefoot")
                   } if n else {}
        return {
            "contacts": self.ics,
            "steps": n,
            "cadence_spm": med("cadence_spm", 0),
            "contact_ms": med("contact_ms", 0),
            "strike_angle_deg": med("strike_angle_deg"),
            "grade_deg": med("grade_deg"),
            "peak_acc_g": med("peak_acc_g"),
            "landing": landing,
            "last_landing": str(t["landing"][-1]) if n and t["landing"][-1] else None,
        }
