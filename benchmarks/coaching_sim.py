"""Cue engine on simulated runs: silence on fault-free running, time to cue on injected faults.

Run: ``uv run python benchmarks/coaching_sim.py [--hours 1] [--seeds 10] [--seed0 0]
[--pipeline] [--personal-baselines] [--log] [--gross-only] [--jobs N]``. Seeds ``--seed0`` …
(dev seeds are 0–999, ``stridecore.simulate.session.split_of``; test seeds from 1000).
``--log`` prints the decision log of every detector-output run that spoke a form cue. Runs go
to ``--jobs`` processes.
Fault-free: the trail runner's default session (scaled to ``--hours``) with every fault source
removed (``stridecore.coaching.simtools``), every section on one terrain (dirt, rocky, soft),
seeds 0…N−1; form cues per hour by kit. Faulted: one persistent episode (40 s) per fault on a
constant −15 % descent; time and steps from the fault's onset (first step with its truth bit)
to its cue. A kit with no foot sensor has no grade, so its light feet and shorten stride catch
gross faults only (``Kit.gross_only``): they are also run on gross faults
(``GROSS_SEVERITIES``: the fault's level doubled or tripled; truth tibial impact × 1.6–1.9 or
× 1.8–2.05 over the runner's level rather than × 1.3–1.55, shank angle +6.5–7° or +10–11°
rather than +3–3.5°). Truth steps always;
``--pipeline`` also runs the foot, shin and pelvis pipelines that ``live`` runs
(``stridecore.shin_pipeline.pipeline_for``) on the rendered samples at 208 Hz and feeds their
steps (the thigh's knee join runs on truth only in this script).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from stridecore.coaching import CoachConfig, CueEngine, Kit
from stridecore.coaching.rules import RULES
from stridecore.coaching.simtools import (
    episode_timing,
    fault_free_runner,
    half_level_onset_s,
    rows_of,
    single_fault_runner,
    truth_stream,
)
from stridecore.schema import STEPS, Cue, Fault, Terrain
from stridecore.tables import concat

KITS = {
    "foot": ("left_foot", "right_foot"),
    "foot+shin": ("left_foot", "right_foot", "left_shin", "right_shin"),
    "shin+thigh+pelvis": ("left_shin", "right_shin", "left_thigh", "right_thigh", "pelvis"),
    "foot+shin+pelvis": ("left_foot", "right_foot", "left_shin", "right_shin", "pelvis"),
    "all": ("left_foot", "right_foot", "left_shin", "right_shin", "left_thigh", "right_thigh",
            "pelvis"),
}
ALL = KITS["all"]
FAULTS = (Fault.HEEL_STRIKE, Fault.LOCKED_KNEE, Fault.HIP_DROP, Fault.TORSO_SWAY,
          Fault.NO_PUSH_OFF,
          Fault.HARD_LANDING, Fault.OVERSTRIDE)
FS_HZ = 208.0
TERRAINS = (Terrain.DIRT, Terrain.ROCKY, Terrain.SOFT)
PIPE_KITS = ("foot", "foot+shin", "foot+shin+pelvis")
GROSS_FAULTS = (Fault.HARD_LANDING, Fault.OVERSTRIDE)
GROSS_SEVERITIES = (2.0, 3.0)
GROSS_RANGE_G = 32.0
GROSS_KITS = {"shin+thigh+pelvis": KITS["shin+thigh+pelvis"],
              "shin+pelvis": ("left_shin", "right_shin", "pelvis")}
"""Kits without a foot sensor, on gross faults; detector output for shin + pelvis (the thigh's
knee join runs on truth only here) with its sensors at ±``GROSS_RANGE_G``: at ±16 g a clipped
tibial peak reads 16 g, under the 20 g no-grade setting, and the kit matrix turns light feet
off (``Kit.clipped_out``)."""


def run_engine(steps, placements, cfg=None, acc_range_g: float | None = None) -> CueEngine:
    """The engine over ``steps`` for the kit of ``placements`` (sensor ranges unknown, or
    every sensor at ±``acc_range_g``)."""
    rng = None if acc_range_g is None else dict.fromkeys(placements, acc_range_g)
    e = CueEngine(Kit.from_placements(placements, rng), cfg)
    arr = np.where(np.isfinite(steps.get("t_emit_s", steps["t_to_s"])),
                   steps.get("t_emit_s", steps["t_to_s"]), steps["t_ic_s"])
    o = np.lexsort((steps["placement"].astype(str), arr))
    e.on_steps({k: v[o] for k, v in steps.items()}, float(arr.max()) + 10.0)
    return e


def pipeline_steps(runner, duration_s: float, seed: int, placements,
                   acc_range_g: float = 16.0) -> dict:
    """Detector output on the rendered samples at 208 Hz: each foot, shin and pelvis sensor through
    the pipeline ``live`` runs for it (:func:`stridecore.shin_pipeline.pipeline_for`), flushed
    at the end. Times are mapped from each sensor's clock to true time, as ``live``'s clock
    sync maps them to the host's: the simulated clocks drift ±40 ppm, so two sensors' rows of
    one contact would part by up to 0.3 s in an hour (the engine pairs them within 40 ms)."""
    from stridecore.shin_pipeline import pipeline_for
    from stridecore.simulate.session import simulate

    pls = [p for p in placements if p.endswith(("foot", "shin", "pelvis"))]
    ses = simulate(duration_s, seed=seed, placements=pls, runner=runner, fs_hz=FS_HZ,
                   acc_range_g=acc_range_g)
    parts = []
    for spec in ses.specs:
        s = ses.recording.sensors[spec.placement]
        pipe = pipeline_for(s.fs_hz, spec.placement)
        out = pipe.run(s.samples, 4096)
        for steps in (out.steps, pipe.flush().steps):
            steps = dict(steps)
            for k in ("t_ic_s", "t_to_s", "t_emit_s"):  # the recording's device clock starts
                # at true time 0 and runs (1 + drift) fast
                steps[k] = np.asarray(steps[k], float) / (1.0 + spec.clock_drift_ppm * 1e-6)
            parts.append(steps)
    return concat(parts, STEPS)


def _spoken_form(e: CueEngine) -> list[str]:
    return [d.cue.value for d in e.decisions if d.spoken and d.cue not in SYSTEM]


def _fault_free_job(args) -> tuple[str, int, dict[str, list[str]], dict[str, list[str]], str]:
    """One terrain × seed: the form cues said per kit, on truth and on detector output."""
    terrain, seed, dur, pipeline, cfg, log = args
    truth = truth_stream(fault_free_runner(dur, seed, terrain=terrain), ALL, dur, FS_HZ)
    said = {k: _spoken_form(run_engine(rows_of(truth, pls), pls, cfg)) for k, pls in KITS.items()}
    said_p: dict[str, list[str]] = {}
    text = ""
    if pipeline:
        st = pipeline_steps(fault_free_runner(dur, seed, terrain=terrain), dur, seed,
                            KITS["foot+shin+pelvis"])
        for k in PIPE_KITS:
            e = run_engine(rows_of(st, KITS[k]), KITS[k], cfg)
            said_p[k] = _spoken_form(e)
            if log and said_p[k]:
                text += log_text(f"fault-free {terrain.value} seed {seed} pipeline {k}", e)
    return terrain.value, seed, said, said_p, text


def fault_free(hours: float, seeds: list[int], pipeline: bool, cfg: CoachConfig,
               pool: ProcessPoolExecutor) -> None:
    dur = hours * 3600.0
    jobs = [(t, seed, dur, pipeline, cfg, LOG) for t in TERRAINS for seed in seeds]
    which: dict[tuple[str, str, str], dict[str, int]] = {}
    for terrain, _seed, said, said_p, text in pool.map(_fault_free_job, jobs):
        print(text, end="")
        for src, per_kit in (("truth", said), ("pipeline", said_p)):
            for k, cues in per_kit.items():
                d = which.setdefault((terrain, src, k), {})
                for c in cues:
                    d[c] = d.get(c, 0) + 1
    h = hours * len(seeds)
    print(f"\n### Fault-free runs: {len(seeds)} seeds × 3 terrains × {hours:g} h "
          f"(trail profile, faults removed)\n")
    print("| terrain | steps | kit | form cues | per hour | which |\n|---|---|---|---:|---:|---|")
    for (terrain, src, k), d in which.items():
        n = sum(d.values())
        detail = ", ".join(f"{c} {m}" for c, m in sorted(d.items())) or "—"
        print(f"| {terrain} | {src} | {k} | {n} | {n / h:.2f} | {detail} |")


LOG = False


def log_text(title: str, e: CueEngine) -> str:
    out = [f"\n#### log: {title}\n\n```"]
    for d in e.decisions:
        out.append(f"{d.t_host_s:8.2f}  IC {d.trigger_t_ic_s:8.2f}  {d.cue.value:15s} "
                   f"{d.fault:13s} {'SAID' if d.spoken else d.suppressed_reason}")
    return "\n".join([*out, "```", ""])


SYSTEM = {Cue.SENSOR_LOST, Cue.SENSOR_BACK, Cue.LOW_BATTERY, Cue.SENSOR_SLIPPED, Cue.SNOOZED,
          Cue.RESUMED}


def _faulted_job(args) -> tuple[dict[tuple[str, str, str], object], str]:
    """One seed: for each source × kit × fault, (s from onset to cue, steps from onset to the
    triggering contact, the persistence window in steps, cue) or None (missed). ``gross``:
    the gross faults on the kits without a foot sensor."""
    seed, pipeline, cfg, log, sev = args
    gross = sev != 1.0
    faults = GROSS_FAULTS if gross else FAULTS
    kits, pipe_kits = (GROSS_KITS, ("shin+pelvis",)) if gross else (KITS, PIPE_KITS)
    runner, eps, dur = single_fault_runner(faults, seed, severity=sev)
    truth = truth_stream(runner, ALL, dur, FS_HZ)
    sources = {"truth": truth}
    if pipeline:
        runner2, _, _ = single_fault_runner(faults, seed, severity=sev)
        sources["pipeline"] = pipeline_steps(runner2, dur, seed,
                                             GROSS_KITS["shin+pelvis"] if gross else ALL,
                                             GROSS_RANGE_G if gross else 16.0)
    foot = rows_of(truth, ("left_foot", "right_foot"))
    res: dict[tuple[str, str, str], object] = {}
    text = ""
    for src, steps in sources.items():
        for k, pls in kits.items():
            if src == "pipeline" and k not in pipe_kits:
                continue
            rng = GROSS_RANGE_G if gross and src == "pipeline" else None
            e = run_engine(rows_of(steps, pls), pls, cfg, rng)
            if log and src == "pipeline":
                text += log_text(f"faulted seed {seed} pipeline {k}", e)
            for ep in eps:
                tm = episode_timing(e.decisions, foot, ep, cfg,
                                    onset_t_s=half_level_onset_s(runner, ep) if gross else None)
                d = tm.decision
                res[(src, k, ep.fault.value)] = None if d is None else (
                    d.t_host_s - tm.onset_t_s, tm.steps, tm.window_steps, d.cue.value)
    return res, text


def faulted(seeds: list[int], pipeline: bool, cfg: CoachConfig,
            pool: ProcessPoolExecutor, severity: float = 1.0) -> None:
    """The faulted runs' table; ``severity`` > 1: the gross faults on kits without a foot."""
    gross = severity != 1.0
    res: dict[tuple[str, str, str], list] = {}
    jobs = [(seed, pipeline, cfg, LOG, severity) for seed in seeds]
    for r, text in pool.map(_faulted_job, jobs):
        print(text, end="")
        for key, v in r.items():
            res.setdefault(key, []).append(v)
    if gross:
        print(f"\n### Gross faults on kits without a foot sensor: one 40 s episode per fault at "
              f"severity {severity:g} on a −15 % descent, seeds {seeds[0]}–{seeds[-1]}\n")
        print("Onset: the first contact at half the episode's level (the truth bit, level ≥ "
              "0.5, is set a sixth of the way up its ramp).\n")
    else:
        print(f"\n### Faulted runs: one 40 s episode per fault on a −15 % descent, seeds "
              f"{seeds[0]}–{seeds[-1]}\n")
        print("Steps: contacts (both feet) from the fault's onset (its first contact at ≥ half "
              "level) to the contact that triggered the cue; window: the persistence window in "
              "contacts from the onset at that cadence; over: steps − window (bar: ≤ 2). "
              "*gross only*: the kit has no foot sensor, hence no grade, and its rule for this "
              "fault catches gross faults only (`Kit.gross_only`; next table).\n")
    print("| steps | kit | fault | cue | cued / episodes | onset → cue s (median, max) | "
          "steps (median, max) | window | over (median, max) |\n"
          "|---|---|---|---|---:|---:|---:|---:|---:|")
    for (src, k, f), v in res.items():
        ok = [x for x in v if x is not None]
        cue = ok[0][3] if ok else "—"
        fault_cue = next(r.cue for r in RULES if r.fault.value == f)
        if not gross and Kit.from_placements(KITS[k]).gross_only(fault_cue):
            cue += " (*gross only*)"
        s = (f"{np.median([x[0] for x in ok]):.1f}, {max(x[0] for x in ok):.1f}" if ok
             else "—")
        n = (f"{np.median([x[1] for x in ok]):.0f}, {max(x[1] for x in ok)}" if ok else "—")
        w = f"{np.median([x[2] for x in ok]):.0f}" if ok else "—"
        o = (f"{np.median([x[1] - x[2] for x in ok]):.0f}, {max(x[1] - x[2] for x in ok)}"
             if ok else "—")
        print(f"| {src} | {k} | {f} | {cue} | {len(ok)}/{len(v)} | {s} | {n} | {w} | {o} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seed0", type=int, default=0, help="first seed (test seeds: ≥ 1000)")
    ap.add_argument("--pipeline", action="store_true", help="also run the real detectors")
    ap.add_argument("--personal-baselines", action="store_true",
                    help="experimental grade-banded impact / shank-angle baselines")
    ap.add_argument("--log", action="store_true", help="decision logs of detector runs")
    ap.add_argument("--gross-only", action="store_true",
                    help="only the gross faults on kits without a foot sensor")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes (runs are independent)")
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
    print(f"config: persist {cfg.persist_steps} steps and {cfg.persist_s:g} s (Quick feet "
          f"{cfg.cadence_persist_steps} and {cfg.cadence_persist_s:g} s), floor "
          f"{cfg.floor_s:g} s, cooldown {cfg.cooldown_s:g} s × {cfg.cooldown_growth:g}")
    with ProcessPoolExecutor(a.jobs) as pool:
        if not a.gross_only:
            fault_free(a.hours, seeds, a.pipeline, cfg, pool)
            faulted(seeds, a.pipeline, cfg, pool)
        for sev in GROSS_SEVERITIES:
            faulted(seeds, a.pipeline, cfg, pool, severity=sev)
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
