"""Device sessions over the simulated sensor in virtual time: handshake, faults, reconnects,
time sync, recording and replay equal to live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_protocol import SampleFlag
from stridecore.clock import run_virtual
from stridecore.device import DeviceError, DeviceSession
from stridecore.record import record_session, record_transports
from stridecore.recording import open_recording
from stridecore.replay import replay
from stridecore.transport import TransportError
from stridecore.transport.sim import SimTransport
from stridecore.transport.sim_device import SimDevice


def _record(urls: list[str], out: Path | None, duration_s: float, **kw):
    return run_virtual(record_session(urls, out, duration_s=duration_s, **kw))


def _tables_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k], equal_nan=np.asarray(a[k]).dtype.kind == "f") for k in a)


def _assert_replay_equals_live(run, path: Path) -> None:
    rep = replay(path)
    for s in run.sessions:
        live, t_live = s.stream.all_samples()
        again, t_again = rep.streams[s.key].all_samples()
        assert live.equals(again)
        assert np.array_equal(t_live, t_again, equal_nan=True)
        assert _tables_equal(s.stream.steps_table(), rep.streams[s.key].steps_table())
        assert s.stream.decoder.problems == rep.streams[s.key].decoder.problems


def _every_gap_known(session: DeviceSession) -> None:
    """Live + backlog hold every sample index from the first to the last exactly once, except
    samples inside the gaps the decoder reported (frames lost on the link and not refilled,
    FIFO overruns): every missing sample is in a reported gap, and the decoder never reports
    fewer lost samples than are missing."""
    smp, _ = session.stream.all_samples()
    idx = np.sort(smp.sample_idx)
    assert np.unique(idx).size == idx.size  # duplicates are flagged, never delivered twice
    missing = np.setdiff1d(np.arange(idx[0], idx[-1] + 1), idx)
    gaps = session.stream.gaps
    known = (np.concatenate([np.arange(g.first_idx, g.first_idx + g.count) for g in gaps])
             if gaps else np.zeros(0, int))
    assert np.isin(missing, known).all()
    dec = session.stream.decoder
    assert missing.size <= dec.problems["lost_samples"] - dec.recovered_samples


class _Tap(SimTransport):
    """The sim link, keeping a copy of every unit handed to the host."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.seen: list[tuple[float, bytes]] = []

    async def read(self):
        u = await super().read()
        self.seen.append((u.t_host_s, u.data))
        return u


def test_session_survives_a_disconnect_and_replays_bit_for_bit(tmp_path: Path) -> None:
    url = "sim://?placement=right_foot&disconnect=4:1.5&drop=0.02&seed=3"
    out = tmp_path / "run.mcap"
    tap = _Tap(url)
    run = run_virtual(record_transports([tap], ["right_foot"], out, duration_s=12.0))
    assert not run.errors
    s = run.sessions[0]
    assert s.info is not None and s.info.uid == b"SIMRFOOT"
    # resumed within 2 s of the sensor becoming reachable, gap reported in samples
    (res,) = s.link.resumed
    assert res["t_resumed_s"] - 5.5 < 2.0
    assert res["gap_samples"] > 0.9 * 416 * 1.5
    assert res["backlog_samples"] == res["gap_samples"]
    _every_gap_known(s)
    smp, _ = s.stream.all_samples()
    assert np.count_nonzero(smp.flags & SampleFlag.BACKLOG) >= res["gap_samples"]
    # every unit the host received is in the recording, in order, with its time
    rec = open_recording(out)
    assert [(t, d) for _, _, t, d in rec.units("right_foot", "rx")] == tap.seen
    events = [e["event"] for _, e in rec.link_events("right_foot")]
    assert events[:2] == ["connect", "streaming"] and "disconnect" in events
    assert "resumed" in events and events[-1] == "end"
    assert len(list(rec.time_sync("right_foot"))) >= 2 * 8
    # the clock map found the device's 30 ppm drift; the pipeline saw the run
    assert s.stream.clock.ready and abs(s.stream.clock.drift_ppm - 30.0) < 5.0
    assert s.stream.steps.ics >= 6
    _assert_replay_equals_live(run, out)


def test_link_lost_during_the_start_is_survived(tmp_path: Path) -> None:
    """Lost replies slow the handshake into a disconnect (found by the fault-schedule test):
    the session reconnects and streams instead of ending."""
    url = "sim://?drop=0.2&duplicate=0.05&seed=0&disconnect=1.0:1.0"
    out = tmp_path / "start.mcap"
    tap = _Tap(url)
    run = run_virtual(record_transports([tap], ["right_foot"], out, duration_s=12.0))
    assert not run.errors
    (res,) = run.sessions[0].link.resumed
    assert res["from_idx"] == -1 and res["t_resumed_s"] - 2.0 < 2.0
    assert len(run.sessions[0].stream.all_samples()[0]) > 0.7 * 416 * 9
    _assert_replay_equals_live(run, out)


def test_unreachable_sensor_is_one_clear_error() -> None:
    with pytest.raises(TransportError, match="not reachable"):
        async def go():
            await DeviceSession(SimTransport("sim://?motion=still&disconnect=0:100")).run(1.0)
        run_virtual(go())


def test_silent_device_no_answer_to_get_info(tmp_path: Path) -> None:
    out = tmp_path / "silent.mcap"
    run = _record(["sim://?motion=still&corrupt=1"], out, 5.0)
    assert len(run.errors) == 1
    assert "no answer to GET_INFO after 3 tries of 500 ms" in run.errors[0]
    assert "\n" not in run.errors[0]
    rec = open_recording(out)  # the file is complete and holds what was sent and received
    assert not rec.truncated
    assert sum(1 for _ in rec.units("right_foot", "tx")) == 3


