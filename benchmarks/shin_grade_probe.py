"""Probe: can a shin sensor alone measure the slope under the runner? (Not in the pipeline.)

A shin-only kit has no grade (docs/coaching.md "Grade"), so light feet and shorten your stride
take descent settings there. This probe tries the shank-mounted strapdown idea (shank INS with
a pseudo zero-velocity update, e.g. Li et al. 2010, "A reliable and accurate indoor
localization method using phone inertial sensors"; Bebek et al. 2010 for the foot): in stance
the ankle is taken as fixed, so the sensor moves as a point ``lever_m`` up the shank's long
axis rotating about it (velocity ω × r, acceleration ω̇ × r + ω × (ω × r)). At a stance anchor
``offset_s`` after each detected contact the anchor's "up" is the specific force minus that
acceleration (±10 ms mean); between two anchors of the same shin (one stride) "up" is the gyro
propagation from both ends, blended linearly; the vertical and forward (up × the sagittal
axis) accelerations are integrated with the modelled anchor velocities at both ends (linear
drift removal). Stride grade = atan2(Δz, Δx).

Simulated right shins at 208 Hz, dev seeds (< 1000), trail profile. Rows: the method with the
simulated sensor errors; ideal sensors; ideal sensors and the true orientation (the floor the
stance model leaves). Errors against the truth's per-contact grade (the contact ending the
stride), per stride and after a 5-stride median (what the coaching engine would use).

Run: ``uv run python benchmarks/shin_grade_probe.py [--seeds 3-5] [--s 300]``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys

import numpy as np
from scipy.ndimage import median_filter

from stridecore.dsp.shin import ShinStage, shin_steps_table
from stridecore.schema import Placement
from stridecore.simulate.imu import _rot_axis
from stridecore.simulate.render import Renderer
from stridecore.simulate.session import simulate

G_MPS2 = 9.80665


def _rotate(v: np.ndarray, w: np.ndarray, dt: float) -> np.ndarray:
    """A world-fixed vector in the sensor frame after one gyro sample (dv/dt = −ω × v)."""
    th = float(np.linalg.norm(w)) * dt
    if th < 1e-12:
        return v
    k = -w / np.linalg.norm(w)
    return v * math.cos(th) + np.cross(k, v) * math.sin(th) + k * (k @ v) * (1 - math.cos(th))


def stride_grades(seed: int, dur_s: float, lever_m: float, offset_s: float, ideal: bool,
                  true_up: bool) -> np.ndarray:
    """(estimated stride grade °, truth grade °) per stride of one simulated right shin."""
    ses = simulate(dur_s, seed=seed, placements=["right_shin"], fs_hz=208.0,
                   **({"errors": None} if ideal else {}))
    sm = ses.recording.sensors["right_shin"].samples
    fs = 208.0
    dt = 1.0 / fs
    acc, gyr = sm.acc_mps2.astype(float), sm.gyr_radps.astype(float)
    st = ShinStage(fs)
    a, _ = st.step(sm.sample_idx, sm.t_device_us, sm.acc_mps2, sm.gyr_radps, sm.flags)
    steps = shin_steps_table(np.concatenate([a, st.flush()]), Placement.RIGHT_SHIN)
    ic = steps["ic_sample_idx"].astype(int)
    n = len(acc)
    _, vec = np.linalg.eigh(gyr.T @ gyr)
    u = vec[:, -1] if np.mean((gyr @ vec[:, -1]) ** 3) > 0 else -vec[:, -1]
    long_ax = acc[: int(fs)].mean(0)  # the session starts standing
    long_ax -= (long_ax @ u) * u
    long_ax /= np.linalg.norm(long_ax)
    r = lever_m * long_ax
    wdot = np.gradient(gyr, dt, axis=0)
    h = max(1, round(0.01 * fs))
    if true_up:
        spec = ses.specs[0]
        traj = Renderer(ses.plan).kin.segment(spec.t_true_s(sm.sample_idx), spec.segment,
                                              spec.side_index)
        ups = _rot_axis(traj.axis, traj.angle_rad)[:, 2, :]

    def up_at(k: int) -> np.ndarray:
        if true_up:
            return ups[k]
        sl = slice(k - h, k + h + 1)
        g = (acc[sl] - np.cross(wdot[sl], r) - np.cross(gyr[sl], np.cross(gyr[sl], r))).mean(0)
        return g / np.linalg.norm(g)

    def integrate(x: np.ndarray, v0: float, v1: float) -> float:
        v = v0 + np.concatenate([[0.0], np.cumsum(0.5 * (x[1:] + x[:-1])) * dt])
        v -= (v[-1] - v1) * np.linspace(0.0, 1.0, len(v))
        return float(np.trapezoid(v, dx=dt))

    k_off = round(offset_s * fs)
    z = [k + k_off for k in ic if h <= k + k_off < n - h]
    truth = ses.recording.truth
    m = truth["placement"] == "right_shin"
    tic, tg = truth["t_ic_s"][m], truth["grade_deg"][m]
    t = sm.t_device_us * 1e-6
    out = []
    for a0, a1 in itertools.pairwise(z):
        if a1 - a0 > 1.5 * fs:
            continue
        u0, u1 = up_at(a0), up_at(a1)
        fw = np.empty((a1 - a0 + 1, 3))
        bw = np.empty_like(fw)
        fw[0], bw[-1] = u0, u1
        for i in range(a0, a1):
            fw[i - a0 + 1] = _rotate(fw[i - a0], gyr[i], dt)
        for i in range(a1, a0, -1):
            bw[i - a0 - 1] = _rotate(bw[i - a0], -gyr[i - 1], dt)
        wgt = np.linspace(0.0, 1.0, a1 - a0 + 1)[:, None]
        up = (1 - wgt) * fw + wgt * bw
        up /= np.linalg.norm(up, axis=1)[:, None]
        fwd = np.cross(up, u)
        fwd /= np.linalg.norm(fwd, axis=1)[:, None]
        av = np.einsum("ij,ij->i", acc[a0:a1 + 1], up) - G_MPS2
        af = np.einsum("ij,ij->i", acc[a0:a1 + 1], fwd)
        v0, v1 = np.cross(gyr[a0], r), np.cross(gyr[a1], r)
        dz = integrate(av, float(v0 @ up[0]), float(v1 @ up[-1]))
        dx = integrate(af, float(v0 @ fwd[0]), float(v1 @ fwd[-1]))
        j = int(np.searchsorted(tic, t[a1])) - 1
        if j >= 0:
            out.append((math.degrees(math.atan2(dz, dx)), tg[j]))
    return np.array(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="3-5")
    ap.add_argument("--s", type=float, default=300.0)
    ap.add_argument("--lever-m", type=float, default=0.15)
    ap.add_argument("--offsets", default="0.09,0.12,0.15")
    a = ap.parse_args()
    lo, _, hi = a.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    if max(seeds) >= 1000:
        print("test seeds (≥ 1000) are not for probing", file=sys.stderr)
        return 2
    sys.path.insert(0, "benchmarks")
    from _machine import code_version, machine
    print(f"# Shin-only stride grade probe\n\nmachine: {machine()}  \ncode: {code_version()}  \n"
          f"dev seeds {seeds[0]}–{seeds[-1]}, {a.s:g} s each, lever {a.lever_m} m\n")
    print("| sensors | orientation | anchor after IC s | strides | per stride bias ± SD ° | "
          "5-median bias ± SD ° | 5-median bias < −6° / flat ° |\n|---|---|---:|---:|---|---|---|")
    for ideal, true_up in ((False, False), (True, False), (True, True)):
        for off in (float(x) for x in a.offsets.split(",")):
            e, e5, g5 = [], [], []
            for s in seeds:
                r = stride_grades(s, a.s, a.lever_m, off, ideal, true_up)
                e.append(r[:, 0] - r[:, 1])
                g5.append(median_filter(r[:, 1], 5))
                e5.append(median_filter(r[:, 0], 5) - g5[-1])
            e, e5, g5 = np.concatenate(e), np.concatenate(e5), np.concatenate(g5)
            steep, flat = e5[g5 < -6.0], e5[np.abs(g5) < 2.0]
            print(f"| {'ideal' if ideal else 'simulated errors'} | "
                  f"{'true' if true_up else 'stance anchors'} | {off:.2f} | {len(e)} | "
                  f"{e.mean():+.1f} ± {e.std():.1f} | {e5.mean():+.1f} ± {e5.std():.1f} | "
                  f"{steep.mean():+.1f} / {flat.mean():+.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
