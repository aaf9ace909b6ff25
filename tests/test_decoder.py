"""The sans-I/O stream decoder: chunk invariance, bad input, gaps, duplicates, plausibility."""

import dataclasses
import struct
from binascii import crc_hqx

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from streams import (
    CONFIG,
    chunk,
    config_reply,
    data_frames,
    expected_si,
    serial,
    status_frame,
)

from firmware_protocol import (
    FRAME_DTYPE,
    Batch,
    SampleFlag,
    StreamDecoder,
    cobs_decode,
    cobs_encode,
    encode_frame,
    encode_imu6,
)
from firmware_protocol.decoder import MAX_ENCODED_LEN


def run_serial(data: bytes, cuts=(), configs=None) -> tuple[Batch, StreamDecoder]:
    dec = StreamDecoder(configs=configs)
    parts = chunk(data, list(cuts)) if cuts else [data]
    batch = Batch.concat([*(dec.feed(p) for p in parts), dec.flush()])
    return batch, dec


def problems(dec: StreamDecoder) -> dict:
    return {k: v for k, v in dec.problems.items() if v}


def reference_decode(data: bytes) -> list[tuple[int, tuple[int, ...]]]:
    """Plain-Python reference: (sample_idx, raw counts) of every valid IMU6 frame, in order."""
    out = []
    for block in data.split(b"\x00"):
        if not block:
            continue
        try:
            frame = cobs_decode(block)
        except ValueError:
            continue
        if len(frame) < 6 or crc_hqx(frame[:-2], 0xFFFF) != int.from_bytes(frame[-2:], "little"):
            continue
        if frame[0] != 1 or frame[1] != 0x10:
            continue
        _t, idx, _cfg, n = struct.unpack_from("<QIBB", frame, 4)
        if len(frame) != 20 + 12 * n:
            continue
        for i in range(n):
            out.append((idx + i, struct.unpack_from("<6h", frame, 18 + 12 * i)))
    return out


def test_clean_stream_matches_plain_reference():
    frames, _raw = data_frames(200, seed=3)
    data = serial([config_reply(0), *frames])
    b, dec = run_serial(data)
    ref = reference_decode(data)
    assert [i for i, _ in ref] == b.samples.sample_idx.tolist()
    ref_raw = np.array([r for _, r in ref])
    acc, gyr = expected_si(ref_raw)
    np.testing.assert_array_equal(b.samples.acc_mps2, acc)
    np.testing.assert_array_equal(b.samples.gyr_radps, gyr)
    assert problems(dec) == {}
    assert b.frames["n"].tolist() == [18] * 200
    assert b.samples.acc_mps2.dtype == np.float64 and b.samples.acc_mps2.shape == (3600, 3)
    # device time: frame t_us + i · period; the period comes from the data once the span allows
    t = b.samples.t_device_us
    assert np.all(np.diff(t) > 0)
    period = np.diff(t[-100:]).mean()
    assert period == pytest.approx(1e6 / (416 * 1.01), rel=1e-3)


@st.composite
def frame_streams(draw):
    """A device stream: config reply, data frames of varying n with STATUS frames between."""
    k = draw(st.integers(1, 30))
    ns = draw(st.lists(st.integers(1, 40), min_size=k, max_size=k))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    frames = [config_reply(0, dataclasses.replace(CONFIG, n_max=40))]
    seq, idx, t = 1, draw(st.integers(0, 2**32 - 1)), 5_000_000.0
    period = 1e6 / 420.0
    for n in ns:
        raw = rng.integers(-32768, 32768, (n, 6)).astype(np.int16)
        frames.append(encode_imu6(seq, round(t), idx, 1, raw))
        seq, idx, t = seq + 1, idx + n, t + n * period
        if rng.random() < 0.2:
            frames.append(status_frame(seq, round(t)))
            seq += 1
    return frames


