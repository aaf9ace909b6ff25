"""Speed of the running simulator (stridecore.simulate.render): seconds per simulated hour.

Run: ``uv run python benchmarks/simulate_speed.py`` (``--seconds 60`` for a quick run). Renders a
steady downhill run (one plan row per step) for each sensor set in chunks of ``--chunk`` seconds
and discards the samples, then computes the truth table. Prints the machine, then a table:
sensors, samples, wall time, seconds per simulated hour and the speed relative to real time.
Target: two sensors at 1 kHz, one hour, in under a minute.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _machine import code_version, machine

from stridecore.schema import Placement
from stridecore.simulate.imu import SensorSpec
from stridecore.simulate.plan import steady_plan
from stridecore.simulate.render import Renderer, render_chunks, step_truth

SETS = {
    "foot+shin 1 kHz": [SensorSpec(Placement.RIGHT_FOOT, fs_hz=1000.0),
                        SensorSpec(Placement.RIGHT_SHIN, fs_hz=1000.0)],
    "foot+shin 416 Hz": [SensorSpec(Placement.RIGHT_FOOT, fs_hz=416.0),
                         SensorSpec(Placement.RIGHT_SHIN, fs_hz=416.0)],
    "4 sensors 1 kHz": [SensorSpec(p, fs_hz=1000.0) for p in (
        Placement.LEFT_FOOT, Placement.RIGHT_FOOT, Placement.RIGHT_SHIN, Placement.PELVIS)],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0, help="simulated duration")
    ap.add_argument("--chunk", type=float, default=20.0, help="render chunk (s)")
    ap.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    a = ap.parse_args(argv)
    print("machine:")
    for k, v in machine().items():
        print(f"  {k:7s} {v}")
    print(f"  code    {code_version()}")
    n_steps = int(a.seconds * 170 / 60) + 10
    plan = steady_plan(n_steps, speed_mps=3.2, grade_deg=-8.0, t0_s=1.0)
    t = time.perf_counter()
    rnd = Renderer(plan)
    build = time.perf_counter() - t
    print(f"\nplan: {plan.size} steps over {a.seconds:.0f} s; body model built in {build:.2f} s")
    print("\n| sensors | samples | render s | truth s | s per sim. hour | × real time |")
    print("|---|---:|---:|---:|---:|---:|")
    ok = True
    for name in a.sets:
        sensors = SETS[name]
        t = time.perf_counter()
        n = 0
        for chunk in render_chunks(plan, sensors, a.seconds, seed=1, chunk_s=a.chunk,
                                   renderer=rnd):
            n += sum(len(s) for s in chunk.values())
        wall = time.perf_counter() - t
        t = time.perf_counter()
        truth = step_truth(plan, sensors, renderer=rnd)
        t_truth = time.perf_counter() - t
        per_hour = (wall + t_truth) * 3600.0 / a.seconds
        print(f"| {name} | {n:,} | {wall:.2f} | {t_truth:.2f} | {per_hour:.1f} | "
              f"{a.seconds / (wall + t_truth):.0f} |")
        if not np.all(np.isfinite(truth["strike_angle_deg"])):
            ok = False
        if name == "foot+shin 1 kHz" and a.seconds >= 3600 and per_hour > 60.0:
            print("  (slower than the 60 s per simulated hour target)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
