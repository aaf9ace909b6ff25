"""Foot pipeline accuracy: real labelled sets (dev and test splits) and simulated runs.

Run: ``uv run python benchmarks/foot_accuracy.py [--sim-seeds 1010-1015] [--sim-s 300]``.
Every recording goes through the same :class:`stridecore.pipeline.Pipeline` (default
parameters, blocks of 4096 samples) and is scored with :func:`stridecore.bench.score.score`
(one-to-one matching within the stated tolerance). Real sets: gaitmap (mocap heel strike,
±50 ms), Marpino (pressure onset, ±50 ms; streams below 90 Hz are reported apart, the pipeline
is specified for 100–1600 Hz). No real running foot recording is usable (Grouvel's foot IMUs
are resampled to 17–32 Hz, Alcantara has a pelvis IMU only): running is simulated only.
Simulated runs use test-split seeds (≥ 1000) and the heel and
lateral mounts besides laces, upside-down and arbitrarily rotated mounts (the default
``laces`` mount and seeds < 1000 were used for
tuning; seeds 1000–1003 were also looked at while debugging, so the default report uses
1010–1015, never looked at), at ±20 ms. Real and simulated results are printed in separate tables.
A last table: sessions that *start* on a −15 % (−8.5°) descent with no level ground and no
standing (the faulted runs of the coaching benchmark, :func:`single_fault_runner`), 208 Hz, the
same seeds, with the stride-path level off (the former level reference: the descent is taken as
level) and on (the default).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from _machine import code_version, machine

from stridecore import bench
from stridecore.bench.score import score
from stridecore.dsp.stages import FootParams
from stridecore.pipeline import Output, Pipeline
from stridecore.schema import LANDING_CUTOFFS_MO2023, STEPS, TRUTH, Placement
from stridecore.tables import concat


def _run(rec, pl, s, foot: FootParams | None = None):
    p = Pipeline(s.fs_hz, pl, foot=foot)
    # a replay ends: the contact in progress becomes a step without toe-off (Pipeline.flush)
    out = Output.concat([p.run(s.samples, 4096), p.flush()])
    st = dict(out.steps)
    st["recording_id"] = np.full(len(st["t_ic_s"]), rec.recording_id, object)
    m = rec.truth["placement"] == pl.value
    return st, {k: v[m] for k, v in rec.truth.items()}, out


def _fmt(x, d=1):
    return "—" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


def _row(name, sm):
    d = sm.as_dict()
    q = d["quantities"]

    def rm(k):
        return q[k]["rmse"] if k in q else None

    ic = d["ic_ms"]
    return (f"| {name} | {sm.tp + sm.fn} | {_fmt(sm.f1, 3)} | {_fmt(sm.precision, 3)} | "
            f"{_fmt(sm.recall, 3)} | {_fmt(ic['bias'])} ± {_fmt(ic['sd'])} | "
            f"{_fmt(d['to_ms']['bias'])} | {_fmt(rm('strike_angle_deg'))} | "
            f"{_fmt(rm('grade_deg'))} | {_fmt(d['landing']['accuracy'], 3)} | "
            f"{_fmt(d['landing']['recall']['midfoot'], 3)} |")


HEAD = ("| set | true ICs | IC F1 | precision | recall | IC bias ± SD ms | TO bias ms | "
        "strike RMSE ° | grade RMSE ° | landing acc | midfoot recall |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|")


def real(name: str, tol: float) -> None:
    parts = {"ok": ([], []), "low": ([], [])}
    for rec in bench.load(name):
        for pl, s in rec.sensors.items():
            if "foot" not in pl.value:
                continue
            if s.fs_hz < 40:
                print(f"(skipped {rec.recording_id} {pl.value}: {s.fs_hz:.1f} Hz)")
                continue
            st, tr, _ = _run(rec, pl, s)
            if name == "gaitmap" and len(tr["t_ic_s"]):
                # within the stride borders: the labelled strides span the first to the last
                # true IC; detections outside (standing up, the final stop) are not scored
                lo, hi = tr["t_ic_s"].min() - tol * 1e-3, tr["t_ic_s"].max() + tol * 1e-3
                keep = (st["t_ic_s"] >= lo) & (st["t_ic_s"] <= hi)
                st = {c: v[keep] for c, v in st.items()}
            k = "ok" if s.fs_hz >= 90 else "low"
            parts[k][0].append(st)
            parts[k][1].append(tr)
    print(f"\n### {name} (±{tol:g} ms)\n\n{HEAD}")
    for k, (ss, tt) in parts.items():
        if not ss:
            continue
        r = score(concat(ss, STEPS), concat(tt, TRUTH), tol_ms=tol, by=("split",))
        tag = "" if k == "ok" else " (50 Hz streams)"
        for split, sm in sorted(r.by["split"].items()):
            print(_row(f"{name} {split}{tag}", sm))
        if name == "marpino" and k == "ok":
            # heel-vs-toe pressure order against our landing (heel vs not), on every contact
            # matched within ±150 ms (the pressure IC lags ours, see below)
            w = score(concat(ss, STEPS), concat(tt, TRUTH), tol_ms=150, by=("split",))
            for split, sm in sorted(w.by["split"].items()):
                c = sm.landing_confusion
                n = c.sum()
                heel_agree = c[0, 0] + c[1:, 1:].sum()
                print(f"| {name} {split}: heel-vs-not agreement with the pressure onset order "
                      f"(±150 ms pairs) | {int(n)} | {heel_agree / n:.3f} | | | | | | | "
                      f"{_fmt(sm.landing_accuracy, 3)} | |" if n else "")
        if k == "ok":
            # diagnostic: the truth instrument's lag behind our contact, measured on dev only
            # (±150 ms pairs), then applied to the test split. Not a result: a truth offset.
            S, T = concat(ss, STEPS), concat(tt, TRUTH)
            wide = score(S, T, tol_ms=150, by=("split",))
            dev = wide.by["split"].get("dev")
            if dev is not None and dev.ic_ms.n:
                lag = float(np.median(wide.pairs["ic_err_ms"][
                    (wide.pairs["split"] == "dev") & np.isfinite(wide.pairs["ic_err_ms"])]))
                S2 = dict(S)
                S2["t_ic_s"] = S["t_ic_s"] - lag * 1e-3
                S2["ic_sample_idx"] = np.full(len(S["t_ic_s"]), -1)
                r2 = score(S2, T, tol_ms=tol, by=("split",))
                print(_row(f"{name} test, minus the dev median lag {lag:+.0f} ms",
                           r2.by["split"]["test"]))
        if name == "gaitmap" or k == "ok":
            extra = _extra(concat(ss, STEPS))
            print(f"\n{name}{tag}: median |grade| {extra['abs_median_grade']:.2f}°, heel "
                  f"share {extra['heel_share']:.3f} of {extra['n']} detected steps")


def _extra(steps) -> dict:
    g = steps["grade_deg"][np.isfinite(steps["grade_deg"])]
    land = steps["landing"][steps["landing"] != ""]
    return {"abs_median_grade": abs(float(np.median(g))) if len(g) else float("nan"),
            "heel_share": float(np.mean(land == "heel")) if len(land) else float("nan"),
            "n": len(steps["t_ic_s"])}


ROTATIONS = {  # extra mounting rotations (Euler xyz, deg) on top of the mount preset
    "upside-down": (180.0, 0.0, 0.0),
    "arbitrary": (35.0, -120.0, 70.0),
}


def sim(seeds: list[int], duration_s: float, configs: list[tuple[str, float | None]]) -> None:
    from stridecore.simulate.imu import rotation_from_euler_deg
    from stridecore.simulate.session import simulate

    print(f"\n### simulated trail runs, test seeds {seeds[0]}–{seeds[-1]}, {duration_s:g} s "
          f"each (±20 ms)\n\n{HEAD}")
    lat = []
    for mount_rot, fs in configs:
        ss, tt = [], []
        kw: dict = {"fs_hz": fs} if fs else {}
        mount, _, rot = mount_rot.partition("~")
        if rot:
            kw["rotation"] = rotation_from_euler_deg("xyz", ROTATIONS[rot])
        for seed in seeds:
            rec = simulate(duration_s, seed=seed, placements=["right_foot"], mount=mount,
                           **kw).recording
            for pl, s in rec.sensors.items():
                st, tr, out = _run(rec, pl, s)
                ss.append(st)
                tt.append(tr)
                # latency on the device clock: emission time minus the device time of the
                # true contact's sample (the simulated clock drifts from true time)
                t_dev = s.samples.t_device_us * 1e-6
                ti = t_dev[tr["ic_sample_idx"]]
                for t_ic, t_em in zip(out.ics["t_ic_s"], out.ics["t_emit_s"], strict=True):
                    j = np.argmin(np.abs(ti - t_ic))
                    if abs(ti[j] - t_ic) <= 0.02 and not fs and not rot:
                        lat.append((t_em - ti[j]) * 1e3)
        S, T = concat(ss, STEPS), concat(tt, TRUTH)
        r = score(S, T, tol_ms=20, by=("gait_mode",))
        name = f"sim {mount}" + (f", {rot} ({ROTATIONS[rot]})" if rot else "") + (
            f" {fs:g} Hz" if fs else "")
        print(_row(name, r.overall))
        for g, sm in sorted(r.by.get("gait_mode", {}).items()):
            print(_row(f"{name} · {g}", sm))
        alt = np.array([LANDING_CUTOFFS_MO2023.classify(x).value if np.isfinite(x) else ""
                        for x in S["strike_angle_deg"]], object)
        S2 = dict(S)
        S2["landing"] = alt
        T2 = dict(T)
        T2["landing"] = np.array([LANDING_CUTOFFS_MO2023.classify(x).value
                                  if np.isfinite(x) else "" for x in T["strike_angle_deg"]],
                                 object)
        r2 = score(S2, T2, tol_ms=20, by=())
        print(f"| {name}, Mo 2023 cut-offs | | | | | | | | | "
              f"{_fmt(r2.overall.landing_accuracy, 3)} | "
              f"{_fmt(r2.overall.landing_recall['midfoot'], 3)} |")
    lat = np.array(lat)
    print(f"\nIC emission latency at the default rate (stream time from the true contact, "
          f"device clock, {len(lat)} contacts; the block is whole, so waiting for a block's "
          f"end is not counted): median {np.median(lat):.1f} ms, p90 "
          f"{np.percentile(lat, 90):.1f} ms, max {lat.max():.1f} ms")


def descent_start(seeds: list[int], fs_hz: float = 208.0) -> None:
    """Sessions that start on the descent: grade error with the stride-path level off / on."""
    from stridecore.coaching.simtools import single_fault_runner
    from stridecore.schema import Fault
    from stridecore.simulate.session import simulate

    recs = []
    for seed in seeds:
        runner, _, dur = single_fault_runner((Fault.HEEL_STRIKE, Fault.HARD_LANDING), seed)
        recs.append(simulate(dur, seed=seed, placements=["right_foot"], runner=runner,
                             fs_hz=fs_hz).recording)
    n_s = sum(float(r.sensors[Placement.RIGHT_FOOT].samples.t_device_us[-1]) * 1e-6
              for r in recs)
    print(f"\n### simulated sessions that start on a −15 % (−8.5°) descent (no level ground, no "
          f"standing; heel-strike and hard-landing episodes), seeds {seeds[0]}–{seeds[-1]}, "
          f"{fs_hz:g} Hz, {n_s:.0f} s in all (±20 ms)\n\n"
          "| level reference | IC F1 | strike RMSE ° | grade RMSE ° | grade median error ° | "
          "grade error p5…p95 ° | reported grade p5…p95 ° | grade n | strike world RMSE ° |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for name, foot in (("off (the former reference: first flat-foots as level)",
                        FootParams(path_disagree_deg=math.inf)),
                       ("stride-path level (default)", None)):
        ss, tt = [], []
        for rec in recs:
            pl = Placement.RIGHT_FOOT
            st, tr, _ = _run(rec, pl, rec.sensors[pl], foot)
            ss.append(st)
            tt.append(tr)
        S, T = concat(ss, STEPS), concat(tt, TRUTH)
        r = score(S, T, tol_ms=20, by=())
        q = r.overall.quantities
        e = r.pairs["err_grade_deg"][r.pairs["kind"] == "tp"].astype(float)
        e = e[np.isfinite(e)]
        g = S["grade_deg"][np.isfinite(S["grade_deg"])]
        print(f"| {name} | {_fmt(r.overall.f1, 3)} | {_fmt(q['strike_angle_deg'].rmse)} | "
              f"{_fmt(q['grade_deg'].rmse)} | {np.median(e):+.1f} | "
              f"{np.percentile(e, 5):+.1f}…{np.percentile(e, 95):+.1f} | "
              f"{np.percentile(g, 5):+.1f}…{np.percentile(g, 95):+.1f} | {e.size} | "
              f"{_fmt(q['strike_angle_world_deg'].rmse)} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim-seeds", default="1010-1015")
    ap.add_argument("--sim-s", type=float, default=300.0)
    ap.add_argument("--configs", default="laces,heel,lateral,laces~upside-down,"
                    "heel~arbitrary,laces@104,laces@1600",
                    help="mount[~rotation][@rate Hz], comma-separated")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-descent", action="store_true")
    a = ap.parse_args()
    lo, _, hi = a.sim_seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    print(f"# Foot pipeline accuracy\n\nmachine: {machine()}  \ncode: {code_version()}")
    t0 = time.time()
    if not a.skip_real:
        real("gaitmap", 50.0)
        real("marpino", 50.0)
        # no real running foot set is usable: Grouvel's foot IMUs run at 17-32 Hz after
        # resampling, Alcantara has a pelvis IMU only (docs/datasets/)
    configs = [(c.partition("@")[0], float(c.partition("@")[2]) if "@" in c else None)
               for c in a.configs.split(",")]
    sim(seeds, a.sim_s, configs)
    if not a.skip_descent:
        descent_start(seeds)
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
