"""One device's stream on the host: received units → samples on the host clock → pipeline.

:class:`DeviceStream` is everything the host derives from the bytes of one sensor link, and
nothing else: the wire-protocol decoder (samples, replies, gaps), the device→host clock map fed
by TIME_SYNC probes (:mod:`stridecore.timesync`), and the real-time :class:`Pipeline` fed with
the live, in-order samples. Live sessions (:mod:`stridecore.device`) and replay of a recording
(:mod:`stridecore.replay`) call the same two methods with the same units in the same order —
:meth:`on_tx` for what the host sent (only TIME_SYNC send times matter), :meth:`on_rx` for what
it received — so live and replay cannot differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from firmware_protocol import Batch, StreamDecoder
from firmware_protocol.batch import Gap, SampleFlag, Samples
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import (
    Command,
    Config,
    Info,
    Reply,
    StartReply,
    TimeSyncReply,
    TimeSyncRequest,
)
from stridecore.health import StreamHealth
from stridecore.pipeline import Output, Pipeline
from stridecore.report.steps_summary import StepsSummary
from stridecore.schema import Placement
from stridecore.timesync import ClockMap, TimeSyncParams
from stridecore.transport.base import Unit

_REPLY_START = re.compile(rb"\x01[\x80-\x8f]")  # version 1, a reply type: a frame's first bytes


class ReplyCut:
    """Where replay may not merge received units: after every unit that may complete a reply
    frame. Conservative (a data byte pair that looks like a reply start only costs a cut):
    on packet links a unit is one frame; on COBS links a reply is complete at the first
    delimiter after its start, which may come several units later."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self._armed = False  # a reply start seen, its delimiter not yet
        self._last = 0  # last byte of the previous unit

    def after(self, data: bytes) -> bool:
        """True if a batch must end with this unit."""
        if self.framing != "cobs":
            return len(data) > 1 and data[0] == 1 and data[1] >= 0x80
        starts = [m.start() for m in _REPLY_START.finditer(data)]
        if self._last == 1 and data[:1] and 0x80 <= data[0] <= 0x8F:
            starts.insert(0, 0)
        cut = self._armed or bool(starts)
        last_zero = data.rfind(b"\x00")
        self._armed = (bool(starts) and starts[-1] > last_zero) or (self._armed and last_zero < 0)
        self._last = data[-1] if data else self._last
        return cut


class LiveFeed:
    """In-order live samples of a decoder's batches into a pipeline (skips backlog and late
    samples, which belong to the past the pipeline has moved on from)."""

    SKIP = np.uint8(SampleFlag.BACKLOG | SampleFlag.LATE | SampleFlag.UNKNOWN_CFG)

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.last_idx = -1

    def feed(self, samples: Samples) -> Output:
        keep = ((samples.flags & self.SKIP) == 0) & (samples.sample_idx > self.last_idx)
        live = samples[keep] if not keep.all() else samples
        if len(live):
            # within one batch the live samples are in order; anything older is dropped
            order_ok = np.concatenate([[True], np.diff(live.sample_idx) > 0])
            live = live[np.logical_and.accumulate(order_ok)]
            self.last_idx = int(live.sample_idx[-1])
        return self.pipeline.process(live)


@dataclass
class Received:
    """What one received unit produced."""

    batch: Batch
    t_host_s: np.ndarray  # host time (s) of each sample of ``batch.samples``
    output: Output | None = None  # pipeline output of its live samples (None: no pipeline)
    replies: list[Reply] = field(default_factory=list)


