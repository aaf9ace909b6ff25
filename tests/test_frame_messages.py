"""Frame layout, the worked example of protocol-v1.md, and every message body."""

import dataclasses
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol import cobs_encode, decode_frame, encode_frame, encode_imu6
from firmware_protocol.frame import KNOWN_TYPES, MAX_FRAME_LEN, FrameError, FrameType, type_name
from firmware_protocol.messages import (
    COMMAND_BODIES,
    TELEMETRY_BODIES,
    Body,
    Config,
    Empty,
    Info,
    Log,
    PayloadError,
    Reply,
    Status,
    decode_command,
    decode_reply,
    decode_telemetry,
)

WORKED_FRAME = bytes.fromhex(
    "01 10 02 01 40 42 0f 00 00 00 00 00 a0 01 00 00 01 02 00 00 00 00 00 08 00 00 00 00 00 00"
    " 01 00 ff ff 01 08 0a 00 f6 ff 00 00 0c d8")
WORKED_SERIAL = bytes.fromhex(
    "08 01 10 02 01 40 42 0f 01 01 01 01 03 a0 01 01 03 01 02 01 01 01 01 02 08 01 01 01 01 01"
    " 02 01 06 ff ff 01 08 0a 03 f6 ff 01 03 0c d8 00")


def test_worked_example_encodes_exactly():
    raw = np.array([[0, 0, 2048, 0, 0, 0], [1, -1, 2049, 10, -10, 0]])
    frame = encode_imu6(0x0102, 1_000_000, 416, 1, raw)
    assert frame == WORKED_FRAME
    assert len(frame) == 44
    assert frame[-2:] == b"\x0c\xd8"  # CRC 0xD80C little-endian
    assert cobs_encode(frame) + b"\x00" == WORKED_SERIAL


def test_worked_example_decodes():
    f = decode_frame(WORKED_FRAME)
    assert (f.type, f.seq, f.name) == (0x10, 0x0102, "IMU6")
    t_us, idx, cfg, n = struct.unpack_from("<QIBB", f.payload)
    assert (t_us, idx, cfg, n) == (1_000_000, 416, 1, 2)


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda b: b[:5], "truncated"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "bad_crc"),
        (lambda b: encode_frame(0x10, 1, b[4:-2], version=2), "bad_version"),
        (lambda b: encode_frame(0x3F, 1, b[4:-2]), "unknown_type"),
        (lambda b: encode_frame(0x10, 1, b[4:-2] + b"\x00"), "bad_length"),
        (lambda b: encode_frame(0x10, 1, b[4:10]), "truncated"),
        (lambda b: encode_frame(0x10, 1, bytes(14)), "bad_length"),  # n = 0
        (lambda b: b + bytes(MAX_FRAME_LEN), "oversize"),
    ],
)
def test_decode_frame_reports_problem_kind(mutate, kind):
    with pytest.raises(FrameError) as e:
        decode_frame(mutate(WORKED_FRAME))
    assert e.value.kind == kind


def test_type_names():
    assert type_name(0x82) == "GET_CONFIG_REPLY"
    assert type_name(0x20) == "STATUS"
    assert type_name(0x3F) == "0x3f"
    assert 0x89 in KNOWN_TYPES and 0x8A in KNOWN_TYPES and 0x90 not in KNOWN_TYPES
    assert type_name(0x8C) == "0x0c_REPLY"


def _body_strategy(cls):
    if cls is Log:
        return st.builds(Log, st.integers(0, 2**64 - 1), st.integers(0, 255), st.text(max_size=40))
    fmt = cls.FMT.format.lstrip("<")
    strategies = []
    for code in _expand(fmt):
        strategies.append(_strategy_for(code))
    return st.tuples(*strategies).map(lambda args: cls(*args))


def _expand(fmt: str) -> list[str]:
    out, num = [], ""
    for ch in fmt:
        if ch.isdigit():
            num += ch
            continue
        if ch == "s":
            out.append(num + "s")
        else:
            out += [ch] * int(num or 1)
        num = ""
    return out


def _strategy_for(code: str):
    if code.endswith("s"):
        return st.binary(min_size=int(code[:-1]), max_size=int(code[:-1]))
    ranges = {"B": (0, 255), "b": (-128, 127), "H": (0, 65535), "h": (-32768, 32767),
              "I": (0, 2**32 - 1), "i": (-(2**31), 2**31 - 1), "Q": (0, 2**64 - 1)}
    if code == "f":
        return st.floats(width=32, allow_nan=False)
    lo, hi = ranges[code]
    return st.integers(lo, hi)


BODY_CLASSES = sorted({c for pair in COMMAND_BODIES.values() for c in pair}
                      | set(TELEMETRY_BODIES.values()), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", BODY_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_every_body_round_trips_and_ignores_trailing_bytes(cls, data):
    body = data.draw(_body_strategy(cls))
    packed = body.pack()
    assert cls.unpack(packed) == body
    extra = data.draw(st.binary(min_size=1, max_size=8))
    assert cls.unpack(packed + extra) == body or cls is Log  # Log text runs to the end


@pytest.mark.parametrize("cls", [c for c in BODY_CLASSES if c not in (Empty,)],
                         ids=lambda c: c.__name__)
def test_short_body_is_a_payload_error(cls):
    size = cls.FMT.size
    with pytest.raises(PayloadError):
        cls.unpack(bytes(size - 1))


def test_reply_and_command_round_trip():
    cfg = Config(416, 16, 2000, 18, 3, 0.0047884034, 0.0010652645)
    rep = Reply(FrameType.GET_CONFIG, 9, Status.OK, cfg)
    got = decode_reply(FrameType.GET_CONFIG | 0x80, rep.pack())
    assert got.req_id == 9 and got.status == 0
    assert got.body.cfg_id == 3 and got.body.acc_scale_mps2 == pytest.approx(0.0047884034)
    err = decode_reply(FrameType.SET_CONFIG | 0x80, bytes([4, Status.BAD_PARAMETER]))
    assert err.body is None and err.status == Status.BAD_PARAMETER
    cmd = decode_command(FrameType.GET_INFO, bytes([7]))
    assert cmd.req_id == 7 and isinstance(cmd.body, Empty)
    with pytest.raises(PayloadError):
        decode_command(FrameType.TIME_SYNC, bytes([1, 2]))
    with pytest.raises(PayloadError):
        decode_reply(FrameType.GET_INFO | 0x80, bytes([1]))


def test_info_layout_is_33_bytes_and_status_24():
    info = Info(0, 1, 2, 3, 4, b"ABCDEFGH", 2, b"LSM6DSO".ljust(12, b"\0"), 15, 3080)
    assert len(info.pack()) == 33
    assert info.imu_part_str == "LSM6DSO"
    st_cls = TELEMETRY_BODIES[FrameType.STATUS]
    assert st_cls.FMT.size == 24
    assert decode_telemetry(FrameType.LOG, Log(5, 20, "héllo").pack()).text == "héllo"


def test_bodies_are_frozen_dataclasses():
    for cls in BODY_CLASSES:
        assert dataclasses.is_dataclass(cls)
        assert issubclass(cls, Body) or cls is Log
