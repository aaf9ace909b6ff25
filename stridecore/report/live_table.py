"""The live summary table of the demo (rich)."""

from __future__ import annotations

from rich.table import Table


def _fmt(v: object) -> str:
    if v is None:
        return "—"
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items()) or "none"
    return str(v)


def health_table(d: dict, t_s: float, final: bool = False, steps: dict | None = None
                 ) -> Table:
    """Stream-health rows of :meth:`StreamHealth.as_dict` at sensor time ``t_s``, and the
    foot pipeline's rows (:meth:`StepsSummary.as_dict`) when given."""
    dev = d["device"]
    cfg = d["config"] or {}
    title = f"stridecore · simulated sensor · {t_s:5.1f} s" + (" · done" if final else "")
    tab = Table(title=title, show_header=False, title_justify="left")
    tab.add_column("what", style="bold")
    tab.add_column("value")
    rows = [
        ("device", f"{_fmt(dev['uid'])} {_fmt(dev['placement'])} {_fmt(dev['imu'])} "
                   f"fw {_fmt(dev['firmware'])}"),
        ("config", f"{_fmt(cfg.get('odr_hz'))} Hz, ±{_fmt(cfg.get('acc_range_g'))} g, "
                   f"±{_fmt(cfg.get('gyro_range_dps'))} °/s"),
        ("measured ODR", f"{_fmt(d['measured_odr_hz'])} Hz (device clock)"),
        ("samples", f"{d['samples']} in {d['data_frames']} frames, {d['bytes']} B"),
        ("gaps", f"{d['gaps']} found, {d['samples_recovered']} samples recovered "
                 f"({d['backlog_samples']} backlog, {d['late_samples']} late), "
                 f"{d['samples_missing_now']} still missing"),
        ("link", f"{d['link']}, {d['disconnects']} disconnect(s)"),
        ("clipped samples", _fmt(d["clipped_samples"])),
        ("peaks", f"{d['peak_acc_g']} g, {d['peak_gyr_dps']} °/s"),
        ("battery", f"{_fmt(d['battery_mv'])} mV"),
        ("problems", _fmt(d["problems"])),
    ]
    if steps is not None:
        unit = {"cadence_spm": "steps/min", "contact_ms": "ms", "strike_angle_deg": "°",
                "grade_deg": "°", "peak_acc_g": "g"}
        recent = ", ".join(f"{k.rsplit('_', 1)[0].replace('_', ' ')} {_fmt(steps[k])} {u}"
                           for k, u in unit.items())
        rows += [
            ("contacts", f"{steps['contacts']} detected, {steps['steps']} steps complete"),
            ("landing", f"{_fmt(steps['landing'])} (last: {_fmt(steps['last_landing'])})"),
            ("last 10 steps", recent),
        ]
    for k, v in rows:
        tab.add_row(k, v)
    return tab
