"""The on-disk format of a session recording: one MCAP file per session, any number of devices.

Every time is ``t_host_s``: float64 seconds on the recorder's monotonic clock (asyncio
``loop.time()``), stored bit for bit. MCAP ``log_time`` and ``publish_time`` are wall-clock
nanoseconds, ``t0_epoch_ns + round((t_host_s - t0_host_s) * 1e9)`` (at least 0), so viewers
such as Foxglove show wall time; readers take ``t_host_s`` from the message data instead.

Topics (``{key}`` names a device, e.g. ``right_foot``; keys and names match ``[A-Za-z0-9_.-]+``):

- ``/{key}/rx``, ``/{key}/tx``: wire units (bytes that arrived or were sent together: one serial
  read chunk or one BLE notification), device→host and host→device. One message batches the
  units of at most :data:`BATCH_S` of host time; its data is repeated records
  ``<dI`` (``t_host_s`` float64, length uint32) followed by that many bytes. Schema
  ``stridecore.WireUnits`` (encoding ``""``), message encoding :data:`WIRE_ENCODING`,
  ``log_time`` of the first unit.
- ``/{key}/link`` (link events), ``/{key}/time_sync`` (probes), ``/{key}/config`` (config
  snapshots), ``/session`` (the session header and each device's info, for streaming readers
  that see no metadata), and any other ``/{name}`` or ``/{key}/{name}`` (``/events``,
  ``/cues``): JSON objects ``{"t_host_s": ..., **fields}``, message encoding ``json``, schema
  encoding ``jsonschema`` with the permissive schema ``{"type":"object"}``.

Metadata records (written at once, outside chunks, so a crash keeps them): ``session``
(the caller's strings plus the keys of :data:`RESERVED_SESSION_KEYS`) right after the header,
and ``device:{key}`` when a device is added (values as strings, non-strings JSON-encoded).
Within a channel message ``sequence`` numbers count up from 1; file order is write order.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

FORMAT = "stridecore-session"
FORMAT_VERSION = 1  # the newest format this code writes and reads
PROTOCOL_MAJOR = 1  # wire protocol major version of the recorded bytes
BATCH_S = 0.1  # longest host-time span of one wire-units message (s)

DIRECTIONS = ("rx", "tx")
SESSION_TOPIC = "/session"
LINK, TIME_SYNC, CONFIG = "link", "time_sync", "config"

WIRE_SCHEMA = "stridecore.WireUnits"
WIRE_ENCODING = "stridecore.wire-units.v1"
WIRE_LAYOUT = "repeated: <dI (t_host_s float64, length uint32), then length bytes"
JSON_SCHEMA = b'{"type":"object"}'

#: session metadata keys the recorder sets itself
RESERVED_SESSION_KEYS = ("format", "format_version", "protocol_major", "stridecore_version",
                         "t0_epoch_ns", "t0_host_s", "batch_s")

UNIT_HEADER = struct.Struct("<dI")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class TimeSyncProbe:
    """One TIME_SYNC round trip: host send and receive times (s, host clock), the device's
    receive and transmit times (µs, device clock) and the probe's token."""

    token: int
    t_send_s: float
    t_recv_s: float
    t_dev_rx_us: int
    t_dev_tx_us: int


def check_name(name: str, what: str = "device key") -> str:
    """``name`` if it is a valid device key or topic name, else ValueError (one line)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} must match [A-Za-z0-9_.-]+")
    return name


def device_topic(key: str, name: str) -> str:
    """The topic of stream ``name`` (``rx``, ``link``, ...) of device ``key``."""
    return f"/{key}/{name}"


def split_topic(topic: str) -> tuple[str | None, str] | None:
    """``(key, name)`` of ``/{key}/{name}``, ``(None, name)`` of ``/{name}``, else None."""
    parts = topic.split("/")
    if parts[0] or not all(_NAME.fullmatch(p) for p in parts[1:]):
        return None
    if len(parts) == 2:
        return None, parts[1]
    if len(parts) == 3:
        return parts[1], parts[2]
    return None


def log_time_ns(t_host_s: float, t0_host_s: float, t0_epoch_ns: int) -> int:
    """MCAP log time (ns since the Unix epoch) of host time ``t_host_s`` (s)."""
    return max(0, t0_epoch_ns + round((t_host_s - t0_host_s) * 1e9))


def check_time(t_host_s: float) -> float:
    """``t_host_s`` as a float if finite, else ValueError."""
    t = float(t_host_s)
    if not math.isfinite(t):
        raise ValueError(f"host time must be finite, got {t_host_s!r}")
    return t


def encode_json(t_host_s: float, fields: dict) -> bytes:
    """A JSON message: ``{"t_host_s": t_host_s, **fields}`` (floats round-trip exactly)."""
    if "t_host_s" in fields:
        raise ValueError("a JSON message's fields must not contain 't_host_s' (it is added)")
    obj = {"t_host_s": check_time(t_host_s), **fields}
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def decode_json(data: bytes) -> tuple[float, dict]:
    """``(t_host_s, fields)`` of a JSON message written by :func:`encode_json`."""
    obj = json.loads(data)
    return float(obj.pop("t_host_s")), obj


def iter_units(data: bytes) -> Iterator[tuple[float, bytes]]:
    """``(t_host_s, unit bytes)`` of each record of a wire-units message, in order."""
    view = memoryview(data)
    pos, end, size = 0, len(data), UNIT_HEADER.size
    unpack = UNIT_HEADER.unpack_from
    while pos < end:
        t, n = unpack(view, pos)
        pos += size
        if pos + n > end:
            raise ValueError("a wire-units message ends inside a unit")
        yield t, bytes(view[pos:pos + n])
        pos += n
