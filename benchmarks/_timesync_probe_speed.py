"""ClockMap.add_probe, before and after its speed-up, in the same run (the machine is noisy).

An hour of probes (every 0.5 s for 30 s, then every 2 s ± 25 %; BLE-like delays, 3 % slow
replies) is fed to the reference implementation (tests/timesync_reference.py, the code before
the change) and the current one in lock step, alternating which goes first; each call is timed
(in lock step each finds the caches as the other left them, as in a replay, where decoding
runs between probes). Then each is fed the hour alone (warm caches). Steady state: probes
after the first ``fit_span_s`` (~300 probes of history). Also checks that both give the same
host times along the way.

    uv run --no-sync python benchmarks/_timesync_probe_speed.py [--frames] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_timesync import link_events
from timesync_reference import ClockMap as ReferenceClockMap

from stridecore.timesync import ClockMap


def run(seed: int, frames: bool) -> dict[str, np.ndarray | float]:
    ev = link_events(seed, 3600.0, 100.0, "ble", frame_every_s=0.0156 if frames else None)
    ref, new = ReferenceClockMap(), ClockMap()
    for e in link_events(seed + 1, 30.0, frame_every_s=None):  # numba kernels compiled/loaded
        ClockMap().add_probe(*e[2])
    pc = time.perf_counter
    t_ref, t_new, t_dev, worst = [], [], [], 0.0
    for k, (_t, is_probe, args) in enumerate(ev):
        if not is_probe:
            ref.add_frame(*args)
            new.add_frame(*args)
            continue
        pair = (ref, new) if k % 2 else (new, ref)
        for cm in pair:
            a = pc()
            cm.add_probe(*args)
            (t_ref if cm is ref else t_new).append(pc() - a)
        t_dev.append(args[1])
        grid = np.array([args[1], args[2] + 60e6])
        worst = max(worst, float(np.abs(ref.to_host_s(grid) - new.to_host_s(grid)).max()))
    snap_equal = ref.snapshot() == new.snapshot()
    alone = {}
    for cls in (ReferenceClockMap, ClockMap):
        cm, lat = cls(), []
        for _t, is_probe, args in ev:
            if not is_probe:
                cm.add_frame(*args)
                continue
            a = pc()
            cm.add_probe(*args)
            lat.append(pc() - a)
        alone[cls] = np.array(lat)
    x_s = (np.array(t_dev) - t_dev[0]) * 1e-6
    steady = x_s > ClockMap().params.fit_span_s
    return {"ref_us": 1e6 * np.array(t_ref)[steady], "new_us": 1e6 * np.array(t_new)[steady],
            "ref_alone_us": 1e6 * alone[ReferenceClockMap][steady],
            "new_alone_us": 1e6 * alone[ClockMap][steady],
            "worst_s": worst, "snap_equal": snap_equal,
            "history": len(new.snapshot()["probes"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", action="store_true", help="frames at 64 Hz interleaved")
    ap.add_argument("--repeat", type=int, default=1, help="hours (seeds) to run")
    a = ap.parse_args()
    for seed in range(a.repeat):
        r = run(seed, a.frames)
        ref, new = np.median(r["ref_us"]), np.median(r["new_us"])
        ratio = np.median(r["ref_us"] / r["new_us"])
        print(f"seed {seed}{' (frames)' if a.frames else ''}: {r['ref_us'].size} steady-state "
              f"probes, {r['history']} in history; add_probe median in lock step: before "
              f"{ref:.0f} µs, "
              f"after {new:.1f} µs (p90 {np.percentile(r['new_us'], 90):.1f}); "
              f"ratio of medians {ref / new:.1f}×, median per-probe ratio {ratio:.1f}×; "
              f"largest host-time difference {r['worst_s']:.3g} s; "
              f"snapshots equal: {r['snap_equal']}")
        ref, new = np.median(r["ref_alone_us"]), np.median(r["new_alone_us"])
        print(f"  each alone: before {ref:.0f} µs, after {new:.1f} µs: {ref / new:.1f}×")


if __name__ == "__main__":
    main()
