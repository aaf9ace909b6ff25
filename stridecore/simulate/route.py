"""The trail: ground height, grade and terrain as functions of distance along the path.

A :class:`Route` is built from :class:`Section` s (length, grade, terrain) or drawn at random
from a seed (:meth:`Route.random`). Grade changes smoothly between sections (a cubic
smoothstep over ``transition_m``), so the height profile ``height_m(x)`` is C¹ and exact (the
closed-form integral of the grade). Footfalls see small-scale roughness on top
(:meth:`Route.footfall`): a height offset and a local tilt per ~0.3 m patch, by terrain (rocky
ground: stones and roots, cm-scale and several degrees; paved: almost none). The roughness is a
deterministic function of position and the route seed, so the same spot always has the same
stone. Beyond either end the first/last section continues.

Grades are in percent (100 × rise/run) where the name says ``_pct`` and degrees where it says
``_deg``; +15 % ≈ +8.5°, −30 % ≈ −16.7°.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stridecore.schema import Terrain

GRADE_MIN_PCT = -30.0
GRADE_MAX_PCT = 20.0  # +11.3°: treadmill trials go to +10° (17.6 %)


@dataclass(frozen=True)
class Section:
    """A stretch of trail with one grade (% , + uphill) and one ground type."""

    length_m: float
    grade_pct: float
    terrain: Terrain = Terrain.DIRT
    label: str = ""


@dataclass(frozen=True)
class Roughness:
    """Footfall-scale ground irregularity: height offset SD (m) and local tilt SD (°)."""

    height_sd_m: float
    tilt_sd_deg: float


# Rocky/root-filled ground: stones of a few cm and tilted landing spots; dirt: ruts; soft
# (sand, loam): small; paved: none to speak of. Assumed magnitudes, not measured.
DEFAULT_ROUGHNESS: dict[Terrain, Roughness] = {
    Terrain.PAVED: Roughness(0.002, 0.3),
    Terrain.DIRT: Roughness(0.010, 1.5),
    Terrain.SOFT: Roughness(0.008, 1.0),
    Terrain.ROCKY: Roughness(0.040, 5.0),
}

_PATCH_M = 0.3  # roughness patch size along the path
_BLOCK = 1024  # patches per lazily generated noise block


def pct_to_deg(grade_pct: float) -> float:
    """Grade in percent → slope angle in degrees."""
    return math.degrees(math.atan(grade_pct / 100.0))


def deg_to_pct(grade_deg: float) -> float:
    """Slope angle in degrees → grade in percent."""
    return 100.0 * math.tan(math.radians(grade_deg))


def _smoothstep_integral(t: np.ndarray) -> np.ndarray:
    """∫₀ᵗ S(u) du for the cubic smoothstep S(u) = 3u² − 2u³ on [0, 1] (0 before, 1 after)."""
    tc = np.clip(t, 0.0, 1.0)
    return tc**3 - tc**4 / 2 + np.maximum(t - 1.0, 0.0)


class Route:
    """A trail profile along distance ``x`` (m) from its start.

    ``transition_m`` is the length over which the grade blends between adjacent sections
    (limited to the shorter neighbour); ``seed`` fixes the roughness field; ``roughness``
    overrides the per-terrain roughness (:data:`DEFAULT_ROUGHNESS`).
    """

    def __init__(self, sections: Sequence[Section], *, transition_m: float = 15.0,
                 seed: int = 0, roughness: dict[Terrain, Roughness] | None = None) -> None:
        if not sections:
            raise ValueError("a route needs at least one section")
        for s in sections:
            if s.length_m <= 0:
                raise ValueError(f"section length must be > 0, got {s.length_m}")
            if not GRADE_MIN_PCT - 1e-9 <= s.grade_pct <= GRADE_MAX_PCT + 1e-9:
                raise ValueError(f"grade {s.grade_pct} % outside {GRADE_MIN_PCT}…"
                                 f"{GRADE_MAX_PCT} %")
        self.sections: tuple[Section, ...] = tuple(sections)
        self.seed = int(seed)
        self.roughness = dict(DEFAULT_ROUGHNESS if roughness is None else roughness)
        lengths = np.array([s.length_m for s in sections], dtype=np.float64)
        self.starts_m = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        self.length_m = float(lengths.sum())
        self._starts = self.starts_m.tolist()
        g = np.array([s.grade_pct for s in sections]) / 100.0
        self._g0 = float(g[0])
        # one smoothstep per internal boundary, width limited by the shorter neighbour
        self._b = self.starts_m[1:]
        self._dg = np.diff(g)
        self._w = np.minimum(transition_m, np.minimum(lengths[:-1], lengths[1:]))
        self._w = np.maximum(self._w, 1e-6)
        self._noise: dict[int, np.ndarray] = {}
        # scalar fast path: the sharp profile per section plus the two nearby transitions
        self._gs = g.tolist()
        self._zs = np.concatenate([[0.0], np.cumsum(g * lengths)[:-1]]).tolist()
        self._bl, self._dgl, self._wl = self._b.tolist(), self._dg.tolist(), self._w.tolist()

    def _scalar(self, x: float) -> tuple[float, float]:
        """(grade as a fraction, height m) at a scalar ``x``, same values as the array path."""
        j = self.section_index(x)
        g = self._gs[j]
        z = self._zs[j] + g * (x - self._starts[j])
        for k in (j - 1, j):
            if 0 <= k < len(self._bl):
                b, w, dg = self._bl[k], self._wl[k], self._dgl[k]
                t = (x - b + w / 2) / w
                if 0.0 < t < 1.0:
                    past = x >= b
                    g += dg * (3 * t * t - 2 * t**3 - past)
                    z += dg * (w * (t**3 - t**4 / 2) - (x - b if past else 0.0))
        return g, z

    # --- smooth profile -------------------------------------------------------------------
    def grade_pct(self, x_m: float | np.ndarray) -> float | np.ndarray:
        """Smoothed grade (%, + uphill) at distance ``x_m``."""
        if np.ndim(x_m) == 0:
            return 100.0 * self._scalar(float(x_m))[0]
        x = np.asarray(x_m, dtype=np.float64)
        t = (x[..., None] - self._b + self._w / 2) / self._w
        s = np.clip(t, 0.0, 1.0)
        g = self._g0 + np.sum(self._dg * (3 * s**2 - 2 * s**3), axis=-1)
        return float(g * 100) if np.ndim(x_m) == 0 else g * 100

    def grade_deg(self, x_m: float | np.ndarray) -> float | np.ndarray:
        """Smoothed slope angle (°, + uphill) at ``x_m``."""
        if np.ndim(x_m) == 0:
            return math.degrees(math.atan(self._scalar(float(x_m))[0]))
        out = np.degrees(np.arctan(np.asarray(self.grade_pct(x_m)) / 100.0))
        return float(out) if np.ndim(x_m) == 0 else out

    def height_m(self, x_m: float | np.ndarray) -> float | np.ndarray:
        """Smooth ground height (m) relative to the start: the exact integral of the grade."""
        if np.ndim(x_m) == 0:
            return self._scalar(float(x_m))[1]
        x = np.asarray(x_m, dtype=np.float64)
        t = (x[..., None] - self._b + self._w / 2) / self._w
        z = self._g0 * x + np.sum(self._dg * self._w * _smoothstep_integral(t), axis=-1)
        return float(z) if np.ndim(x_m) == 0 else z

    def section_index(self, x_m: float) -> int:
        """Index of the section containing ``x_m`` (clamped to the first/last)."""
        return max(0, bisect.bisect_right(self._starts, float(x_m)) - 1)

    def section(self, x_m: float) -> Section:
        return self.sections[self.section_index(x_m)]

    def terrain(self, x_m: float) -> Terrain:
        """Ground type at ``x_m`` (changes abruptly at section boundaries)."""
        return self.sections[self.section_index(x_m)].terrain

    # --- roughness -----------------------------------------------------------------------
    def _patch_noise(self, x_m: float) -> tuple[float, float]:
        i = math.floor(x_m / _PATCH_M)
        blk, j = divmod(i, _BLOCK)
        arr = self._noise.get(blk)
        if arr is None:
            arr = np.random.default_rng([self.seed, 0x5EC7, blk + 2**31]).standard_normal(
                (_BLOCK, 2))
            self._noise[blk] = arr
        return float(arr[j, 0]), float(arr[j, 1])

    def footfall(self, x_m: float) -> tuple[float, float]:
        """Ground height (m) and local slope (°, + uphill) under a foot landing at ``x_m``:
        the smooth profile plus the terrain's roughness at that spot."""
        x_m = float(x_m)
        r = self.roughness[self.terrain(x_m)]
        n_z, n_tilt = self._patch_noise(x_m)
        g, z = self._scalar(x_m)
        tilt = math.degrees(math.atan(g)) + r.tilt_sd_deg * n_tilt
        return z + r.height_sd_m * n_z, min(max(tilt, -34.0), 34.0)

    # --- construction helpers ------------------------------------------------------------
    @classmethod
    def random(cls, seed: int, length_m: float = 4000.0, *, transition_m: float = 15.0,
               warmup_m: float = 200.0) -> Route:
        """A random trail of about ``length_m``: a flat dirt warm-up, then sections of
        60–400 m drawn from flat, rolling, moderate/steep descents and climbs, on dirt, rocky,
        soft or paved ground; grades within +15 % … −30 %."""
        rng = np.random.default_rng([int(seed), 0x70B7E])
        secs = [Section(warmup_m, 0.0, Terrain.DIRT, "warmup")]
        total = warmup_m
        kinds = ("flat", "rolling", "descent", "steep_descent", "climb")
        kind_p = (0.2, 0.2, 0.25, 0.15, 0.2)
        terrains = (Terrain.DIRT, Terrain.ROCKY, Terrain.SOFT, Terrain.PAVED)
        terrain_p = (0.5, 0.2, 0.1, 0.2)
        while total < length_m:
            kind = kinds[rng.choice(len(kinds), p=kind_p)]
            grade = {"flat": lambda: rng.uniform(-2, 2),
                     "rolling": lambda: rng.uniform(-6, 6),
                     "descent": lambda: rng.uniform(-12, -5),
                     "steep_descent": lambda: rng.uniform(-30, -15),
                     "climb": lambda: rng.uniform(5, 15)}[kind]()
            length = float(rng.uniform(60, 400))
            terrain = terrains[rng.choice(len(terrains), p=terrain_p)]
            secs.append(Section(length, float(np.clip(grade, GRADE_MIN_PCT, GRADE_MAX_PCT)),
                                terrain, kind))
            total += length
        return cls(secs, transition_m=transition_m, seed=seed)

    @classmethod
    def constant(cls, grade_pct: float, length_m: float = 5000.0,
                 terrain: Terrain = Terrain.DIRT, *, seed: int = 0) -> Route:
        """One long section of constant grade (for tests and calibration)."""
        return cls([Section(length_m, grade_pct, terrain)], seed=seed)
