"""Motion sources: true time in, specific force and angular rate in the sensor frame out.

A motion source is a pure function of time, so a simulated sensor gives the same samples however
its time is advanced. The simulator's :class:`~stridecore.simulate.render.SimulatedMotion` is
the one the simulated device uses by default (:func:`stridecore.simulate.session.live_motion`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

G_MPS2 = 9.80665


class MotionSource(Protocol):
    """``sample(t_s)`` → ``(acc_mps2 (N, 3), gyr_radps (N, 3))`` in the sensor frame."""

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class StillMotion:
    """A sensor lying still, z axis up: gravity on +z (specific force), no rotation. The cheap
    motion source for link tests that do not need a runner (e.g. a simulated hour)."""

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = np.shape(t_s)[0]
        acc = np.zeros((n, 3))
        acc[:, 2] = G_MPS2
        return acc, np.zeros((n, 3))