@given(frame_streams(), st.lists(st.integers(1, 5000), max_size=40))
def test_any_chunking_gives_the_same_batches(frames, cuts):
    data = serial(frames)
    whole, d1 = run_serial(data)
    parts, d2 = run_serial(data, cuts)
    assert whole.samples.equals(parts.samples)
    assert np.array_equal(whole.frames, parts.frames)
    assert [(m.frame_no, m.seq, m.type, m.body) for m in whole.messages] == \
        [(m.frame_no, m.seq, m.type, m.body) for m in parts.messages]
    assert problems(d1) == problems(d2) == {}
    # one byte at a time, too
    ones, _ = run_serial(data, list(range(1, len(data))))
    assert whole.samples.equals(ones.samples)


@given(frame_streams())
def test_ble_path_equals_serial_path(frames):
    ser, _ = run_serial(serial(frames))
    dec = StreamDecoder(framing="packet")
    one_by_one = Batch.concat([dec.feed_packet(f) for f in frames])
    dec2 = StreamDecoder(framing="packet")
    at_once = dec2.feed_packets(frames)
    assert ser.samples.equals(one_by_one.samples)
    assert ser.samples.equals(at_once.samples)
    same = [n for n in FRAME_DTYPE.names if n != "end_byte"]  # positions differ by framing
    assert np.array_equal(ser.frames[same], at_once.frames[same])
    assert np.array_equal(one_by_one.frames, at_once.frames)
    # a packet's frame ends where the packet does
    ends = np.cumsum([len(f) for f in frames])
    assert set(at_once.frames["end_byte"].tolist()) <= set(ends.tolist())
    assert all(m.end_byte in set(ends.tolist()) for m in at_once.messages)
    packed = StreamDecoder(framing="packet").feed_packed(b"".join(frames), ends)
    assert np.array_equal(packed.frames, at_once.frames)
    assert packed.samples.equals(at_once.samples)


@given(frame_streams(), st.lists(st.integers(1, 5000), max_size=40))
def test_end_bytes_place_each_frame_and_sample_in_the_stream(frames, cuts):
    """``end_byte`` is the stream position of a frame's delimiter (whatever the chunking), and
    ``sample_start`` splits the samples by frame: the attribution replay uses to find which
    received unit delivered which samples and replies."""
    data = serial(frames)
    whole, _ = run_serial(data)
    parts, _ = run_serial(data, cuts)
    delims = {i + 1 for i, b in enumerate(data) if b == 0}
    assert set(whole.frames["end_byte"].tolist()) <= delims
    assert [m.end_byte for m in whole.messages] == [m.end_byte for m in parts.messages]
    assert all(m.end_byte in delims for m in whole.messages)
    assert np.array_equal(whole.sample_start, parts.sample_start)
    # frame k's samples are samples[sample_start[k]:sample_start[k+1]], starting at its index
    ss = whole.sample_start
    assert np.all(np.diff(ss) == whole.frames["n"][:-1].astype(int)) if len(ss) else True
    if len(ss):
        assert np.array_equal(whole.samples.sample_idx[ss], whole.frames["sample_idx"])
    # in the frame order, delivery positions never go back
    assert np.all(np.diff(whole.frames["end_byte"]) > 0)


@given(frame_streams(), st.data())
def test_corruption_inside_one_frame_loses_only_that_frame(frames, data):
    victim = data.draw(st.integers(1, len(frames) - 1))
    encs = [cobs_encode(f) + b"\x00" for f in frames]
    enc = bytearray(encs[victim])
    pos = data.draw(st.integers(0, len(enc) - 2))  # inside the frame, not the delimiter
    enc[pos] = data.draw(st.integers(1, 255).filter(lambda v: v != enc[pos]))
    encs[victim] = bytes(enc)
    got, dec = run_serial(b"".join(encs), data.draw(st.lists(st.integers(1, 4000),
                                                             max_size=10)))
    clean = [f for k, f in enumerate(frames) if k != victim]
    want, _ = run_serial(serial(clean))
    assert got.samples.equals(want.samples) or _only_victim_lost(got, want, frames[victim])
    assert sum(problems(dec).values()) >= 1


