"""`stridecore live`: simulated sensors -> pipelines -> cue engine -> audio, recorded; the cue
log of a replay equals the live one byte for byte. Virtual time (the latency is measured at
real-time pace in benchmarks/live_latency.py)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from stridecore.audio import SILENCE_DBFS, clip, read_wav
from stridecore.audio.clips import first_above
from stridecore.cli import main
from stridecore.live import (
    coach_recording,
    cue_log_csv,
    recorded_cue_log,
    run_live_blocking,
)
from stridecore.recording import open_recording
from stridecore.schema import Cue

RUN_S = 70.0
URLS = [f"sim://?placement={p}&odr=208&profile=heel_striker&run_s={RUN_S:g}&session_seed=3"
        f"&seed={i}{extra}"
        for i, (p, extra) in enumerate((
            ("left_foot", "&button=52&disconnect=12:2"), ("right_foot", "&battery_low=40"),
            ("left_shin", ""), ("right_shin", "&drop=0.01")))]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("live") / "run.mcap"
    run, lc = run_live_blocking(URLS, duration_s=RUN_S, speed=0, out=out)
    return out, run, lc


def test_live_runs_every_sensor_through_its_pipeline(live_run) -> None:
    _out, run, lc = live_run
    assert run.errors == []
    steps = {s.key: s.stream.steps_table() for s in run.sessions}
    for key, t in steps.items():
        assert len(t["t_ic_s"]) > 60, key  # ~1.3 steps/s per leg over 70 s
        assert np.all(np.isfinite(t["t_recv_s"])), key
        # a record is complete only when the data that completed it has arrived
        assert np.all(t["t_recv_s"] >= t["t_emit_s"] - 0.01), key
    assert np.isfinite(steps["left_shin"]["peak_tibial_acc_g"]).mean() > 0.9
    assert np.isnan(steps["left_foot"]["peak_tibial_acc_g"]).all()
    assert {p.value for p in lc.kit.placements} == {"left_foot", "right_foot", "left_shin",
                                                     "right_shin"}


def test_live_cue_log_equals_replay_byte_for_byte(live_run) -> None:
    out, _, lc = live_run
    live = cue_log_csv(lc.coach.log_table())
    coach, _ = coach_recording(out)
    assert cue_log_csv(coach.log_table()) == live
    # and the log the live session wrote into its recording is the same
    assert cue_log_csv(recorded_cue_log(open_recording(out))) == live


def test_live_says_the_faults_and_system_events(live_run) -> None:
    _, _, lc = live_run
    spoken = [d for d in lc.coach.decisions if d.spoken]
    said = {d.cue for d in spoken}
    # the heel striker's steep descent: heel strike with a straight knee
    assert said & {Cue.LAND_MIDFOOT, Cue.SOFTEN_KNEES, Cue.SHORTEN_STRIDE}, said
    # the scheduled disconnect of the left foot, its return, the battery, the button
    assert {Cue.SENSOR_LOST, Cue.SENSOR_BACK, Cue.LOW_BATTERY, Cue.SNOOZED} <= said, said
    lost = next(d for d in spoken if d.cue is Cue.SENSOR_LOST)
    assert 12.0 < lost.t_host_s < 14.5
    snooze = next(d for d in spoken if d.cue is Cue.SNOOZED)
    assert 52.0 <= snooze.t_host_s < 53.0
    # no form cue while snoozed
    form = [d for d in spoken if d.t_host_s > snooze.t_host_s and d.cue in {
        Cue.LAND_MIDFOOT, Cue.SOFTEN_KNEES, Cue.SHORTEN_STRIDE, Cue.QUICKER_STEPS,
        Cue.PUSH_OFF, Cue.SOFTER_LANDING}]
    assert form == []
    # one cue at a time: spoken cues never overlap their clips
    t = np.array([d.t_host_s for d in spoken])
    assert np.all(np.diff(t) >= 0)


def test_live_recording_holds_steps_kit_and_cues(live_run) -> None:
    out, run, lc = live_run
    r = open_recording(out)
    kit = [f for _, _, f in r.json_messages("kit")]
    assert kit and kit[0]["keys"] == [s.key for s in run.sessions]
    n_steps = sum(1 for _ in r.json_messages("step"))
    assert n_steps == sum(len(s.stream.steps_table()["t_ic_s"]) for s in run.sessions)
    assert sum(1 for _ in r.json_messages("cue")) == len(lc.coach.decisions)


def test_cli_live_then_replay_audio(tmp_path: Path) -> None:
    out = tmp_path / "cli.mcap"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["live", *URLS[:2], "--duration", "45", "--speed", "0", "--out", str(out),
                   "--json"])
    assert rc == 0
    summary = json.loads(buf.getvalue())
    assert summary["errors"] == [] and summary["audio"].startswith("wav:")
    wav_live = Path(summary["audio"][4:])
    assert wav_live.exists()
    cues_live = out.with_suffix(".cues.csv")
    assert cues_live.exists()

    wav = tmp_path / "replay.wav"
    cues = tmp_path / "replay.csv"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["replay", str(out), "--cues", str(cues), "--audio", str(wav), "--json"])
    assert rc == 0
    rep = json.loads(buf.getvalue())
    assert rep["equals_live_log"] is True
    assert cues.read_bytes() == cues_live.read_bytes()
    # the rendered WAV: each spoken cue starts at its decision time, at the clip's level
    x, rate = read_wav(wav)
    assert len(x) / rate >= 45.0 - 1.0
    spoken = [c for c in summary["cues"]]
    assert spoken, "the heel striker's descent gets at least one cue in 45 s"
    prev_end = 0
    for c in spoken:
        k = round(c["t_s"] * rate)
        k = max(k, prev_end)
        on = first_above(x, SILENCE_DBFS, max(0, k - rate // 100))
        assert on is not None and abs(on - k) <= rate // 100 + 1, (c, on, k)
        n = len(clip(c["cue"]).samples)
        seg = x[on - clip(c["cue"]).onset_index: on - clip(c["cue"]).onset_index + n]
        assert np.array_equal(seg, clip(c["cue"]).samples)
        prev_end = on + n
    # the WAV written live (sink at stream time) holds the same cues at the same places
    y, rate_y = read_wav(wav_live)
    assert rate_y == rate
    for c in spoken:
        k = round(c["t_s"] * rate)
        on = first_above(y, SILENCE_DBFS, max(0, k - rate // 10))
        assert on is not None and abs(on - k) < rate // 10, (c, on, k)


def test_cli_live_bad_url_is_one_line(tmp_path: Path, capsys) -> None:
    rc = main(["live", "sim://?placement=elbow", "--duration", "5", "--speed", "0",
               "--out", str(tmp_path / "x.mcap")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "placement" in err[0]
    assert not (tmp_path / "x.mcap").exists()


def test_live_knee_from_thigh_and_shin_equals_replay(tmp_path: Path) -> None:
    """A thigh + shin kit: the shin's steps carry the knee (joined across the two devices on
    host time), the thigh's link drops for 3 s (no knee invented there), replay == live."""
    urls = [f"sim://?placement={p}&odr=208&profile=heel_striker&run_s=60&session_seed=3"
            f"&seed={i}{x}" for i, (p, x) in enumerate((
                ("right_foot", ""), ("right_shin", ""), ("right_thigh", "&disconnect=20:3")))]
    out = tmp_path / "knee.mcap"
    run, lc = run_live_blocking(urls, duration_s=45.0, speed=0, out=out)
    assert run.errors == []
    t = lc.steps_table("right_shin")
    peak, ic = t["knee_peak_deg"], t["knee_ic_deg"]
    running = (t["t_ic_s"] > 4.0) & (t["t_ic_s"] < 18.0)
    assert np.isfinite(peak[running]).all()
    assert 25.0 < np.median(peak[running]) < 55.0  # stance flexion of a runner
    assert np.all(peak[running] >= ic[running])
    gap = (t["t_ic_s"] > 20.5) & (t["t_ic_s"] < 22.5)
    assert gap.any() and np.isnan(peak[gap]).all()
    assert "soften_knees" in lc.kit.matrix() and lc.kit.enabled(Cue.SOFTEN_KNEES)
    assert cue_log_csv(coach_recording(out)[0].log_table()) == cue_log_csv(lc.coach.log_table())
    # the recorded step records carry the joined knee
    rec = [f for k, _, f in open_recording(out).json_messages("step") if k == "right_shin"]
    assert len(rec) == len(peak)
    assert np.allclose([np.nan if f["knee_peak_deg"] is None else f["knee_peak_deg"]
                        for f in rec], peak, equal_nan=True)


