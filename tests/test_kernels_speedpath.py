"""The fast paths of :mod:`firmware_protocol.kernels` (sliced CRC, COBS decode without per-run
copies) give exactly the results of their references: the numpy COBS decoder
:func:`firmware_protocol.cobs.cobs_decode_many` plus :func:`binascii.crc_hqx`, and for other CRC
tables the byte-at-a-time CRC loop."""

from __future__ import annotations

from binascii import crc_hqx

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocol import cobs_encode, encode_imu6
from firmware_protocol import kernels as k
from firmware_protocol.cobs import cobs_decode_many

MAX_ENCODED = 3093  # what the stream decoder passes (cobs_max_encoded_len(MAX_FRAME_LEN))


@pytest.fixture(scope="module", autouse=True)
def warm_kernels():
    """Compile (or load) the kernels once, outside hypothesis' timing."""
    buf = np.frombuffer(b"\x03ab\x01\x00", np.uint8)
    out = np.empty(buf.size, np.uint8)
    a, b, c = np.empty(1, np.int64), np.empty(1, np.int64), np.empty(1, np.uint8)
    k.cobs_frames(buf, MAX_ENCODED, k.CRC_TABLE, out, a, b, c, np.empty(1, np.int64))
    k.crc_ok_many(buf, np.zeros(1, np.int64), np.full(1, 4, np.int64), k.CRC_TABLE)
    k.crc16_at(buf, 0, 3, k.CRC_TABLE)


# ----------------------------------------------------------------------------- references
def crc_bytewise(data: bytes, table: np.ndarray) -> int:
    """CRC-16 with init 0xFFFF, MSB first, by the byte ``table`` (the kernels' old loop)."""
    crc = 0xFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ int(table[(crc >> 8) ^ b])
    return crc


def table_of(poly: int) -> np.ndarray:
    tab = np.zeros(256, np.int64)
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ poly) if c & 0x8000 else (c << 1)
        tab[b] = c & 0xFFFF
    return tab


def reference_frames(buf: np.ndarray, max_encoded: int, table: np.ndarray | None = None):
    """What cobs_frames must return, from cobs_decode_many and crc_hqx (or the byte loop for
    another table): (status, o_start, o_len) per non-empty block and the decoded bytes."""
    zeros = np.flatnonzero(buf == 0)
    bounds = np.r_[-1, zeros]
    starts, ends = bounds[:-1] + 1, bounds[1:]
    if buf.size and buf[-1] != 0:  # a tail without a delimiter counts as a block
        starts, ends = np.r_[starts, bounds[-1] + 1], np.r_[ends, buf.size]
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    dec, d_start, d_len, d_ok = cobs_decode_many(buf, starts, ends)
    status, o_start, o_len, out = [], [], [], bytearray()
    for s, e, ds, dl, ok in zip(starts, ends, d_start, d_len, d_ok, strict=True):
        o_start.append(len(out))
        if e - s > max_encoded:
            status.append(k.OVERSIZE)
            o_len.append(0)
            continue
        if not ok:
            status.append(k.BAD_COBS)
            o_len.append(0)
            continue
        frame = bytes(dec[ds : ds + dl])
        o_len.append(len(frame))
        out += frame
        if len(frame) < 6:
            status.append(k.TRUNCATED)
        else:
            crc = (crc_hqx(frame[:-2], 0xFFFF) if table is None
                   else crc_bytewise(frame[:-2], table))
            good = crc == int.from_bytes(frame[-2:], "little")
            status.append(k.OK if good else k.BAD_CRC)
    return status, o_start, o_len, bytes(out)


def run_kernel(buf: np.ndarray, max_encoded: int = MAX_ENCODED, table=None):
    nmax = int(np.count_nonzero(buf == 0)) + 1
    out = np.full(buf.size, 0xAA, np.uint8)
    o_start, o_len = np.full(nmax, -1, np.int64), np.full(nmax, -1, np.int64)
    status = np.full(nmax, 99, np.uint8)
    enc_end = np.full(nmax, -1, np.int64)
    nb = k.cobs_frames(buf, max_encoded, k.CRC_TABLE if table is None else table, out,
                       o_start, o_len, status, enc_end)
    # each block ends just past its delimiter (a tail without one: at the end of buf)
    zeros = np.flatnonzero(buf == 0)
    blocks = [z for z in zeros if z > 0 and buf[z - 1] != 0]
    if buf.size and buf[-1] != 0:
        blocks.append(buf.size - 1)
    assert enc_end[:nb].tolist() == [min(z + 1, buf.size) for z in blocks]
    return nb, out, o_start[:nb], o_len[:nb], status[:nb]


