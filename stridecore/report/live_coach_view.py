"""The compact live view of ``stridecore live``: per sensor its link, cadence, landing mix,
knee measure, grade, tibial impact and pelvic drop over the last steps, and the last cue."""

from __future__ import annotations

import numpy as np
from rich.table import Table

RECENT = 10  # steps in the medians


def _med(t: dict, col: str, nd: int = 0) -> str:
    x = np.asarray(t.get(col, ()), np.float64)[-RECENT:]
    x = x[np.isfinite(x)]
    return f"{np.median(x):.{nd}f}" if len(x) else "–"


def view_rows(lc, t_s: float) -> tuple[str, list[tuple[str, ...]], str]:
    """(title, rows, last cue) of the live view at session time ``t_s`` (s)."""
    rows = []
    for s in lc.run.sessions if lc.run is not None else ():
        t = lc.steps_table(s.key) if lc.coach is not None else s.stream.steps_table()
        n = len(t.get("t_ic_s", ()))
        land = t.get("landing", np.zeros(0, object))[-RECENT:]
        mix = " ".join(f"{k[0].upper()}{int(np.sum(land == k))}"
                       for k in ("heel", "midfoot", "forefoot")) if n and "foot" in s.key else "–"
        knee = _med(t, "knee_peak_deg")
        if knee == "–":
            knee = _med(t, "shank_loading_rotation_deg")
            knee = f"{knee} (shank)" if knee != "–" else knee
        if len(s.link.disconnects) > len(s.link.resumed):
            link = "lost"
        else:
            link = "up" if s.stream.decoder.bytes_in else "connecting"
        rows.append((s.key, link, str(n), _med(t, "cadence_spm"), mix, knee,
                     _med(t, "grade_deg", 1), _med(t, "peak_tibial_acc_g", 1),
                     _med(t, "pelvic_drop_deg", 1)))
    last = "–"
    if lc.coach is not None and lc.coach.decisions:
        spoken = [d for d in lc.coach.decisions if d.spoken]
        if spoken:
            d = spoken[-1]
            last = f'{d.t_host_s:6.1f} s  "{d.text}"  ({d.fault})'
    return f"stridecore live · {t_s:6.1f} s", rows, last


def live_table(lc, t_s: float, final: bool = False) -> Table:
    title, rows, last = view_rows(lc, t_s)
    tab = Table(title=title + (" · done" if final else ""), title_justify="left")
    for h in ("sensor", "link", "steps", "cadence", "landing (last 10)", "knee °",
              "grade °", "tibial g", "hip drop °"):
        tab.add_column(h, justify="left" if h in ("sensor", "link", "landing (last 10)")
                       else "right")
    for r in rows:
        tab.add_row(*r)
    tab.caption = f"last cue: {last}"
    tab.caption_justify = "left"
    return tab
