"""The simulated session end to end and `stridecore simulate`."""

import json

import numpy as np
import pytest

from firmware_protocol import StreamDecoder
from stridecore.bench.score import score
from stridecore.bench.truth import truth_hash
from stridecore.cli import main
from stridecore.recording import open_recording
from stridecore.schema import TRUTH, Placement
from stridecore.simulate.session import device_stream, simulate
from stridecore.tables import read_csv


@pytest.fixture(scope="module")
def sess():
    return simulate(75.0, seed=11, placements=(Placement.LEFT_FOOT, Placement.RIGHT_SHIN))


def test_session_truth_is_complete_and_deterministic(sess):
    t = sess.truth
    assert set(t["placement"]) == {"left_foot", "right_shin"}
    assert set(t["dataset"]) == {"sim"} and set(t["split"]) == {"dev"}
    for col in ("ic_sample_idx", "to_sample_idx"):
        assert np.all(t[col] >= 0)
    for col in ("contact_ms", "strike_angle_deg", "knee_ic_deg", "knee_peak_deg", "grade_deg",
                "shank_angle_ic_deg", "speed_mps"):
        assert np.isfinite(t[col]).all(), col
    again = simulate(75.0, seed=11, placements=(Placement.LEFT_FOOT, Placement.RIGHT_SHIN))
    assert truth_hash(again.truth) == truth_hash(t)
    a, b = (s.recording.sensors[Placement.LEFT_FOOT].samples for s in (sess, again))
    assert a.equals(b)


@pytest.mark.parametrize("seed", [0, 1234])
def test_any_minute_has_a_descent_with_a_persistent_fault(seed):
    t = simulate(60.0, seed=seed, placements=(Placement.RIGHT_FOOT,)).truth
    bad = (t["grade_deg"] < -3.0) & (t["fault"] != "")
    # longest run of consecutive faulty descent steps, in seconds
    best, start = 0.0, None
    for i, b in enumerate(bad):
        if b and start is None:
            start = i
        if start is not None and (not b or i == bad.size - 1):
            end = i if b else i - 1
            best = max(best, t["t_ic_s"][end] - t["t_ic_s"][start])
            start = None
    assert best >= 8.0


def test_device_stream_lines_up_with_the_truth_sample_index(sess):
    units = device_stream(sess, Placement.RIGHT_SHIN)
    dec = StreamDecoder(framing="cobs")
    got = dec.feed(b"".join(u for _, u in units)).samples
    assert dec.problems.total() == 0
    ref = sess.recording.sensors[Placement.RIGHT_SHIN].samples
    n = min(len(got), len(ref))
    assert np.array_equal(got.sample_idx[:n], ref.sample_idx[:n])
    # same body, same sample instants: they differ by bias, scale and noise only
    d = np.abs(got.gyr_radps[:n] - ref.gyr_radps[:n])
    assert np.median(d) < 0.05 and np.percentile(d, 99) < 0.2
    # a shift of one sample would be much larger where the shank turns fast
    d1 = np.abs(got.gyr_radps[1:n] - ref.gyr_radps[: n - 1])
    assert np.percentile(d1, 99) > 2 * np.percentile(d, 99)


def test_cli_writes_streams_truth_and_arrays(tmp_path, capsys):
    args = ["simulate", "--duration", "60", "--seed", "3", "--sensors", "left_foot,right_foot",
            "--out", str(tmp_path / "run.mcap"), "--truth", str(tmp_path / "truth.csv"),
            "--npz", str(tmp_path / "a.npz"), "--json"]
    assert main(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["simulator"] and info["steps"] > 100
    rec = open_recording(tmp_path / "run.mcap")
    assert set(rec.devices) == {"left_foot", "right_foot"} and rec.session["seed"] == "3"
    for p in ("left_foot", "right_foot"):
        assert rec.summary()["per_device"][p]["rx_bytes"] > 100_000
    truth = read_csv(tmp_path / "truth.csv", TRUTH)
    assert truth["ic_sample_idx"].size == info["steps"]
    with np.load(tmp_path / "a.npz") as z:
        assert z["left_foot.acc_mps2"].shape == (info["sensors"]["left_foot"], 3)
    # the truth scored against itself: everything matches exactly, on sample indices
    r = score(truth, truth, tol_ms=20)
    assert r.overall.f1 == 1.0 and r.overall.basis == "samples"
    assert r.overall.ic_ms.bias == 0.0
    assert main(["score", str(tmp_path / "truth.csv"), str(tmp_path / "truth.csv"), "--json"]
                ) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["f1"] == 1.0


@pytest.mark.parametrize(("args", "msg"), [
    (["--profile", "sprinter"], "unknown profile 'sprinter'"),
    (["--sensors", "left_hand"], "unknown sensor placement 'left_hand'"),
    (["--out", "x.mcap", "--odr", "1000"], "--odr must be one of"),
    (["--out", "x.mcap", "--odr", "1666"], "--odr must be within 100–1600 Hz"),
    (["--mount", "sock"], "unknown mount"),
])
def test_cli_bad_options_are_one_line(args, msg, capsys):
    assert main(["simulate", "--duration", "60", *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_live_session_equals_the_offline_render_and_takes_cues():
    from stridecore.schema import Cue, Fault
    from stridecore.simulate.profiles import make_runner
    from stridecore.simulate.runner import CueResponse
    from stridecore.simulate.session import LiveSession, sensor_specs

    specs = sensor_specs((Placement.RIGHT_FOOT,), seed=4)
    off = simulate(70.0, seed=4, placements=(Placement.RIGHT_FOOT,))
    live = LiveSession(make_runner("trail", 70.0, 4), specs, seed=4)
    parts = [live.advance(t)[Placement.RIGHT_FOOT] for t in (0.5, 7.3, 7.31, 33.0, 70.0)]
    acc = np.concatenate([p.acc_mps2 for p in parts])
    ref = off.recording.sensors[Placement.RIGHT_FOOT].samples
    assert np.array_equal(acc, ref.acc_mps2)
    # closed loop: a runner who always listens drops the cued fault a few steps later
    resp = CueResponse(p_correct=1.0, delay_steps=5, relapse_s=1e9)
    live = LiveSession(make_runner("trail", 70.0, 4, response=resp), specs, seed=4)
    t, cued = 0.0, None
    while t < 70.0:
        t += 0.5
        live.advance(t)
        tr = live.truth()
        faulty = np.flatnonzero([Fault.HEEL_STRIKE.value in f for f in tr["fault"]])
        if cued is None and faulty.size >= 8:
            cued = t
            rec = live.cue(Cue.LAND_MIDFOOT, t)
            assert rec.outcome == "corrected"
    tr = live.truth()
    assert cued is not None
    after = tr["t_ic_s"] > cued + 5.0
    assert after.sum() > 10
    assert not any(Fault.HEEL_STRIKE.value in f for f in tr["fault"][after])


def test_cli_too_short_a_session_is_a_usage_error(capsys):
    assert main(["simulate", "--duration", "30"]) == 2
    assert "Traceback" not in capsys.readouterr().err
