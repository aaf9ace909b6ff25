"""Gravity tracked in the sensor frame with a gyro bias estimate (shin, pelvis).

The vector ``G`` (m/s², sensor frame) turns with the bias-corrected rate, dG/dt = −(ω − b) × G;
the caller then pulls it toward the measured specific force. The bias ``b`` (rad/s) is the
integral of that pull's rotation, G × a / |G|², the integral term of the explicit
complementary filter (Mahony, Hamel & Pflimlin 2008, IEEE TAC 53:1203).
"""

from __future__ import annotations

import numpy as np

from firmware_protocol._jit import njit


@njit
def turn_gravity(F: np.ndarray, i_g: int, i_b: int, g0: float, g1: float, g2: float,
                 gyro_ok: bool, a0: float, a1: float, a2: float, bias_gain: float,
                 dt: float) -> None:
    """Turn ``F[i_g:i_g+3]`` by ω − ``F[i_b:i_b+3]`` (rad/s) over ``dt`` (s), then add
    ``bias_gain`` (1/s per rad of pull, 0: frozen) × G × a / |G|² (the pre-turn G) to the bias.

    Without a usable gyro (``gyro_ok`` false) G does not turn and the bias is not updated.
    """
    G0 = F[i_g]
    G1 = F[i_g + 1]
    G2 = F[i_g + 2]
    h0 = h1 = h2 = 0.0
    if gyro_ok:
        h0 = g0 - F[i_b]
        h1 = g1 - F[i_b + 1]
        h2 = g2 - F[i_b + 2]
    F[i_g] = G0 - dt * (h1 * G2 - h2 * G1)
    F[i_g + 1] = G1 - dt * (h2 * G0 - h0 * G2)
    F[i_g + 2] = G2 - dt * (h0 * G1 - h1 * G0)
    gg = G0 * G0 + G1 * G1 + G2 * G2
    if gyro_ok and bias_gain > 0.0 and gg > 0.0:
        k = bias_gain / gg
        F[i_b] += k * (G1 * a2 - G2 * a1)
        F[i_b + 1] += k * (G2 * a0 - G0 * a2)
        F[i_b + 2] += k * (G0 * a1 - G1 * a0)
