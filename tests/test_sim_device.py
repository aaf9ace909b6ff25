"""The simulated sensor behaves like firmware: replies, clocks, framing, faults, backlog."""

import dataclasses

import numpy as np
import pytest

from firmware_protocol import Batch, SampleFlag, encode_frame
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import (
    Capability,
    ConfigRequest,
    ReadBacklog,
    Reply,
    StartFlag,
    StartStop,
    Status,
    StatusFlag,
    TimeSyncRequest,
)
from stridecore.demo import ScriptedHost, run_demo
from stridecore.transport.sim import SimUrlError, parse_sim_url
from stridecore.transport.sim_device import (
    Faults,
    SimDevice,
    SimSensorParams,
    acc_scale_mps2,
    gyro_scale_radps,
    n_for_mtu,
)

QUIET = SimSensorParams(noise_acc_mps2=0.0, noise_gyr_radps=0.0, timestamp_jitter_us=0.0)


def session(params: SimSensorParams, seconds: float, tick_s: float = 0.05,
            start: bool = True) -> tuple[ScriptedHost, Batch]:
    host = ScriptedHost(SimDevice(params))
    host.send(FrameType.GET_CONFIG, 0.0)
    if start:
        host.send(FrameType.START, 0.0)
    out = []
    t = 0.0
    while t < seconds - 1e-9:
        t = min(seconds, t + tick_s)
        out.append(host.collect(t))
    return host, Batch.concat(out)


def replies(batch: Batch) -> list[Reply]:
    return [m.body for m in batch.messages if isinstance(m.body, Reply)]


def test_get_info_and_config_replies():
    host = ScriptedHost(SimDevice(SimSensorParams(uid=b"ABCDEFGH")))
    host.send(FrameType.GET_INFO, 0.0)
    host.send(FrameType.GET_CONFIG, 0.0)
    b = host.collect(0.01)
    info, cfg = (r.body for r in replies(b))
    assert info.uid == b"ABCDEFGH" and info.placement == 2
    assert info.capabilities & Capability.BACKLOG
    assert (cfg.odr_hz, cfg.acc_range_g, cfg.gyro_range_dps, cfg.cfg_id) == (416, 16, 2000, 1)
    assert cfg.acc_scale_mps2 == pytest.approx(16 * 9.80665 / 32768, rel=1e-6)
    assert [r.req_id for r in replies(b)] == [0, 1]


def test_set_config_status_codes_and_new_cfg_id():
    host = ScriptedHost(SimDevice())
    host.send(FrameType.SET_CONFIG, 0.0, ConfigRequest(833, 8, 1000, 10))
    host.send(FrameType.SET_CONFIG, 0.0, ConfigRequest(500, 8, 1000, 10))  # bad ODR
    host.send(FrameType.START, 0.0)
    host.send(FrameType.SET_CONFIG, 0.1, ConfigRequest(416, 8, 1000, 10))  # while streaming
    b = host.collect(0.2)
    r = replies(b)
    assert [x.status for x in r] == [Status.OK, Status.BAD_PARAMETER, Status.OK,
                                     Status.INVALID_STATE]
    assert r[0].body.cfg_id == 2 and r[0].body.odr_hz == 833
    assert set(b.frames["cfg_id"].tolist()) == {2}
    assert b.frames["n"].max() == 10
    # the decoder learned the new scales from the reply
    assert host.decoder.scales[2] == (acc_scale_mps2(8), gyro_scale_radps(1000))


def test_unknown_command_and_short_body_get_status_codes():
    dev = SimDevice()
    host = ScriptedHost(dev)
    dev.receive(_serial(0x0C, bytes([42])), 0)
    dev.receive(_serial(FrameType.TIME_SYNC, bytes([43, 1])), 0)  # token needs 4 B
    r = replies(host.collect(0.01))
    assert [(x.command, x.req_id, x.status) for x in r] == [
        (0x0C, 42, Status.UNKNOWN_TYPE), (FrameType.TIME_SYNC, 43, Status.BAD_LENGTH)]


def _serial(ftype: int, payload: bytes) -> bytes:
    from firmware_protocol import cobs_encode

    return cobs_encode(encode_frame(ftype, 9, payload)) + b"\x00"


def test_time_sync_reports_the_device_clock():
    p = dataclasses.replace(SimSensorParams(), clock_offset_s=100.0, clock_drift_ppm=50.0)
    host = ScriptedHost(SimDevice(p))
    host.send(FrameType.TIME_SYNC, 20.0, TimeSyncRequest(77))
    (r,) = replies(host.collect(20.1))
    assert r.body.token == 77
    assert r.body.t_rx_us == round((100.0 + 20.0 * (1 + 50e-6)) * 1e6)
    assert r.body.t_tx_us - r.body.t_rx_us == pytest.approx(p.reply_latency_s * 1e6, abs=2)


