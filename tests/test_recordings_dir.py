"""recordings/: the committed example sessions match their manifest, replay as it says, and their
replayed foot steps score against their truth; the importer round-trips samples exactly."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from stridecore.bench.score import ScoreResult, score
from stridecore.recording import open_recording
from stridecore.recording.importer import ImportedSensor, check_import, import_samples
from stridecore.replay import ReplayResult, replay
from stridecore.schema import STEPS, TRUTH, Placement
from stridecore.tables import concat, read_csv

DIR = Path(__file__).resolve().parents[1] / "recordings"
MANIFEST = json.loads((DIR / "manifest.json").read_text())
BY_FILE = {e["file"]: e for e in MANIFEST}
NOT_LISTED = {"README.md", "manifest.json"}


def test_manifest_lists_every_file_with_its_size_and_hash():
    listed = {e["file"] for e in MANIFEST} | {e["truth"] for e in MANIFEST if e["truth"]}
    present = {p.relative_to(DIR).as_posix() for p in DIR.rglob("*")
               if p.is_file() and p.relative_to(DIR).parts[0] != "LICENSES"} - NOT_LISTED
    assert present == listed
    total = 0
    for e in MANIFEST:
        for name, sha, size in ((e["file"], e["sha256"], e["bytes"]),
                                (e["truth"], e["truth_sha256"], e["truth_bytes"])):
            if name is None:
                continue
            data = (DIR / name).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha), name
            total += size
    assert total < 5e6  # a few MB in all
    readme = (DIR / "README.md").read_text()
    assert all(name in readme for name in listed)
    licence = (DIR / "LICENSES" / "gaitmap-MIT.txt").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2020 MaD-Lab Erlangen" in licence


@pytest.fixture(scope="module")
def replayed() -> dict[str, ReplayResult]:
    return {e["file"]: replay(DIR / e["file"]) for e in MANIFEST}


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_recording_replays_as_the_manifest_says(name, replayed):
    entry, res = BY_FILE[name], replayed[name]
    assert not res.reader.truncated
    assert round(res.duration_s, 3) == entry["duration_s"]
    devices = [{"key": k, "placement": st.placement.value, "odr_hz": st.config.odr_hz,
                "rate_hz": round(st.health.measured_odr_hz, 3), "samples": st.health.samples}
               for k, st in res.streams.items()]
    assert devices == entry["devices"]
    for st in res.streams.values():
        assert st.decoder.problems.total() == 0 and st.clock.ready
        assert len(st.steps_table()["t_ic_s"]) > 20  # the foot pipeline ran on it


def _score(name: str, res: ReplayResult, *, within_strides: bool = False) -> ScoreResult:
    """Replayed steps of every device against the recording's truth, ±50 ms, on seconds since
    the session start (host clock). Each device's steps take its placement's recording_id.
    ``within_strides``: leave out detections outside the labelled strides (first true IC −
    50 ms … last + 50 ms: standing up, the final stop), as benchmarks/foot_accuracy.py does."""
    truth = read_csv(DIR / BY_FILE[name]["truth"], TRUTH)
    parts = []
    for st in res.streams.values():
        place = st.placement.value
        steps = dict(st.steps_table())
        t_true = truth["t_ic_s"][truth["placement"] == place]
        keep = ((steps["t_ic_s"] >= t_true.min() - 0.05) & (steps["t_ic_s"] <= t_true.max() + 0.05)
                if within_strides else np.ones(len(steps["t_ic_s"]), bool))
        steps = {k: v[keep] for k, v in steps.items()}
        n = int(keep.sum())
        steps["recording_id"] = np.full(n, truth["recording_id"][truth["placement"] == place][0],
                                        object)
        # seconds, not sample indices: a device's sample 0 is at its START, not at t = 0
        steps["ic_sample_idx"] = steps["to_sample_idx"] = np.full(n, -1)
        parts.append(steps)
    return score(concat(parts, STEPS), truth, tol_ms=50)


def test_simulated_run_steps_score_against_its_truth(replayed):
    o = _score("sim_downhill_trail.mcap", replayed["sim_downhill_trail.mcap"]).overall
    print(f"sim: IC F1 {o.f1:.4f} (tp {o.tp}, fp {o.fp}, fn {o.fn}), bias {o.ic_ms.bias:.1f} "
          f"± {o.ic_ms.sd:.1f} ms")
    assert o.basis == "seconds" and o.f1 >= 0.95 and abs(o.ic_ms.bias) < 20


def test_gaitmap_steps_score_against_the_mocap_truth(replayed):
    res = replayed["gaitmap_example.mcap"]
    for within in (False, True):
        o = _score("gaitmap_example.mcap", res, within_strides=within).overall
        print(f"gaitmap{' within strides' if within else ''}: IC F1 {o.f1:.4f} (tp {o.tp}, "
              f"fp {o.fp}, fn {o.fn}), bias {o.ic_ms.bias:.1f} ± {o.ic_ms.sd:.1f} ms")
        assert o.f1 >= 0.9 and abs(o.ic_ms.bias) < 20


def _synthetic(n: int = 400, fs_hz: float = 100.3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(5)
    acc = rng.normal(0.0, 30.0, (n, 3))
    acc[7, 1] = -20 * 9.80665  # beyond ±16 g: the range doubles to ±32 g
    gyr = rng.normal(0.0, 3.0, (n, 3))
    t_s = 12.5 + np.arange(n) / fs_hz + rng.uniform(-50e-6, 50e-6, n)  # irregular by ±50 µs
    return acc, gyr, t_s


def test_import_samples_round_trips_to_the_quantisation_and_same_bytes(tmp_path):
    acc, gyr, t_s = _synthetic()
    paths = [tmp_path / "a.mcap", tmp_path / "b.mcap"]
    for p in paths:
        import_samples(p, "right_foot", Placement.RIGHT_FOOT, 100.3, acc, gyr, t_s=t_s,
                       source={"source": "synthetic", "licence": "MIT"}, t0_epoch_ns=0)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    sensor = ImportedSensor("right_foot", Placement.RIGHT_FOOT, 100.3, acc, gyr, t_s)
    check = check_import(paths[0], [sensor])["right_foot"]
    assert check.ok, check  # every sample, within half a count and 1 ms
    session = open_recording(paths[0]).session
    assert session["source"] == "synthetic" and session["source_rate_hz"] == "100.3"
    assert session["quantised"].startswith("int16, acc_scale") and "(+-32 g)" in \
        session["quantised"]
    st = replay(paths[0], pipeline=False).streams["right_foot"]
    assert (st.config.odr_hz, st.placement, st.info.uid) == (100, Placement.RIGHT_FOOT,
                                                             b"IMPORT01")
    assert not st.all_samples()[0].flags.any()  # nothing clipped, no gap


@pytest.mark.parametrize(("change", "msg"), [
    ({"t_s": np.zeros(400)}, "t_s must hold 400 finite, increasing times"),
    ({"acc_mps2": np.full((400, 3), np.nan)}, "samples must be finite"),
    ({"gyr_radps": np.zeros((5, 3))}, "must both be (N, 3)"),
])
def test_import_samples_bad_input_is_one_line(tmp_path, change, msg):
    acc, gyr, t_s = _synthetic()
    args = {"acc_mps2": acc, "gyr_radps": gyr, "t_s": t_s, **change}
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")) as e:
        import_samples(tmp_path / "x.mcap", "k", Placement.LEFT_FOOT, 100.0, source={},
                       t0_epoch_ns=0, **args)
    assert "\n" not in str(e.value) and not (tmp_path / "x.mcap").exists()
