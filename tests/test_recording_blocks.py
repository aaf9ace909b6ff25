"""Wire units in bulk (``RecordingReader.unit_blocks``): the very units of ``units()``, per
message and in file order, on whole, cut and damaged files; and ``units()`` still merging as
it always did."""

import heapq
import random
import struct
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcap.writer import CompressionType, Writer

from stridecore.recording import (
    RecordingError,
    RecordingParams,
    RecordingReader,
    RecordingWriter,
    UnitBlock,
    UnitRun,
    open_recording,
    reader,
)
from stridecore.recording.format import UNIT_HEADER, WIRE_ENCODING, iter_units, split_topic

T0 = 7000.25  # host clock at session start (s)
SESSION = {"format": "stridecore-session", "format_version": "1", "protocol_major": "1",
           "t0_host_s": repr(T0), "t0_epoch_ns": "1750000000000000000", "batch_s": "0.1"}


def bits(t: float) -> bytes:
    return struct.pack("<d", t)


def random_units(rng: random.Random, n: int, keys=("a", "b"), max_gap_s=0.02,
                 tie_prob=0.0, back_prob=0.0, max_len=300) -> list[tuple[str, str, float, bytes]]:
    """``n`` units over random devices and directions; host times go up by random gaps, stay
    put with ``tie_prob`` and jump back by up to 3 s with ``back_prob``."""
    out, t = [], T0
    for _ in range(n):
        r = rng.random()
        if r < back_prob:
            t -= rng.random() * 3.0
        elif r >= back_prob + tie_prob:
            t += rng.random() * max_gap_s
        data = rng.randbytes(rng.randint(1, max_len))
        out.append((rng.choice(keys), rng.choice(("rx", "tx")), t, data))
    return out


def write(path, units, params=None, flush_at=()) -> list[int]:
    """Write ``units`` (flushing after the indices in ``flush_at``); the file size after
    each flush."""
    sizes = []
    with RecordingWriter(path, T0, params=params) as w:
        for i, (key, d, t, data) in enumerate(units):
            w.unit(key, d, t, data)
            if i in flush_at:
                w.flush()
                sizes.append(path.stat().st_size)
    return sizes


def streams(r: RecordingReader) -> list[tuple[str, str]]:
    return [(k, d) for k in r.devices for d in ("rx", "tx")]


def from_blocks(blocks) -> dict[tuple[str, str], list[tuple[bytes, bytes]]]:
    """Per stream, ``(time bits, unit bytes)`` of each unit of ``blocks`` in order."""
    out: dict = {}
    for b in blocks:
        assert isinstance(b, UnitBlock) and type(b.data) is bytes
        assert b.t_host_s.dtype == np.float64 and b.ends.dtype == np.int64
        assert b.t_host_s.shape == b.ends.shape and b.t_host_s.ndim == 1
        assert len(b.ends) == 0 or b.ends[-1] == len(b.data)
        assert np.all(np.diff(b.ends, prepend=0) >= 0)
        assert not b.t_host_s.flags.writeable and not b.ends.flags.writeable
        seq = out.setdefault((b.key, b.direction), [])
        start = 0
        for t, end in zip(b.t_host_s.tolist(), b.ends.tolist(), strict=True):
            seq.append((bits(t), b.data[start:end]))
            start = end
    return out


def per_stream(units) -> dict[tuple[str, str], list[tuple[bytes, bytes]]]:
    out: dict = {}
    for key, d, t, data in units:
        assert type(data) is bytes and type(t) is float
        out.setdefault((key, d), []).append((bits(t), data))
    return out


def wire_messages(r: RecordingReader) -> list[tuple[str, str, bytes]]:
    """``(key, direction, data)`` of every wire-units message, in file order."""
    out = []
    for channel, message in r._messages():
        parts = split_topic(channel.topic)
        if parts is not None and parts[0] is not None and parts[1] in ("rx", "tx"):
            out.append((parts[0], parts[1], message.data))
    return out