def assert_matches_reference(buf: np.ndarray, max_encoded: int = MAX_ENCODED, table=None):
    nb, out, o_start, o_len, status = run_kernel(buf, max_encoded, table)
    r_status, r_start, r_len, r_out = reference_frames(buf, max_encoded, table)
    assert nb == len(r_status)
    assert status.tolist() == r_status
    assert o_start.tolist() == r_start
    assert o_len.tolist() == r_len
    assert bytes(out[: len(r_out)]) == r_out
    return status


# ----------------------------------------------------------------------------- strategies
# payload pieces: random bytes, runs of 0x00 / 0xFF / other bytes (254-byte runs are the COBS
# edge case: a 0xFF code with no zero after it)
run_lengths = st.one_of(st.integers(1, 20), st.integers(250, 260), st.integers(505, 512))
pieces = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda n, b: bytes([b]) * n, run_lengths, st.sampled_from([0x00, 0xFF, 0x01, 0x7E])),
)
payloads = st.lists(pieces, max_size=5).map(b"".join)


def with_crc(payload: bytes) -> bytes:
    return payload + crc_hqx(payload, 0xFFFF).to_bytes(2, "little")


@st.composite
def corrupted_streams(draw):
    """COBS blocks of CRC'd payloads, each damaged (or not) in one of several ways."""
    parts = []
    for p in draw(st.lists(payloads, min_size=1, max_size=6)):
        blk = bytearray(cobs_encode(with_crc(p)))
        how = draw(st.sampled_from(["none", "none", "byte", "zero", "truncate", "no_delim",
                                    "empty_blocks", "garbage"]))
        if how == "byte":
            blk[draw(st.integers(0, len(blk) - 1))] = draw(st.integers(1, 255))
        elif how == "zero":  # splits the block
            blk[draw(st.integers(0, len(blk) - 1))] = 0
        elif how == "truncate":
            del blk[draw(st.integers(0, len(blk) - 1)) :]
        elif how == "garbage":
            blk = bytearray(draw(st.binary(max_size=300)))
        parts.append(bytes(blk))
        if how == "empty_blocks":
            parts.append(b"\x00" * draw(st.integers(1, 3)))
        if how != "no_delim":
            parts.append(b"\x00")
    return b"\x00" * draw(st.integers(0, 2)) + b"".join(parts) + b"\x00"


# ----------------------------------------------------------------------------- tests
def test_realistic_imu_stream_decodes_to_its_frames():
    rng = np.random.default_rng(3)
    frames = []
    for j in range(200):
        n = int(rng.integers(1, 30))
        raw = rng.normal(0, [2000, 500, 2048, 60, 90, 25], (n, 6)).astype(np.int16)
        frames.append(encode_imu6(j, 1_000_000 + 1200 * j, 13 * j, 1, raw))
    buf = np.frombuffer(b"".join(cobs_encode(f) + b"\x00" for f in frames), np.uint8)
    nb, out, o_start, o_len, status = run_kernel(buf)
    assert nb == len(frames) and (status == k.OK).all()
    assert [bytes(out[s : s + n]) for s, n in zip(o_start, o_len, strict=True)] == frames
    assert_matches_reference(buf)


@pytest.mark.parametrize("n", [1, 2, 252, 253, 254, 255, 256, 507, 508, 509, 3000])
@pytest.mark.parametrize("byte", [0x00, 0xFF, 0x42])
def test_runs_around_the_254_byte_cobs_edge(n, byte):
    for payload in (bytes([byte]) * n, b"\x07" + bytes([byte]) * n + b"\x00\x09"):
        buf = np.frombuffer(cobs_encode(with_crc(payload)) + b"\x00", np.uint8)
        status = assert_matches_reference(buf)
        assert status.tolist() == [k.OK if len(payload) >= 4 else k.TRUNCATED]


@given(st.lists(payloads, min_size=1, max_size=8))
def test_valid_frames_agree_with_the_references(frames):
    buf = np.frombuffer(b"".join(cobs_encode(with_crc(p)) + b"\x00" for p in frames), np.uint8)
    status = assert_matches_reference(buf)
    assert status.tolist() == [k.OK if len(p) >= 4 else k.TRUNCATED for p in frames]


@given(corrupted_streams(), st.sampled_from([MAX_ENCODED, 300, 255, 254, 40, 5, 1, 0, -1]))
@settings(max_examples=300)
def test_corrupted_streams_agree_with_the_references(data, max_encoded):
    assert_matches_reference(np.frombuffer(data, np.uint8), max_encoded)


