"""Plain-text tables of a score result (the ``stridecore score`` output)."""

from __future__ import annotations

import math

from stridecore.bench.score import ScoreResult, Summary


def _f(x: float, fmt: str = "{:.1f}") -> str:
    return "–" if x is None or not math.isfinite(x) else fmt.format(x)


def _agree(a, unit: str = "") -> str:
    if a is None or a.n == 0:
        return "–"
    return f"{a.bias:+.1f} [{a.loa_low:+.1f}, {a.loa_high:+.1f}]{unit}"


HEADER = ("group", "true", "TP", "FP", "FN", "prec", "recall", "F1", "IC bias [LoA] ms",
          "TO bias [LoA] ms", "contact MAE ms", "strike RMSE °", "landing acc", "knee RMSE °")


def row(name: str, s: Summary) -> tuple[str, ...]:
    q = s.quantities
    knee = [q[k].rmse for k in ("knee_ic_deg", "knee_peak_deg") if k in q and q[k].n]
    return (name, str(s.tp + s.fn), str(s.tp), str(s.fp), str(s.fn), _f(s.precision, "{:.3f}"),
            _f(s.recall, "{:.3f}"), _f(s.f1, "{:.3f}"), _agree(s.ic_ms), _agree(s.to_ms),
            _f(q["contact_ms"].mae) if "contact_ms" in q else "–",
            _f(q["strike_angle_deg"].rmse) if "strike_angle_deg" in q else "–",
            _f(s.landing_accuracy, "{:.3f}"), _f(max(knee)) if knee else "–")


def table(rows: list[tuple[str, ...]]) -> str:
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))
             for r in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def render(result: ScoreResult) -> str:
    rows = [HEADER, row("all", result.overall)]
    for key, groups in result.by.items():
        if len(groups) < 2 and key != "placement":
            continue
        rows += [row(f"{key}={g}", s) for g, s in groups.items()]
    out = [f"initial contacts matched one-to-one within ±{result.tol_ms:g} ms "
           f"(basis: {result.overall.basis}); LoA = bias ± 1.96 SD", table(rows)]
    c = result.overall.landing_confusion
    if c.sum():
        out.append("landing confusion (rows true, columns detected: heel, midfoot, forefoot): "
                   + "; ".join(" ".join(str(int(v)) for v in r) for r in c))
    out += [f"note: {n}" for n in result.notes]
    return "\n".join(out)