def reference_merge(r: RecordingReader, topics: set[tuple[str, str]]):
    """The merge ``units()`` did before the bulk reader (heap of queue heads, written out
    when older than the newest first-unit time minus batch_s + 1 s), from the messages."""
    margin = float(r.session.get("batch_s", "0.1")) + 1.0
    queues: dict = {}
    heads: list = []
    seq, newest = 0, float("-inf")
    out = []

    def pop():
        t, _, topic = heapq.heappop(heads)
        queue = queues[topic]
        queue.popleft()
        if queue:
            heapq.heappush(heads, (queue[0][0], queue[0][1], topic))
        out.append((*topic, t, data_of[topic].popleft()))

    data_of: dict = {}
    for key, d, data in wire_messages(r):
        if (key, d) not in topics:
            continue
        queue = queues.setdefault((key, d), deque())
        dq = data_of.setdefault((key, d), deque())
        was_empty = not queue
        for t, unit in iter_units(data):
            queue.append((t, seq))
            dq.append(unit)
            seq += 1
        if was_empty and queue:
            heapq.heappush(heads, (queue[0][0], queue[0][1], (key, d)))
        newest = max(newest, UNIT_HEADER.unpack_from(data)[0])
        while heads and heads[0][0] <= newest - margin:
            pop()
    while heads:
        pop()
    return out


def same_units(got, want) -> bool:
    return len(got) == len(want) and all(
        g[:2] == w[:2] and bits(g[2]) == bits(w[2]) and g[3] == w[3]
        for g, w in zip(got, want, strict=True))


def check_blocks(r: RecordingReader) -> None:
    """Blocks against ``units()``, per stream and all at once, and their order."""
    everything = list(r.unit_blocks())
    assert [b.order for b in everything] == sorted({b.order for b in everything})
    assert from_blocks(everything) == {s: seq for s, seq in
                                       per_stream(r.units(None, None)).items()}
    for key, d in streams(r):
        blocks = list(r.unit_blocks(key, d))
        assert [b.order for b in blocks] == [b.order for b in everything
                                             if (b.key, b.direction) == (key, d)]
        assert from_blocks(blocks).get((key, d), []) == per_stream(r.units(key, d)).get(
            (key, d), [])
    for key in r.devices:
        assert from_blocks(r.unit_blocks(key)) == per_stream(r.units(key, None))
        assert from_blocks(r.unit_blocks(key, "tx")) == per_stream(r.units(key, "tx"))
    assert from_blocks(r.unit_blocks(None, "rx")) == per_stream(r.units(None, "rx"))
    check_runs(r, everything)


def with_order(blocks_or_runs) -> dict:
    """Per stream, ``(time bits, unit bytes, message order)`` of each unit in order."""
    out: dict = {}
    for b in blocks_or_runs:
        order = [b.order] * len(b.ends) if isinstance(b, UnitBlock) else b.order.tolist()
        seq = out.setdefault((b.key, b.direction), [])
        for t, a, z, o in zip(b.t_host_s.tolist(), [0, *b.ends.tolist()], b.ends.tolist(),
                              order, strict=False):
            seq.append((bits(t), b.data[a:z], o))
    return out


def check_runs(r: RecordingReader, blocks: list[UnitBlock]) -> None:
    """``unit_runs`` joins blocks: the same units per stream with their message's order;
    ``newest_first_s`` is the latest first-unit time of the messages joined."""
    runs = list(r.unit_runs())
    assert with_order(runs) == with_order(blocks)
    first_of = {b.order: float(b.t_host_s[0]) for b in blocks if len(b.ends)}
    for run in runs:
        assert isinstance(run, UnitRun) and type(run.data) is bytes
        assert len(run.ends) and run.ends[-1] == len(run.data)
        assert run.t_host_s.shape == run.ends.shape == run.order.shape
        assert run.newest_first_s == max(first_of[o] for o in set(run.order.tolist()))
    for key, d in streams(r):
        assert with_order(r.unit_runs(key, d)) == with_order(
            [b for b in blocks if (b.key, b.direction) == (key, d)])


