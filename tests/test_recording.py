"""Session recordings: exact round trip, batching, JSON topics, errors, and files cut anywhere."""

import json
import os
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcap.reader import make_reader
from mcap.writer import Writer

from stridecore.recording import (
    RecordingError,
    RecordingParams,
    RecordingReader,
    RecordingWriter,
    TimeSyncProbe,
    open_recording,
)
from stridecore.recording.format import log_time_ns

T0 = 5000.123  # host clock at session start (s)
EPOCH_NS = 1_750_000_000_000_000_000


def bits(t: float) -> bytes:
    return struct.pack("<d", t)


def random_units(rng: random.Random, n: int, keys=("a", "b", "c"), max_gap_s=0.02,
                 tie_prob=0.0) -> list[tuple[str, str, float, bytes]]:
    """``n`` units over random devices and directions at non-decreasing host times."""
    out, t = [], T0
    for _ in range(n):
        if rng.random() >= tie_prob:
            t += rng.random() * max_gap_s
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        out.append((rng.choice(keys), rng.choice(("rx", "tx")), t, data))
    return out


def write(path, units, params=None, **kw) -> None:
    with RecordingWriter(path, T0, t0_epoch_ns=EPOCH_NS, params=params, **kw) as w:
        for key, d, t, data in units:
            w.unit(key, d, t, data)


def per_stream(units) -> dict[tuple[str, str], list[tuple[bytes, bytes]]]:
    out: dict = {}
    for key, d, t, data in units:
        out.setdefault((key, d), []).append((bits(t), data))
    return out


def one_line_error(path, match: str) -> str:
    with pytest.raises(RecordingError, match=match) as e:
        open_recording(path)
    msg = str(e.value)
    assert "\n" not in msg and os.path.basename(path) in msg
    return msg


# ---------------------------------------------------------------------- round trip
def test_round_trip_is_exact(tmp_path):
    rng = random.Random(1)
    units = random_units(rng, 3000)
    path = tmp_path / "run.mcap"
    write(path, units, session={"athlete": "A. Runner", "shoe": "trail 2"})
    r = open_recording(path)
    assert not r.truncated and r.note == ""
    assert r.session["athlete"] == "A. Runner" and r.session["format"] == "stridecore-session"
    assert r.session["format_version"] == "1" and r.session["protocol_major"] == "1"
    assert r.t0_host_s == T0 and r.t0_epoch_ns == EPOCH_NS
    assert sorted(r.devices) == ["a", "b", "c"]
    want = per_stream(units)
    for (key, d), seq in want.items():
        got = [(bits(t), data) for _, _, t, data in r.units(key, d)]
        assert got == seq
    # all streams merged: by host time, each stream still in its own order
    merged = list(r.units(None, None))
    assert [bits(u[2]) for u in merged] == [bits(u[2]) for u in units]  # distinct times
    assert per_stream(merged) == want
    s = r.summary()
    assert s["devices"] == ["a", "b", "c"] and not s["truncated"]
    assert s["per_device"]["a"]["rx_units"] == len(want["a", "rx"])
    assert s["per_device"]["b"]["tx_bytes"] == sum(len(x) for _, x in want["b", "tx"])
    assert s["first_t_host_s"] == units[0][2] and s["last_t_host_s"] == units[-1][2]


def test_merge_with_equal_times_keeps_each_stream_in_order(tmp_path):
    rng = random.Random(2)
    units = random_units(rng, 2000, keys=("a", "b"), tie_prob=0.5)
    path = tmp_path / "ties.mcap"
    write(path, units)
    merged = list(open_recording(path).units(None, None))
    times = [u[2] for u in merged]
    assert times == sorted(times)
    assert per_stream(merged) == per_stream(units)


