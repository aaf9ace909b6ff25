"""Exports of a recorded session: derived views (CSV, Parquet), never the master copy.

:func:`export_samples` replays the recording (:func:`stridecore.replay.replay`, the live
decoder and clock maps) and writes one row per sample of every device with the schema's
``samples`` columns: SI units, device and host times, flags, and ``backfilled`` for samples
refilled from a device's backlog after a disconnect. Rows are ordered by device, then sample
index. Written with pyarrow (a Python row loop would take minutes for an hour at 1 kHz).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firmware_protocol import SampleFlag
from stridecore.replay import ReplayResult, replay
from stridecore.schema import SAMPLES

FORMATS = (".csv", ".parquet")


class ExportError(ValueError):
    """An export that cannot be written: one line for the user."""


def samples_columns(res: ReplayResult) -> dict[str, np.ndarray]:
    """The SAMPLES columns of every device of a replay (device, then sample index order)."""
    parts = []
    for key, st in res.streams.items():
        smp, t_host = st.all_samples()
        if not len(smp):
            continue
        order = np.argsort(smp.sample_idx, kind="stable")
        smp, t_host = smp[order], t_host[order]
        place = st.placement.value if st.placement is not None else ""
        n = len(smp)
        cols = {"sample_idx": smp.sample_idx, "t_device_us": smp.t_device_us,
                "t_host_s": t_host, "t_s": t_host - res.reader.t0_host_s}
        for i, ax in enumerate("xyz"):
            cols[f"acc_{ax}_mps2"] = smp.acc_mps2[:, i]
        for i, ax in enumerate("xyz"):
            cols[f"gyr_{ax}_radps"] = smp.gyr_radps[:, i]
        cols["flags"] = smp.flags
        cols["backfilled"] = (smp.flags & SampleFlag.BACKLOG) != 0
        cols["device"] = np.full(n, key, dtype=object)
        cols["placement"] = np.full(n, place, dtype=object)
        parts.append(cols)
    names = [c.name for c in SAMPLES.columns]
    if not parts:
        return {k: np.zeros(0) for k in names}
    return {k: np.concatenate([p[k] for p in parts]) for k in names}


def export_samples(recording: str | Path, out: str | Path) -> dict:
    """Write every sample of ``recording`` to ``out`` (.csv or .parquet); returns a summary."""
    import pyarrow as pa

    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ExportError(f"{out.name}: unknown export format {out.suffix or '(none)'!r} "
                          f"(known: {', '.join(FORMATS)})")
    res = replay(recording, pipeline=False)
    cols = samples_columns(res)
    table = pa.table({k: pa.array(v) for k, v in cols.items()})
    try:
        if out.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, out, compression="zstd")
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, out)
    except OSError as e:
        raise ExportError(f"cannot write {out}: {e.strerror or e}") from None
    per = {k: int(np.sum(cols["device"] == k)) for k in res.streams}
    return {"path": str(out), "rows": int(table.num_rows), "per_device": per,
            "backfilled": int(np.sum(cols["backfilled"])),
            "note": res.reader.note}