@pytest.mark.parametrize(("mtu", "n"), [(23, 1), (185, 13), (247, 18), (512, 18)])
def test_ble_frames_fit_the_mtu(mtu, n):
    assert n_for_mtu(mtu, 18) == n
    p = SimSensorParams(framing="packet", mtu=mtu)
    _host, b = session(p, 0.5)
    assert set(b.frames["n"].tolist()) == {n}


def test_notifications_never_exceed_mtu():
    p = SimSensorParams(framing="packet", mtu=185)
    dev = SimDevice(p)
    host = ScriptedHost(dev)
    host.send(FrameType.START, 0.0)
    units = dev.poll(2.0)
    assert units and max(len(u) for _, u in units) <= 185 - 3


def test_status_at_one_hertz_and_odr_strays_on_the_device_clock():
    p = dataclasses.replace(QUIET, odr_error_ppm=-12000.0, clock_drift_ppm=40.0)
    host, b = session(p, 10.05)
    statuses = [m for m in b.messages if m.type == FrameType.STATUS]
    assert len(statuses) == 10
    assert all(m.body.flags & StatusFlag.STREAMING for m in statuses)
    fr = b.frames
    odr = (fr["sample_idx"][-1] - fr["sample_idx"][0]) / (
        (int(fr["t_us"][-1]) - int(fr["t_us"][0])) * 1e-6)
    true_odr = 416 * (1 - 12000e-6)
    assert odr == pytest.approx(true_odr / (1 + 40e-6), rel=2e-6)
    assert host.decoder.problems.total() == 0


def test_decoded_samples_equal_the_motion_within_one_count():
    p = dataclasses.replace(QUIET, acc_range_g=16)
    host, b = session(p, 3.0)
    dev = host.device
    t_true = b.samples.sample_idx / dev.true_odr_hz  # START at true time 0
    acc, gyr = dev.motion.sample(t_true)  # the default motion: the running simulator
    full = 32767 * acc_scale_mps2(16)
    acc = np.clip(acc, -full - acc_scale_mps2(16), full)  # foot impacts can exceed ±16 g
    assert np.abs(b.samples.acc_mps2 - acc).max() <= acc_scale_mps2(16) / 2 + 1e-9
    assert np.abs(b.samples.gyr_radps - gyr).max() <= gyro_scale_radps(2000) / 2 + 1e-9
    # device time of each sample follows the device clock; the first frame has only the
    # configured rate to go by (the IMU runs 0.8 % fast), later ones the measured rate
    err = np.abs(b.samples.t_device_us - dev.device_us(t_true))
    assert err[:36].max() < 0.01 * 18 * 1e6 / 416
    assert err[36:].max() < 1.0  # µs


def test_output_does_not_depend_on_how_time_is_advanced():
    p = SimSensorParams(faults=Faults(drop_prob=0.05, corrupt_prob=0.05, duplicate_prob=0.05,
                                      reorder_prob=0.05, fifo_overrun_prob=0.05,
                                      disconnects_s=((1.0, 0.5),)))

    def run(ticks: list[float]) -> list[tuple[float, bytes]]:
        dev = SimDevice(p)
        ScriptedHost(dev).send(FrameType.START, 0.0)
        out = []
        for t in ticks:
            out += dev.poll(t)
        return out

    fine = run(list(np.arange(1, 301) * 0.01))
    coarse = run([0.37, 1.11, 1.5, 2.2, 3.0])
    assert fine == coarse


def test_clipping_at_the_configured_range_is_flagged():
    p = dataclasses.replace(QUIET, acc_range_g=2)
    _host, b = session(p, 2.0)
    clipped = (b.samples.flags & SampleFlag.CLIPPED_ACC) > 0
    assert clipped.any() and not clipped.all()
    lim = 32768 * acc_scale_mps2(2)
    assert np.abs(b.samples.acc_mps2).max() <= lim + 1e-9
    statuses = [m.body for m in b.messages if m.type == FrameType.STATUS]
    assert any(s.flags & StatusFlag.CLIPPED for s in statuses)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [("drop_prob", "lost_frames"), ("corrupt_prob", None), ("duplicate_prob", "duplicate"),
     ("reorder_prob", "out_of_order"), ("fifo_overrun_prob", "lost_samples")],
)
def test_each_fault_is_seen_by_the_decoder(fault, problem):
    p = dataclasses.replace(QUIET, faults=Faults(**{fault: 0.1}), seed=3)
    host, b = session(p, 5.0)
    probs = {k: v for k, v in host.decoder.problems.items() if v}
    if problem is None:  # corruption shows up as one of the framing problems
        assert probs.keys() & {"bad_crc", "bad_cobs", "truncated", "oversize", "bad_length",
                               "unknown_type", "bad_version"}
    else:
        assert probs.get(problem, 0) > 0
    idx = b.samples.sample_idx
    assert len(np.unique(idx)) == len(idx)  # nothing delivered twice
    if fault == "fifo_overrun_prob":
        last = [m.body for m in b.messages if m.type == FrameType.STATUS][-1]
        assert last.fifo_overruns > 0


