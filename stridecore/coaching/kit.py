"""The sensor kit: which placements are worn, hence which rules run and which cues can fire.

A cue never fires on a metric the kit cannot measure: rows of placements outside the kit are
ignored by the engine, and each rule reads its metric only from its own source segments.
:meth:`Kit.matrix` prints one kit's cues; :func:`kit_table` the standard kits side by side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stridecore.coaching.config import CoachConfig
from stridecore.coaching.phrases import PHRASES, SYSTEM_CUES
from stridecore.coaching.rules import RULES, RULES_BY_NAME, Rule
from stridecore.schema import Cue, Placement

CLIP_FRACTION = 0.99
"""A reading at this fraction of the accelerometer's range counts as clipped (the pipelines'
``clipped`` rule): a threshold at or above it can never be passed."""

TERRAIN_CUES = frozenset({Cue.LAND_FOREFOOT, Cue.QUICK_ROLL})
"""Terrain-specific landing cues: not fired until the pipeline knows the terrain."""

_NEEDS_TEXT = {
    "foot": "a foot sensor",
    "shin": "a shin sensor",
    "pelvis": "a pelvis sensor",
    "thigh+shin": "thigh + shin on the same leg",
    "foot|pelvis": "a foot or pelvis sensor",
    "foot|shin": "a foot or shin sensor",
    "foot&shin": "a foot and a shin sensor",
}

STANDARD_KITS: dict[str, tuple[str, ...]] = {
    "foot": ("left_foot", "right_foot"),
    "shin": ("left_shin", "right_shin"),
    "foot+shin": ("left_foot", "right_foot", "left_shin", "right_shin"),
    "shin+thigh": ("left_shin", "right_shin", "left_thigh", "right_thigh"),
    "foot+pelvis": ("left_foot", "right_foot", "pelvis"),
    "foot+shin+pelvis": ("left_foot", "right_foot", "left_shin", "right_shin", "pelvis"),
    "shin+thigh+pelvis": ("left_shin", "right_shin", "left_thigh", "right_thigh", "pelvis"),
}
"""The kits of the kit matrix (docs/coaching.md)."""


def segment(p: Placement) -> str:
    """``foot``, ``shin``, ``thigh`` or ``pelvis``."""
    return p.value.rsplit("_", 1)[-1]


@dataclass(frozen=True)
class Kit:
    """The placements worn, and the accelerometer range (±g) of those whose configuration is
    known. Build with :meth:`from_placements`."""

    placements: frozenset[Placement]
    acc_range_g: tuple[tuple[Placement, float], ...] = ()

    @classmethod
    def from_placements(cls, placements: Iterable[Placement | str],
                        acc_range_g: Mapping[Placement | str, float] | None = None) -> Kit:
        """A kit from :class:`~stridecore.schema.Placement` values or enums; ``acc_range_g``:
        each sensor's configured range (±g), where known."""
        ranges = tuple(sorted((Placement(p), float(g)) for p, g in (acc_range_g or {}).items()))
        return cls(frozenset(Placement(p) for p in placements), ranges)

    def tibial_range_g(self) -> float:
        """The widest configured range among the kit's shins (±g); inf when a shin's range is
        not known (or there is no shin)."""
        known = dict(self.acc_range_g)
        shins = [p for p in self.placements if segment(p) == "shin"]
        if not shins or any(p not in known for p in shins):
            return math.inf
        return max(known[p] for p in shins)

    def clipped_out(self, rule: Rule, cfg: CoachConfig | None = None) -> str:
        """Why the shins' range hides ``rule``'s tibial impact wherever it could fire, or "".
        Without a grade the impact rule holds its 20 g setting on every slope, above a ±16 g
        sensor's reach (a clipped peak reads 16 g, a floor): it could never fire. With a grade
        its lowest setting (the flat's) must be within reach."""
        if rule.metric != "peak_tibial_acc_g" or rule.baseline:
            return ""
        cfg = cfg or CoachConfig()
        t = rule.thresholds(cfg, math.nan if not self.grade_known() else 0.0)
        rng = self.tibial_range_g()
        if t is None or t[0] < CLIP_FRACTION * rng:
            return ""
        if self.grade_known():
            return (f"the shins' ±{rng:g} g range clips below its {t[0]:g} g setting on the "
                    f"flat: needs a wider range")
        return (f"the shins' ±{rng:g} g range clips below its {t[0]:g} g setting (no grade "
                f"without a foot sensor): needs a range above ±{t[0]:g} g or a foot sensor")

    def steepest_measured_deg(self, rule: Rule, cfg: CoachConfig | None = None) -> float:
        """With a grade: the steepest descent (°, negative) at which ``rule``'s tibial impact
        threshold is still below the shins' clipping level; -inf if none is reached."""
        cfg = cfg or CoachConfig()
        if rule.metric != "peak_tibial_acc_g" or rule.baseline or not self.grade_known():
            return -math.inf
        clip = CLIP_FRACTION * self.tibial_range_g()
        if not math.isfinite(clip) or cfg.tibial_cap_g < clip or clip <= cfg.tibial_max_g:
            return -math.inf  # never reached, or blind everywhere (clipped_out)
        return -math.log(clip / cfg.tibial_max_g) / cfg.impact_prior_per_deg

    # --- what the kit measures ---------------------------------------------------------------
    def has(self, seg: str) -> bool:
        return any(segment(p) == seg for p in self.placements)

    def knee_sides(self) -> frozenset[str]:
        """Legs with both a thigh and a shin sensor (knee angle measurable)."""
        out = set()
        for side in ("left", "right"):
            if {Placement(f"{side}_thigh"), Placement(f"{side}_shin")} <= self.placements:
                out.add(side)
        return frozenset(out)

    def _meets(self, needs: str) -> bool:
        if needs == "thigh+shin":
            return bool(self.knee_sides())
        if "&" in needs:
            return all(self.has(s) for s in needs.split("&"))
        return any(self.has(s) for s in needs.split("|"))

    def grade_known(self) -> bool:
        """True if the kit measures the slope under the foot (a foot sensor's stride)."""
        return self.has("foot")

    def gross_only(self, cue: Cue | str, cfg: CoachConfig | None = None) -> bool:
        """True if ``cue`` is on but, with no grade, only for gross faults
        (:attr:`Rule.gross_without_grade`)."""
        on = [r for r in self.rules(cfg=cfg) if r.cue is Cue(cue)]
        return bool(on) and not self.grade_known() and all(r.gross_without_grade for r in on)

    def rule_enabled(self, rule: Rule, experimental: bool = False,
                     cfg: CoachConfig | None = None) -> bool:
        """True if the kit runs ``rule``; ``experimental`` rules only when asked (the
        engine asks with ``CoachConfig.personal_baselines``); not where the sensors' range
        hides its metric (:meth:`clipped_out`)."""
        if rule.disabled or not self._meets(rule.needs) or self.clipped_out(rule, cfg):
            return False
        if rule.experimental and not experimental:
            return False
        if rule.fallback_of:
            base = RULES_BY_NAME[rule.fallback_of]
            if base.disabled or (base.experimental and not experimental):
                return True
            return not self._meets(base.needs)
        return True

    def rules(self, experimental: bool = False, cfg: CoachConfig | None = None
              ) -> tuple[Rule, ...]:
        """The rules this kit runs, in priority order (``experimental``: with the rules that
        need ``CoachConfig.personal_baselines``)."""
        return tuple(r for r in RULES if self.rule_enabled(r, experimental, cfg))

    def enabled(self, cue: Cue | str, cfg: CoachConfig | None = None) -> bool:
        """True if ``cue`` can fire with this kit (system cues always; praise with any rule)."""
        cue = Cue(cue)
        if cue in SYSTEM_CUES:
            return True
        if cue is Cue.PRAISE:
            return bool(self.rules(cfg=cfg))
        return any(r.cue is cue for r in self.rules(cfg=cfg))

    def why(self, cue: Cue, cfg: CoachConfig | None = None) -> str:
        """Why ``cue`` is on or off with this kit (one short line; with no grade, the one
        setting an on rule holds for every slope; where the shins' range clips the metric)."""
        cfg = cfg or CoachConfig()
        if cue in SYSTEM_CUES:
            return "system cue: any kit"
        if cue in TERRAIN_CUES:
            return "terrain-specific: off until the pipeline knows the terrain"
        if cue is Cue.PRAISE:
            return "after a cued fault is corrected" if self.rules(cfg=cfg) else "no form rule"
        rules = [r for r in RULES if r.cue is cue]
        on = [r for r in rules if self.rule_enabled(r, cfg=cfg)]
        if on:
            return "; ".join(self._on_text(r, cfg) for r in on)
        off = [f"{r.metric} disabled: {r.disabled}" for r in rules
               if r.disabled and self._meets(r.needs)
               and not (r.fallback_of and self.rule_enabled(RULES_BY_NAME[r.fallback_of],
                                                            cfg=cfg))]
        off += [f"{r.metric} off: {why}" for r in rules
                if self._meets(r.needs) and (why := self.clipped_out(r, cfg))]
        if off:
            return "; ".join(off)
        needs = dict.fromkeys(_NEEDS_TEXT[r.needs] for r in rules
                              if not r.fallback_of and not r.disabled)
        return "needs " + " or ".join(needs)

    def _on_text(self, r: Rule, cfg: CoachConfig) -> str:
        out = f"{r.metric}{' (provisional)' if r.provisional else ''}"
        if not self.grade_known() and (setting := r.describe_no_grade(cfg)):
            out += f", {setting}"
        steep = self.steepest_measured_deg(r, cfg)
        if math.isfinite(steep):
            out += (f", blind on descents steeper than −{100 * math.tan(math.radians(-steep)):.0f}"
                    f" % (the shins' ±{self.tibial_range_g():g} g range clips below its "
                    "threshold there)")
        return out

    def matrix(self, cfg: CoachConfig | None = None) -> str:
        """A text table of every cue: enabled or not, and why (metric used / sensor missing)."""
        names = ", ".join(sorted(p.value for p in self.placements)) or "(no sensors)"
        rows = [(c.value, "yes" if self.enabled(c, cfg) else "no", self.why(c, cfg))
                for c in Cue]
        w0 = max(len(r[0]) for r in rows)
        gross = [f'"{PHRASES[c]}"' for c in Cue if self.gross_only(c, cfg)]
        grade = ("grade: from the feet" if self.grade_known() else
                 "grade: unknown (no foot sensor): one setting on every slope, climbs not muted"
                 + (f"; {' and '.join(gross)} catch{'' if len(gross) > 1 else 'es'} gross "
                    "faults only" if gross else ""))
        lines = [f"kit: {names}", grade, f"{'cue':<{w0}}  on   why / metric"]
        lines += [f"{a:<{w0}}  {b:<3}  {c}" for a, b, c in rows]
        return "\n".join(lines)


def kit_table(kits: dict[str, Sequence[str]] | None = None, md: bool = True) -> str:
    """Every form cue × kit: the metric used or "—" (markdown by default); ``*``: provisional,
    ``†``: gross faults only (no foot sensor, so no grade: :meth:`Kit.gross_only`)."""
    kits = STANDARD_KITS if kits is None else kits
    built = {k: Kit.from_placements(v) for k, v in kits.items()}
    head = ["cue (words)", *built]
    rows = []
    for cue in Cue:
        if cue in SYSTEM_CUES:
            continue
        row = [f"{cue.value} ({PHRASES[cue]})"]
        for kit in built.values():
            on = [r for r in kit.rules() if r.cue is cue]
            if cue is Cue.PRAISE:
                row.append("yes" if kit.enabled(cue) else "—")
            else:
                row.append(", ".join(f"`{r.metric}`{'*' if r.provisional else ''}" for r in on)
                           + ("†" if kit.gross_only(cue) else "") or "—")
        rows.append(row)
    rows.append(["system cues (sensor lost/back, battery, slipped, snooze)", *["yes"] * len(built)])
    if md:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r))
                     for r in [head, *rows])