def test_batches_span_at_most_batch_s_and_hold_many_units(tmp_path):
    """2 devices at 1 kHz in 13-sample frames (77 frames/s each) and a few commands."""
    path = tmp_path / "batch.mcap"
    frame_s = 13 / 1000
    with RecordingWriter(path, T0, t0_epoch_ns=EPOCH_NS) as w:
        for i in range(int(5 / frame_s)):
            t = T0 + i * frame_s
            w.unit("left", "rx", t, bytes(176))
            w.unit("right", "rx", t + 0.0003, bytes(176))
            if i % 40 == 0:
                w.unit("left", "tx", t, b"\x01\x02")
    spans, sizes, seqs = [], [], {}
    with open(path, "rb") as f:
        reader = make_reader(f)
        assert reader.get_summary().chunk_indexes  # a complete file has its summary
        for _, channel, m in reader.iter_messages(topics=["/left/rx", "/right/rx", "/left/tx"]):
            assert channel.message_encoding == "stridecore.wire-units.v1"
            times, pos = [], 0
            while pos < len(m.data):
                t, n = struct.unpack_from("<dI", m.data, pos)
                times.append(t)
                pos += 12 + n
            assert m.log_time == m.publish_time == log_time_ns(times[0], T0, EPOCH_NS)
            spans.append(times[-1] - times[0])
            sizes.append(len(times))
            seqs.setdefault(channel.topic, []).append(m.sequence)
    assert max(spans) < 0.1
    assert sum(sizes) / len(sizes) > 5  # not one unit per message
    for seq in seqs.values():
        assert seq == list(range(1, len(seq) + 1))


def test_log_time_is_wall_clock_ns():
    assert log_time_ns(T0 + 1.5, T0, EPOCH_NS) == EPOCH_NS + 1_500_000_000
    assert log_time_ns(T0 - 10.0, T0, 5) == 0  # clamped


def test_json_topics_metadata_and_foxglove_encodings(tmp_path):
    path = tmp_path / "json.mcap"
    probe = TimeSyncProbe(token=7, t_send_s=T0 + 0.1, t_recv_s=T0 + 0.1042,
                          t_dev_rx_us=123456, t_dev_tx_us=123470)
    with RecordingWriter(path, T0, t0_epoch_ns=EPOCH_NS, session={"notes": "hill"}) as w:
        w.add_device("right_foot", {"firmware": "1.2.3", "odr_hz": 833, "uid": "ab12"})
        w.link_event("right_foot", T0 + 0.05, "connect", mtu=247)
        w.time_sync("right_foot", probe)
        w.config("right_foot", T0 + 0.2, {"odr_hz": 833, "acc_range_g": 16})
        w.unit("right_foot", "rx", T0 + 0.21, b"\x05" * 30)
        w.link_event("right_foot", T0 + 0.3, "gap", samples=13, backlog=True)
        w.json("/events", T0 + 0.4, {"kind": "ic", "foot": "right"})
        w.json("/left_foot/events", T0 + 0.5, {"kind": "ic"})
    r = open_recording(path)
    assert r.devices["right_foot"] == {"firmware": "1.2.3", "odr_hz": "833", "uid": "ab12"}
    assert r.devices["left_foot"] == {}  # used without add_device
    assert r.session["notes"] == "hill"
    assert list(r.link_events("right_foot")) == [
        (T0 + 0.05, {"event": "connect", "mtu": 247}),
        (T0 + 0.3, {"event": "gap", "samples": 13, "backlog": True})]
    assert list(r.time_sync("right_foot")) == [probe]
    assert list(r.configs("right_foot")) == [(T0 + 0.2, {"odr_hz": 833, "acc_range_g": 16})]
    assert list(r.json_messages("/events")) == [
        (None, T0 + 0.4, {"kind": "ic", "foot": "right"}),
        ("left_foot", T0 + 0.5, {"kind": "ic"})]
    session_msgs = list(r.json_messages("session"))
    assert session_msgs[0] == (None, T0, {"session": r.session})
    assert session_msgs[1][2] == {"device": "right_foot", "info": {
        "firmware": "1.2.3", "odr_hz": 833, "uid": "ab12"}}
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        by_topic = {c.topic: c for c in summary.channels.values()}
        link = by_topic["/right_foot/link"]
        assert link.message_encoding == "json"
        schema = summary.schemas[link.schema_id]
        assert schema.encoding == "jsonschema" and json.loads(schema.data) == {"type": "object"}
        names = [m.name for m in reader.iter_metadata()]
        assert names[0] == "session" and "device:right_foot" in names