# ---------------------------------------------------------------------- whole files
def test_blocks_are_the_units_of_each_message(tmp_path):
    rng = random.Random(5)
    units = random_units(rng, 3000, keys=("a", "b", "c"), max_gap_s=0.004, tie_prob=0.2)
    path = tmp_path / "run.mcap"
    write(path, units)
    r = open_recording(path)
    check_blocks(r)
    assert from_blocks(r.unit_blocks()) == per_stream(units)  # exactly as written
    # one block per wire message, in file order, numbered over all of them
    messages = wire_messages(r)
    blocks = list(r.unit_blocks())
    assert [b.order for b in blocks] == list(range(len(messages)))
    for b, (key, d, data) in zip(blocks, messages, strict=True):
        assert (b.key, b.direction) == (key, d)
        assert [(bits(t), u) for t, u in iter_units(data)] == from_blocks([b])[key, d]
    assert sum(len(b.ends) > 2 for b in blocks) > len(blocks) // 2  # many units per message
    # a sort by (host time, message order, place in the message) is the merge of units()
    merged = sorted((t, b.order, i, b.key, b.direction, b.data[s:e])
                    for b in blocks for i, (t, s, e) in enumerate(zip(
                        b.t_host_s.tolist(), [0, *b.ends.tolist()], b.ends.tolist(),
                        strict=False)))
    assert same_units([(k, d, t, u) for t, _, _, k, d, u in merged], list(r.units(None, None)))


def test_units_merge_as_before_even_with_times_out_of_order(tmp_path):
    rng = random.Random(11)
    units = random_units(rng, 4000, keys=("a", "b", "c"), tie_prob=0.3, back_prob=0.01,
                         max_len=40)
    path = tmp_path / "run.mcap"
    write(path, units, params=RecordingParams(chunk_size_bytes=4096))
    r = open_recording(path)
    for key, d in [(None, None), (None, "rx"), (None, "tx"), ("a", None), ("c", None)]:
        topics = {(k, dd) for k, dd in streams(r) if key in (None, k) and d in (None, dd)}
        assert same_units(list(r.units(key, d)), reference_merge(r, topics))
    check_blocks(r)


def test_units_handed_over_late(tmp_path):
    """Units handed to the writer up to batch_s + 1 s late still merge in host time order;
    later ones come where the merge of before put them."""
    path = tmp_path / "late.mcap"
    units = []
    with RecordingWriter(path, T0) as w:
        for i in range(600):
            t = T0 + i * 0.01
            units.append(("a", "rx", t, b"a%d" % i))
            if i % 100 == 99:
                for key, late in (("b", 0.3), ("d", 0.7), ("e", 0.95), ("f", 1.05)):
                    units.append((key, "rx", t - late, b"%s%d" % (key.encode(), i)))
                units.append(("c", "tx", t - 2.5, b"c%d" % i))
            for unit in units[-1 if i % 100 != 99 else -6:]:
                w.unit(*unit)
    r = open_recording(path)
    got = list(r.units(None, None))
    assert same_units(got, reference_merge(r, set(streams(r))))
    in_time = [(t, u) for k, _, t, u in got if k != "c"]
    assert [t for t, _ in in_time] == sorted(t for t, _ in in_time)  # late ones within 1.1 s
    assert per_stream(got) == per_stream(units)
    check_blocks(r)


@pytest.mark.parametrize("arena,window", [((1, 1, 1), 16), ((2, 40, 300), 1000),
                                          ((5, 7, 5000), 1 << 22)])
