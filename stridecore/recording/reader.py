"""Read a session recording back, including one cut short by a crash.

:class:`RecordingReader` reads the file front to back, one record at a time, without the MCAP
summary: a file cut at any byte (the recorder killed, the disk full) yields every record of
every complete chunk before the cut, and :attr:`~RecordingReader.truncated` and
:attr:`~RecordingReader.note` say so. Wire units come back exactly as recorded (bytes and the
float64 host times bit for bit) and in recorded order, so replay feeds the decoder exactly
what the live session fed it. Every problem is a :class:`RecordingError` with one line naming
the file. The layout is in :mod:`stridecore.recording.format`.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections import deque
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Metadata
from mcap.stream_reader import breakup_chunk

from stridecore.recording.format import (
    BATCH_S,
    CONFIG,
    DIRECTIONS,
    FORMAT,
    FORMAT_VERSION,
    LINK,
    PROTOCOL_MAJOR,
    TIME_SYNC,
    UNIT_HEADER,
    WIRE_ENCODING,
    TimeSyncProbe,
    check_name,
    decode_json,
    device_topic,
    iter_units,
    split_topic,
)

_MAGIC = b"\x89MCAP0\r\n"
_RECORD = struct.Struct("<BQ")  # opcode, body length
_LATE_S = 1.0  # merging devices: allow units handed to the writer this late (s)


class RecordingError(ValueError):
    """A recording that cannot be read; the message is one line that names the file."""


class RecordingReader:
    """A session recording at ``path``: session and device metadata at once, data on demand.

    Raises :class:`RecordingError` for a missing file, a file that is not MCAP or not a
    stridecore session, one cut before its session header, and a newer format or protocol.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = self.path.name
        #: the ``session`` metadata (strings): the caller's keys plus format, versions, t0
        self.session: dict[str, str] = {}
        #: per device key, its ``device:{key}`` metadata (strings; non-strings JSON-encoded)
        self.devices: dict[str, dict[str, str]] = {}
        #: the file ends before its data section does (no DataEnd record): data was lost
        self.truncated = False
        #: one line on what was lost, "" when nothing was
        self.note = ""
        self._end = 0  # file offset where the complete records end
        self._size = 0  # file size when opened (bytes)
        with self._open() as f:
            self._scan_metadata(f)
        self._check_session()
        self.t0_host_s = float(self.session["t0_host_s"])  # session start, host clock (s)
        self.t0_epoch_ns = int(self.session["t0_epoch_ns"])  # session start, wall clock (ns)
        self._margin_s = float(self.session.get("batch_s", BATCH_S)) + _LATE_S
        if self.truncated:
            self.note = self._truncation_note()

    def _fail(self, what: str) -> RecordingError:
        return RecordingError(f"{self.name} {what}")

    def _open(self) -> BinaryIO:
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            raise self._fail("does not exist") from None
        except OSError as e:
            raise self._fail(f"cannot be opened: {e.strerror}") from None

    # ------------------------------------------------------------------ the first pass
    def _scan_metadata(self, f: BinaryIO) -> None:
        """Metadata and where the complete records end, skipping over chunks unread."""
        size = self._size = os.fstat(f.fileno()).st_size
        magic = f.read(len(_MAGIC))
        if not magic:
            raise self._fail("is empty")
        if magic != _MAGIC[:len(magic)]:
            raise self._fail("is not an MCAP file (bad magic)")
        if len(magic) < len(_MAGIC):
            raise self._fail("is truncated before its session header")
        pos, n_records = len(_MAGIC), 0
        while True:
            head = f.read(_RECORD.size) if pos + _RECORD.size <= size else b""
            if not head:
                break
            opcode, length = _RECORD.unpack(head)
            if pos + _RECORD.size + length > size:
                break
            if opcode in (Opcode.DATA_END, Opcode.FOOTER):
                self._end = pos
                return
            n_records += opcode != Opcode.HEADER
            if opcode == Opcode.METADATA:
                meta = self._parse(pos, opcode, f.read(length))[0]
                if meta.name == "session":
                    self.session = meta.metadata
                elif meta.name.startswith("device:"):
                    self.devices.setdefault(meta.name[7:], {}).update(meta.metadata)
            else:
                f.seek(length, os.SEEK_CUR)
            pos += _RECORD.size + length
        self._end = pos
        self.truncated = True
        if not self.session and n_records == 0:
            raise self._fail("is truncated before its session header")

    def _check_session(self) -> None:
        fmt = self.session.get("format")
        if fmt != FORMAT:
            why = "no session metadata" if fmt is None else f"format {fmt!r}"
            raise self._fail(f"is an MCAP file but not a stridecore session ({why})")
        version = self.session.get("format_version", "")
        if not version.isdigit():
            raise self._fail(f"has a bad format_version {version!r}")
        if int(version) > FORMAT_VERSION:
            raise self._fail(f"was written by a newer stridecore (format {version}); this "
                             f"version reads up to {FORMAT_VERSION}")
        if self.session.get("protocol_major") != str(PROTOCOL_MAJOR):
            raise self._fail(f"records wire protocol {self.session.get('protocol_major')!r}; "
                             f"this version reads protocol {PROTOCOL_MAJOR}")
        for key in ("t0_host_s", "t0_epoch_ns"):
            if key not in self.session:
                raise self._fail(f"has no {key} in its session header")

    def _truncation_note(self) -> str:
        size = self._size
        if size == self._end:
            where = "between records"
        else:
            with self._open() as f:
                f.seek(self._end)
                head = f.read(1)
            try:
                kind = Opcode(head[0]).name.lower().replace("_", " ")
            except ValueError:
                kind = "unknown"
            where = f"{size - self._end} bytes into a {kind} record at byte {self._end}"
        last: dict[str, tuple[str, bytes]] = {}
        for channel, message in self._messages():
            last[channel.topic] = channel.message_encoding, message.data
        times = [self._last_time(*last_message) for last_message in last.values()]
        upto = (f"read up to host time {max(times):.3f} s "
                f"({max(times) - self.t0_host_s:.1f} s into the session)"
                if times else "no data before the cut")
        return f"{self.name} ends early (cut at byte {size}, {where}): {upto}"

    @staticmethod
    def _last_time(encoding: str, data: bytes) -> float:
        if encoding == WIRE_ENCODING:
            return max(t for t, _ in iter_units(data))
        return decode_json(data)[0] if encoding == "json" else float("-inf")

    # ------------------------------------------------------------------ records
    def _messages(self) -> Iterator[tuple[Channel, Message]]:
        """Every complete message with its channel, in file order."""
        channels: dict[int, Channel] = {}
        with self._open() as f:
            pos = len(_MAGIC)
            while pos < self._end:
                f.seek(pos)
                opcode, length = _RECORD.unpack(f.read(_RECORD.size))
                if opcode in (Opcode.CHUNK, Opcode.CHANNEL, Opcode.MESSAGE):
                    for record in self._parse(pos, opcode, f.read(length)):
                        if isinstance(record, Channel):
                            channels[record.id] = record
                        elif isinstance(record, Message):
                            channel = channels.get(record.channel_id)
                            if channel is None:
                                raise self._fail(f"is damaged at byte {pos}: a message on "
                                                 f"unknown channel {record.channel_id}")
                            yield channel, record
                pos += _RECORD.size + length

    def _parse(self, pos: int, opcode: int, body: bytes) -> list:
        stream = ReadDataStream(BytesIO(body))
        try:
            if opcode == Opcode.CHUNK:
                return breakup_chunk(Chunk.read(stream), validate_crc=True)
            if opcode == Opcode.CHANNEL:
                return [Channel.read(stream)]
            if opcode == Opcode.METADATA:
                return [Metadata.read(stream)]
            return [Message.read(stream, len(body))]
        except Exception as e:  # any failure to decode a complete record is damage
            raise self._fail(f"is damaged at byte {pos}: {type(e).__name__}: {e}") from None

    # ------------------------------------------------------------------ wire units
    def units(self, key: str | None = None,
              direction: str | None = "rx") -> Iterator[tuple[str, str, float, bytes]]:
        """``(key, direction, t_host_s, data)`` of each wire unit of device ``key`` (None: all)
        in ``direction`` ("rx", "tx", None: both). One device and direction come exactly in
        recorded order; several are merged by host time (ties in file order)."""
        keys = list(self.devices) if key is None else [key]
        dirs = list(DIRECTIONS) if direction is None else [direction]
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'rx', 'tx' or None, got {direction!r}")
        topics = {device_topic(k, d): (k, d) for k in keys for d in dirs}
        if len(topics) == 1:
            ((topic, (k, d)),) = topics.items()
            for channel, message in self._messages():
                if channel.topic == topic:
                    for t, data in iter_units(message.data):
                        yield k, d, t, data
        else:
            yield from self._merged(topics)

    def _merged(self, topics: dict[str, tuple[str, str]]
                ) -> Iterator[tuple[str, str, float, bytes]]:
        """Units of several streams merged by host time. A message written out when its
        first unit was ``batch_s`` old means every later message starts after that first
        unit's time minus ``batch_s`` (plus :data:`_LATE_S` for units handed over late)."""
        queues: dict[str, deque] = {}
        heads: list[tuple[float, int, str]] = []  # (t_host_s, file order, topic) per queue
        seq = 0
        newest_first = float("-inf")

        def pop() -> tuple[str, str, float, bytes]:
            t, _, topic = heapq.heappop(heads)
            queue = queues[topic]
            _, _, data = queue.popleft()
            if queue:
                heapq.heappush(heads, (queue[0][0], queue[0][1], topic))
            return (*topics[topic], t, data)

        for channel, message in self._messages():
            if channel.topic not in topics:
                continue
            queue = queues.setdefault(channel.topic, deque())
            was_empty = not queue
            for t, data in iter_units(message.data):
                queue.append((t, seq, data))
                seq += 1
            if was_empty and queue:
                heapq.heappush(heads, (queue[0][0], queue[0][1], channel.topic))
            newest_first = max(newest_first, UNIT_HEADER.unpack_from(message.data)[0])
            safe = newest_first - self._margin_s
            while heads and heads[0][0] <= safe:
                yield pop()
        while heads:
            yield pop()

    # ------------------------------------------------------------------ JSON topics
    def json_messages(self, topic_suffix: str) -> Iterator[tuple[str | None, float, dict]]:
        """``(key, t_host_s, fields)`` of each JSON message on ``/{name}`` (key None) or any
        ``/{key}/{name}``, in file order; ``topic_suffix`` is ``name`` or ``/name``."""
        name = check_name(topic_suffix.lstrip("/"), "topic name")
        for channel, message in self._messages():
            parts = split_topic(channel.topic)
            if parts is not None and parts[1] == name and channel.message_encoding == "json":
                t, fields = decode_json(message.data)
                yield parts[0], t, fields

    def _device_json(self, key: str, name: str) -> Iterator[tuple[float, dict]]:
        topic = device_topic(key, name)
        for channel, message in self._messages():
            if channel.topic == topic:
                yield decode_json(message.data)

    def link_events(self, key: str) -> Iterator[tuple[float, dict]]:
        """``(t_host_s, {"event": ..., **fields})`` of each link event of device ``key``."""
        return self._device_json(key, LINK)

    def time_sync(self, key: str) -> Iterator[TimeSyncProbe]:
        """Each TIME_SYNC probe of device ``key``, in recorded order."""
        for _, fields in self._device_json(key, TIME_SYNC):
            yield TimeSyncProbe(**fields)

    def configs(self, key: str) -> Iterator[tuple[float, dict]]:
        """``(t_host_s, config)`` of each configuration snapshot of device ``key``."""
        return self._device_json(key, CONFIG)

    # ------------------------------------------------------------------ overview
    def summary(self) -> dict:
        """Devices, wire units and bytes per device and direction, first and last unit host
        time (s), duration (s), and whether (and why) the file was cut short."""
        def zero() -> dict[str, int]:
            return {"rx_units": 0, "rx_bytes": 0, "tx_units": 0, "tx_bytes": 0}

        per = {k: zero() for k in self.devices}
        first, last = float("inf"), float("-inf")
        for channel, message in self._messages():
            parts = split_topic(channel.topic)
            if parts is None or parts[0] is None or channel.message_encoding != WIRE_ENCODING:
                continue
            counts = per.setdefault(parts[0], zero())
            for t, data in iter_units(message.data):
                counts[f"{parts[1]}_units"] += 1
                counts[f"{parts[1]}_bytes"] += len(data)
                first, last = min(first, t), max(last, t)
        found = first <= last
        return {"file": self.name, "devices": sorted(per), "per_device": per,
                "first_t_host_s": first if found else None,
                "last_t_host_s": last if found else None,
                "duration_s": last - first if found else 0.0,
                "truncated": self.truncated, "note": self.note}


def open_recording(path: str | os.PathLike[str]) -> RecordingReader:
    """Open the session recording at ``path`` (:class:`RecordingError` if it cannot be)."""
    return RecordingReader(path)