# ---------------------------------------------------------------------- crash safety
def test_tick_flushes_every_flush_s_and_a_live_file_reads(tmp_path):
    """Read the file while it is being written: everything up to the last flush is there."""
    path = tmp_path / "live.mcap"
    w = RecordingWriter(path, T0, params=RecordingParams(flush_s=1.0))
    written = []
    for i in range(400):  # 4 s at 100 Hz, ticking between units
        t = T0 + i * 0.01
        w.unit("a", "rx", t, i.to_bytes(4, "little"))
        written.append(t)
        w.tick(t + 0.005)
        if i % 50 == 49:
            r = open_recording(path)
            assert r.truncated and "ends early" in r.note
            got = [u[2] for u in r.units("a")]
            assert got == written[:len(got)]
            assert len(got) >= sum(x <= t + 0.005 - 1.0 for x in written)
    # tick alone writes out a waiting batch and flushes once flush_s has passed
    w.unit("b", "rx", T0 + 10.0, b"late")  # > flush_s since the last flush: flushes
    w.unit("b", "rx", T0 + 10.05, b"later")
    assert [u[3] for u in open_recording(path).units("b")] == [b"late"]
    w.tick(T0 + 11.1)
    assert [u[3] for u in open_recording(path).units("b")] == [b"late", b"later"]
    w.close()
    w.close()
    assert not open_recording(path).truncated


class Written:
    """What a test wrote: its units per stream, and per flush the file size and the units
    per stream written before it."""

    def __init__(self, units, flushes: list[tuple[int, int]], header_end: int) -> None:
        self.want = per_stream(units)
        self.flushes = [(size, per_stream(units[:n])) for size, n in flushes]
        self.header_end = header_end


def _cut_and_check(full: bytes, cut: int, path, written: Written, summary: bool = True) -> None:
    path.write_bytes(full[:cut])
    try:
        r = RecordingReader(path)
    except RecordingError as e:
        assert cut < written.header_end, (cut, str(e))
        assert "truncated before its session header" in str(e) or "is empty" in str(e)
        return
    data_end = struct.unpack_from("<Q", full, len(full) - 28)[0]  # footer: summary start
    assert r.truncated == (r.note != "") == (cut < data_end)
    assert not r.truncated or (path.name in r.note and "ends early" in r.note)
    got = per_stream(r.units(None, None))
    for stream, seq in got.items():
        assert seq == written.want[stream][:len(seq)]  # a prefix, bytes and times exact
    must = max(((size, m) for size, m in written.flushes if size <= cut),
               default=(0, {}), key=lambda f: f[0])[1]
    for stream, seq in must.items():
        assert len(got.get(stream, [])) >= len(seq)  # everything flushed before the cut
    if summary:
        assert r.summary()["truncated"] == r.truncated


def _write_with_flushes(path, units, flush_at) -> Written:
    """Write ``units`` flushing after the indices in ``flush_at``."""
    flushes = []
    w = RecordingWriter(path, T0, params=RecordingParams(flush_s=1e9))
    header_end = os.path.getsize(path)
    for i, (key, d, t, data) in enumerate(units):
        w.unit(key, d, t, data)
        if i in flush_at:
            w.flush()
            flushes.append((os.path.getsize(path), i + 1))
    w.close()
    flushes.append((os.path.getsize(path), len(units)))
    return Written(units, flushes, header_end)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), cut_frac=st.floats(0, 1),
       n_flush=st.integers(0, 8))
def test_a_file_cut_at_any_byte_yields_what_was_flushed(tmp_path_factory, seed, n, cut_frac,
                                                          n_flush):
    rng = random.Random(seed)
    units = random_units(rng, n, keys=("a", "b"), max_gap_s=0.03, tie_prob=0.1)
    path = tmp_path_factory.mktemp("cut") / "run.mcap"
    flush_at = set(rng.sample(range(n), min(n, n_flush)))
    written = _write_with_flushes(path, units, flush_at)
    full = path.read_bytes()
    _cut_and_check(full, round(cut_frac * len(full)), path, written)