def test_another_sensor_answering_after_a_reconnect_is_refused() -> None:
    tr = SimTransport("sim://?motion=still&disconnect=2:1")
    other = SimDevice(tr.device.p.__class__(uid=b"OTHER001", faults=tr.device.p.faults),
                      tr.device.motion)

    async def go():
        s = DeviceSession(tr, key="foot")

        async def swap():
            await asyncio.sleep(2.5)  # while the link is down, another sensor takes its place
            tr.device = other

        asyncio.get_running_loop().create_task(swap())
        with pytest.raises(DeviceError, match="a different sensor answered"):
            await s.run(6.0)
        return s

    s = run_virtual(go())
    smp, _ = s.stream.all_samples()
    assert len(smp) > 0.9 * 416 * 2  # what came before is kept


def test_ten_minutes_twenty_disconnects_and_every_fault(tmp_path: Path) -> None:
    cuts = ",".join(f"{20 + 29 * k}:{0.5 + (k % 4)}" for k in range(20))
    url = (f"sim://?motion=still&tick=0.02&drop=0.1&corrupt=0.02&reorder=0.02&duplicate=0.01"
           f"&overrun=0.005&disconnect={cuts}&seed=11")
    out = tmp_path / "faults.mcap"
    run = _record([url], out, 600.0, pipeline=False)
    assert not run.errors
    s = run.sessions[0]
    assert len(s.link.disconnects) == 20 and len(s.link.resumed) == 20
    ends = [20 + 29 * k + 0.5 + (k % 4) for k in range(20)]
    lag = [r["t_resumed_s"] - e for r, e in zip(s.link.resumed, ends, strict=True)]
    assert max(lag) < 2.0, lag
    assert all(r["gap_samples"] > 0 for r in s.link.resumed)
    # dropped frames are refilled from the backlog; overruns are gaps the device reported
    _every_gap_known(s)
    smp, _ = s.stream.all_samples()
    assert s.stream.decoder.problems["bad_crc"] + s.stream.decoder.problems["bad_cobs"] > 0
    assert len(smp) > 0.85 * 416 * 600
    _assert_replay_equals_live(run, out)


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drop=st.sampled_from([0.0, 0.05, 0.2]), corrupt=st.sampled_from([0.0, 0.05]),
       reorder=st.sampled_from([0.0, 0.05]), duplicate=st.sampled_from([0.0, 0.05]),
       cuts=st.lists(st.tuples(st.floats(1.0, 9.0), st.floats(0.1, 2.0)), max_size=3),
       transport=st.sampled_from(["serial", "ble"]), seed=st.integers(0, 50))
def test_replay_equals_live_over_fault_schedules(tmp_path_factory, drop, corrupt, reorder,
                                                 duplicate, cuts, transport, seed) -> None:
    cuts = sorted(cuts)
    sched = ",".join(f"{a:.3f}:{d:.3f}" for a, d in cuts)
    url = (f"sim://?transport={transport}&drop={drop}&corrupt={corrupt}&reorder={reorder}"
           f"&duplicate={duplicate}&seed={seed}" + (f"&disconnect={sched}" if sched else ""))
    out = tmp_path_factory.mktemp("rec") / "run.mcap"
    tap = _Tap(url)
    run = run_virtual(record_transports([tap], ["right_foot"], out, duration_s=12.0))
    if run.errors:  # a disconnect during the handshake or heavy corruption at start
        assert "no answer" in run.errors[0] or "not reachable" in run.errors[0]
    rec = open_recording(out)
    assert [(t, d) for _, _, t, d in rec.units("right_foot", "rx")] == tap.seen
    _assert_replay_equals_live(run, out)


def test_two_sensors_with_200_ppm_drift_stay_aligned_for_an_hour() -> None:
    """Each sample's host time (the clock map as it was when the sample arrived: causal) against
    the simulation's truth, two sensors 200 ppm apart with IMU rates 0.8 % off nominal."""
    urls = ["sim://?placement=left_foot&motion=still&odr=104&tick=0.25&drift_ppm=100"
            "&offset_s=5",
            "sim://?placement=right_foot&motion=still&odr=104&tick=0.25&drift_ppm=-100"
            "&offset_s=900&seed=1"]
    worst: dict[str, float] = {}
    first: dict[str, float] = {}

    def check(session: DeviceSession, got) -> None:
        smp = got.batch.samples
        live = (smp.flags & SampleFlag.BACKLOG) == 0
        if not live.any() or not session.stream.clock.ready:
            return
        dev = session.transport.device
        true_host = session.transport.t0_s + dev.sample_time_s(smp.sample_idx)
        err = float(np.max(np.abs(got.t_host_s - true_host)[live]))
        # the first frame's samples are spaced by the nominal period (the decoder has not yet
        # measured the true rate): up to 0.8 % × one frame
        table = first if session.key not in first else worst
        table[session.key] = max(table.get(session.key, 0.0), err)

    run = _record(urls, None, 3600.0, pipeline=False, keep_samples=False, on_received=check)
    assert not run.errors
    assert set(worst) == {"left_foot", "right_foot"}
    # each within 0.5 ms of the truth for the hour, so the two within 1 ms of each other
    assert max(worst.values()) < 0.5e-3, worst
    assert max(first.values()) < 2e-3, first
    drifts = sorted(s.stream.clock.drift_ppm for s in run.sessions)
    assert drifts[0] == pytest.approx(-100, abs=2) and drifts[1] == pytest.approx(100, abs=2)