def test_small_arenas_and_windows(tmp_path, monkeypatch, arena, window):
    """Arenas filling up and file windows ending mid-record change nothing."""
    rng = random.Random(sum(arena))
    units = random_units(rng, 1500, keys=("a", "b", "c"), max_gap_s=0.004, tie_prob=0.2)
    path = tmp_path / "run.mcap"
    write(path, units, params=RecordingParams(chunk_size_bytes=3000))
    r = open_recording(path)
    want_messages = [(c.topic, m.sequence, m.data) for c, m in r._messages()]
    want_units = list(r.units(None, None))
    monkeypatch.setattr(reader, "_ARENA_MESSAGES", arena[0])
    monkeypatch.setattr(reader, "_ARENA_UNITS", arena[1])
    monkeypatch.setattr(reader, "_ARENA_BYTES", arena[2])
    monkeypatch.setattr(reader, "_WINDOW", window)
    assert [(c.topic, m.sequence, m.data) for c, m in r._messages()] == want_messages
    assert same_units(list(r.units(None, None)), want_units)
    assert from_blocks(r.unit_blocks()) == per_stream(units)
    check_blocks(r)
    blocks = list(r.unit_blocks())
    assert [b.order for b in blocks] == list(range(len(blocks)))


def test_read_twice_and_interleaved(tmp_path):
    rng = random.Random(2)
    path = tmp_path / "run.mcap"
    write(path, random_units(rng, 500))
    r = open_recording(path)
    first = list(r.unit_blocks())
    a, b = r.unit_blocks(), r.unit_blocks()
    pairs = list(zip(a, b, strict=True))
    assert all(x.order == y.order and x.data == y.data for x, y in pairs)
    assert from_blocks(first) == from_blocks(r.unit_blocks())
    assert list(r.unit_blocks("nobody")) == [] and list(r.units("nobody", None)) == []
    with pytest.raises(ValueError, match="direction"):
        list(r.unit_blocks("a", "up"))


# ---------------------------------------------------------------------- hand-made files
def unit_records(units: list[tuple[float, bytes]]) -> bytes:
    return b"".join(UNIT_HEADER.pack(t, len(u)) + u for t, u in units)


def raw_session(path, messages, compression=CompressionType.ZSTD, chunked=True,
                chunk_size=1 << 20) -> None:
    """A session written with the MCAP writer itself: ``(key, direction, data)`` messages
    (data as given, so units may be empty and messages damaged) and a JSON message."""
    with open(path, "wb") as f:
        w = Writer(f, compression=compression, use_chunking=chunked, chunk_size=chunk_size)
        w.start()
        w.add_metadata("session", SESSION)
        sid = w.register_schema("stridecore.WireUnits", "", b"")
        jid = w.register_schema("stridecore.events", "jsonschema", b"{}")
        channels: dict = {}
        events = w.register_channel("/events", "json", jid)
        for i, (key, d, data) in enumerate(messages):
            if (key, d) not in channels:
                w.add_metadata(f"device:{key}", {})
                channels[key, d] = w.register_channel(f"/{key}/{d}", WIRE_ENCODING, sid)
            w.add_message(channels[key, d], log_time=i, publish_time=i, data=data, sequence=i)
            if i % 3 == 0:
                w.add_message(events, log_time=i, publish_time=i, sequence=i,
                              data=b'{"t_host_s":%d.5}' % i)
        w.finish()


@pytest.mark.parametrize("compression,chunked", [
    (CompressionType.ZSTD, True), (CompressionType.LZ4, True), (CompressionType.NONE, True),
    (CompressionType.NONE, False)])
