"""Knee flexion accuracy (:mod:`stridecore.dsp.knee`): Tan 2022 markers and simulated runs.

Prints a markdown table. Tan 2022: each subject's ten ~1 s step windows are streamed through
one stage in order, separated by a NaN sample (the stage keeps axes and signs across windows;
without a standing period each window's gyro-integrated knee is invalid until that window's own
terminal-swing extension event anchors it, ~0.15 s in, with the fixed first-event prior: one
stride per window, so the per-stride range rule never applies), RMSE over valid samples against
the continuous marker knee angle (:mod:`stridecore.bench.tan_knee`; subject_01 = dev,
subject_02 = test). Simulated: 60 s test seeds (right thigh + right shin; the shin stream is
resampled onto the thigh's true sample times, since the two simulated clocks differ by their
ODR errors), RMSE against the body model's continuous knee and at each step's IC / loading
peak (``knee_ic_deg`` / ``knee_peak_deg``, the knee estimate at the nearest sample). Dev seeds
1–6 were used for tuning; never tune on what this prints for test seeds.

Run: ``uv run --no-sync python benchmarks/knee_accuracy.py``
"""

from __future__ import annotations

import sys

import numpy as np

from stridecore.bench import load
from stridecore.bench.tan_knee import marker_knee_deg
from stridecore.dsp.knee import KneeStage
from stridecore.simulate.aligned import aligned_thigh_shin

SIM_SEEDS = (1010, 1011, 1012)


aligned_sim = aligned_thigh_shin


def rmse(e: np.ndarray) -> float:
    e = e[np.isfinite(e)]
    return float(np.sqrt(np.mean(e ** 2))) if e.size else float("nan")


def sim_row(seed: int) -> dict[str, float]:
    s, t, at, gt, as_, gs, truth = aligned_sim(seed)
    fs = float(s.recording.sensors["right_thigh"].fs_hz)
    knee, _ = KneeStage(fs).step(at, gt, as_, gs)
    tr = s.recording.truth
    sel = tr["placement"] == "right_shin"
    i = np.clip(np.searchsorted(t, tr["t_ic_s"][sel]), 0, len(t) - 1)
    e_ic = knee[i] - tr["knee_ic_deg"][sel]
    # the loading peak: the estimate's maximum over the same first 60 % of stance
    peaks = []
    for t0, t1, kp in zip(tr["t_ic_s"][sel], tr["t_to_s"][sel], tr["knee_peak_deg"][sel],
                          strict=True):
        j0, j1 = np.searchsorted(t, [t0, t0 + 0.6 * (t1 - t0)])
        w = knee[j0:j1 + 1]
        peaks.append(np.nanmax(w) - kp if np.isfinite(w).any() else np.nan)
    return {"rmse": rmse(knee - truth), "valid": float(np.isfinite(knee).mean()),
            "bias": float(np.nanmean(knee - truth)), "ic": rmse(e_ic),
            "peak": rmse(np.array(peaks)), "steps": int(sel.sum())}


def tan_rows() -> list[tuple[str, str, float, float]]:
    """(recording, split, RMSE deg, valid fraction) per window, then per subject overall."""
    truth = marker_knee_deg()
    recs = sorted(load("tan"), key=lambda r: r.recording_id)
    out = []
    for subject in ("subject_01", "subject_02"):
        rs = [r for r in recs if r.meta["subject"] == subject]
        stage = KneeStage(float(rs[0].sensors["right_thigh"].fs_hz))
        errs = []
        nan = np.full((1, 3), np.nan)
        for r in rs:
            th, sh = r.sensors["right_thigh"].samples, r.sensors["right_shin"].samples
            stage.step(nan, nan, nan, nan)
            knee, _ = stage.step(th.acc_mps2, th.gyr_radps, sh.acc_mps2, sh.gyr_radps)
            e = knee - truth[r.recording_id]
            errs.append(e)
            out.append((r.recording_id, r.split, rmse(e), float(np.isfinite(e).mean())))
        e = np.concatenate(errs)
        out.append((f"tan/{subject} (all)", rs[0].split, rmse(e), float(np.isfinite(e).mean())))
    return out


def main(argv: list[str] | None = None) -> int:
    print("## Knee flexion vs Tan 2022 markers (walking, 100 Hz)\n")
    print("| recording | split | RMSE (°) | valid |")
    print("|---|---|---|---|")
    for rid, split, r, v in tan_rows():
        print(f"| {rid} | {split} | {r:.2f} | {v:.0%} |")
    print("\n## Knee flexion vs simulated truth (test seeds, 60 s, right thigh + shin)\n")
    print("| seed | RMSE (°) | bias (°) | valid | RMSE at IC (°) | RMSE loading peak (°) | steps |")
    print("|---|---|---|---|---|---|---|")
    for seed in SIM_SEEDS:
        x = sim_row(seed)
        print(f"| {seed} | {x['rmse']:.2f} | {x['bias']:+.2f} | {x['valid']:.0%} | "
              f"{x['ic']:.2f} | {x['peak']:.2f} | {x['steps']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
