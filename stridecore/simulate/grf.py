"""Vertical ground reaction force of running contacts: the two-mass model of Clark, Ryan & Weyand.

Clark K.P., Ryan L.J., Weyand P.G. (2017) "A general relationship links gait mechanics and
running ground reaction forces", J Exp Biol 220:247–258 (the model first in Clark, Ryan &
Weyand 2014, J Exp Biol 217:2037). The body's mass ``m_b`` is split into the stance foot and
shank, ``m1 = 0.08·m_b``, and the rest, ``m2 = 0.92·m_b``. The vertical force of one contact
is the sum of two raised-cosine bells (``A/2·(1 + cos(π·(t − B)/C))`` on ``|t − B| ≤ C``, 0
elsewhere; area ``A·C``):

- **impact, F1**: the impulse that stops the lower limb, ``J1 = m1·(Δv1 + g·Δt1)`` with
  ``Δv1`` its vertical velocity at touchdown and ``Δt1`` the time it takes to stop; a bell
  from touchdown to ``Δt1`` (``B1 = C1 = Δt1/2``, ``A1 = 2·J1/Δt1``), so the impact force
  peaks at ``Δt1/2``;
- **active, F2**: the rest of the step's vertical impulse, ``J2 = J_T − J1`` with
  ``J_T = m_b·g·(t_c + t_a)`` (over a steady step, contact plus aerial time, the vertical
  impulse equals body weight times the step time); a bell over the contact time ``t_c``
  peaking at ``B2 = 0.47·t_c`` (the paper's value, after Cavagna's landing–take-off
  asymmetry) with leading half-width ``B2`` and trailing half-width ``t_c − B2``, so
  ``A2 = 2·J2/t_c``.

Everything here is pure numpy: times in s, masses in kg, velocities in m/s, forces in N,
impulses in N·s. The paper measures ``Δv1`` and ``Δt1`` from ankle motion capture; the
simulator has no force of its own, so :mod:`stridecore.simulate.realism` takes them from the
simulated step (see :func:`stridecore.simulate.realism.sim_contact_forces`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

G_MPS2 = 9.80665
M1_FRACTION = 0.08  # stance foot + shank, of body mass (Clark et al. 2017; Winter 1990)
B2_FRACTION = 0.47  # active-force peak at 47 % of contact (Clark et al. 2017)


@dataclass(frozen=True)
class ContactImpulses:
    """Per-contact impulses (N·s) and bell amplitudes (N) of the two-mass model (arrays)."""

    j_total_ns: np.ndarray
    j1_ns: np.ndarray
    j2_ns: np.ndarray
    a1_n: np.ndarray
    a2_n: np.ndarray


def raised_cosine(t_s: np.ndarray, amplitude_n: float | np.ndarray, centre_s: float | np.ndarray,
                  lead_s: float | np.ndarray, trail_s: float | np.ndarray | None = None
                  ) -> np.ndarray:
    """``A/2·(1 + cos(π·(t − B)/C))`` with half-width ``C = lead_s`` before the centre and
    ``trail_s`` (default ``lead_s``) after it; 0 outside. Area ``A·(lead + trail)/2``."""
    t = np.asarray(t_s, np.float64)
    trail = lead_s if trail_s is None else trail_s
    d = t - centre_s
    c = np.where(d < 0.0, lead_s, trail)
    u = np.abs(d) / c
    return np.where(u <= 1.0, 0.5 * np.asarray(amplitude_n) * (1.0 + np.cos(np.pi * u)), 0.0)


def contact_impulses(contact_s: np.ndarray, step_s: np.ndarray, body_mass_kg: float,
                     impact_dt_s: np.ndarray, impact_dv_mps: np.ndarray,
                     m1_fraction: float = M1_FRACTION) -> ContactImpulses:
    """Impulses and amplitudes of contacts with contact time ``contact_s``, step time
    (contact + aerial) ``step_s``, lower-limb stopping time ``impact_dt_s`` (Δt1) and touchdown
    vertical speed ``impact_dv_mps`` (Δv1, positive downwards). ``J1`` is capped at ``J_T``."""
    tc = np.asarray(contact_s, np.float64)
    j_t = body_mass_kg * G_MPS2 * np.asarray(step_s, np.float64)
    dt1 = np.asarray(impact_dt_s, np.float64)
    j1 = m1_fraction * body_mass_kg * (np.maximum(np.asarray(impact_dv_mps, np.float64), 0.0)
                                       + G_MPS2 * dt1)
    j1 = np.minimum(j1, j_t)
    j2 = j_t - j1
    return ContactImpulses(j_t, j1, j2, 2.0 * j1 / dt1, 2.0 * j2 / tc)


def two_mass_vgrf_n(t_s: np.ndarray, t_ic_s: np.ndarray, contact_s: np.ndarray,
                    step_s: np.ndarray, body_mass_kg: float, impact_dt_s: np.ndarray,
                    impact_dv_mps: np.ndarray, m1_fraction: float = M1_FRACTION,
                    b2_fraction: float = B2_FRACTION) -> np.ndarray:
    """Vertical GRF (N, ≥ 0) at times ``t_s`` of the contacts starting at ``t_ic_s`` (one
    foot's or both feet's: the forces add). Per-contact arrays as in :func:`contact_impulses`;
    each contact's force is zero before its touchdown and after ``t_ic + contact``."""
    t = np.asarray(t_s, np.float64)
    ic = np.atleast_1d(np.asarray(t_ic_s, np.float64))
    n = ic.size
    tc = np.broadcast_to(np.asarray(contact_s, np.float64), (n,))
    dt1 = np.broadcast_to(np.asarray(impact_dt_s, np.float64), (n,))
    imp = contact_impulses(tc, np.broadcast_to(np.asarray(step_s, np.float64), (n,)),
                           body_mass_kg, dt1, np.broadcast_to(
                               np.asarray(impact_dv_mps, np.float64), (n,)), m1_fraction)
    out = np.zeros_like(t)
    lo = np.searchsorted(t, ic, side="left")
    hi = np.searchsorted(t, ic + tc, side="right")
    for k in range(n):
        if hi[k] <= lo[k]:
            continue
        u = t[lo[k]:hi[k]] - ic[k]
        b2 = b2_fraction * tc[k]
        out[lo[k]:hi[k]] += (raised_cosine(u, imp.a1_n[k], 0.5 * dt1[k], 0.5 * dt1[k])
                             + raised_cosine(u, imp.a2_n[k], b2, b2, tc[k] - b2))
    return out


def impact_peak(t_s: np.ndarray, force_n: np.ndarray, t_ic_s: float, window_s: float = 0.1
                ) -> tuple[float, float]:
    """(time after ``t_ic_s`` s, force N) of the first local maximum of ``force_n`` within
    ``window_s`` after touchdown (the impact peak); (NaN, NaN) if the force only rises."""
    t = np.asarray(t_s, np.float64)
    f = np.asarray(force_n, np.float64)
    a, z = np.searchsorted(t, [t_ic_s, t_ic_s + window_s])
    w = f[a:z + 1]
    k = np.flatnonzero((w[1:-1] >= w[:-2]) & (w[1:-1] > w[2:]))
    if k.size == 0:
        return float("nan"), float("nan")
    j = a + int(k[0]) + 1
    return float(t[j] - t_ic_s), float(f[j])