class DeviceStream:
    """The host's view of one device: decoder, clock map, live pipeline, accumulated samples.

    ``pipeline``: run the real-time pipeline on live samples once the device's placement
    (GET_INFO) and rate (GET_CONFIG / SET_CONFIG) are known. ``keep_samples``: keep every
    decoded sample (with its host time) for export and tests. Event times in the step and
    contact tables are seconds since the session start ``t0_host_s`` on the host clock.
    """

    def __init__(self, key: str, framing: str, *, pipeline: bool = True,
                 keep_samples: bool = True, sync: TimeSyncParams | None = None,
                 t0_host_s: float = 0.0) -> None:
        self.key = key
        self.t0_host_s = t0_host_s
        self.framing = framing
        self.decoder = StreamDecoder(framing=framing)
        self._host_decoder = StreamDecoder(framing=framing, direction="host")
        self.clock = ClockMap(sync or TimeSyncParams())
        self.health = StreamHealth()
        self.steps = StepsSummary()
        self.want_pipeline = pipeline
        self.keep_samples = keep_samples
        self.info: Info | None = None
        self.config: Config | None = None
        self.feed: LiveFeed | None = None
        self.samples: list[Samples] = []
        self.t_host: list[np.ndarray] = []
        self.ics: list[dict] = []
        self.gaps: list[Gap] = []  # every gap the decoder reported (some filled later)
        self._probes: dict[int, float] = {}  # TIME_SYNC token -> host send time
        #: completed probes: (token, t_send_s, t_recv_s, t_dev_rx_us, t_dev_tx_us)
        self.probes: list[tuple[int, float, float, int, int]] = []
        self._last_dev_us = -np.inf

    # ------------------------------------------------------------------ inputs
    def on_tx(self, unit: Unit) -> None:
        """Bytes the host sent to the device at ``unit.t_host_s``."""
        dec = self._host_decoder
        batch = dec.feed(unit.data) if self.framing == "cobs" else dec.feed_packet(unit.data)
        for m in batch.messages:
            cmd = m.body
            if isinstance(cmd, Command) and isinstance(cmd.body, TimeSyncRequest):
                self._probes[cmd.body.token] = unit.t_host_s

    def on_rx(self, unit: Unit) -> Received:
        """Bytes received from the device at ``unit.t_host_s``."""
        dec = self.decoder
        batch = dec.feed(unit.data) if self.framing == "cobs" else dec.feed_packet(unit.data)
        return self._take(batch, unit.t_host_s)

    def on_rx_many(self, units: list[Unit]) -> Received:
        """Several received units at once (replay): the same result as one by one provided
        only the last may complete a reply frame (:class:`ReplyCut` finds the cuts)."""
        dec = self.decoder
        if self.framing == "cobs":
            batch = dec.feed(b"".join(u.data for u in units))
        else:
            batch = dec.feed_packets([u.data for u in units])
        return self._take(batch, units[-1].t_host_s)

    def finish(self) -> Received:
        """End of the stream (counts an unterminated tail)."""
        return self._take(self.decoder.flush(), float("nan"))

    # ------------------------------------------------------------------ processing
    def _take(self, batch: Batch, t_recv_s: float) -> Received:
        """Samples are put on the host clock and through the pipeline with the clock map as it
        was before this unit; its replies (time-sync probes, device info, configuration) count
        from the next unit on. So the result depends on the units only through the ones that
        complete a reply, and replay may decode everything between two such units at once."""
        self.health.update(batch)
        self.gaps += batch.gaps
        s = batch.samples
        t_host = (np.asarray(self.clock.to_host_s(s.t_device_us), dtype=np.float64)
                  if len(s) else np.zeros(0))
        if self.keep_samples and len(s):
            self.samples.append(s)
            self.t_host.append(t_host)
        out = None
        if self.feed is not None:
            out = self.feed.feed(s)
            if out.n_steps:
                self._to_host(out.steps)
            if out.n_ics:
                self._to_host(out.ics)
                self.ics.append(out.ics)
            self.steps.add(out)
        live = batch.frames[batch.frames["type"] == FrameType.IMU6]
        last_frame_us = float(live["t_us"][-1]) if live.size else -np.inf
        replies = []
        for m in batch.messages:
            body = m.body
            if not isinstance(body, Reply):
                continue
            replies.append(body)
            b = body.body
            if isinstance(b, TimeSyncReply):
                t_send = self._probes.pop(b.token, None)
                if t_send is not None:
                    try:
                        self.clock.add_probe(t_send, b.t_rx_us, b.t_tx_us, t_recv_s)
                    except ValueError:  # device times that contradict the round trip
                        self.health.messages["bad_time_sync"] += 1
                        continue
                    self.probes.append((b.token, t_send, t_recv_s, b.t_rx_us, b.t_tx_us))
            elif isinstance(b, Info):
                self.info = b
            elif isinstance(b, Config):
                self.config = b
            elif isinstance(b, StartReply):
                if b.t_us < max(self._last_dev_us, last_frame_us):  # rebooted: new clock
                    self.clock.reset()
                self._last_dev_us = float(b.t_us)
        self._last_dev_us = max(self._last_dev_us, last_frame_us)
        if self.feed is None and self.want_pipeline:
            self._start_pipeline()
        return Received(batch, t_host, out, replies)

    def _to_host(self, table: dict) -> None:
        """Event times of a pipeline table (device clock, s) → host clock (s), with the
        map as it is when they are emitted (causal: live and replay agree)."""
        for col, x in table.items():
            if col.startswith("t_") and col.endswith("_s"):
                t = np.asarray(self.clock.to_host_s(np.asarray(x) * 1e6), np.float64)
                table[col] = t - self.t0_host_s

    def _start_pipeline(self) -> None:
        if self.info is None or self.config is None:
            return
        placement = Placement.from_device_code(self.info.placement)
        if placement is None or not placement.value.endswith("foot"):
            return  # shin, thigh and pelvis pipelines join here when they exist
        self.feed = LiveFeed(Pipeline(float(self.config.odr_hz), placement))

    # ------------------------------------------------------------------ results
    @property
    def placement(self) -> Placement | None:
        return None if self.info is None else Placement.from_device_code(self.info.placement)

    def all_samples(self) -> tuple[Samples, np.ndarray]:
        """Every sample received (arrival order) and its host time (s)."""
        if not self.samples:
            return Samples(), np.zeros(0)
        return Samples.concat(self.samples), np.concatenate(self.t_host)

    def steps_table(self) -> dict:
        return self.steps.table()
