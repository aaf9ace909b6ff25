"""``python -m stridecore.bench [summary] [NAME ...]``: the truth tables' counts and hashes.

Prints, per dataset and split, recordings, sensors and true contacts (one per leg, counted on
one sensor per leg), with the rule version and the frozen truth hash — the table in
``docs/datasets/README.md``. ``--markdown`` prints it as a markdown table.
"""

from __future__ import annotations

import sys

import numpy as np

from stridecore.bench import DATASETS, DatasetMissing, load, module
from stridecore.bench.truth import truth_hash
from stridecore.schema import TRUTH
from stridecore.tables import concat


def summary(names: list[str]) -> list[dict]:
    out = []
    for name in names:
        try:
            recs = list(load(name))
        except DatasetMissing as e:
            print(f"{name}: skipped ({e})", file=sys.stderr)
            continue
        truth = concat([r.truth for r in recs], TRUTH)
        mod = module(name)
        for split in ("dev", "test"):
            sel = [r for r in recs if r.split == split]
            t = truth["split"] == split
            # contacts: one per leg event — count distinct (recording, side, IC time) rows
            keys = {(r, s, round(float(x), 3)) for r, s, x, ok in zip(
                truth["recording_id"][t], truth["side"][t], truth["t_ic_s"][t],
                np.isfinite(truth["t_ic_s"][t]), strict=True) if ok}
            modes = sorted({m for m in truth["gait_mode"][t] if m})
            out.append({"dataset": name, "split": split, "recordings": len(sel),
                        "sensor_streams": sum(len(r.sensors) for r in sel),
                        "contacts": len(keys), "truth_rows": int(t.sum()),
                        "with_to": int(np.sum(truth["to_sample_idx"][t] >= 0)),
                        "gait": "+".join(modes),
                        "rule_version": mod.RULE_VERSION, "hash": truth_hash(truth)})
    return out


def main(argv: list[str]) -> int:
    md = "--markdown" in argv
    names = [a for a in argv if not a.startswith("-") and a != "summary"] or list(DATASETS)
    rows = summary(names)
    cols = ("dataset", "split", "recordings", "sensor_streams", "contacts", "truth_rows",
            "with_to", "gait", "rule_version", "hash")
    if md:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    else:
        for r in rows:
            print("  ".join(f"{c}={r[c]}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