def _only_victim_lost(got: Batch, want: Batch, victim: bytes) -> bool:
    """Every sample of the clean stream is there; the victim's samples may be missing."""
    have, need = set(got.samples.sample_idx.tolist()), set(want.samples.sample_idx.tolist())
    return need <= have <= need | _victim_idx(victim)


def _victim_idx(frame: bytes) -> set[int]:
    if frame[1] != 0x10:
        return set()
    _t, idx, _c, n = struct.unpack_from("<QIBB", frame, 4)
    return set(range(idx, idx + n))


@given(frame_streams(), st.data())
def test_destroyed_delimiter_loses_at_most_the_two_frames_it_joined(frames, data):
    if len(frames) < 3:
        return
    encs = [cobs_encode(f) + b"\x00" for f in frames]
    k = data.draw(st.integers(1, len(frames) - 2))
    encs[k] = encs[k][:-1] + bytes([data.draw(st.integers(1, 255))])
    got, dec = run_serial(b"".join(encs))
    lost = _victim_idx(frames[k]) | _victim_idx(frames[k + 1])
    want, _ = run_serial(serial([f for j, f in enumerate(frames) if j not in (k, k + 1)]))
    have = set(got.samples.sample_idx.tolist())
    assert set(want.samples.sample_idx.tolist()) <= have
    assert have - set(want.samples.sample_idx.tolist()) <= lost
    assert sum(problems(dec).values()) >= 1


@given(st.binary(max_size=20000), st.lists(st.integers(1, 20000), max_size=20))
def test_random_bytes_never_raise_and_memory_stays_bounded(junk, cuts):
    dec = StreamDecoder()
    for part in chunk(junk, cuts) or [b""]:
        dec.feed(part)
        assert len(dec._pending) <= MAX_ENCODED_LEN
    dec.flush()
    pdec = StreamDecoder(framing="packet")
    for part in chunk(junk, cuts):
        pdec.feed_packet(part)


def test_frames_after_garbage_and_a_hostile_length_are_recovered():
    frames, raw = data_frames(10)
    junk = bytes(range(1, 256)) * 40  # 10 kB without a delimiter
    data = serial([config_reply(0)]) + junk + b"\x00" + serial(frames)
    b, dec = run_serial(data, list(range(0, len(data), 999)))
    assert len(b.samples) == raw.shape[0]
    assert dec.problems["oversize"] == 1
    assert len(dec._pending) == 0


def test_wrong_version_unknown_type_and_bad_length_are_counted():
    frames, _raw = data_frames(3)
    bad = [
        encode_frame(0x10, 2, frames[1][4:-2], version=2),
        encode_frame(0x3F, 2, b"abc"),
        encode_frame(0x10, 2, frames[1][4:-2] + b"\x01"),
    ]
    b, dec = run_serial(serial([config_reply(0), frames[0], *bad, frames[2]]))
    p = problems(dec)
    assert p["bad_version"] == 1 and p["unknown_type"] == 1 and p["bad_length"] == 1
    assert p["lost_frames"] == 1 and p["lost_samples"] == 18  # frames[1] never came valid
    assert len(b.samples) == 36


def test_dropped_frame_is_a_gap_with_a_flag():
    frames, _raw = data_frames(5)
    b, dec = run_serial(serial([config_reply(0), *frames[:2], *frames[3:]]))
    assert problems(dec) == {"lost_frames": 1, "lost_samples": 18}
    assert [(g.first_idx, g.count) for g in b.gaps] == [(36, 18)]
    gap_at = np.flatnonzero(b.samples.flags & SampleFlag.GAP_BEFORE)
    assert b.samples.sample_idx[gap_at].tolist() == [54]
    assert dec.open_gaps == [(36, 54)]