def test_every_cut_of_a_small_file(tmp_path):
    rng = random.Random(3)
    units = [(key, d, t, bytes([i]) * rng.randint(1, 20)) for i, (key, d, t, _)
             in enumerate(random_units(rng, 16, keys=("a", "b"), max_gap_s=0.1))]
    src = tmp_path / "src.mcap"
    written = _write_with_flushes(src, units, {5, 11})
    full = src.read_bytes()
    data_end = struct.unpack_from("<Q", full, len(full) - 28)[0]
    for cut in [*range(data_end + 64), len(full)]:  # every cut in the data section
        # a new file each time: truncating a file in place is slow on some filesystems
        _cut_and_check(full, cut, tmp_path / f"cut{cut}.mcap", written, summary=False)


# ---------------------------------------------------------------------- errors
def test_errors_are_one_line_and_name_the_file(tmp_path):
    one_line_error(tmp_path / "missing.mcap", "does not exist")
    (tmp_path / "empty.mcap").write_bytes(b"")
    one_line_error(tmp_path / "empty.mcap", "is empty")
    (tmp_path / "text.mcap").write_text("time,acc_x\n0,1\n")
    one_line_error(tmp_path / "text.mcap", "not an MCAP file")
    (tmp_path / "magic.mcap").write_bytes(b"\x89MCA")
    one_line_error(tmp_path / "magic.mcap", "truncated before its session header")
    with open(tmp_path / "header.mcap", "wb") as f:
        Writer(f).start()
    one_line_error(tmp_path / "header.mcap", "truncated before its session header")


def _foreign(path, metadata: dict | None) -> None:
    with open(path, "wb") as f:
        w = Writer(f)
        w.start()
        if metadata is not None:
            w.add_metadata("session", metadata)
        sid = w.register_schema("x", "jsonschema", b"{}")
        cid = w.register_channel("/x", "json", sid)
        w.add_message(cid, log_time=1, data=b"{}", publish_time=1)
        w.finish()


def test_other_mcap_files_and_newer_versions_are_refused(tmp_path):
    ok = {"format": "stridecore-session", "format_version": "1", "protocol_major": "1",
          "t0_host_s": "0.0", "t0_epoch_ns": "0"}
    cases = [
        (None, "is an MCAP file but not a stridecore session"),
        ({"format": "rosbag"}, "not a stridecore session"),
        ({**ok, "format_version": "2"},
         r"written by a newer stridecore \(format 2\); this version reads up to 1"),
        ({**ok, "protocol_major": "2"}, "wire protocol '2'"),
    ]
    for i, (meta, match) in enumerate(cases):
        path = tmp_path / f"f{i}.mcap"
        _foreign(path, meta)
        one_line_error(path, match)
    path = tmp_path / "ok.mcap"
    _foreign(path, ok)
    assert list(open_recording(path).units()) == []


def test_writer_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        RecordingWriter(tmp_path / "r.mcap", T0, session={"format": "x"})
    with pytest.raises(ValueError, match="strings"):
        RecordingWriter(tmp_path / "r.mcap", T0, session={"age": 30})
    with pytest.raises(ValueError, match="batch_s"):
        RecordingParams(batch_s=0.5)
    path = tmp_path / "w.mcap"
    with RecordingWriter(path, T0, params=RecordingParams(fsync=True)) as w:
        with pytest.raises(ValueError, match="empty"):
            w.unit("a", "rx", T0, b"")
        with pytest.raises(ValueError, match="direction"):
            w.unit("a", "up", T0, b"x")
        with pytest.raises(ValueError, match="device key"):
            w.unit("a/b", "rx", T0, b"x")
        with pytest.raises(ValueError, match="finite"):
            w.unit("a", "rx", float("nan"), b"x")
        with pytest.raises(ValueError, match="topic"):
            w.json("/a/rx", T0, {})
        with pytest.raises(ValueError, match="t_host_s"):
            w.json("/events", T0, {"t_host_s": 1.0})
    with pytest.raises(ValueError, match="closed"):
        w.unit("a", "rx", T0, b"x")
    with pytest.raises(FileExistsError):
        RecordingWriter(path, T0)
