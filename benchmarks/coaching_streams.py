"""The cue engine over cached step streams: re-run it per setting without re-simulating.

Run: ``uv run python benchmarks/coaching_streams.py cache [--hours 0.5] [--seeds 10]
[--seed0 0] [--jobs 2]`` once (dev seeds: 0–999), then ``uv run python
benchmarks/coaching_streams.py eval [key=value ...]`` with any :class:`CoachConfig` overrides
(e.g. ``tibial_max_g=10.8``). ``cache`` stores, per seed, what ``coaching_sim.py`` feeds the
engine: truth steps of every placement and the foot, shin and pelvis pipelines' steps at
208 Hz, for the fault-free runs (every terrain, ``--hours`` each) and the faulted run (one
40 s episode per fault on a −15 % descent), under the user cache directory
(``~/.cache/stridecore/coaching-streams``; ``STRIDECORE_CACHE`` overrides). ``eval`` prints
every form cue said on a fault-free run and, per source × kit × fault, how many contacts
beyond the persistence window + 2 the cue came. The same engine, kits and timing rule as
``coaching_sim.py``; the cache holds streams of one code version (``cache`` again after a
pipeline change: delete the folder).
"""

from __future__ import annotations

import argparse
import glob
import os
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
from coaching_sim import ALL, FAULTS, FS_HZ, KITS, PIPE_KITS, TERRAINS, pipeline_steps, run_engine

from stridecore.coaching import CoachConfig
from stridecore.coaching.phrases import SYSTEM_CUES
from stridecore.coaching.simtools import (
    episode_timing,
    fault_free_runner,
    rows_of,
    single_fault_runner,
    truth_stream,
)
from stridecore.schema import Cue, Terrain


def cache_dir() -> Path:
    base = os.environ.get("STRIDECORE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "stridecore")
    return Path(base) / "coaching-streams"


def _fault_free(args: tuple[str, int, float]) -> str:
    terrain, seed, dur = args
    path = cache_dir() / f"ff_{terrain}_{seed}.pkl"
    if not path.exists():
        t = Terrain(terrain)
        truth = truth_stream(fault_free_runner(dur, seed, terrain=t), ALL, dur, FS_HZ)
        pipe = pipeline_steps(fault_free_runner(dur, seed, terrain=t), dur, seed,
                              KITS["foot+shin+pelvis"])
        path.write_bytes(pickle.dumps((truth, pipe)))
    return str(path)


def _faulted(seed: int) -> str:
    path = cache_dir() / f"fl_{seed}.pkl"
    if not path.exists():
        runner, eps, dur = single_fault_runner(FAULTS, seed)
        truth = truth_stream(runner, ALL, dur, FS_HZ)
        pipe = pipeline_steps(single_fault_runner(FAULTS, seed)[0], dur, seed, ALL)
        path.write_bytes(pickle.dumps((truth, pipe, eps)))
    return str(path)


def cache(hours: float, seeds: list[int], jobs: int) -> None:
    if hours * 3600.0 < 60.0:
        raise SystemExit("--hours: a fault-free run needs at least 60 s (0.017 h)")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(jobs) as pool:
        for p in pool.map(_faulted, seeds):
            print(p, flush=True)
        for p in pool.map(_fault_free, [(t.value, s, hours * 3600.0) for t in TERRAINS
                                        for s in seeds]):
            print(p, flush=True)


def _config(overrides: list[str]) -> CoachConfig:
    base = CoachConfig()
    types = {f.name: type(getattr(base, f.name)) for f in fields(base)}
    kv = {}
    for a in overrides:
        k, _, v = a.partition("=")
        if k not in types:
            raise SystemExit(f"unknown CoachConfig setting {k!r}")
        kv[k] = (v in ("1", "true", "True")) if types[k] is bool else types[k](v)
    return replace(base, **kv)


def _sources(streams: tuple) -> list[tuple[str, dict, list[str]]]:
    return [("truth", streams[0], list(KITS)), ("pipeline", streams[1], list(PIPE_KITS))]


def evaluate(cfg: CoachConfig) -> None:
    d = cache_dir()
    system = {c.value for c in SYSTEM_CUES} | {Cue.PRAISE.value}
    totals: dict[tuple[str, str], int] = {}
    hours = 0.0
    for p in sorted(glob.glob(str(d / "ff_*.pkl"))):
        streams = pickle.loads(Path(p).read_bytes())
        name = Path(p).stem[3:]
        hours += (float(np.nanmax(streams[0]["t_ic_s"])) if len(streams[0]["t_ic_s"]) else 0) \
            / 3600.0
        for src, steps, kits in _sources(streams):
            for k in kits:
                e = run_engine(rows_of(steps, KITS[k]), KITS[k], cfg)
                said = [x for x in e.decisions if x.spoken and x.cue.value not in system]
                totals[(src, k)] = totals.get((src, k), 0) + len(said)
                for x in said:
                    print(f"fault-free {name} {src} {k}: {x.t_host_s:.1f} s {x.cue.value}")
    print(f"\nfault-free form cues ({hours:.1f} h of truth):")
    for (src, k), n in totals.items():
        print(f"  {src:8} {k:18} {n}")
    over: dict[tuple[str, str, str], list[int | None]] = {}
    for p in sorted(glob.glob(str(d / "fl_*.pkl"))):
        streams = pickle.loads(Path(p).read_bytes())
        foot = rows_of(streams[0], ("left_foot", "right_foot"))
        for src, steps, kits in _sources(streams):
            for k in kits:
                e = run_engine(rows_of(steps, KITS[k]), KITS[k], cfg)
                for ep in streams[2]:
                    tm = episode_timing(e.decisions, foot, ep, cfg)
                    over.setdefault((src, k, ep.fault.value), []).append(
                        None if tm.decision is None else tm.steps - tm.window_steps)
    print("\nfaulted runs: contacts beyond the persistence window (bar: ≤ +2)")
    print("| steps | kit | fault | cued | median | max | beyond +2 |")
    print("|---|---|---|---|---|---|---|")
    never = []
    for (src, k, f), v in sorted(over.items()):
        got = [x for x in v if x is not None]
        if got:
            print(f"| {src} | {k} | {f} | {len(got)}/{len(v)} | {np.median(got):+.0f} | "
                  f"{max(got):+d} | {sum(x > 2 for x in got)} |")
        else:
            never.append(f"{src} {k} {f}")
    print("\nnever cued (the kit cannot measure it, or missed): " + "; ".join(never))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--hours", type=float, default=0.5)
    c.add_argument("--seeds", type=int, default=10)
    c.add_argument("--seed0", type=int, default=0)
    c.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    e = sub.add_parser("eval")
    e.add_argument("overrides", nargs="*", help="CoachConfig key=value")
    a = ap.parse_args()
    t0 = time.time()
    if a.cmd == "cache":
        cache(a.hours, list(range(a.seed0, a.seed0 + a.seeds)), a.jobs)
    else:
        evaluate(_config(a.overrides))
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
