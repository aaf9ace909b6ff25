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

import itertools
from dataclasses import dataclass, field

import numpy as np

from firmware_protocol import Batch, StreamDecoder
from firmware_protocol.batch import Gap, SampleFlag, Samples
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import (
    Command,
    Config,
    DeviceStatus,
    Event,
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
from stridecore.shin_pipeline import pipeline_for
from stridecore.timesync import ClockMap, TimeSyncParams, to_host_s_rows
from stridecore.transport.base import Unit


class LiveFeed:
    """In-order live samples of a decoder's batches into a pipeline: a sample goes in if it is
    live (not backlog, late or of an unknown configuration) and comes after every sample that
    went in before it (what the pipeline has moved past stays past). The rule looks at samples
    one by one in order, so it does not depend on how they were split into batches."""

    SKIP = np.uint8(SampleFlag.BACKLOG | SampleFlag.LATE | SampleFlag.UNKNOWN_CFG)

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.last_idx = -1

    def feed(self, samples: Samples) -> Output:
        keep = self.select(samples)
        return self.pipeline.process(samples if keep is None else samples[keep])

    def select(self, samples: Samples) -> np.ndarray | None:
        """Which of ``samples`` go in (None: all); they count as gone in."""
        idx = samples.sample_idx
        if not len(idx):
            return None
        keep = (samples.flags & self.SKIP) == 0
        if (idx[0] <= self.last_idx or not keep.all()
                or (len(idx) > 1 and not (np.diff(idx) > 0).all())):
            cand = np.where(keep, idx, np.iinfo(np.int64).min)
            before = np.maximum.accumulate(np.concatenate(([self.last_idx], cand[:-1])))
            keep &= idx > before
            if keep.any():
                self.last_idx = int(idx[keep][-1])
            return keep
        self.last_idx = int(idx[-1])
        return None


@dataclass
class Received:
    """What one received unit (or block of units) produced."""

    batch: Batch
    t_host_s: np.ndarray  # host time (s) of each sample of ``batch.samples``
    #: pipeline output of the live samples, one per stretch between units that completed a
    #: reply (one for a single unit; empty: no pipeline or no samples)
    outputs: list[Output] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    @property
    def output(self) -> Output | None:
        """The pipeline output of a single unit's samples (None: none, or several)."""
        return self.outputs[0] if len(self.outputs) == 1 else None


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
        #: STATUS and EVENT messages with the host time (s since the session start) the unit
        #: that completed them arrived: battery, button presses (coaching's system cues)
        self.telemetry: list[tuple[float, DeviceStatus | Event]] = []
        self._probes: dict[int, float] = {}  # TIME_SYNC token -> host send time
        #: completed probes: (token, t_send_s, t_recv_s, t_dev_rx_us, t_dev_tx_us)
        self.probes: list[tuple[int, float, float, int, int]] = []
        # the newest device time seen (live frames and START replies, in frame order) and the
        # frame_no it came from: a START reply older than it means the device rebooted
        self._last_dev_us = -np.inf
        self._last_dev_no = -1
        #: ``on_fed(samples, t_host_s, t_recv_s)``: the in-order live samples the pipeline got,
        #: with their host times and arrival (s since the session start) — for joins across
        #: sensors (the knee from thigh + shin)
        self.on_fed = None

    # ------------------------------------------------------------------ inputs
    def on_tx(self, unit: Unit) -> None:
        """Bytes the host sent to the device at ``unit.t_host_s``."""
        for token, _pos, t_send in self._tx_probes([(0, unit)]):
            self._probes[token] = t_send

    def on_rx(self, unit: Unit) -> Received:
        """Bytes received from the device at ``unit.t_host_s``."""
        dec = self.decoder
        base = dec.bytes_in
        batch = dec.feed(unit.data) if self.framing == "cobs" else dec.feed_packet(unit.data)
        return self._take(batch, np.array([unit.t_host_s]), np.array([base + len(unit.data)]))

    def on_rx_block(self, t_host_s: np.ndarray, ends: np.ndarray, data: bytes,
                    tx: list[tuple[int, Unit]] = ()) -> Received:
        """Received units given as one buffer (replay): unit ``i`` is ``data[ends[i-1]:
        ends[i]]``, received at ``t_host_s[i]``, with the units the host sent meanwhile (``tx``:
        ``(k, unit)``, sent after ``k`` of the received units had arrived): the same result as
        :meth:`on_rx` and :meth:`on_tx` one by one in that order.

        Decoded in one go; each frame's ``end_byte`` tells which unit delivered it, so samples
        are still put on the host clock with the clock map as it was before their unit, and
        replies count from the unit after the one that completed them (see :meth:`_take`)."""
        dec = self.decoder
        base = dec.bytes_in
        ends = np.asarray(ends, np.int64)
        batch = dec.feed(data) if self.framing == "cobs" else dec.feed_packed(data, ends)
        return self._take(batch, np.asarray(t_host_s, np.float64), base + ends,
                          self._tx_probes(tx))

    def finish(self) -> Received:
        """End of the stream (counts an unterminated tail)."""
        return self._take(self.decoder.flush(), np.zeros(0), np.zeros(0, np.int64))

    # ------------------------------------------------------------------ processing
    def _tx_probes(self, tx: list[tuple[int, Unit]]) -> list[tuple[int, int, float]]:
        """``(token, k, t_send_s)`` of each TIME_SYNC request in the sent units ``tx``."""
        if not tx:
            return []
        dec = self._host_decoder
        base = dec.bytes_in
        ends = np.cumsum([len(u.data) for _, u in tx])
        data = b"".join(u.data for _, u in tx)
        batch = dec.feed(data) if self.framing == "cobs" else dec.feed_packed(data, ends)
        out = []
        for m in batch.messages:
            cmd = m.body
            if isinstance(cmd, Command) and isinstance(cmd.body, TimeSyncRequest):
                j = min(int(np.searchsorted(base + ends, m.end_byte)), len(tx) - 1)
                out.append((cmd.body.token, tx[j][0], tx[j][1].t_host_s))
        return out

    def _take(self, batch: Batch, t_units: np.ndarray, unit_end: np.ndarray,
              tx_probes: list[tuple[int, int, float]] = ()) -> Received:
        """Samples are put on the host clock and through the pipeline with the clock map as it
        was before their unit; a unit's replies (time-sync probes, device info, configuration)
        count from the next unit on. ``unit_end``: decoder input position where each unit ends;
        a frame belongs to the unit its ``end_byte`` falls in. So the result depends on the
        units only through the ones that complete a reply, whatever was decoded together."""
        self.health.update(batch)
        self.gaps += batch.gaps
        s, fr = batch.samples, batch.frames
        replies = [m for m in batch.messages if isinstance(m.body, Reply)]
        tele = [m for m in batch.messages if isinstance(m.body, DeviceStatus | Event)]
        if tele and len(t_units):
            at_t = np.minimum(np.searchsorted(unit_end, [m.end_byte for m in tele]),
                              len(t_units) - 1)
            self.telemetry += [(float(t_units[k]) - self.t0_host_s, m.body)
                               for k, m in zip(at_t.tolist(), tele, strict=True)]
        live = fr[fr["type"] == FrameType.IMU6]
        live_no = live["frame_no"]
        got = Received(batch, np.zeros(0))
        parts: list[np.ndarray] = []  # host times of the samples, per stretch
        # stretches the pipeline gets (from where it started), with their clock mappings
        pieces: list[tuple[int, int, np.ndarray]] = []
        pos = 0
        tx = list(tx_probes)
        at = np.minimum(np.searchsorted(unit_end, [m.end_byte for m in replies]),
                        max(len(unit_end) - 1, 0)).tolist()
        for k, group in itertools.groupby(zip(at, replies, strict=True), key=lambda x: x[0]):
            # the samples of the units up to k first, with the clock as it was
            nfr = int(np.searchsorted(fr["end_byte"], unit_end[k], side="right")) \
                if len(unit_end) else len(fr)
            stop = int(batch.sample_start[nfr]) if nfr < len(fr) else len(s)
            pos = self._segment(s, pos, stop, parts, pieces)
            while tx and tx[0][1] <= k:  # sent before unit k arrived
                token, _, t_send = tx.pop(0)
                self._probes[token] = t_send
            t_recv = float(t_units[k]) if len(t_units) else float("nan")
            for _, m in group:
                got.replies.append(m.body)
                self._reply(m, t_recv, live_no, live["t_us"])
            if self.feed is None and self.want_pipeline:
                self._start_pipeline()
        self._segment(s, pos, len(s), parts, pieces)
        if pieces:
            self._feed(s, pieces, got, self._recv_times(batch, t_units, unit_end), parts)
        for token, _, t_send in tx:
            self._probes[token] = t_send
        if live.size and live_no[-1] > self._last_dev_no:
            self._last_dev_us, self._last_dev_no = float(live["t_us"][-1]), int(live_no[-1])
        if self.feed is None and self.want_pipeline:
            self._start_pipeline()
        got.t_host_s = (parts[0] if len(parts) == 1 else np.concatenate(parts)) if parts \
            else np.zeros(0)
        return got

    def _segment(self, s: Samples, pos: int, stop: int, parts: list, pieces: list) -> int:
        """Samples ``s[pos:stop]`` (received before the same reply): host times, kept; noted
        for the pipeline with the clock mapping as it is now (event times)."""
        if stop <= pos:
            return pos
        seg = s if (pos == 0 and stop == len(s)) else s[pos:stop]
        t_host = np.asarray(self.clock.to_host_s(seg.t_device_us), dtype=np.float64)
        parts.append(t_host)
        if self.keep_samples:
            self.samples.append(seg)
            self.t_host.append(t_host)
        if self.feed is not None:
            pieces.append((pos, stop, self.clock.mapping()))
        return stop

    @staticmethod
    def _recv_times(batch: Batch, t_units: np.ndarray, unit_end: np.ndarray) -> np.ndarray:
        """Host time (s) each sample of ``batch`` became available: the arrival of the unit
        holding the end of its frame (NaN at the end of the stream)."""
        n = len(batch.samples)
        fr = batch.frames
        if not len(t_units) or not len(fr):
            return np.full(n, np.nan)
        unit = np.minimum(np.searchsorted(unit_end, fr["end_byte"]), len(t_units) - 1)
        counts = np.diff(np.append(batch.sample_start, n))
        return np.repeat(np.asarray(t_units, np.float64)[unit], counts)

    def _feed(self, s: Samples, pieces: list, got: Received, t_recv: np.ndarray,
              parts: list[np.ndarray]) -> None:
        """The pipeline gets the samples of ``pieces`` (from where it started to the end) in
        one go (its results do not depend on the blocks); each event's times go to the host
        clock with the map of the stretch whose sample emitted it — what feeding stretch by
        stretch would have given. ``t_recv``: arrival time of each sample of ``s``; an event's
        ``t_recv_s`` is that of the sample that completed it."""
        start = pieces[0][0]
        sub = s if start == 0 else s[start:]
        keep = self.feed.select(sub)
        fed = sub if keep is None else sub[keep]
        out = self.feed.pipeline.process(fed)
        if self.on_fed is not None and len(fed):
            t_host = (parts[0] if len(parts) == 1 else np.concatenate(parts))[start:]
            recv = t_recv[start:]
            if keep is not None:
                t_host, recv = t_host[keep], recv[keep]
            self.on_fed(fed, t_host - self.t0_host_s, recv - self.t0_host_s)
        if out.n_steps or out.n_ics:
            piece = np.repeat(np.arange(len(pieces)), [b - a for a, b, _ in pieces])
            recv = t_recv[start:]
            if keep is not None:
                piece = piece[keep]
                recv = recv[keep]
            t_fed = fed.t_device_us * 1e-6 + self.feed.pipeline.time_offset_s
            if out.n_steps:
                self._to_host(out.steps, t_fed, piece, pieces, recv)
            if out.n_ics:
                self._to_host(out.ics, t_fed, piece, pieces, recv)
                self.ics.append(out.ics)
        self.steps.add(out)
        got.outputs.append(out)

    def _reply(self, m, t_recv_s: float, live_no: np.ndarray, live_t_us: np.ndarray) -> None:
        """A reply completed by the unit received at ``t_recv_s``."""
        b = m.body.body
        if isinstance(b, TimeSyncReply):
            t_send = self._probes.pop(b.token, None)
            if t_send is not None:
                try:
                    self.clock.add_probe(t_send, b.t_rx_us, b.t_tx_us, t_recv_s)
                except ValueError:  # device times that contradict the round trip
                    self.health.messages["bad_time_sync"] += 1
                    return
                self.probes.append((b.token, t_send, t_recv_s, b.t_rx_us, b.t_tx_us))
        elif isinstance(b, Info):
            self.info = b
        elif isinstance(b, Config):
            self.config = b
        elif isinstance(b, StartReply):
            j = int(np.searchsorted(live_no, m.frame_no)) - 1  # last live frame before it
            newest = self._last_dev_us
            if j >= 0 and live_no[j] > self._last_dev_no:
                newest = float(live_t_us[j])
            if b.t_us < newest:  # rebooted: a new clock
                self.clock.reset()
            self._last_dev_us, self._last_dev_no = float(b.t_us), int(m.frame_no)

    def _to_host(self, table: dict, t_fed_s: np.ndarray, piece: np.ndarray,
                 pieces: list, t_recv: np.ndarray) -> None:
        """Event times of a pipeline table (device clock, s) → host clock (s since the
        session start), with the map as it was when each event was emitted (causal: live and
        replay agree). ``t_fed_s``: the pipeline's time of each sample fed, ``piece``: the
        stretch it came in, ``t_recv``: when it arrived (host s), which becomes the event's
        ``t_recv_s``."""
        j = np.minimum(np.searchsorted(t_fed_s, table["t_emit_s"]), len(t_fed_s) - 1)
        which = piece[j]
        cols = [c for c in table if c.startswith("t_") and c.endswith("_s") and c != "t_recv_s"]
        x = np.stack([np.asarray(table[c], np.float64) for c in cols], axis=1) * 1e6
        maps = np.stack([pieces[k][2] for k in which.tolist()])
        host = to_host_s_rows(maps, x) - self.t0_host_s
        for i, c in enumerate(cols):
            table[c] = host[:, i].copy()
        table["t_recv_s"] = t_recv[j] - self.t0_host_s

    def _start_pipeline(self) -> None:
        if self.info is None or self.config is None:
            return
        placement = Placement.from_device_code(self.info.placement)
        pipe = None if placement is None else pipeline_for(float(self.config.odr_hz), placement)
        if pipe is not None:  # (a thigh gets SamplesOnly: joined with its shin, the knee)
            self.feed = LiveFeed(pipe)

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