def test_disconnect_resume_and_backlog_recover_every_sample():
    p = dataclasses.replace(QUIET, faults=Faults(disconnects_s=((2.0, 1.5), (5.0, 0.7))))
    res = run_demo(p, duration_s=8.0, speed=0)
    b = Batch.concat(res.batches)
    idx = np.sort(b.samples.sample_idx)
    assert np.array_equal(idx, np.arange(idx.size))  # no hole, no duplicate
    assert res.decoder.open_gaps == []
    backlog = int(np.count_nonzero(b.samples.flags & SampleFlag.BACKLOG))
    # what was sampled while down, plus per reconnect up to one backoff wait (≤ 0.5 s) before
    # the START resume and one partly filled frame
    down = 2.2 * 416 * 1.008
    assert down - 2 <= backlog <= down + 2 * (0.5 * 420 + 18) + 2
    assert res.health.disconnects == 2


def test_start_without_resume_restarts_sample_idx():
    host = ScriptedHost(SimDevice(QUIET))
    host.send(FrameType.GET_CONFIG, 0.0)
    host.send(FrameType.START, 0.0)
    b1 = host.collect(1.0)
    host.send(FrameType.STOP, 1.0)
    host.send(FrameType.START, 1.5, StartStop(3, 0))
    b2 = host.collect(2.5)
    assert b1.samples.sample_idx[0] == 0 and b2.samples.sample_idx[0] == 0
    assert host.decoder.problems.total() == 0
    host.send(FrameType.START, 2.5, StartStop(3, int(StartFlag.RESUME)))
    b3 = host.collect(3.0)
    assert b3.samples.sample_idx[0] > b2.samples.sample_idx[-1]


def test_read_backlog_unsupported_without_the_capability():
    p = dataclasses.replace(SimSensorParams(), capabilities=0)
    host = ScriptedHost(SimDevice(p))
    host.send(FrameType.READ_BACKLOG, 0.0, ReadBacklog(0))
    (r,) = replies(host.collect(0.01))
    assert r.status == Status.UNSUPPORTED


def test_nothing_arrives_while_disconnected_and_commands_are_ignored():
    p = SimSensorParams(faults=Faults(disconnects_s=((0.0, 1.0),)))
    dev = SimDevice(p)
    host = ScriptedHost(dev)
    host.send(FrameType.GET_INFO, 0.5)
    assert dev.poll(1.0) == []
    host.send(FrameType.GET_INFO, 1.2)
    assert len(replies(host.collect(1.3))) == 1


def test_sim_urls():
    p = parse_sim_url("sim://?transport=ble&placement=left_shin&odr=833&drop=0.1"
                      "&disconnect=1:2,5:0.5&seed=4&mtu=185")
    assert p.framing == "packet" and p.placement == 3 and p.odr_hz == 833 and p.mtu == 185
    assert p.faults.drop_prob == 0.1 and p.faults.disconnects_s == ((1.0, 2.0), (5.0, 0.5))
    assert parse_sim_url("sim://") == SimSensorParams()
    for bad, why in [("sim://?bogus=1", "unknown"), ("sim://?drop=2", "outside"),
                     ("sim://?odr=fast", "integer"), ("sim://?placement=nose", "placement"),
                     ("sim://?disconnect=5", "START_S"), ("serial:///dev/x", "not a sim")]:
        with pytest.raises(SimUrlError, match=why):
            parse_sim_url(bad)


def test_live_pacing_uses_the_injected_clock():
    """Real-time pacing is a clock and a sleep passed in: a virtual clock runs 30 s in no time."""
    now = [0.0]
    slept = []

    def sleep(dt: float) -> None:
        slept.append(dt)
        now[0] += dt

    res = run_demo(QUIET, duration_s=30.0, speed=2.0, sleep=sleep, clock=lambda: now[0])
    assert sum(slept) == pytest.approx(15.0, abs=0.06)  # 30 s of sensor time at 2x
    assert res.wall_time_s == pytest.approx(15.0, abs=0.06)
    assert res.health.samples > 30 * 416
