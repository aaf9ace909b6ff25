"""Replay's blocks: any block size gives the live result; pacing; stopping at a host time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stridecore.recording import open_recording
from stridecore.replay import iter_blocks, replay
from stridecore.stream import DeviceStream

REC = Path(__file__).resolve().parents[1] / "recordings" / "sim_downhill_trail.mcap"


def _bytes(v) -> bytes:
    x = np.asarray(v)
    return repr(x.tolist()).encode() if x.dtype == object else x.tobytes()


def _digest(streams: dict[str, DeviceStream]) -> dict:
    out = {}
    for k, st in streams.items():
        s, t = st.all_samples()
        tab = st.steps_table()
        out[k] = (s.sample_idx.tobytes(), s.acc_mps2.tobytes(), t.tobytes(),
                  {c: _bytes(v) for c, v in tab.items()}, len(st.probes),
                  {c: _bytes(np.concatenate([np.asarray(t[c]) for t in st.ics]))
                   for c in (st.ics[0] if st.ics else {})},
                  st.health.samples)
    return out


@pytest.fixture(scope="module")
def reference():
    return _digest(replay(REC).streams)


@pytest.mark.parametrize("block_s", [0.05, 1.0, 1e9])
def test_block_size_does_not_change_results(reference, block_s):
    reader = open_recording(REC)
    streams = {k: DeviceStream(k, str(i.get("framing", "cobs")), t0_host_s=reader.t0_host_s)
               for k, i in reader.devices.items()}
    n = 0
    for key, t, ends, data, tx in iter_blocks(reader, block_s=block_s):
        streams[key].on_rx_block(t, ends, data, tx)
        n += 1
    for st in streams.values():
        st.finish()
    got = _digest(streams)
    assert got == reference
    assert n >= (2 if block_s > 1e3 else 10)


def test_units_one_by_one_give_the_replay_result(reference):
    """The live path: on_tx / on_rx per unit in recorded order."""
    reader = open_recording(REC)
    streams = {k: DeviceStream(k, str(i.get("framing", "cobs")), t0_host_s=reader.t0_host_s)
               for k, i in reader.devices.items()}
    from stridecore.transport.base import Unit

    for key, direction, t, data in reader.units(None, None):
        (streams[key].on_tx if direction == "tx" else streams[key].on_rx)(Unit(t, data))
    for st in streams.values():
        st.finish()
    assert _digest(streams) == reference


def test_stop_t_hands_over_exactly_the_units_before_it():
    reader = open_recording(REC)
    stop = reader.t0_host_s + 37.3
    want = {}
    for key, d, t, _data in reader.units(None, None):
        if t < stop:
            want[key, d] = want.get((key, d), 0) + 1
    got = {}
    for key, t, _ends, _data, tx in iter_blocks(open_recording(REC), stop_t=stop, block_s=4.0):
        assert len(t) == 0 or t.max() < stop
        got[key, "rx"] = got.get((key, "rx"), 0) + len(t)
        got[key, "tx"] = got.get((key, "tx"), 0) + len(tx)
    assert {k: v for k, v in got.items() if v} == want


def test_pacing_sleeps_for_the_session_and_changes_nothing(reference):
    now = [0.0]
    slept = []

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    res = replay(REC, speed=20.0, clock=clock, sleep=sleep)
    assert _digest(res.streams) == reference
    # the work takes no virtual time: the sleeps add up to the session at 20x (to one message)
    assert sum(slept) == pytest.approx(res.duration_s / 20.0, abs=0.2 / 20 + 0.01)
    assert len(slept) > 100 and min(slept) > 0


def test_stream_health_counts_what_numpy_counts():
    """StreamHealth's one-pass kernel: peaks skip NaN samples, flags counted per mask."""
    from firmware_protocol import Batch, SampleFlag, Samples
    from stridecore.health import G, StreamHealth

    rng = np.random.default_rng(3)
    n = 5000
    acc = rng.normal(0, 30, (n, 3))
    gyr = rng.normal(0, 5, (n, 3))
    acc[17] = np.nan
    gyr[17] = np.nan
    flags = rng.integers(0, 64, n).astype(np.uint8)
    h = StreamHealth()
    h.update(Batch(samples=Samples(np.arange(n), np.arange(n) * 1e3, acc, gyr, flags)))
    assert h.samples == n
    assert h.backlog_samples == np.count_nonzero(flags & SampleFlag.BACKLOG)
    assert h.late_samples == np.count_nonzero(flags & SampleFlag.LATE)
    assert h.clipped_samples == np.count_nonzero(
        flags & (SampleFlag.CLIPPED_ACC | SampleFlag.CLIPPED_GYR))
    assert h.peak_acc_g == pytest.approx(np.nanmax(np.linalg.norm(acc, axis=1)) / G, rel=1e-12)
    assert h.peak_gyr_dps == pytest.approx(
        np.rad2deg(np.nanmax(np.linalg.norm(gyr, axis=1))), rel=1e-12)
    nan = StreamHealth()
    nan.update(Batch(samples=Samples(np.arange(2), np.zeros(2), np.full((2, 3), np.nan),
                                     np.full((2, 3), np.nan), np.zeros(2, np.uint8))))
    assert nan.peak_acc_g == 0.0 and nan.peak_gyr_dps == 0.0


def test_devices_replayed_in_two_processes_give_the_same_streams(reference):
    res = replay(REC, jobs=2)
    assert list(res.streams) == list(open_recording(REC).devices)
    assert _digest(res.streams) == reference
    one = replay(REC)
    assert (res.units, res.blocks, res.duration_s) == (one.units, one.blocks, one.duration_s)
    # the decoders came back whole: they go on decoding
    for st in res.streams.values():
        assert st.decoder.flush().problems is not None
        assert st.health.as_dict(st.decoder)["samples"] == st.health.samples