def test_duplicate_is_dropped_and_counted():
    frames, _raw = data_frames(4)
    b, dec = run_serial(serial([config_reply(0), frames[0], frames[1], frames[1], frames[2]]))
    assert problems(dec) == {"duplicate": 1}
    assert b.samples.sample_idx.tolist() == list(range(54))


def test_reordered_frame_is_delivered_late_and_flagged():
    frames, raw = data_frames(5)
    b, dec = run_serial(serial([config_reply(0), frames[0], frames[2], frames[1], frames[3]]))
    p = problems(dec)
    assert p["out_of_order"] == 1 and p["lost_samples"] == 18
    assert sorted(b.samples.sample_idx.tolist()) == list(range(72))
    late = b.samples.sample_idx[(b.samples.flags & SampleFlag.LATE) > 0]
    assert late.tolist() == list(range(18, 36))
    assert dec.open_gaps == []
    assert dec.recovered_samples == 18
    acc, _ = expected_si(raw[:72])
    order = np.argsort(b.samples.sample_idx)
    np.testing.assert_array_equal(b.samples.acc_mps2[order], acc)


def test_seq_and_sample_idx_wrap_around():
    frames, _raw = data_frames(8, seq0=65532, idx0=2**32 - 40)
    b, dec = run_serial(serial([config_reply(65531), *frames]))
    assert problems(dec) == {}
    idx = b.samples.sample_idx
    assert idx[0] == 2**32 - 40 and np.all(np.diff(idx) == 1) and idx[-1] == 2**32 - 40 + 143
    assert b.frames["seq"].tolist() == [65532, 65533, 65534, 65535, 0, 1, 2, 3]


def _reframe(frame: bytes, **changes) -> bytes:
    """Same IMU6 frame with header fields changed and a *valid* CRC (what CRC cannot catch)."""
    t_us, idx, cfg, n = struct.unpack_from("<QIBB", frame, 4)
    seq = struct.unpack_from("<H", frame, 2)[0]
    raw = np.frombuffer(frame[18:-2], "<i2").reshape(n, 6)
    return encode_imu6(changes.get("seq", seq), changes.get("t_us", t_us),
                       changes.get("idx", idx), changes.get("cfg", cfg), raw)


def test_crc_valid_frame_off_the_timing_line_is_implausible():
    frames, _raw = data_frames(6)
    t_us = struct.unpack_from("<Q", frames[3], 4)[0]
    frames[3] = _reframe(frames[3], t_us=t_us + 2**40)
    b, dec = run_serial(serial([config_reply(0), *frames]))
    p = problems(dec)
    assert p["implausible"] == 1 and p["lost_samples"] == 18
    assert 54 not in b.samples.sample_idx.tolist()
    frames2, _ = data_frames(6)
    frames2[3] = _reframe(frames2[3], idx=2**31 + 5)
    _, dec2 = run_serial(serial([config_reply(0), *frames2]))
    assert problems(dec2)["implausible"] == 1


def test_device_restart_without_start_reply_reanchors_on_three_chained_frames():
    before, raw0 = data_frames(4)
    after, raw1 = data_frames(5, seq0=7000, idx0=0, t0_us=90_000_000, seed=2)
    b, dec = run_serial(serial([config_reply(0), *before, *after]))
    p = problems(dec)
    assert p["reanchored"] == 1 and "implausible" not in p
    assert len(b.samples) == raw0.shape[0] + raw1.shape[0]
    acc, _ = expected_si(raw1)
    np.testing.assert_array_equal(b.samples.acc_mps2[-raw1.shape[0]:], acc)


def test_unknown_cfg_gives_nan_and_a_flag_but_keeps_samples():
    frames, _raw = data_frames(3)
    b, dec = run_serial(serial(frames))  # no config reply: scales unknown
    assert len(b.samples) == 54
    assert np.isnan(b.samples.acc_mps2).all()
    assert (b.samples.flags & SampleFlag.UNKNOWN_CFG).all()
    assert problems(dec) == {"unknown_cfg": 3}
    b2, dec2 = run_serial(serial(frames), configs={1: CONFIG})
    assert not np.isnan(b2.samples.acc_mps2).any() and problems(dec2) == {}


