"""The sensor kit: which placements are worn, hence which rules run and which cues can fire.

A cue never fires on a metric the kit cannot measure: rows of placements outside the kit are
ignored by the engine, and each rule reads its metric only from its own source segments.
:meth:`Kit.matrix` prints one kit's cues; :func:`kit_table` the standard kits side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stridecore.coaching.config import CoachConfig
from stridecore.coaching.phrases import PHRASES, SYSTEM_CUES
from stridecore.coaching.rules import RULES, RULES_BY_NAME, Rule
from stridecore.schema import Cue, Placement

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
    """The placements worn. Build with :meth:`from_placements`."""

    placements: frozenset[Placement]

    @classmethod
    def from_placements(cls, placements: Iterable[Placement | str]) -> Kit:
        """A kit from :class:`~stridecore.schema.Placement` values or enums."""
        return cls(frozenset(Placement(p) for p in placements))

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

    def rule_enabled(self, rule: Rule, experimental: bool = False) -> bool:
        """True if the kit runs ``rule``; ``experimental`` rules only when asked (the
        engine asks with ``CoachConfig.personal_baselines``)."""
        if rule.disabled or not self._meets(rule.needs):
            return False
        if rule.experimental and not experimental:
            return False
        if rule.fallback_of:
            base = RULES_BY_NAME[rule.fallback_of]
            if base.disabled or (base.experimental and not experimental):
                return True
            return not self._meets(base.needs)
        return True

    def rules(self, experimental: bool = False) -> tuple[Rule, ...]:
        """The rules this kit runs, in priority order (``experimental``: with the rules that
        need ``CoachConfig.personal_baselines``)."""
        return tuple(r for r in RULES if self.rule_enabled(r, experimental))

    def enabled(self, cue: Cue | str) -> bool:
        """True if ``cue`` can fire with this kit (system cues always; praise with any rule)."""
        cue = Cue(cue)
        if cue in SYSTEM_CUES:
            return True
        if cue is Cue.PRAISE:
            return bool(self.rules())
        return any(r.cue is cue for r in self.rules())

    def why(self, cue: Cue) -> str:
        """Why ``cue`` is on or off with this kit (one short line)."""
        if cue in SYSTEM_CUES:
            return "system cue: any kit"
        if cue in TERRAIN_CUES:
            return "terrain-specific: off until the pipeline knows the terrain"
        if cue is Cue.PRAISE:
            return "after a cued fault is corrected" if self.rules() else "no form rule"
        rules = [r for r in RULES if r.cue is cue]
        on = [r for r in rules if self.rule_enabled(r)]
        if on:
            return "; ".join(f"{r.metric}{' (provisional)' if r.provisional else ''}"
                             for r in on)
        off = [f"{r.metric} disabled: {r.disabled}" for r in rules
               if r.disabled and self._meets(r.needs)
               and not (r.fallback_of and self.rule_enabled(RULES_BY_NAME[r.fallback_of]))]
        if off:
            return "; ".join(off)
        return "needs " + " or ".join(_NEEDS_TEXT[r.needs] for r in rules
                                      if not r.fallback_of and not r.disabled)

    def matrix(self, cfg: CoachConfig | None = None) -> str:
        """A text table of every cue: enabled or not, and why (metric used / sensor missing)."""
        names = ", ".join(sorted(p.value for p in self.placements)) or "(no sensors)"
        rows = [(c.value, "yes" if self.enabled(c) else "no", self.why(c)) for c in Cue]
        w0 = max(len(r[0]) for r in rows)
        lines = [f"kit: {names}", f"{'cue':<{w0}}  on   why / metric"]
        lines += [f"{a:<{w0}}  {b:<3}  {c}" for a, b, c in rows]
        return "\n".join(lines)


def kit_table(kits: dict[str, Sequence[str]] | None = None, md: bool = True) -> str:
    """Every form cue × kit: the metric used or "—" (markdown by default)."""
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
                           or "—")
        rows.append(row)
    rows.append(["system cues (sensor lost/back, battery, slipped, snooze)", *["yes"] * len(built)])
    if md:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r))
                     for r in [head, *rows])
