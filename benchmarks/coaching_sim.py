"""Cue engine on simulated runs: silence on fault-free running, time to cue on injected faults.

Run: ``uv run python benchmarks/coaching_sim.py [--hours 1] [--seeds 10] [--seed0 0]
[--pipeline] [--personal-baselines] [--log]``. Seeds ``--seed0`` … (dev seeds are 0–999,
``stridecore.simulate.session.split_of``; test seeds from 1000). ``--log`` prints the decision
log of every detector-output run that spoke a form cue.
Fault-free: the trail runner's default session (scaled to ``--hours``) with every fault source
removed (``stridecore.coaching.simtools``), every section on one terrain (dirt, rocky, soft),
seeds 0…N−1; form cues per hour by kit. Faulted: one persistent episode (40 s) per fault on a
constant −15 % descent; time and steps from the fault's onset (first step with its truth bit)
to its cue. Truth steps always; ``--pipeline`` also runs the real foot pipeline
(``stridecore.pipeline.Pipeline``) and shin stage (``stridecore.dsp.shin.ShinStage``) on the
rendered samples at 208 Hz and feeds their steps (the thigh and pelvis have no stage yet).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from stridecore.coaching import CoachConfig, CueEngine, Kit
from stridecore.coaching.simtools import fault_free_runner, single_fault_runner, truth_stream
from stridecore.schema import STEPS, Cue, Fault, Terrain
from stridecore.tables import concat

KITS = {
    "foot": ("left_foot", "right_foot"),
    "foot+shin": ("left_foot", "right_foot", "left_shin", "right_shin"),
    "shin+thigh+pelvis": ("left_shin", "right_shin", "left_thigh", "right_thigh", "pelvis"),
    "all": ("left_foot", "right_foot", "left_shin", "right_shin", "left_thigh", "right_thigh",
            "pelvis"),
}
ALL = KITS["all"]
FAULTS = (Fault.HEEL_STRIKE, Fault.LOCKED_KNEE, Fault.HIP_DROP, Fault.NO_PUSH_OFF,
          Fault.HARD_LANDING, Fault.OVERSTRIDE)
FS_HZ = 208.0


def sub(t, placements):
    m = np.isin(t["placement"].astype(str), list(placements))
    return {k: v[m] for k, v in t.items()}


def run_engine(steps, placements, cfg=None) -> CueEngine:
    e = CueEngine(Kit.from_placements(placements), cfg)
    arr = np.where(np.isfinite(steps.get("t_emit_s", steps["t_to_s"])),
                   steps.get("t_emit_s", steps["t_to_s"]), steps["t_ic_s"])
    o = np.lexsort((steps["placement"].astype(str), arr))
    e.on_steps({k: v[o] for k, v in steps.items()}, float(arr.max()) + 10.0)
    return e


def pipeline_steps(runner, duration_s: float, seed: int, placements) -> dict:
    """Detector output (foot pipeline, shin stage) on the rendered samples, true-time axis."""
    from stridecore.dsp.shin import ShinStage, shin_steps_table
    from stridecore.pipeline import Pipeline
    from stridecore.simulate.session import simulate

    pls = [p for p in placements if p.endswith(("foot", "shin"))]
    rec = simulate(duration_s, seed=seed, placements=pls, runner=runner, fs_hz=FS_HZ).recording
    parts = []
    for pl, s in rec.sensors.items():
        if pl.value.endswith("foot"):
            st = dict(Pipeline(s.fs_hz, pl).run(s.samples, 4096).steps)
        else:
            stage = ShinStage(s.fs_hz)
            sm = s.samples
            out = [stage.step(sm.sample_idx[i:i + 4096], sm.t_device_us[i:i + 4096],
                              sm.acc_mps2[i:i + 4096], sm.gyr_radps[i:i + 4096],
                              sm.flags[i:i + 4096])[0] for i in range(0, len(sm), 4096)]
            st = shin_steps_table(np.concatenate(out), pl)
        parts.append(st)
    return concat(parts, STEPS)


def fault_free(hours: float, seeds: list[int], pipeline: bool, cfg: CoachConfig) -> None:
    dur = hours * 3600.0
    rows = []
    for terrain in (Terrain.DIRT, Terrain.ROCKY, Terrain.SOFT):
        counts = {k: 0 for k in KITS}
        pcounts = {k: 0 for k in ("foot", "foot+shin")}
        which: dict[str, dict[str, int]] = {k: {} for k in KITS}
        which_p: dict[str, dict[str, int]] = {k: {} for k in pcounts}
        for seed in seeds:
            truth = truth_stream(fault_free_runner(dur, seed, terrain=terrain), ALL, dur, FS_HZ)
            for k, pls in KITS.items():
                e = run_engine(sub(truth, pls), pls, cfg)
                for d in e.decisions:
                    if d.spoken and d.cue.value not in {c.value for c in SYSTEM}:
                        counts[k] += 1
                        which[k][d.cue.value] = which[k].get(d.cue.value, 0) + 1
            if pipeline:
                st = pipeline_steps(fault_free_runner(dur, seed, terrain=terrain), dur, seed,
                                    KITS["foot+shin"])
                for k in pcounts:
                    e = run_engine(sub(st, KITS[k]), KITS[k], cfg)
                    said = [d for d in e.decisions if d.spoken and d.cue not in SYSTEM]
                    pcounts[k] += len(said)
                    for d in said:
                        which_p[k][d.cue.value] = which_p[k].get(d.cue.value, 0) + 1
                    if LOG and said:
                        print_log(f"fault-free {terrain.value} seed {seed} pipeline {k}", e)
        h = hours * len(seeds)
        for k in KITS:
            detail = ", ".join(f"{c} {n}" for c, n in sorted(which[k].items())) or "—"
            rows.append(f"| {terrain.value} | truth | {k} | {counts[k]} | "
                        f"{counts[k] / h:.2f} | {detail} |")
        if pipeline:
            for k, n in pcounts.items():
                detail = ", ".join(f"{c} {n}" for c, n in sorted(which_p[k].items())) or "—"
                rows.append(f"| {terrain.value} | pipeline | {k} | {n} | {n / h:.2f} | {detail} |")
    print(f"\n### Fault-free runs: {len(seeds)} seeds × 3 terrains × {hours:g} h "
          f"(trail profile, faults removed)\n")
    print("| terrain | steps | kit | form cues | per hour | which |\n|---|---|---|---:|---:|---|")
    print("\n".join(rows))


LOG = False


def print_log(title: str, e: CueEngine) -> None:
    print(f"\n#### log: {title}\n\n```")
    for d in e.decisions:
        print(f"{d.t_host_s:8.2f}  IC {d.trigger_t_ic_s:8.2f}  {d.cue.value:15s} {d.fault:13s} "
              f"{'SAID' if d.spoken else d.suppressed_reason}")
    print("```")


SYSTEM = {Cue.SENSOR_LOST, Cue.SENSOR_BACK, Cue.LOW_BATTERY, Cue.SENSOR_SLIPPED, Cue.SNOOZED,
          Cue.RESUMED}


def faulted(seeds: list[int], pipeline: bool, cfg: CoachConfig) -> None:
    res: dict[tuple[str, str, str], list] = {}
    for seed in seeds:
        runner, eps, dur = single_fault_runner(FAULTS, seed)
        truth = truth_stream(runner, ALL, dur, FS_HZ)
        sources = {"truth": truth}
        if pipeline:
            runner2, _, _ = single_fault_runner(FAULTS, seed)
            sources["pipeline"] = pipeline_steps(runner2, dur, seed, ALL)
        foot = sub(truth, ("left_foot", "right_foot"))
        ics = foot["t_ic_s"]
        for src, steps in sources.items():
            for k, pls in KITS.items():
                if src == "pipeline" and k not in ("foot", "foot+shin"):
                    continue
                e = run_engine(sub(steps, pls), pls, cfg)
                if LOG and src == "pipeline":
                    print_log(f"faulted seed {seed} pipeline {k}", e)
                for ep in eps:
                    has = np.array([ep.fault.value in f.split("+") for f in foot["fault"]])
                    on = int(np.flatnonzero(has)[0])
                    said = [d for d in e.decisions if d.spoken and d.fault == ep.fault.value
                            and d.cue is not Cue.PRAISE
                            and ics[on] <= d.t_host_s < ep.t_end_s + 2.0]
                    key = (src, k, ep.fault.value)
                    if said:
                        n = int(np.searchsorted(ics, said[0].trigger_t_ic_s + 1e-6)) - on
                        res.setdefault(key, []).append((said[0].t_host_s - ics[on], n,
                                                        said[0].cue.value))
                    else:
                        res.setdefault(key, []).append(None)
    print(f"\n### Faulted runs: one 40 s episode per fault on a −15 % descent, seeds "
          f"{seeds[0]}–{seeds[-1]}\n")
    print("| steps | kit | fault | cue | cued / episodes | onset → cue s (median, max) | "
          "steps (median, max) | misses |\n|---|---|---|---|---:|---:|---:|---:|")
    for (src, k, f), v in res.items():
        ok = [x for x in v if x is not None]
        cue = ok[0][2] if ok else "—"
        s = (f"{np.median([x[0] for x in ok]):.1f}, {max(x[0] for x in ok):.1f}" if ok
             else "—")
        n = (f"{np.median([x[1] for x in ok]):.0f}, {max(x[1] for x in ok)}" if ok else "—")
        print(f"| {src} | {k} | {f} | {cue} | {len(ok)}/{len(v)} | {s} | {n} | "
              f"{len(v) - len(ok)} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seed0", type=int, default=0, help="first seed (test seeds: ≥ 1000)")
    ap.add_argument("--pipeline", action="store_true", help="also run the real detectors")
    ap.add_argument("--personal-baselines", action="store_true",
                    help="experimental grade-banded impact / shank-angle baselines")
    ap.add_argument("--log", action="store_true", help="decision logs of detector runs")
    a = ap.parse_args()
    global LOG
    LOG = a.log
    seeds = list(range(a.seed0, a.seed0 + a.seeds))
    cfg = CoachConfig(personal_baselines=a.personal_baselines)
    t0 = time.time()
    print("# Cue engine on simulated runs\n")
    try:
        from _machine import machine
        print(f"machine: {machine()}  ")
    except ImportError:
        pass
    print(f"seeds {seeds[0]}–{seeds[-1]}, personal baselines {cfg.personal_baselines}  ")
    print(f"config: persist {cfg.persist_steps} steps and {cfg.persist_s:g} s, floor "
          f"{cfg.floor_s:g} s, cooldown {cfg.cooldown_s:g} s × {cfg.cooldown_growth:g}")
    fault_free(a.hours, seeds, a.pipeline, cfg)
    faulted(seeds, a.pipeline, cfg)
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