def test_clipped_samples_are_flagged():
    raw = np.zeros((4, 6), np.int16)
    raw[1, 2] = 32767
    raw[2, 4] = -32768
    b, _ = run_serial(serial([config_reply(0), encode_imu6(1, 1000, 0, 1, raw)]))
    fl = b.samples.flags
    assert fl.tolist() == [0, SampleFlag.CLIPPED_ACC, SampleFlag.CLIPPED_GYR, 0]


def test_truncated_tail_is_counted_on_flush():
    frames, _ = data_frames(2)
    data = serial([config_reply(0), *frames])
    b, dec = run_serial(data[:-10])
    assert dec.problems["truncated"] == 1
    assert len(b.samples) == 18  # the complete frame is kept


def test_host_direction_decodes_commands():
    from firmware_protocol.frame import FrameType
    from firmware_protocol.messages import Command, TimeSyncRequest

    cmd = Command(FrameType.TIME_SYNC, 5, TimeSyncRequest(0xDEADBEEF))
    data = serial([encode_frame(FrameType.TIME_SYNC, 3, cmd.pack())])
    dec = StreamDecoder(direction="host")
    b = dec.feed(data)
    assert b.messages[0].body == cmd
    # device-to-host types on the host direction are unknown there
    b = dec.feed(serial([status_frame(4, 1)]))
    assert dec.problems["unknown_type"] == 1


@given(st.integers(-10**6, 10**6), st.floats(-1e9, 1e9), st.integers(-10**6, 10**6),
       st.floats(-1e9, 1e9), st.integers(-10**6, 10**6), st.floats(-1e9, 1e9),
       st.sampled_from([float("nan"), 961.5, 2403.8461538461538, 10000.0]))
def test_scalar_line_rules_equal_the_array_rules(a_idx, a_t, p_idx, p_t, idx, t, nominal):
    from firmware_protocol.tracker import LineState

    ln = LineState(anchor_idx=a_idx, anchor_t_us=a_t, nominal_period_us=nominal)
    want_p = float(ln.period_us(p_idx, p_t))
    got_p = ln.period_us_1(p_idx, p_t)
    assert (np.isnan(want_p) and np.isnan(got_p)) or want_p == got_p
    assert bool(ln.plausible(p_idx, p_t, idx, t)) == ln.plausible_1(p_idx, p_t, idx, t)


@pytest.mark.parametrize("size", [6, 9, 17, 18, 19])
def test_short_imu6_typed_frame_is_truncated_not_a_crash(size):
    """A CRC-valid frame of type 0x10 that cannot hold the IMU6 header, last in the buffer."""
    fr = encode_frame(0x10, 5, b"\x00" * (size - 6))
    _, dec = run_serial(serial([config_reply(0), fr]))
    assert problems(dec) == {"truncated": 1}
    p = StreamDecoder(framing="packet")
    p.feed_packet(fr)
    assert p.problems["truncated"] == 1


def test_backlog_duplicates_and_backlog_before_any_live_frame_are_counted():
    frames, raw = data_frames(4)  # seq 1..4, samples 0..71
    t1 = struct.unpack_from("<Q", frames[1], 4)[0]
    back = encode_imu6(4, t1, 18, 1, raw[18:36], backlog=True)  # a copy of frame 1's samples
    last = _reframe(frames[3], seq=5)
    b, dec = run_serial(serial([config_reply(0), *frames[:3], back, last]))
    assert len(b.samples) == 72
    assert problems(dec) == {"duplicate": 1}
    _, dec2 = run_serial(serial([config_reply(0), back]))
    assert problems(dec2)["unplaced"] == 1  # (and the 3 frames skipped by seq)
