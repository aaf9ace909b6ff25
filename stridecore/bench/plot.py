"""Eye-check plots of a recording's truth on its raw signals (matplotlib, Agg, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stridecore.bench.recording import Recording
from stridecore.schema import Placement

G = 9.80665
_AXES = ("x", "y", "z")
_COLOURS = ("tab:red", "tab:green", "tab:blue")


def plot_truth(rec: Recording, out_png: Path, t0_s: float, dur_s: float,
               placement: Placement | str | None = None, *,
               reference: tuple[str, np.ndarray, np.ndarray] | None = None,
               dpi: int = 100) -> Path:
    """Plot raw acc (g) and gyro (deg/s) of ``rec`` from ``t0_s`` for ``dur_s`` seconds.

    One row of panels per sensor (only ``placement`` if given): accelerometer axes in g,
    gyroscope axes in deg/s if the sensor has one. Truth IC of that sensor are solid black
    lines, TO dashed. ``reference`` = (label, t_s, values) adds a panel with an independent
    signal (e.g. the force the truth came from). Returns ``out_png``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_png = Path(out_png)
    sensors = [s for p, s in rec.sensors.items()
               if placement is None or p == Placement(placement)]
    if not sensors:
        raise ValueError(f"{rec.recording_id}: no sensor {placement!r}")
    panels: list[tuple[str, object]] = []
    for s in sensors:
        panels.append(("acc", s))
        if s.has_gyro:
            panels.append(("gyr", s))
    if reference is not None:
        panels.append(("ref", None))
    fig = Figure(figsize=(9.0, 1.9 * len(panels) + 0.6))
    FigureCanvasAgg(fig)
    axs = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    t1 = t0_s + dur_s
    truth = rec.truth
    for ax, (kind, s) in zip(axs, panels, strict=True):
        if kind == "ref":
            label, t_ref, v_ref = reference  # type: ignore[misc]
            m = (t_ref >= t0_s) & (t_ref <= t1)
            ax.plot(t_ref[m], v_ref[m], color="tab:purple", lw=1.0)
            ax.set_ylabel(label)
            sel = np.ones(len(truth["t_ic_s"]), bool)
        else:
            t = s.samples.t_device_us / 1e6
            m = (t >= t0_s) & (t <= t1)
            if kind == "acc":
                y, unit = s.samples.acc_mps2[m] / G, "acc (g)"
            else:
                y, unit = np.rad2deg(s.samples.gyr_radps[m]), "gyr (deg/s)"
            for k in range(3):
                if np.isfinite(y[:, k]).any():
                    ax.plot(t[m], y[:, k], color=_COLOURS[k], lw=0.9, label=_AXES[k])
            ax.set_ylabel(f"{s.placement.value}\n{unit}", fontsize=8)
            ax.legend(loc="upper right", fontsize=7, ncol=3, frameon=False)
            sel = truth["placement"] == s.placement.value
        for name, style in (("t_ic_s", "-"), ("t_to_s", "--")):
            for x in truth[name][sel]:
                if np.isfinite(x) and t0_s <= x <= t1:
                    ax.axvline(x, color="k", ls=style, lw=0.8, alpha=0.7)
        ax.grid(alpha=0.3)
    axs[-1].set_xlabel("time since recording start (s)   |   IC solid, TO dashed")
    axs[-1].set_xlim(t0_s, t1)
    fig.suptitle(f"{rec.recording_id} ({rec.split}, {rec.condition})", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi)
    return out_png