def test_empty_units_and_messages_and_every_chunk_kind(tmp_path, compression, chunked):
    messages = [
        ("a", "rx", unit_records([(T0, b""), (T0 + 0.01, b"xy"), (T0 + 0.01, b"")])),
        ("b", "tx", unit_records([(T0 + 0.005, b"")])),
        ("a", "rx", b""),  # a message without units
        ("a", "tx", unit_records([(T0 + 0.02, b"z" * 70000)])),
        ("b", "rx", unit_records([(T0 + 0.03, bytes([i])) for i in range(200)])),
    ]
    path = tmp_path / "raw.mcap"
    raw_session(path, messages, compression, chunked, chunk_size=256)
    r = open_recording(path)
    blocks = list(r.unit_blocks())
    assert [b.order for b in blocks] == [0, 1, 2, 3, 4]
    assert [len(b.ends) for b in blocks] == [3, 1, 0, 1, 200]
    assert blocks[0].ends.tolist() == [0, 2, 2] and blocks[0].data == b"xy"
    assert blocks[1].data == b"" and blocks[1].ends.tolist() == [0]
    assert blocks[2].data == b"" and blocks[2].t_host_s.shape == (0,)
    assert blocks[3].data == b"z" * 70000
    want: dict = {}
    for key, d, data in messages:
        want.setdefault((key, d), []).extend((bits(t), u) for t, u in iter_units(data))
    assert from_blocks(blocks) == want
    for key, d in streams(r):
        assert from_blocks(r.unit_blocks(key, d)).get((key, d), []) == \
            per_stream(r.units(key, d)).get((key, d), [])
    assert [b.order for b in r.unit_blocks("b")] == [1, 4]
    assert r.summary()["per_device"]["a"] == {"rx_units": 3, "rx_bytes": 2, "tx_units": 1,
                                              "tx_bytes": 70000}
    assert [t for _, t, _ in r.json_messages("events")] == [0.5, 3.5]


def test_a_damaged_message_raises_after_what_came_before(tmp_path):
    good = unit_records([(T0 + i * 0.01, b"ok%d" % i) for i in range(5)])
    bad = unit_records([(T0 + 1, b"first"), (T0 + 1.01, b"second")])[:-3]  # ends in a unit
    short = b"\x00" * 7  # not even a unit header
    for i, damaged in enumerate((bad, short)):
        path = tmp_path / f"bad{i}.mcap"
        raw_session(path, [("a", "rx", good), ("b", "rx", good), ("a", "rx", damaged),
                           ("a", "rx", good)])
        r = open_recording(path)
        got = []
        with pytest.raises(RecordingError, match="damaged") as e:
            got.extend(r.unit_blocks())
        assert "\n" not in str(e.value) and path.name in str(e.value)
        assert [b.order for b in got] == [0, 1]
        single: list = []
        with pytest.raises(RecordingError, match="ends inside a unit"):
            single.extend(r.units("a", "rx"))  # the damaged message's whole units too
        assert [u for _, _, _, u in single] == [b"ok%d" % j for j in range(5)] + (
            [b"first"] if damaged is bad else [])
        with pytest.raises(RecordingError, match="ends inside a unit"):
            list(r.units(None, None))
        with pytest.raises(RecordingError):
            r.summary()
        assert list(r.unit_blocks("b")) and len(list(r.units("b"))) == 5  # untouched


def test_a_damaged_chunk_is_a_recording_error(tmp_path):
    rng = random.Random(4)
    path = tmp_path / "run.mcap"
    units = random_units(rng, 400, max_gap_s=0.05)
    write(path, units, params=RecordingParams(compression="none", flush_s=1.0))
    full = bytearray(path.read_bytes())
    r = open_recording(path)
    n_all = sum(len(b.ends) for b in r.unit_blocks())
    at = full.index(units[-1][3][:8])  # inside the data of the last chunk
    full[at] ^= 0xFF
    path.write_bytes(bytes(full))
    r = open_recording(path)
    got: list = []
    with pytest.raises(RecordingError, match=r"damaged at byte \d+: ValueError: CRC"):
        got.extend(r.unit_blocks())
    assert 0 < sum(len(b.ends) for b in got) < n_all
    with pytest.raises(RecordingError, match="CRC"):
        list(r.units(None, None))


# ---------------------------------------------------------------------- cut files
def cut_files(tmp_path, full: bytes, cuts):
    for cut in cuts:
        path = tmp_path / f"cut{cut}.mcap"
        path.write_bytes(full[:cut])
        try:
            r = RecordingReader(path)
        except RecordingError:
            continue
        yield cut, r


