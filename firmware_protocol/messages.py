"""Payload layouts of every v1 message, as frozen dataclasses with ``pack`` / ``unpack``.

Bodies are append-only within major version 1: ``unpack`` accepts and ignores trailing bytes it
does not know, and raises :class:`PayloadError` when a body is shorter than its layout.
IMU6 data payloads are not here: they are decoded in batches by :mod:`firmware_protocol.imu6`.
"""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass, fields
from enum import IntEnum, IntFlag
from typing import ClassVar

from firmware_protocol.cobs import cobs_encode
from firmware_protocol.frame import REPLY_BIT, FrameType, encode_frame


class PayloadError(ValueError):
    """A payload is shorter than its layout or has an invalid value."""


class Status(IntEnum):
    """Reply status codes."""

    OK = 0
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_PARAMETER = 3
    INVALID_STATE = 4
    UNSUPPORTED = 5
    BUSY = 6


class Capability(IntFlag):
    """``capabilities`` bits of the GET_INFO reply."""

    BACKLOG = 1 << 0  # READ_BACKLOG and type 0x11 frames
    TIME_SYNC = 1 << 1
    IDENTIFY = 1 << 2
    BATTERY = 1 << 3


class StatusFlag(IntFlag):
    """``flags`` bits of STATUS."""

    CHARGING = 1 << 0
    LOW_BATTERY = 1 << 1
    CLIPPED = 1 << 2  # a sample hit the configured range since the last STATUS
    STREAMING = 1 << 3
    BACKLOG_AVAILABLE = 1 << 4


class StreamMask(IntFlag):
    """``stream_mask`` of START / STOP."""

    IMU6 = 1 << 0
    STATUS = 1 << 1


class StartFlag(IntFlag):
    """``flags`` of START / STOP."""

    RESUME = 1 << 0  # keep sample_idx counting instead of restarting at 0


class DevicePlacement(IntEnum):
    """``placement`` byte of GET_INFO (schema names in ``stridecore.schema.Placement``)."""

    UNKNOWN = 0
    LEFT_FOOT = 1
    RIGHT_FOOT = 2
    LEFT_SHIN = 3
    RIGHT_SHIN = 4
    LEFT_THIGH = 5
    RIGHT_THIGH = 6
    PELVIS = 7


class EventKind(IntEnum):
    """``kind`` of EVENT."""

    BUTTON = 1
    RESUMED = 2  # streaming resumed after a link loss; value = samples buffered


class Body:
    """Base of fixed-layout bodies: a ``struct`` format and dataclass fields in order."""

    FMT: ClassVar[struct.Struct]

    def pack(self) -> bytes:
        return self.FMT.pack(*astuple(self))

    @classmethod
    def unpack(cls, body: bytes) -> Body:
        if len(body) < cls.FMT.size:
            raise PayloadError(
                f"{cls.__name__} body of {len(body)} B is shorter than {cls.FMT.size} B"
            )
        return cls(*cls.FMT.unpack_from(body))


@dataclass(frozen=True, slots=True)
class Empty(Body):
    FMT: ClassVar = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class Info(Body):
    """GET_INFO reply body (33 B)."""

    proto_minor: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    hw_rev: int
    uid: bytes  # 8 B
    placement: int  # DevicePlacement
    imu_part: bytes  # 12 B ASCII, NUL padded
    capabilities: int  # Capability
    max_frame_len: int  # B
    FMT: ClassVar = struct.Struct("<BBBHB8sB12sIH")

    @property
    def imu_part_str(self) -> str:
        return self.imu_part.rstrip(b"\x00").decode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class ConfigRequest(Body):
    """SET_CONFIG command body (6 B)."""

    odr_hz: int
    acc_range_g: int
    gyro_range_dps: int
    n_max: int
    FMT: ClassVar = struct.Struct("<HBHB")


@dataclass(frozen=True, slots=True)
class Config(Body):
    """GET_CONFIG / SET_CONFIG reply body (18 B).

    ``acc_scale_mps2`` is m/s² per count, ``gyro_scale_radps`` rad/s per count. ``axis_map``
    gives, for the housing's x, y, z axes, the signed 1-based chip axis already applied by the
    firmware (informational: data frames are in the housing frame).
    """

    odr_hz: int
    acc_range_g: int
    gyro_range_dps: int
    n_max: int
    cfg_id: int
    acc_scale_mps2: float
    gyro_scale_radps: float
    axis_map_x: int = 1
    axis_map_y: int = 2
    axis_map_z: int = 3
    FMT: ClassVar = struct.Struct("<HBHBBffbbb")


@dataclass(frozen=True, slots=True)
class StartStop(Body):
    """START / STOP command body (2 B)."""

    stream_mask: int = int(StreamMask.IMU6 | StreamMask.STATUS)
    flags: int = 0
    FMT: ClassVar = struct.Struct("<BB")


@dataclass(frozen=True, slots=True)
class StartReply(Body):
    """START reply body (13 B): where the stream (re)starts."""

    sample_idx: int  # index of the next sample sent
    t_us: int  # device time now, µs
    cfg_id: int
    FMT: ClassVar = struct.Struct("<IQB")


@dataclass(frozen=True, slots=True)
class TimeSyncRequest(Body):
    token: int
    FMT: ClassVar = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class TimeSyncReply(Body):
    """TIME_SYNC reply (20 B): device µs at command receipt and at reply transmission."""

    token: int
    t_rx_us: int
    t_tx_us: int
    FMT: ClassVar = struct.Struct("<IQQ")


