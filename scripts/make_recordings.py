"""Regenerate the example session recordings in ``recordings/`` (same bytes on every run).

    uv run python scripts/make_recordings.py [--out DIR]

Writes, into ``recordings/`` (or ``DIR``):

- ``sim_downhill_trail.mcap`` and ``.truth.csv``: a simulated trail run with descents (test
  seed), both feet at 416 Hz, recorded by :func:`stridecore.record.record_simulated`;
- ``gaitmap_example.mcap`` and ``.truth.csv``: both feet of the gaitmap example data (MIT),
  imported by :mod:`stridecore.recording.importer`, each checked by replay and export;
- ``LICENSES/gaitmap-MIT.txt``: the MIT section of the upstream licence file;
- ``manifest.json``: every file with its sha256 and size, and each recording's devices as
  replayed.

``recordings/README.md`` is written by hand. Needs ``../shared/datasets/gaitmap_example/`` (or
``$STRIDECORE_DATASETS``). Deterministic: fixed seeds, a fixed nominal wall clock
(:data:`T0_EPOCH_NS`) and no wall-clock time anywhere in the files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from stridecore import __version__
from stridecore.bench import gaitmap
from stridecore.bench.datasets import dataset_dir
from stridecore.record import record_simulated
from stridecore.recording import open_recording
from stridecore.recording.importer import ImportedSensor, check_import, import_sensors
from stridecore.replay import replay
from stridecore.schema import TRUTH, Placement
from stridecore.simulate.session import TUNING_MOUNT, simulate
from stridecore.tables import concat, write_csv

ROOT = Path(__file__).resolve().parents[1]
T0_EPOCH_NS = 1_577_836_800_000_000_000  # 2020-01-01T00:00:00Z: nominal, not a recording date
SIM_SEED = 1100  # a test-split seed (≥ 1000): no detector was tuned on it
SIM_DURATION_S = 150.0  # descents at 20–60 s (to −16°), 80–110 s and 130–140 s
SIM_PROFILE = "trail"
SIM_FS_HZ = 416.0
GAITMAP_LICENCE = "LICENSE.gaitmap.txt"
GAITMAP_CITATION = (
    "A. Küderle et al., \"Gaitmap—An Open Ecosystem for IMU-Based Human Gait Analysis and "
    "Algorithm Benchmarking,\" IEEE Open Journal of Engineering in Medicine and Biology, "
    "vol. 5, pp. 163-172, 2024, doi: 10.1109/OJEMB.2024.3356791")
GAITMAP_SOURCE = (
    "gaitmap example data: GitHub mad-lab-fau/gaitmap, example_data/ at commit "
    "05ad9716161cdfeb4ba9fcb28eb796df0420e48d, imu_sample_not_rotated.csv.gz (subject 5047, "
    "test normal_20 of the FAU sensor position comparison 2019 study: 2 x 20 m level walking "
    "with a turn; NilsPod IMUs on the lateral side of each shoe, sensor frame as recorded)")
GAITMAP_LICENCE_NOTE = "MIT, (c) 2020 MaD-Lab Erlangen (LICENSES/gaitmap-MIT.txt)"
SIM_LICENCE = "MIT (stridecore)"


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_sim(out: Path) -> dict:
    """The simulated downhill trail run; returns its manifest entry (without the files)."""
    sess = simulate(SIM_DURATION_S, seed=SIM_SEED, profile=SIM_PROFILE,
                    placements=(Placement.LEFT_FOOT, Placement.RIGHT_FOOT), fs_hz=SIM_FS_HZ)
    rec = sess.recording
    source = (f"stridecore simulator {__version__}: profile {SIM_PROFILE}, seed {SIM_SEED} "
              f"({rec.split} split), {SIM_DURATION_S:g} s, {TUNING_MOUNT} mount")
    meta = {"simulator": __version__, "profile": SIM_PROFILE, "seed": str(SIM_SEED),
            "mount": TUNING_MOUNT, "split": rec.split, "source": source, "licence": SIM_LICENCE}
    run = record_simulated(sess, out / "sim_downhill_trail.mcap", meta=meta,
                           t0_epoch_ns=T0_EPOCH_NS)
    if run.errors:
        raise SystemExit(f"simulated recording failed: {run.errors[0]}")
    write_csv(out / "sim_downhill_trail.truth.csv", rec.truth, TRUTH)
    t = rec.truth
    description = (
        f"Simulated trail run, {SIM_DURATION_S:g} s with descents to "
        f"{t['grade_deg'].min():.0f} deg: left and right foot sensors at {SIM_FS_HZ:g} Hz "
        f"nominal (serial, COBS), {len(t['t_ic_s'])} true steps, form faults "
        f"{', '.join(rec.meta['faults'])}. Host time = the simulation's true time, so the "
        "truth's t_ic_s line up with replayed step times.")
    return {"file": "sim_downhill_trail.mcap", "source": source, "licence": SIM_LICENCE,
            "truth": "sim_downhill_trail.truth.csv", "description": description}


def make_gaitmap(out: Path) -> dict:
    """Both feet of the gaitmap example as one imported recording; returns its manifest
    entry (without the files). Exits if the replayed samples differ from the source."""
    recs = list(gaitmap.load())
    sensors = [ImportedSensor(p.value, p, s.fs_hz, s.samples.acc_mps2, s.samples.gyr_radps,
                              s.samples.t_device_us * 1e-6)
               for rec in recs for p, s in rec.sensors.items()]
    path = out / "gaitmap_example.mcap"
    import_sensors(path, sensors, t0_epoch_ns=T0_EPOCH_NS, source={
        "source": GAITMAP_SOURCE, "licence": GAITMAP_LICENCE_NOTE, "citation": GAITMAP_CITATION,
        "truth": gaitmap.SOURCE})
    for key, check in check_import(path, sensors).items():
        print(f"gaitmap {key}: {check}")
        if not check.ok:
            raise SystemExit(f"gaitmap {key}: the replayed samples differ from the source")
    write_csv(out / "gaitmap_example.truth.csv", concat([r.truth for r in recs], TRUTH), TRUTH)
    text = (dataset_dir(gaitmap.FOLDER) / GAITMAP_LICENCE).read_text()
    (out / "LICENSES").mkdir(exist_ok=True)
    (out / "LICENSES" / "gaitmap-MIT.txt").write_text(text[text.index("MIT License"):])
    n = len(sensors[0].acc_mps2)
    return {"file": "gaitmap_example.mcap", "source": GAITMAP_SOURCE,
            "licence": GAITMAP_LICENCE_NOTE, "truth": "gaitmap_example.truth.csv",
            "description": (f"Real walking, both feet of the gaitmap example (MIT): {n} samples "
                            f"per foot at {gaitmap.FS_HZ:g} Hz ({n / gaitmap.FS_HZ:.1f} s), "
                            "imported as two devices streaming over serial; the only change is "
                            f"quantisation ({open_recording(path).session['quantised']}). Truth: "
                            "motion-capture heel strike and toe off (docs/datasets/gaitmap.md).")}


def finish(out: Path, entry: dict) -> dict:
    """``entry`` with its files' hashes and sizes and its devices as replayed."""
    path = out / entry["file"]
    res = replay(path, pipeline=False)
    devices = [{"key": key, "placement": st.placement.value, "odr_hz": st.config.odr_hz,
                "rate_hz": round(st.health.measured_odr_hz, 3), "samples": st.health.samples}
               for key, st in res.streams.items()]
    truth = out / entry["truth"] if entry["truth"] else None
    return {"file": entry["file"], "sha256": sha256(path), "bytes": path.stat().st_size,
            "devices": devices, "duration_s": round(res.duration_s, 3),
            "source": entry["source"], "licence": entry["licence"], "truth": entry["truth"],
            "truth_sha256": sha256(truth) if truth else None,
            "truth_bytes": truth.stat().st_size if truth else None,
            "description": entry["description"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "recordings",
                    help="folder to write (default: recordings/)")
    out = ap.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("sim_downhill_trail.mcap", "gaitmap_example.mcap"):
        (out / name).unlink(missing_ok=True)  # the recorder never overwrites
    entries = [finish(out, make(out)) for make in (make_sim, make_gaitmap)]
    (out / "manifest.json").write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    for e in entries:
        print(f"{e['file']}: {e['bytes']} bytes, {e['duration_s']} s, "
              + ", ".join(f"{d['key']} {d['samples']} samples at {d['rate_hz']} Hz"
                          for d in e["devices"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
