"""Read a session recording back, including one cut short by a crash.

:class:`RecordingReader` reads the file front to back, record by record, without the MCAP
summary: a file cut at any byte (the recorder killed, the disk full) yields every record of
every complete chunk before the cut, and :attr:`~RecordingReader.truncated` and
:attr:`~RecordingReader.note` say so. Wire units come back exactly as recorded (bytes and the
float64 host times bit for bit) and in recorded order, so replay feeds the decoder exactly
what the live session fed it; :meth:`~RecordingReader.unit_blocks` gives them in bulk, one
:class:`UnitBlock` of arrays per recorded message (split by a numba kernel, compiled and cached
on first use). Every problem is a :class:`RecordingError` with one line naming the file. The
layout is in :mod:`stridecore.recording.format`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

import numpy as np
from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Message, Metadata

from stridecore.recording.format import (
    BATCH_S,
    CONFIG,
    DIRECTIONS,
    FORMAT,
    FORMAT_VERSION,
    LINK,
    PROTOCOL_MAJOR,
    TIME_SYNC,
    WIRE_ENCODING,
    TimeSyncProbe,
    check_name,
    decode_json,
    device_topic,
    iter_units,
    split_topic,
)

try:  # both come with mcap; a file that needs a missing one says so when read
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None
try:
    import lz4.frame as lz4_frame
except ImportError:  # pragma: no cover
    lz4_frame = None

_MAGIC = b"\x89MCAP0\r\n"
_RECORD = struct.Struct("<BQ")  # opcode, body length
_CHUNK = struct.Struct("<QQQII")  # start and end time, uncompressed size and CRC, name length
_U64 = struct.Struct("<Q")
_MESSAGE = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_LATE_S = 1.0  # merging devices: allow units handed to the writer this late (s)
_WINDOW = 1 << 22  # read the file this many bytes at a time (at least one whole record)
# a new arena (:class:`_Arena`) holds this many messages, units and bytes (or one region)
_ARENA_MESSAGES, _ARENA_UNITS, _ARENA_BYTES = 1 << 11, 1 << 13, 1 << 18

# the numba kernels (compiled on first use: importing numba takes a while)
_OP_CHANNEL, _OP_MESSAGE = int(Opcode.CHANNEL), int(Opcode.MESSAGE)
# per channel id, what :func:`_scan_units` does with its messages: a selected wire topic's
# index (>= 0), or one of these
_WIRE_OTHER, _UNKNOWN, _NOT_WIRE = -1, -2, -3
# why :func:`_scan_units` stopped
_DONE, _AT_CHANNEL, _UNKNOWN_CHANNEL, _BAD_RECORD, _BAD_UNITS, _FULL = range(6)


def _scan_units(buf, pos, end, channel_topic, m, n_m, u_t, u_end, u_stop, n_u, payload, n_b
                ):  # pragma: no cover (compiled by numba)
    """Walk the MCAP records ``buf[pos:end]`` (uint8) and split the wire-units messages of
    the selected topics (``channel_topic[channel id] >= 0``) into the arenas ``m``, ``u_*``
    and ``payload`` from rows ``n_m``, ``n_u`` and byte ``n_b`` on, up to the end of the
    records or the first one that needs Python (a channel record), is damaged, or does not
    fit in the arenas.

    Row ``n_m`` of ``m`` becomes zeros, then one row per selected message: its topic, its
    rank among all wire messages walked, and the end of its units and of its bytes (relative
    to ``n_u`` and ``n_b``). Per unit: its host time (bit for bit), its end relative to its
    message's bytes and relative to ``n_b``. ``payload`` receives the units' bytes without
    the record headers. Returns ``(status, pos, n_m, n_u, n_b, n_wire)``: why and where it
    stopped, the ends of what it wrote, the wire messages walked. With status ``_BAD_UNITS``
    the last row is the damaged message, with its complete units.
    """
    if n_m >= m.shape[0]:
        return _FULL, pos, n_m, n_u, n_b, 0
    m[n_m, :] = 0
    u0, b0 = n_u, n_b
    u_t_bytes = u_t.view(np.uint8)
    n_wire = 0
    status = _DONE
    while pos < end:
        if end - pos < 9 or buf[pos + 8] != 0:
            status = _BAD_RECORD
            break
        length = np.int64(0)
        for i in range(7):
            length |= np.int64(buf[pos + 1 + i]) << (8 * i)
        body = pos + 9
        if length > end - body:
            status = _BAD_RECORD
            break
        opcode = buf[pos]
        if opcode == _OP_CHANNEL:
            status = _AT_CHANNEL
            break
        if opcode == _OP_MESSAGE:
            if length < 22:
                status = _BAD_RECORD
                break
            topic = channel_topic[np.int64(buf[body]) | (np.int64(buf[body + 1]) << 8)]
            if topic == _UNKNOWN:
                status = _UNKNOWN_CHANNEL
                break
            if topic >= 0:
                if (n_m + 2 > m.shape[0] or n_u + (length - 22) // 12 > u_t.shape[0]
                        or n_b + length - 22 > payload.shape[0]):
                    status = _FULL
                    break
                q, q_end, first = body + 22, body + length, n_b
                while q < q_end:
                    if q_end - q < 12:
                        status = _BAD_UNITS
                        break
                    size = np.int64(0)
                    for i in range(4):
                        size |= np.int64(buf[q + 8 + i]) << (8 * i)
                    if size > q_end - q - 12:
                        status = _BAD_UNITS
                        break
                    for i in range(8):
                        u_t_bytes[8 * n_u + i] = buf[q + i]
                    q += 12
                    for i in range(size):
                        payload[n_b + i] = buf[q + i]
                    q += size
                    n_b += size
                    u_end[n_u] = n_b - first
                    u_stop[n_u] = n_b - b0
                    n_u += 1
                n_m += 1
                m[n_m, 0] = topic
                m[n_m, 1] = n_wire
                m[n_m, 2] = n_u - u0
                m[n_m, 3] = n_b - b0
                if status != _DONE:
                    break
            if topic >= _WIRE_OTHER:
                n_wire += 1
        pos = body + length
    return status, pos, n_m, n_u, n_b, n_wire


def _merge_units(t, topic_old, n_topics, m, newest, margin, final
                 ):  # pragma: no cover (compiled by numba)
    """The merge of :meth:`RecordingReader.units` over a batch of messages, exactly.

    ``t``: the host times of the units still queued (their topics ``topic_old``, oldest
    first), then those of each new message (rows ``m[1:]`` of :func:`_scan_units`: topic,
    rank, end of its units). After each message, units leave their topic's queue while the
    smallest queue head (host time, then file order) is at most the newest first-unit time
    seen minus ``margin``; ``final`` empties the queues after the last message. Returns the
    indices and topics of the units that left, in order, the indices and topics of those
    still queued (ascending), and the newest first-unit time."""
    n, n_old, n_messages = t.shape[0], topic_old.shape[0], m.shape[0] - 1
    topic = np.empty(n, np.int64)
    for i in range(n_old):
        topic[i] = topic_old[i]
    for j in range(n_messages):
        for i in range(n_old + m[j, 2], n_old + m[j + 1, 2]):
            topic[i] = m[j + 1, 0]
    start = np.zeros(n_topics + 1, np.int64)
    for i in range(n):
        start[topic[i] + 1] += 1
    for k in range(n_topics):
        start[k + 1] += start[k]
    fill = start[:n_topics].copy()
    index = np.empty(n, np.int64)  # per topic, its units in file order
    for i in range(n):
        index[fill[topic[i]]] = i
        fill[topic[i]] += 1
    head = start[:n_topics].copy()  # per topic, its next unit to leave
    queued = start[:n_topics].copy()  # per topic, the end of its queued units
    for i in range(n_old):
        queued[topic[i]] += 1
    out = np.empty(n, np.int64)
    n_out = 0
    for j in range(n_messages + 1):
        if j < n_messages:
            a, b = n_old + m[j, 2], n_old + m[j + 1, 2]
            if a == b:
                continue
            queued[m[j + 1, 0]] += b - a
            if t[a] > newest:
                newest = t[a]
            safe = newest - margin
        elif final:
            safe = np.inf
        else:
            break
        while True:
            best, best_i, best_t = -1, 0, 0.0
            for k in range(n_topics):
                if head[k] < queued[k]:
                    i = index[head[k]]
                    if best < 0 or t[i] < best_t or (t[i] == best_t and i < best_i):
                        best, best_i, best_t = k, i, t[i]
            if best < 0 or not best_t <= safe:
                break
            out[n_out] = best_i
            n_out += 1
            head[best] += 1
    topic_out = np.empty(n_out, np.int64)
    left = np.ones(n, np.bool_)
    for k in range(n_out):
        topic_out[k] = topic[out[k]]
        left[out[k]] = False
    rest = np.empty(n - n_out, np.int64)
    topic_rest = np.empty(n - n_out, np.int64)
    k = 0
    for i in range(n):
        if left[i]:
            rest[k] = i
            topic_rest[k] = topic[i]
            k += 1
    return out[:n_out], topic_out, rest, topic_rest, newest


def _group_units(m, n_ok, u_t, u_stop, payload, order0, n_topics, out_t, out_end, out_order,
                 out_payload, topic_units, topic_bytes, topic_first):  # pragma: no cover
    """Regroup the first ``n_ok`` messages of a batch (``m`` rows as in :class:`_Batch`) by
    topic, keeping their order: units' times, ends (in their topic's bytes) and message
    order, and the bytes, each topic's contiguous. ``topic_units`` / ``topic_bytes`` (length
    ``n_topics + 1``) get where each topic's units and bytes start, ``topic_first`` the latest
    time of a message's first unit per topic."""
    cu = np.zeros(n_topics + 1, np.int64)
    cb = np.zeros(n_topics + 1, np.int64)
    for j in range(n_ok):
        t = m[j + 1, 0]
        cu[t + 1] += m[j + 1, 2] - m[j, 2]
        cb[t + 1] += m[j + 1, 3] - m[j, 3]
    for t in range(n_topics):
        cu[t + 1] += cu[t]
        cb[t + 1] += cb[t]
    topic_units[:] = cu
    topic_bytes[:] = cb
    wu = cu.copy()
    wb = cb.copy()
    topic_first[:] = -np.inf
    for j in range(n_ok):
        t = m[j + 1, 0]
        if m[j + 1, 2] > m[j, 2]:
            topic_first[t] = max(topic_first[t], u_t[m[j, 2]])
        p0 = m[j, 3]
        p1 = m[j + 1, 3]
        written = wb[t] - cb[t]
        for u in range(m[j, 2], m[j + 1, 2]):
            w = wu[t]
            out_t[w] = u_t[u]
            out_order[w] = order0 + m[j + 1, 1]
            out_end[w] = written + (u_stop[u] - p0)
            wu[t] = w + 1
        w = wb[t]
        for q in range(p0, p1):
            out_payload[w] = payload[q]
            w += 1
        wb[t] = w