@given(corrupted_streams())
def test_a_tail_without_delimiter_is_a_block(data):
    tail = np.frombuffer(data.rstrip(b"\x00") + b"\x05abcd", np.uint8)
    assert_matches_reference(tail)
    nb, out, o_start, o_len, status = run_kernel(tail)
    nb2, out2, o_start2, o_len2, status2 = run_kernel(np.r_[tail, np.uint8(0)])
    assert nb == nb2
    assert (o_start == o_start2).all() and (o_len == o_len2).all()
    assert (status == status2).all()
    used = int(o_start[-1] + o_len[-1])
    assert (out[:used] == out2[:used]).all()


@given(corrupted_streams(), st.sampled_from([0x8005, 0x1021 ^ 0x0100, "random"]))
@settings(max_examples=40)
def test_another_crc_table_uses_the_byte_loop(data, poly):
    table = (np.random.default_rng(len(data)).integers(0, 1 << 16, 256)
             if poly == "random" else table_of(poly))
    buf = np.frombuffer(data, np.uint8)
    assert_matches_reference(buf, MAX_ENCODED, table)
    s = 1 if buf.size > 1 else 0
    assert k.crc16_at(buf, s, buf.size - s, table) == crc_bytewise(bytes(buf[s:]), table)


def test_only_the_byte_table_selects_the_sliced_crc():
    assert k._is_crc_table(k.CRC_TABLE)
    assert k._is_crc_table(k.CRC_TABLE.astype(np.uint16))
    other = k.CRC_TABLE.copy()
    other[200] ^= 1
    assert not k._is_crc_table(other)
    assert not k._is_crc_table(k.CRC_TABLE[:128])
    assert (k.CRC_SLICES[0] == k.CRC_TABLE).all()


@given(st.binary(max_size=600), st.data())
def test_crc16_at_agrees_with_crc_hqx(data, d):
    buf = np.frombuffer(data, np.uint8)
    start = d.draw(st.integers(0, len(data)))
    n = d.draw(st.integers(0, len(data) - start))
    assert k.crc16_at(buf, start, n, k.CRC_TABLE) == crc_hqx(data[start : start + n], 0xFFFF)


def test_crc16_at_every_length_and_alignment():
    data = np.random.default_rng(0).integers(0, 256, 200).astype(np.uint8)
    raw = data.tobytes()
    for start in range(17):
        for n in range(0, 70):
            assert k.crc16_at(data, start, n, k.CRC_TABLE) == crc_hqx(raw[start : start + n],
                                                                      0xFFFF)
    assert k.crc16_at(data, 0, 0, k.CRC_TABLE) == 0xFFFF
    assert k.crc16_at(np.frombuffer(b"123456789", np.uint8), 0, 9, k.CRC_TABLE) == 0x29B1


def test_crc16_at_out_of_range_is_the_byte_loop():
    """Ranges outside the buffer (negative start) keep the old loop's wrap-around indexing."""
    data = np.arange(50, dtype=np.uint8)
    for start, n in ((-5, 3), (-5, 10), (-50, 50), (3, -2)):
        idx = [i % 50 for i in range(start, start + n)]
        assert k.crc16_at(data, start, n, k.CRC_TABLE) == crc_bytewise(bytes(data[idx]),
                                                                       k.CRC_TABLE)


@given(st.lists(st.tuples(payloads, st.integers(-1, 600), st.integers(0, 255)), min_size=1,
                max_size=12))
def test_crc_ok_many_agrees_with_crc_hqx(packets):
    """Packets with a CRC, some with one byte changed (position -1: intact)."""
    pk = []
    for payload, where, value in packets:
        p = bytearray(with_crc(payload))
        if 0 <= where < len(p):
            p[where] = value
        pk.append(bytes(p))
    lens = np.array([len(p) for p in pk], np.int64)
    starts = np.zeros(lens.size, np.int64)
    starts[1:] = np.cumsum(lens[:-1])
    buf = np.frombuffer(b"".join(pk), np.uint8)
    expect = [crc_hqx(p[:-2], 0xFFFF) == int.from_bytes(p[-2:], "little") for p in pk]
    assert k.crc_ok_many(buf, starts, lens, k.CRC_TABLE).tolist() == expect
    table = table_of(0x8005)
    expect = [crc_bytewise(p[:-2], table) == int.from_bytes(p[-2:], "little") for p in pk]
    assert k.crc_ok_many(buf, starts, lens, table).tolist() == expect