@dataclass(frozen=True, slots=True)
class DeviceStatus(Body):
    """STATUS (0x20) payload and GET_STATUS reply body (24 B)."""

    t_us: int
    battery_mv: int
    soc_pct: int
    flags: int  # StatusFlag
    fifo_overruns: int  # samples lost in the IMU FIFO since START, cumulative
    tx_drops: int  # frames dropped from the transmit queue since START, cumulative
    mtu: int  # B, negotiated ATT MTU (0 on serial)
    temp_centi_c: int  # 0.01 °C
    FMT: ClassVar = struct.Struct("<QHBBIIHh")


@dataclass(frozen=True, slots=True)
class Identify(Body):
    duration_ms: int = 2000
    FMT: ClassVar = struct.Struct("<H")


@dataclass(frozen=True, slots=True)
class ReadBacklog(Body):
    from_idx: int
    FMT: ClassVar = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class BacklogReply(Body):
    """READ_BACKLOG reply: the sample range that will follow as 0x11 frames."""

    first_idx: int
    count: int
    FMT: ClassVar = struct.Struct("<II")


@dataclass(frozen=True, slots=True)
class Event(Body):
    """EVENT (0x21) payload (17 B)."""

    t_us: int
    sample_idx: int
    kind: int  # EventKind
    value: int
    FMT: ClassVar = struct.Struct("<QIBi")


@dataclass(frozen=True, slots=True)
class Log:
    """LOG (0x22) payload: ``t_us u64, level u8`` then UTF-8 text."""

    t_us: int
    level: int  # 10 debug, 20 info, 30 warning, 40 error (Python logging levels)
    text: str
    FMT: ClassVar = struct.Struct("<QB")

    def pack(self) -> bytes:
        return self.FMT.pack(self.t_us, self.level) + self.text.encode("utf-8")

    @classmethod
    def unpack(cls, body: bytes) -> Log:
        if len(body) < cls.FMT.size:
            raise PayloadError(f"Log body of {len(body)} B is shorter than {cls.FMT.size} B")
        t_us, level = cls.FMT.unpack_from(body)
        return cls(t_us, level, body[cls.FMT.size :].decode("utf-8", "replace"))


# command type -> (request body class, reply body class)
COMMAND_BODIES: dict[int, tuple[type, type]] = {
    FrameType.GET_INFO: (Empty, Info),
    FrameType.GET_CONFIG: (Empty, Config),
    FrameType.SET_CONFIG: (ConfigRequest, Config),
    FrameType.START: (StartStop, StartReply),
    FrameType.STOP: (StartStop, Empty),
    FrameType.TIME_SYNC: (TimeSyncRequest, TimeSyncReply),
    FrameType.GET_STATUS: (Empty, DeviceStatus),
    FrameType.IDENTIFY: (Identify, Empty),
    FrameType.READ_BACKLOG: (ReadBacklog, BacklogReply),
}
TELEMETRY_BODIES: dict[int, type] = {
    FrameType.STATUS: DeviceStatus,
    FrameType.EVENT: Event,
    FrameType.LOG: Log,
}


@dataclass(frozen=True, slots=True)
class Command:
    """A decoded command: type, ``req_id`` and body."""

    type: int
    req_id: int
    body: object

    def pack(self) -> bytes:
        return bytes([self.req_id]) + self.body.pack()


@dataclass(frozen=True, slots=True)
class Reply:
    """A decoded reply: the command type it answers, ``req_id``, status and body.

    ``body`` is None when the status is not OK (error replies carry no body).
    """

    command: int
    req_id: int
    status: int
    body: object | None

    @property
    def type(self) -> int:
        return self.command | REPLY_BIT

    def pack(self) -> bytes:
        tail = self.body.pack() if self.body is not None else b""
        return bytes([self.req_id, self.status]) + tail


def encode_command(ftype: FrameType, seq: int, req_id: int, body: object | None = None,
                   framing: str = "cobs") -> bytes:
    """A host command as it goes on the wire: a frame, COBS-encoded + 0x00 on serial
    (``framing="cobs"``), bare on BLE (``"packet"``). ``body`` None: the command's empty body."""
    if body is None:
        body = COMMAND_BODIES[ftype][0]()
    frame = encode_frame(ftype, seq, Command(int(ftype), req_id, body).pack())
    return cobs_encode(frame) + b"\x00" if framing == "cobs" else frame


def decode_command(frame_type: int, payload: bytes) -> Command:
    """Command from a host→device frame payload."""
    if len(payload) < 1:
        raise PayloadError("command payload lacks req_id")
    req_cls, _ = COMMAND_BODIES[frame_type]
    return Command(frame_type, payload[0], req_cls.unpack(payload[1:]))


def decode_reply(frame_type: int, payload: bytes) -> Reply:
    """Reply from a device→host frame payload (``frame_type`` has the reply bit)."""
    if len(payload) < 2:
        raise PayloadError("reply payload lacks req_id/status")
    cmd = frame_type & 0x7F
    req_id, status = payload[0], payload[1]
    body = None
    if status == Status.OK:
        if cmd not in COMMAND_BODIES:
            raise PayloadError(f"OK reply to unknown command 0x{cmd:02x}")
        _, rep_cls = COMMAND_BODIES[cmd]
        body = rep_cls.unpack(payload[2:])
    return Reply(cmd, req_id, status, body)


def decode_telemetry(frame_type: int, payload: bytes) -> object:
    """STATUS / EVENT / LOG body."""
    return TELEMETRY_BODIES[frame_type].unpack(payload)


def body_fields(body: object) -> dict[str, object]:
    """Plain dict of a body's fields (bytes as hex), for JSON output."""
    if body is None:
        return {}
    out: dict[str, object] = {}
    for f in fields(body):
        v = getattr(body, f.name)
        out[f.name] = v.hex() if isinstance(v, bytes) else v
    return out