@functools.cache
def _kernels() -> tuple[Callable, Callable, Callable]:
    from firmware_protocol._jit import njit

    return njit(_scan_units), njit(_merge_units), njit(_group_units)


class RecordingError(ValueError):
    """A recording that cannot be read; the message is one line that names the file."""


@dataclass(frozen=True, slots=True)
class UnitBlock:
    """The wire units of one recorded message, as arrays (read-only).

    Unit ``i`` is ``data[ends[i - 1]:ends[i]]`` (from 0 for the first) received or sent at
    ``t_host_s[i]``; ``order`` counts the file's wire-units messages (all devices and
    directions) from 0, so sorting units by ``(t_host_s, order, index in the block)`` is the
    merge of :meth:`RecordingReader.units`."""

    key: str  # device key
    direction: str  # "rx" or "tx"
    t_host_s: np.ndarray  # float64 (k,): host time of each unit (s), as recorded (bit for bit)
    ends: np.ndarray  # int64 (k,): end of each unit in ``data`` (``ends[-1] == len(data)``)
    data: bytes  # the units' bytes, concatenated (without the record headers)
    order: int  # file order of the message among all wire-units messages


@dataclass(frozen=True, slots=True)
class UnitRun:
    """The wire units of one device and direction in consecutive recorded messages (a run of
    the file's records), as arrays: :class:`UnitBlock`\\ s joined, ``order`` per unit."""

    key: str
    direction: str
    t_host_s: np.ndarray  # float64 (k,)
    ends: np.ndarray  # int64 (k,): end of each unit in ``data``
    data: bytes
    order: np.ndarray  # int64 (k,): the order of each unit's message (see UnitBlock.order)
    newest_first_s: float  # the latest host time of a message's first unit among them


