"""The built-in main job: stream a simulated sensor through the protocol decoder and the
real-time foot pipeline.

A small scripted host talks to a :class:`SimDevice` exactly as it would to firmware: GET_INFO,
GET_CONFIG, START; on a reconnect START with resume and READ_BACKLOG from the first missing
sample; STOP at the end. Every live, in-order sample goes through the same
:class:`~stridecore.pipeline.Pipeline` as replay and the benchmarks (backlog and late samples
fill the record, not the live path: the pipeline has already moved past them, and the gap they
fill was flagged). Time is virtual; ``speed`` paces it against the wall clock (0 = as fast as
possible), so tests run the same code in virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from firmware_protocol import Batch, StreamDecoder
from firmware_protocol.batch import SampleFlag, Samples
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import ReadBacklog, StartFlag, StartStop, StreamMask
from stridecore.health import StreamHealth
from stridecore.pipeline import Output, Pipeline
from stridecore.report.steps_summary import StepsSummary
from stridecore.schema import Placement
from stridecore.transport.sim_device import SimDevice, SimSensorParams, command_bytes

DEFAULT_DEMO_URL = ("sim://?drop=0.01&corrupt=0.01&duplicate=0.01&reorder=0.01"
                    "&overrun=0.005&disconnect=4:1.5&seed=1")


@dataclass
class DemoResult:
    health: StreamHealth
    decoder: StreamDecoder
    batches: list[Batch] = field(default_factory=list)
    sim_time_s: float = 0.0
    wall_time_s: float = 0.0
    steps: StepsSummary = field(default_factory=StepsSummary)


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


class ScriptedHost:
    """The host side of one simulated device: sends commands, feeds replies to a decoder."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self.framing = device.p.framing
        self.decoder = StreamDecoder(framing=self.framing)
        self._seq = 0
        self._req = 0

    def send(self, ftype: FrameType, t_s: float, body: object | None = None) -> None:
        data = command_bytes(ftype, self._seq, self._req, body, self.framing)
        self._seq = (self._seq + 1) & 0xFFFF
        self._req = (self._req + 1) & 0xFF
        self.device.receive(data, t_s)

    def collect(self, t_s: float) -> Batch:
        units = self.device.poll(t_s)
        if self.framing == "cobs":
            return self.decoder.feed(b"".join(u for _, u in units))
        return self.decoder.feed_packets([u for _, u in units])


def run_demo(params: SimSensorParams, duration_s: float = 10.0, speed: float = 1.0,
             tick_s: float = 0.05, on_tick: Callable[[float, DemoResult], None] | None = None,
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> DemoResult:
    """Run the simulated sensor for ``duration_s`` of sensor time; returns the totals."""
    device = SimDevice(params)
    host = ScriptedHost(device)
    res = DemoResult(StreamHealth(), host.decoder)
    placement = Placement.from_device_code(params.placement)
    # the foot pipeline (issue 5); other placements stream without it until their pipeline exists
    feed = (LiveFeed(Pipeline(float(params.odr_hz), placement))
            if placement is not None and placement.value.endswith("foot") else None)
    wall0 = clock()
    stream = int(StreamMask.IMU6 | StreamMask.STATUS)
    host.send(FrameType.GET_INFO, 0.0)
    host.send(FrameType.GET_CONFIG, 0.0)
    host.send(FrameType.START, 0.0, StartStop(stream, 0))
    was_up = True
    steps = round(duration_s / tick_s)
    for k in range(1, steps + 1):
        t = k * tick_s
        up = device.link_up(t)
        if was_up and not up:
            res.health.disconnects += 1
        if up and not was_up:  # reconnected: resume and ask for what was missed
            host.send(FrameType.START, t, StartStop(stream, int(StartFlag.RESUME)))
            nxt = host.decoder.next_sample_idx
            if nxt >= 0:
                host.send(FrameType.READ_BACKLOG, t, ReadBacklog(nxt & 0xFFFFFFFF))
        was_up = up
        res.health.link_up = up
        batch = host.collect(t)
        res.health.update(batch)
        res.batches.append(batch)
        if feed is not None:
            res.steps.add(feed.feed(batch.samples))
        res.sim_time_s = t
        if on_tick is not None:
            on_tick(t, res)
        if speed > 0:
            ahead = t / speed - (clock() - wall0)
            if ahead > 0:
                sleep(ahead)
    host.send(FrameType.STOP, res.sim_time_s, StartStop(stream, 0))
    end = res.sim_time_s + 0.1
    for b in (host.collect(end), host.decoder.flush()):
        res.health.update(b)
        res.batches.append(b)
        if feed is not None:
            res.steps.add(feed.feed(b.samples))
    res.wall_time_s = clock() - wall0
    return res
