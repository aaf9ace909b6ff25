"""CRC-16/CCITT-FALSE and COBS, against other people's vectors and a plain reference."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.cobs import (
    CobsError,
    cobs_decode,
    cobs_decode_many,
    cobs_encode,
    cobs_max_encoded_len,
)
from firmware_protocol.crc import CHECK_VALUE, crc16

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"


def _vectors(name: str) -> dict:
    path = VECTORS / name
    if not path.is_file():
        pytest.skip(f"{path} not present (shared test vectors live outside the repo)")
    return json.loads(path.read_text())


def crc_reference(data: bytes) -> int:
    """Bitwise CRC-16/CCITT-FALSE straight from its definition."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def test_crc_check_value():
    assert crc16(b"123456789") == CHECK_VALUE == 0x29B1


def test_crc_check_value_from_shared_vectors():
    vec = _vectors("crc.json")["vectors"][0]
    assert "CCITT-FALSE" in vec["algo"]
    assert crc16(vec["input_ascii"].encode()) == int(vec["check"], 16)


@given(st.binary(max_size=300))
def test_crc_matches_bitwise_definition(data):
    assert crc16(data) == crc_reference(data)


def test_cobs_shared_vectors():
    d = _vectors("cobs.json")
    for v in d["vectors"]:
        dec, enc = bytes.fromhex(v["decoded"]), bytes.fromhex(v["encoded"])
        assert cobs_encode(dec) == enc
        assert cobs_decode(enc) == dec
    for bad in d["decode_must_fail"]:
        with pytest.raises(CobsError):
            cobs_decode(bytes.fromhex(bad))


@pytest.mark.parametrize("n", [253, 254, 255, 507, 508, 509])
def test_cobs_long_runs(n):
    data = bytes((i % 255) + 1 for i in range(n))
    for payload in (data, data + b"\x00", b"\x00" + data, data[:100] + b"\x00" + data):
        enc = cobs_encode(payload)
        assert b"\x00" not in enc
        assert len(enc) <= cobs_max_encoded_len(len(payload))
        assert cobs_decode(enc) == payload


def _many(blocks: list[bytes]):
    buf = b"".join(b + b"\x00" for b in blocks)
    arr = np.frombuffer(buf, np.uint8)
    ends = np.flatnonzero(arr == 0)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    return cobs_decode_many(arr, starts, ends)


@given(st.lists(st.binary(max_size=600), min_size=1, max_size=12))
def test_cobs_round_trip_and_vectorised_decode(payloads):
    encs = [cobs_encode(p) for p in payloads]
    for p, e in zip(payloads, encs, strict=True):
        assert b"\x00" not in e
        assert cobs_decode(e) == p
    out, starts, lens, ok = _many(encs)
    assert ok.all()
    got = [bytes(out[s : s + n]) for s, n in zip(starts, lens, strict=True)]
    assert got == payloads


@given(st.lists(st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\x00", b"\x07")),
                min_size=1, max_size=10))
def test_vectorised_decode_agrees_with_scalar_on_arbitrary_blocks(blocks):
    """Arbitrary zero-free blocks, valid COBS or not: the batch decoder says the same."""
    out, starts, lens, ok = _many(blocks)
    for k, b in enumerate(blocks):
        try:
            want = cobs_decode(b)
        except CobsError:
            assert not ok[k]
            assert lens[k] == 0
        else:
            assert ok[k]
            assert bytes(out[starts[k] : starts[k] + lens[k]]) == want