#: the slot setters of UnitBlock's fields, in order
_BLOCK_SETTERS = tuple(getattr(UnitBlock, f.name).__set__ for f in dataclasses.fields(UnitBlock))


class _Batch:
    """The selected wire-units messages of one run of records (:func:`_scan_units`): ``m``
    (rows: a row of zeros, then per message topic, rank, end of its units and of its bytes),
    ``rows`` (``m`` as lists), per unit host time and end (in its message and in
    ``payload``), and the units' bytes. The first ``n_ok`` messages are whole; with
    ``n_messages > n_ok`` the last one is damaged (its complete units are there)."""

    __slots__ = ("m", "n_messages", "n_ok", "names", "order", "payload", "rows", "u_end",
                 "u_stop", "u_t")


class _Arena:
    """Room for :func:`_scan_units` to write many batches into (blocks keep views of it)."""

    __slots__ = ("m", "n_b", "n_m", "n_u", "payload", "u_end", "u_stop", "u_t")

    def __init__(self, size: int) -> None:  # size: bytes of records it must take at least
        n_units = max(_ARENA_UNITS, size // 12 + 1)
        self.m = np.empty((max(_ARENA_MESSAGES, size // 31 + 2), 4), np.int64)
        self.u_t = np.empty(n_units, np.float64)
        self.u_end = np.empty(n_units, np.int64)
        self.u_stop = np.empty(n_units, np.int64)
        self.payload = np.empty(max(_ARENA_BYTES, size), np.uint8)
        self.n_m = self.n_u = self.n_b = 0


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
                meta = self._parse(pos, f.read(length))
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
    def _regions(self) -> Iterator[tuple[int, bytes, int, int]]:
        """``(file position, buffer, start, end)`` of each run of records holding messages,
        in file order: each chunk's records (decompressed, CRC checked) and each channel or
        message record outside chunks."""
        unzstd = zstandard.ZstdDecompressor() if zstandard is not None else None
        with self._open() as f:
            pos = base = len(_MAGIC)
            window = b""
            while pos < self._end:
                off = pos - base
                if off + _RECORD.size > len(window):
                    base, window, off = pos, self._read(f, pos, _RECORD.size), 0
                opcode, length = _RECORD.unpack_from(window, off)
                stop = off + _RECORD.size + length
                if opcode in (Opcode.CHUNK, Opcode.CHANNEL, Opcode.MESSAGE):
                    if stop > len(window):
                        base, window = pos, self._read(f, pos, stop - off)
                        off, stop = 0, stop - off
                    if opcode == Opcode.CHUNK:
                        records = self._unchunk(pos, memoryview(window)[off + _RECORD.size:stop],
                                                unzstd)
                        yield pos, records, 0, len(records)
                    else:
                        yield pos, window, off, stop
                pos += _RECORD.size + length

    def _read(self, f: BinaryIO, pos: int, need: int) -> bytes:
        """At least ``need`` bytes of the file from ``pos`` (up to :data:`_WINDOW`)."""
        f.seek(pos)
        data = f.read(max(need, min(_WINDOW, self._end - pos)))
        if len(data) < need:
            raise self._fail(f"changed while being read (it now ends before byte {pos + need})")
        return data

    def _unchunk(self, pos: int, body: memoryview, unzstd: zstandard.ZstdDecompressor | None
                 ) -> bytes:
        """The records of the chunk record at ``pos`` with body ``body``, decompressed (zstd
        with ``unzstd``) and checked against the chunk's CRC (when it has one)."""
        try:
            _, _, size, crc, name_length = _CHUNK.unpack_from(body)
            at = _CHUNK.size + name_length
            compression = str(body[_CHUNK.size:at], "utf-8")
            (data_length,) = _U64.unpack_from(body, at)
            data = body[at + _U64.size:at + _U64.size + data_length]
            if len(data) != data_length:
                raise ValueError("its data runs past the record")
            if compression == "zstd" and unzstd is not None:
                records = unzstd.decompress(data, max_output_size=size)
            elif compression == "lz4" and lz4_frame is not None:
                records = lz4_frame.decompress(data)
            elif compression == "":
                records = bytes(data)
            else:
                raise ValueError(f"cannot decompress {compression!r} (not installed or unknown)")
            if len(records) != size:
                raise ValueError(f"it holds {len(records)} bytes, not {size}")
            if crc and zlib.crc32(records) != crc:
                raise ValueError(f"CRC {zlib.crc32(records):08x}, not {crc:08x}")
            return records
        except Exception as e:  # any failure to decode a complete record is damage
            raise self._damaged(pos, e) from None

    def _damaged(self, pos: int, e: Exception | str) -> RecordingError:
        what = e if isinstance(e, str) else f"{type(e).__name__}: {e}".removesuffix(": ")
        return self._fail(f"is damaged at byte {pos}: {what}")

    def _channel(self, pos: int, body: bytes) -> Channel:
        try:
            return Channel.read(ReadDataStream(BytesIO(body)))
        except Exception as e:
            raise self._damaged(pos, e) from None

    def _messages(self) -> Iterator[tuple[Channel, Message]]:
        """Every complete message with its channel, in file order."""
        channels: dict[int, Channel] = {}
        head, message_head = _RECORD.size, _MESSAGE.size
        for pos, buf, at, end in self._regions():
            while at < end:
                if end - at < head:
                    raise self._damaged(pos, "a record runs past its chunk")
                opcode, length = _RECORD.unpack_from(buf, at)
                body, at = at + head, at + head + length
                if at > end:
                    raise self._damaged(pos, "a record runs past its chunk")
                if opcode == Opcode.MESSAGE:
                    if length < message_head:
                        raise self._damaged(pos, "a message record is too short")
                    cid, seq, log_time, publish_time = _MESSAGE.unpack_from(buf, body)
                    channel = channels.get(cid)
                    if channel is None:
                        raise self._damaged(pos, f"a message on unknown channel {cid}")
                    yield channel, Message(channel_id=cid, sequence=seq, log_time=log_time,
                                           publish_time=publish_time,
                                           data=buf[body + message_head:at])
                elif opcode == Opcode.CHANNEL:
                    channel = self._channel(pos, buf[body:at])
                    channels[channel.id] = channel

    def _parse(self, pos: int, body: bytes) -> Metadata:
        try:
            return Metadata.read(ReadDataStream(BytesIO(body)))
        except Exception as e:  # any failure to decode a complete record is damage
            raise self._damaged(pos, e) from None

    def _batches(self, select: Callable[[Channel], tuple[str, str] | None]
                 ) -> Iterator[_Batch]:
        """The wire-units messages of the channels ``select`` names ``(key, direction)`` (by
        topic: one topic, one queue), split into arrays a run of records at a time. Raises
        :class:`RecordingError` after yielding what came before a damaged record."""
        scan = _kernels()[0]
        channel_topic = np.full(1 << 16, _UNKNOWN, np.int64)
        topics: dict[str, int] = {}  # selected topic -> its index in names
        names: list[tuple[str, str]] = []
        order = 0
        arena = _Arena(0)
        for pos, buf, at, end in self._regions():
            array = np.frombuffer(buf, np.uint8)
            while at < end:
                m0, u0, b0 = arena.n_m, arena.n_u, arena.n_b
                status, at, n_m, n_u, n_b, n_wire = scan(
                    array, at, end, channel_topic, arena.m, m0, arena.u_t, arena.u_end,
                    arena.u_stop, u0, arena.payload, b0)
                if n_m > m0:
                    batch = _Batch()
                    batch.n_messages = n_m - m0
                    batch.n_ok = batch.n_messages - (status == _BAD_UNITS)
                    batch.names, batch.order = names, order
                    batch.m = arena.m[m0:n_m + 1]
                    batch.rows = batch.m.tolist()
                    batch.u_t, batch.u_end, batch.u_stop = (
                        arena.u_t[u0:n_u], arena.u_end[u0:n_u], arena.u_stop[u0:n_u])
                    for a in (batch.u_t, batch.u_end, batch.u_stop):
                        a.flags.writeable = False
                    batch.payload = arena.payload[b0:n_b].tobytes()
                    arena.n_m, arena.n_u, arena.n_b = n_m + 1, n_u, n_b
                    yield batch
                order += n_wire
                if status == _FULL:
                    arena = _Arena(end - at)
                if status == _AT_CHANNEL:
                    _, length = _RECORD.unpack_from(buf, at)
                    body, at = at + _RECORD.size, at + _RECORD.size + length
                    channel = self._channel(pos, buf[body:at])
                    name = select(channel)
                    parts = split_topic(channel.topic)
                    if name is not None:
                        if channel.topic not in topics:
                            topics[channel.topic] = len(names)
                            names.append(name)
                        channel_topic[channel.id] = topics[channel.topic]
                    elif parts is not None and parts[0] is not None and parts[1] in DIRECTIONS:
                        channel_topic[channel.id] = _WIRE_OTHER
                    else:
                        channel_topic[channel.id] = _NOT_WIRE
                elif status == _UNKNOWN_CHANNEL:
                    cid = int.from_bytes(buf[at + _RECORD.size:at + _RECORD.size + 2], "little")
                    raise self._damaged(pos, f"a message on unknown channel {cid}")
                elif status == _BAD_RECORD:
                    raise self._damaged(pos, "a record runs past its chunk or is too short")
                elif status == _BAD_UNITS:
                    raise self._damaged(pos, "a wire-units message ends inside a unit")

    def _select(self, key: str | None, direction: str | None
                ) -> Callable[[Channel], tuple[str, str] | None]:
        keys = list(self.devices) if key is None else [key]
        dirs = list(DIRECTIONS) if direction is None else [direction]
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'rx', 'tx' or None, got {direction!r}")
        topics = {device_topic(k, d): (k, d) for k in keys for d in dirs}
        return lambda channel: topics.get(channel.topic)

    # ------------------------------------------------------------------ wire units
    def unit_blocks(self, key: str | None = None,
                    direction: str | None = None) -> Iterator[UnitBlock]:
        """The wire units of device ``key`` (None: all) in ``direction`` ("rx", "tx", None:
        both), one :class:`UnitBlock` per recorded message, in file order (not merged: one
        device and direction is in recorded order; :attr:`UnitBlock.order` gives the merge of
        :meth:`units`). A cut file yields every complete chunk; damage is a
        :class:`RecordingError` after the blocks before it."""
        new = object.__new__
        set_key, set_direction, set_t, set_ends, set_data, set_order = _BLOCK_SETTERS
        for b in self._batches(self._select(key, direction)):
            names, order, payload, u_t, u_end, rows = (b.names, b.order, b.payload, b.u_t,
                                                       b.u_end, b.rows)
            for j in range(b.n_ok):  # the damaged message (if any) left out
                (_, _, u0, p0), (topic, rank, u1, p1) = rows[j], rows[j + 1]
                key, direction = names[topic]
                # UnitBlock(...) without the frozen class's slow __setattr__ (5x faster)
                block = new(UnitBlock)
                set_key(block, key)
                set_direction(block, direction)
                set_t(block, u_t[u0:u1])
                set_ends(block, u_end[u0:u1])
                set_data(block, payload[p0:p1])
                set_order(block, order + rank)
                yield block

    def unit_runs(self, key: str | None = None,
                  direction: str | None = None) -> Iterator[UnitRun]:
        """Like :meth:`unit_blocks`, but the messages of one device and direction that the
        reader takes in one go (a chunk, often) come joined as one :class:`UnitRun`: far
        fewer objects for a replay. Per device and direction, in recorded order."""
        group = _kernels()[2]
        for b in self._batches(self._select(key, direction)):
            m = b.m[: b.n_ok + 1]
            if len(m) < 2:
                continue
            u_all, p_all = int(m[-1, 2]), int(m[-1, 3])
            t0 = int(m[1, 0])
            if (m[1:, 0] == t0).all():  # one stream in this run: the arrays as they are
                key_, dir_ = b.names[t0]
                n_units = m[1:, 2] - m[:-1, 2]
                firsts = m[:-1, 2][n_units > 0]
                yield UnitRun(key_, dir_, b.u_t[:u_all], b.u_stop[:u_all],
                              b.payload[:p_all], np.repeat(b.order + m[1:, 1], n_units),
                              float(b.u_t[firsts].max()) if firsts.size else -np.inf)
                continue
            n_topics = len(b.names)
            out_t = np.empty(u_all)
            out_end = np.empty(u_all, np.int64)
            out_order = np.empty(u_all, np.int64)
            out_payload = np.empty(p_all, np.uint8)
            tu = np.empty(n_topics + 1, np.int64)
            tb = np.empty(n_topics + 1, np.int64)
            tf = np.empty(n_topics)
            group(m, len(m) - 1, b.u_t, b.u_stop, np.frombuffer(b.payload, np.uint8), b.order,
                  n_topics, out_t, out_end, out_order, out_payload, tu, tb, tf)
            tu, tb = tu.tolist(), tb.tolist()
            for t in range(n_topics):
                if tu[t + 1] > tu[t]:
                    key_, dir_ = b.names[t]
                    a_, z_ = tu[t], tu[t + 1]
                    yield UnitRun(key_, dir_, out_t[a_:z_], out_end[a_:z_],
                                  out_payload[tb[t]:tb[t + 1]].tobytes(), out_order[a_:z_],
                                  float(tf[t]))

    def units(self, key: str | None = None,
              direction: str | None = "rx") -> Iterator[tuple[str, str, float, bytes]]:
        """``(key, direction, t_host_s, data)`` of each wire unit of device ``key`` (None: all)
        in ``direction`` ("rx", "tx", None: both). One device and direction come exactly in
        recorded order; several are merged by host time (ties in file order)."""
        keys = list(self.devices) if key is None else [key]
        dirs = list(DIRECTIONS) if direction is None else [direction]
        select = self._select(key, direction)
        if len(keys) * len(dirs) == 1:
            name = (keys[0], dirs[0])
            for b in self._batches(select):  # with the damaged message's complete units
                payload, stops = b.payload, b.u_stop.tolist()
                for t, start, stop in zip(b.u_t.tolist(), [0, *stops], stops, strict=False):
                    yield *name, t, payload[start:stop]
        else:
            yield from self._merged(select)

    def _merged(self, select: Callable[[Channel], tuple[str, str] | None]
                ) -> Iterator[tuple[str, str, float, bytes]]:
        """Units of several streams merged by host time. A message written out when its
        first unit was ``batch_s`` old means every later message starts after that first
        unit's time minus ``batch_s`` (plus :data:`_LATE_S` for units handed over late)."""
        merge = _kernels()[1]
        names: list[tuple[str, str]] = []
        t_left, topic_left = np.empty(0), np.empty(0, np.int64)
        data_left: list[bytes] = []
        newest = float("-inf")
        for b in self._batches(select):
            names, payload, n_ok = b.names, b.payload, b.n_ok
            n = b.rows[n_ok][2]
            stops = b.u_stop[:n].tolist()
            data = data_left + [payload[a:c] for a, c in zip([0, *stops], stops, strict=False)]
            t = np.concatenate((t_left, b.u_t[:n]))
            out, topic_out, left, topic_left, newest = merge(
                t, topic_left, len(names), b.m[:n_ok + 1], newest, self._margin_s, False)
            for i, ti, k in zip(out.tolist(), t[out].tolist(), topic_out.tolist(), strict=True):
                yield *names[k], ti, data[i]
            t_left = t[left]
            data_left = [data[i] for i in left.tolist()]
        out, topic_out, _, _, _ = merge(t_left, topic_left, len(names), np.zeros((1, 4), np.int64),
                                        newest, self._margin_s, True)
        for i, ti, k in zip(out.tolist(), t_left[out].tolist(), topic_out.tolist(), strict=True):
            yield *names[k], ti, data_left[i]

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

        def wire(channel: Channel) -> tuple[str, str] | None:
            parts = split_topic(channel.topic)
            if (parts is None or parts[0] is None or parts[1] not in DIRECTIONS
                    or channel.message_encoding != WIRE_ENCODING):
                return None
            return parts[0], parts[1]

        per = {k: zero() for k in self.devices}
        first, last = float("inf"), float("-inf")
        for b in self._batches(wire):
            rows = b.rows
            for j in range(b.n_ok):
                (_, _, u0, p0), (topic, _, u1, p1) = rows[j], rows[j + 1]
                key, d = b.names[topic]
                counts = per.setdefault(key, zero())
                counts[f"{d}_units"] += u1 - u0
                counts[f"{d}_bytes"] += p1 - p0
            n = rows[b.n_ok][2]
            if n:
                first = min(first, float(b.u_t[:n].min()))
                last = max(last, float(b.u_t[:n].max()))
        found = first <= last
        return {"file": self.name, "devices": sorted(per), "per_device": per,
                "first_t_host_s": first if found else None,
                "last_t_host_s": last if found else None,
                "duration_s": last - first if found else 0.0,
                "truncated": self.truncated, "note": self.note}


def open_recording(path: str | os.PathLike[str]) -> RecordingReader:
    """Open the session recording at ``path`` (:class:`RecordingError` if it cannot be)."""
    return RecordingReader(path)
