"""Two simulated sensors on one time base, with the body model's continuous knee angle.

The simulated sensors' clocks and rates stray (ODR errors of ±4000 ppm), so matching two
streams by sample index drifts by ~0.5 s per minute. Until the ingest layer aligns devices,
multi-sensor tests and benchmarks resample the second stream onto the first one's true sample
times here.
"""

from __future__ import annotations

import numpy as np

from stridecore.simulate.body import Kinematics
from stridecore.simulate.session import SimulatedSession, simulate


def aligned_thigh_shin(seed: int, duration_s: float = 60.0
                       ) -> tuple[SimulatedSession, np.ndarray, np.ndarray, np.ndarray,
                                  np.ndarray, np.ndarray, np.ndarray]:
    """(session, true times s, thigh acc m/s², thigh gyr rad/s, shin acc, shin gyr, continuous
    right-knee flexion °) on the right thigh's samples (the shin linearly resampled)."""
    s = simulate(duration_s, seed=seed, placements=["right_thigh", "right_shin"])
    spec = {sp.placement.value: sp for sp in s.specs}
    d = {p.value: st.samples for p, st in s.recording.sensors.items()}
    th, sh = d["right_thigh"], d["right_shin"]
    t = spec["right_thigh"].t_true_s(th.sample_idx)
    ts = spec["right_shin"].t_true_s(sh.sample_idx)
    m = (t >= ts[0]) & (t <= ts[-1])
    t = t[m]
    acc_s = np.stack([np.interp(t, ts, sh.acc_mps2[:, k]) for k in range(3)], 1)
    gyr_s = np.stack([np.interp(t, ts, sh.gyr_radps[:, k]) for k in range(3)], 1)
    knee = np.degrees(Kinematics(s.plan).coords(t, (1,))[1]["kappa"].v)
    return s, t, th.acc_mps2[m], th.gyr_radps[m], acc_s, gyr_s, knee
