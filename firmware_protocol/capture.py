"""Capture files: what a firmware author records from a link to decode later.

- serial capture: the raw byte stream as read from the port (COBS frames + 0x00 delimiters).
- BLE capture: one record per notification, ``u64 host_ns | u16 length | length bytes``,
  little-endian, no file header (``host_ns``: host receive time, any monotonic epoch).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLE_RECORD = struct.Struct("<QH")


@dataclass(frozen=True, slots=True)
class BleRecord:
    host_ns: int
    data: bytes


class CaptureError(ValueError):
    """A capture file ends inside a record."""


def write_ble_capture(out: BinaryIO, records: Iterable[tuple[int, bytes]]) -> int:
    """Write ``(host_ns, notification)`` records; returns bytes written."""
    n = 0
    for host_ns, data in records:
        if len(data) > 0xFFFF:
            raise ValueError("a notification cannot exceed 65535 B")
        rec = BLE_RECORD.pack(host_ns, len(data)) + bytes(data)
        out.write(rec)
        n += len(rec)
    return n


def read_ble_capture(buf: bytes) -> Iterator[BleRecord]:
    """Records of a BLE capture. Raises :class:`CaptureError` after the last complete record
    if the file ends inside one (every complete record before it is yielded first)."""
    off = 0
    size = len(buf)
    while off < size:
        if off + BLE_RECORD.size > size:
            raise CaptureError(f"truncated record header at byte {off} of {size}")
        host_ns, length = BLE_RECORD.unpack_from(buf, off)
        off += BLE_RECORD.size
        if off + length > size:
            raise CaptureError(f"truncated record at byte {off - BLE_RECORD.size}: "
                               f"{length} B announced, {size - off} B left")
        yield BleRecord(host_ns, buf[off : off + length])
        off += length
