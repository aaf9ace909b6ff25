"""Frame layout of the stridecore sensor protocol v1 (see ``PROTOCOL.md``).

``version u8 | type u8 | seq u16 | payload | crc16 u16``, little-endian, CRC-16/CCITT-FALSE over
everything before the CRC.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from firmware_protocol.crc import crc16

PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 0
HEADER_LEN = 4
CRC_LEN = 2
MIN_FRAME_LEN = HEADER_LEN + CRC_LEN
IMU6_HEADER_LEN = 18  # version..n, i.e. offset of the first sample
IMU6_OVERHEAD = IMU6_HEADER_LEN + CRC_LEN  # 20
IMU6_BYTES_PER_SAMPLE = 12
IMU6_MAX_SAMPLES = 255
MAX_FRAME_LEN = IMU6_OVERHEAD + IMU6_BYTES_PER_SAMPLE * IMU6_MAX_SAMPLES  # 3080
REPLY_BIT = 0x80

_HDR = struct.Struct("<BBH")


class FrameType(IntEnum):
    """Frame ``type`` byte. Replies are ``command | 0x80``."""

    GET_INFO = 0x01
    GET_CONFIG = 0x02
    SET_CONFIG = 0x03
    START = 0x04
    STOP = 0x05
    TIME_SYNC = 0x06
    GET_STATUS = 0x07
    IDENTIFY = 0x08
    READ_BACKLOG = 0x09
    IMU6 = 0x10
    IMU6_BACKLOG = 0x11
    STATUS = 0x20
    EVENT = 0x21
    LOG = 0x22


COMMANDS = frozenset(t for t in FrameType if t < 0x10)
COMMAND_RANGE = range(0x01, 0x10)
DATA_TYPES = frozenset({FrameType.IMU6, FrameType.IMU6_BACKLOG})
# Replies to every command-range type are known: a device answers a command it does not know
# with status 1 (unknown type) in a reply of that type | 0x80.
KNOWN_TYPES = frozenset(
    {int(t) for t in FrameType} | {c | REPLY_BIT for c in COMMAND_RANGE}
)


def is_reply(frame_type: int) -> bool:
    """True for ``command | 0x80`` of a command-range type (0x81–0x8F)."""
    return bool(frame_type & REPLY_BIT) and (frame_type & 0x7F) in COMMAND_RANGE


def type_name(frame_type: int) -> str:
    """Readable name of a type byte (``GET_INFO_REPLY``, ``IMU6``, ``0x3f``)."""
    if is_reply(frame_type):
        cmd = frame_type & 0x7F
        return (FrameType(cmd).name if cmd in COMMANDS else f"0x{cmd:02x}") + "_REPLY"
    try:
        return FrameType(frame_type).name
    except ValueError:
        return f"0x{frame_type:02x}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked frame: header fields and the raw payload bytes."""

    type: int
    seq: int
    payload: bytes
    version: int = PROTOCOL_VERSION

    @property
    def name(self) -> str:
        return type_name(self.type)


def encode_frame(frame_type: int, seq: int, payload: bytes = b"",
                 version: int = PROTOCOL_VERSION) -> bytes:
    """Frame bytes (header + payload + CRC); ``seq`` is taken modulo 2**16."""
    body = _HDR.pack(version, frame_type, seq & 0xFFFF) + payload
    if len(body) + CRC_LEN > MAX_FRAME_LEN:
        raise ValueError(f"frame of {len(body) + CRC_LEN} B exceeds {MAX_FRAME_LEN} B")
    return body + crc16(body).to_bytes(2, "little")


class FrameError(ValueError):
    """A frame failed a check; ``kind`` is the problem counter it belongs to."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def decode_frame(buf: bytes | bytearray | memoryview) -> Frame:
    """Check and split one frame (no COBS). Raises :class:`FrameError` with a problem kind.

    Checks, in order: minimum length, size limit, CRC, version, known type, and for IMU6 data
    the exact length ``20 + 12·n``.
    """
    b = bytes(buf)
    if len(b) < MIN_FRAME_LEN:
        raise FrameError("truncated", f"frame of {len(b)} B is shorter than {MIN_FRAME_LEN} B")
    if len(b) > MAX_FRAME_LEN:
        raise FrameError("oversize", f"frame of {len(b)} B exceeds {MAX_FRAME_LEN} B")
    if crc16(b[:-2]) != int.from_bytes(b[-2:], "little"):
        raise FrameError("bad_crc", "CRC mismatch")
    version, ftype, seq = _HDR.unpack_from(b)
    if version != PROTOCOL_VERSION:
        raise FrameError("bad_version", f"protocol version {version}, expected {PROTOCOL_VERSION}")
    if ftype not in KNOWN_TYPES:
        raise FrameError("unknown_type", f"unknown frame type 0x{ftype:02x}")
    if ftype in DATA_TYPES:
        if len(b) < IMU6_OVERHEAD:
            raise FrameError("truncated", f"IMU6 frame of {len(b)} B is shorter than 20 B")
        n = b[17]
        if n == 0 or len(b) != IMU6_OVERHEAD + IMU6_BYTES_PER_SAMPLE * n:
            raise FrameError("bad_length", f"IMU6 frame of {len(b)} B does not hold n={n}")
    return Frame(type=ftype, seq=seq, payload=b[HEADER_LEN:-CRC_LEN], version=version)