def test_kit_waits_for_every_sensor_s_config() -> None:
    """The kit (and the knee joins, which need each sensor's rate) is fixed only once every
    sensor's GET_INFO and GET_CONFIG replies are in (or after 10 s): a join built while a
    thigh's config was still on its way had no knee for the whole session."""
    from types import SimpleNamespace

    from stridecore.coaching import CoachConfig
    from stridecore.live import LiveCoach
    from stridecore.schema import Placement

    def sess(key, placement, cfg):
        info = SimpleNamespace(placement=Placement(placement).device_code)
        stream = SimpleNamespace(info=info, config=cfg, key=key, placement=Placement(placement))
        return SimpleNamespace(key=key, stream=stream)

    sessions = [sess("left_shin", "left_shin", SimpleNamespace(odr_hz=208, acc_range_g=16)),
                sess("left_thigh", "left_thigh", None)]
    lc = LiveCoach(CoachConfig())
    lc.run = SimpleNamespace(sessions=sessions)
    lc._maybe_start()
    assert lc.coach is None  # the thigh's config is not in yet
    sessions[1].stream.config = SimpleNamespace(odr_hz=208, acc_range_g=16)
    lc._maybe_start()
    assert lc.coach is not None and set(lc.joins.legs) == {"left"}
    # the kit knows each sensor's range: a ±16 g shin cannot pass the no-grade impact setting
    assert dict(lc.kit.acc_range_g)[Placement.LEFT_SHIN] == 16.0
