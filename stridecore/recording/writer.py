"""Record one session to an MCAP file, safe against the process being killed.

:class:`RecordingWriter` batches wire units per device and direction (at most ``batch_s`` of
host time per message) and makes everything durable at least every ``flush_s`` of host time: it
finishes the MCAP chunk in progress and flushes the file, so a killed recorder loses at most
the last ``flush_s`` and the cut file still opens (:mod:`stridecore.recording.reader`). Time
moves on with every call (each takes ``t_host_s``); call :meth:`~RecordingWriter.tick` often
(e.g. every 0.1 s) so batches and flushes also happen while no data arrives. The layout is in
:mod:`stridecore.recording.format`. Not thread-safe: use it from the event loop's thread.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcap.writer import LIBRARY_IDENTIFIER, CompressionType, Writer

from stridecore import __version__
from stridecore.recording.format import (
    BATCH_S,
    CONFIG,
    DIRECTIONS,
    FORMAT,
    FORMAT_VERSION,
    JSON_SCHEMA,
    LINK,
    PROTOCOL_MAJOR,
    RESERVED_SESSION_KEYS,
    SESSION_TOPIC,
    TIME_SYNC,
    UNIT_HEADER,
    WIRE_ENCODING,
    WIRE_LAYOUT,
    WIRE_SCHEMA,
    TimeSyncProbe,
    check_name,
    check_time,
    device_topic,
    encode_json,
    log_time_ns,
    split_topic,
)

_COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4,
                "none": CompressionType.NONE}


@dataclass(frozen=True)
class RecordingParams:
    """Writer settings (units in the names)."""

    batch_s: float = BATCH_S  # longest host-time span of one wire-units message
    flush_s: float = 1.0  # finish the chunk and flush the file at least this often (host time)
    fsync: bool = False  # also fsync at each flush (survives power loss, not only a kill)
    compression: str = "zstd"  # chunk compression: "zstd", "lz4" or "none"
    chunk_size_bytes: int = 1 << 20  # finish a chunk early when it grows past this

    def __post_init__(self) -> None:
        if not 0 < self.batch_s <= BATCH_S:
            raise ValueError(f"batch_s must be in (0, {BATCH_S}] s, got {self.batch_s}")
        if not self.flush_s > 0:
            raise ValueError(f"flush_s must be > 0 s, got {self.flush_s}")
        if self.compression not in _COMPRESSION:
            raise ValueError(f"compression must be one of {sorted(_COMPRESSION)}, "
                             f"got {self.compression!r}")


class _Batch:
    """Wire units of one device and direction waiting to become one message."""

    __slots__ = ("channel_id", "data", "first_t")

    def __init__(self, channel_id: int) -> None:
        self.channel_id = channel_id
        self.data = bytearray()
        self.first_t = 0.0


class RecordingWriter:
    """One session recording at ``path`` (refuses to overwrite: FileExistsError).

    ``t0_host_s``: host time of the session start (s, the event loop's clock);
    ``t0_epoch_ns``: wall clock at that moment (ns since the Unix epoch, default now);
    ``session``: free strings for the ``session`` metadata (athlete, shoe, notes, ...).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], t0_host_s: float, *,
                 t0_epoch_ns: int | None = None, session: Mapping[str, str] | None = None,
                 params: RecordingParams | None = None) -> None:
        self.p = params or RecordingParams()
        self.path = Path(path)
        self.t0_host_s = check_time(t0_host_s)
        self.t0_epoch_ns = time.time_ns() if t0_epoch_ns is None else int(t0_epoch_ns)
        meta = self._session_metadata(session or {})
        self._file = open(self.path, "xb")
        self._mcap = Writer(self._file, chunk_size=self.p.chunk_size_bytes,
                            compression=_COMPRESSION[self.p.compression])
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._seq: dict[int, int] = {}
        self._batches: dict[tuple[str, str], _Batch] = {}
        self._devices: set[str] = set()
        self._now_s = self.t0_host_s
        self._last_flush_s = self.t0_host_s
        self._closed = False
        self._mcap.start(profile="", library=f"stridecore/{__version__} {LIBRARY_IDENTIFIER}")
        self._mcap.add_metadata("session", meta)
        self._json(SESSION_TOPIC, self.t0_host_s, {"session": meta})
        self.flush()

    def _session_metadata(self, session: Mapping[str, str]) -> dict[str, str]:
        taken = sorted(set(session) & set(RESERVED_SESSION_KEYS))
        if taken:
            raise ValueError(f"session keys {taken} are reserved for the recorder")
        bad = sorted(k for k, v in session.items() if not (isinstance(k, str)
                                                            and isinstance(v, str)))
        if bad:
            raise ValueError(f"session metadata must be strings; not for {bad}")
        return {**session, "format": FORMAT, "format_version": str(FORMAT_VERSION),
                "protocol_major": str(PROTOCOL_MAJOR), "stridecore_version": __version__,
                "t0_epoch_ns": str(self.t0_epoch_ns), "t0_host_s": repr(self.t0_host_s),
                "batch_s": repr(self.p.batch_s)}

    # ------------------------------------------------------------------ channels
    def _channel(self, topic: str, json_kind: str | None) -> int:
        """The channel id of ``topic`` (registered on first use): wire units, or JSON with
        schema ``stridecore.{json_kind}``."""
        cid = self._channels.get(topic)
        if cid is not None:
            return cid
        wire = json_kind is None
        schema = WIRE_SCHEMA if wire else f"stridecore.{json_kind}"
        sid = self._schemas.get(schema)
        if sid is None:
            sid = self._schemas[schema] = self._mcap.register_schema(
                schema, "" if wire else "jsonschema", b"" if wire else JSON_SCHEMA)
        cid = self._channels[topic] = self._mcap.register_channel(
            topic, WIRE_ENCODING if wire else "json", sid, {"layout": WIRE_LAYOUT} if wire else {})
        self._seq[cid] = 0
        return cid

    def _add(self, cid: int, t_host_s: float, data: bytes) -> None:
        ns = log_time_ns(t_host_s, self.t0_host_s, self.t0_epoch_ns)
        seq = self._seq[cid] = self._seq[cid] + 1
        self._mcap.add_message(cid, log_time=ns, data=data, publish_time=ns, sequence=seq)

    def _json(self, topic: str, t_host_s: float, fields: dict) -> None:
        data = encode_json(t_host_s, fields)
        self._add(self._channel(topic, topic.rsplit("/", 1)[1]), t_host_s, data)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"recording {self.path.name} is closed")

    def _device(self, key: str) -> None:
        if key not in self._devices:
            self.add_device(key, {})

    # ------------------------------------------------------------------ public
    def add_device(self, key: str, info: Mapping[str, object],
                   t_host_s: float | None = None) -> None:
        """Announce device ``key`` with its ``info`` (JSON values): metadata ``device:{key}``
        (written and flushed at once) and a ``/session`` message at ``t_host_s`` (s, default the
        latest host time seen). Calling it again for a key updates the info; devices used
        without it are added with empty info."""
        self._check_open()
        check_name(key)
        t = self._now_s if t_host_s is None else check_time(t_host_s)
        data = encode_json(t, {"device": key, "info": dict(info)})
        meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in info.items()}
        self._devices.add(key)
        self._mcap.add_metadata(f"device:{key}", meta)
        self._file.flush()
        self._add(self._channel(SESSION_TOPIC, "session"), t, data)
        self.tick(t)

    def unit(self, key: str, direction: str, t_host_s: float, data: bytes) -> None:
        """One wire unit of device ``key``: ``direction`` "rx" (device→host) or "tx"
        (host→device), received or sent at ``t_host_s`` (s), non-empty ``data`` exactly as
        on the wire."""
        self._check_open()
        if not data:
            raise ValueError("a wire unit must not be empty")
        t = check_time(t_host_s)
        batch = self._batches.get((key, direction))
        if batch is None:
            if direction not in DIRECTIONS:
                raise ValueError(f"direction must be 'rx' or 'tx', got {direction!r}")
            self._device(key)
            batch = self._batches[key, direction] = _Batch(
                self._channel(device_topic(key, direction), None))
        if batch.data and t - batch.first_t >= self.p.batch_s:
            self._emit(batch)
        if not batch.data:
            batch.first_t = t
        batch.data += UNIT_HEADER.pack(t, len(data))
        batch.data += data
        self.tick(t)

    def link_event(self, key: str, t_host_s: float, event: str, **fields: object) -> None:
        """A link event of device ``key`` at ``t_host_s`` (s): ``event`` (connect, disconnect,
        reconnect_attempt, error, gap, mtu, ...) with free JSON ``fields``."""
        self._device_json(key, LINK, t_host_s, {"event": str(event), **fields})

    def time_sync(self, key: str, probe: TimeSyncProbe) -> None:
        """A TIME_SYNC probe of device ``key``, at its host receive time."""
        self._device_json(key, TIME_SYNC, probe.t_recv_s, {
            "token": int(probe.token), "t_send_s": float(probe.t_send_s),
            "t_recv_s": float(probe.t_recv_s), "t_dev_rx_us": int(probe.t_dev_rx_us),
            "t_dev_tx_us": int(probe.t_dev_tx_us)})

    def config(self, key: str, t_host_s: float, config: Mapping[str, object]) -> None:
        """A snapshot of device ``key``'s configuration (JSON values) at ``t_host_s`` (s)."""
        self._device_json(key, CONFIG, t_host_s, dict(config))

    def json(self, topic: str, t_host_s: float, obj: Mapping[str, object]) -> None:
        """A JSON object on ``topic`` (``/{name}`` or ``/{key}/{name}``) at ``t_host_s`` (s)."""
        self._check_open()
        parts = split_topic(topic)
        if parts is None or topic == SESSION_TOPIC or parts[1] in DIRECTIONS:
            raise ValueError(f"topic {topic!r} must be /NAME or /KEY/NAME (each part "
                             "[A-Za-z0-9_.-]+), not /session, /KEY/rx or /KEY/tx")
        if parts[0] is not None:
            self._device(parts[0])
        self._json(topic, t_host_s, dict(obj))
        self.tick(t_host_s)

    def _device_json(self, key: str, name: str, t_host_s: float, fields: dict) -> None:
        self._check_open()
        self._device(check_name(key))
        self._json(device_topic(key, name), t_host_s, fields)
        self.tick(t_host_s)

    def tick(self, t_host_s: float) -> None:
        """Host time is now ``t_host_s`` (s): write out unit batches ``batch_s`` old, and
        flush when ``flush_s`` has passed since the last flush."""
        self._check_open()
        now = self._now_s = max(self._now_s, t_host_s)
        limit = now - self.p.batch_s
        for batch in self._batches.values():
            if batch.data and batch.first_t <= limit:
                self._emit(batch)
        if now - self._last_flush_s >= self.p.flush_s:
            self.flush()

    def _emit(self, batch: _Batch) -> None:
        self._add(batch.channel_id, batch.first_t, bytes(batch.data))
        batch.data.clear()

    def flush(self) -> None:
        """Write out every batch, finish the MCAP chunk and flush the file (and fsync if set):
        everything recorded so far survives the process being killed."""
        self._check_open()
        for batch in self._batches.values():
            if batch.data:
                self._emit(batch)
        self._mcap.flush()
        if self.p.fsync:
            os.fsync(self._file.fileno())
        self._last_flush_s = self._now_s

    def close(self) -> None:
        """Write everything, the summary and the footer, and close the file; idempotent."""
        if self._closed:
            return
        try:
            self.flush()
            self._mcap.finish()
            self._file.flush()
            if self.p.fsync:
                os.fsync(self._file.fileno())
        finally:
            self._closed = True
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