def check_cut(r: RecordingReader, want: dict, per_stream_too: bool = True) -> None:
    """A cut file: no error at all, blocks and units the same prefix of what was written."""
    blocks = list(r.unit_blocks())
    got = from_blocks(blocks)
    assert got == per_stream(r.units(None, None))
    for stream, seq in got.items():
        assert seq == want[stream][:len(seq)]  # a prefix, times and bytes exact
        if per_stream_too:
            assert from_blocks(r.unit_blocks(*stream)).get(stream, []) == seq
            assert per_stream(r.units(*stream)).get(stream, []) == seq
    assert [b.order for b in blocks] == list(range(len(blocks)))
    assert r.truncated == (r.note != "")


def test_cut_at_every_byte(tmp_path):
    rng = random.Random(8)
    units = [(k, d, t, bytes([i % 256]) * rng.randint(1, 12)) for i, (k, d, t, _)
             in enumerate(random_units(rng, 24, max_gap_s=0.08, tie_prob=0.2))]
    src = tmp_path / "src.mcap"
    write(src, units, params=RecordingParams(flush_s=1e9), flush_at={7, 15})
    full = src.read_bytes()
    data_end = struct.unpack_from("<Q", full, len(full) - 28)[0]  # footer: summary start
    want = per_stream(units)
    n_read = 0
    for cut, r in cut_files(tmp_path, full, [*range(data_end + 16), len(full)]):
        check_cut(r, want, per_stream_too=cut % 7 == 0)
        n_read += 1
        (tmp_path / f"cut{cut}.mcap").unlink()
    assert n_read > data_end // 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), n_flush=st.integers(0, 6),
       cuts=st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_cut_anywhere(tmp_path_factory, seed, n, n_flush, cuts):
    rng = random.Random(seed)
    units = random_units(rng, n, max_gap_s=0.03, tie_prob=0.1, max_len=60)
    path = tmp_path_factory.mktemp("cut") / "src.mcap"
    flush_at = set(rng.sample(range(n), min(n, n_flush)))
    sizes = write(path, units, params=RecordingParams(flush_s=1e9), flush_at=flush_at)
    full = path.read_bytes()
    want = per_stream(units)
    for cut, r in cut_files(path.parent, full, sorted({round(c * len(full)) for c in cuts})):
        check_cut(r, want)
        flushed = sum(1 for size in sizes if size <= cut)  # units before the last flush
        must = sorted(flush_at)[flushed - 1] + 1 if flushed else 0
        assert sum(len(b.ends) for b in r.unit_blocks()) >= must


# ---------------------------------------------------------------------- random sessions
unit_strategy = st.tuples(
    st.sampled_from(["a", "b", "left_foot"]), st.sampled_from(["rx", "tx"]),
    st.one_of(st.floats(0, 0.2), st.just(0.0), st.floats(-2, 0)),  # step in host time
    st.binary(min_size=1, max_size=80))


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(unit_strategy, max_size=250),
       chunk=st.sampled_from([512, 4096, 1 << 20]),
       compression=st.sampled_from(["zstd", "lz4", "none"]))
def test_random_sessions(tmp_path_factory, steps, chunk, compression):
    t, units = T0, []
    for key, d, step, data in steps:
        t += step
        units.append((key, d, t, data))
    path = tmp_path_factory.mktemp("rand") / "run.mcap"
    write(path, units, params=RecordingParams(chunk_size_bytes=chunk, compression=compression))
    r = open_recording(path)
    assert from_blocks(r.unit_blocks()) == per_stream(units)
    check_blocks(r)
    all_streams = set(streams(r))
    assert same_units(list(r.units(None, None)), reference_merge(r, all_streams))
    s = r.summary()
    for key, d in all_streams:
        seq = per_stream(units).get((key, d), [])
        assert s["per_device"][key][f"{d}_units"] == len(seq)
        assert s["per_device"][key][f"{d}_bytes"] == sum(len(u) for _, u in seq)
