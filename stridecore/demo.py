"""The built-in main job: stream a simulated sensor through the protocol decoder and the
real-time foot pipeline.

The live host (:class:`~stridecore.device.DeviceSession`) talks to a :class:`SimDevice` exactly
as to firmware: GET_INFO, GET_CONFIG, time sync, START; on a reconnect START with resume and
READ_BACKLOG from the first missing sample; STOP at the end. Every live, in-order sample goes
through the same :class:`~stridecore.pipeline.Pipeline` as replay and the benchmarks (backlog and
late samples fill the record, not the live path: the pipeline has already moved past them, and
the gap they fill was flagged). Time is virtual; ``speed`` paces it against the wall clock
(0 = as fast as possible), so tests run the same code in virtual time.

:class:`ScriptedHost` is a bare command sender for tests and capture files.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_protocol import Batch, StreamDecoder, encode_command
from firmware_protocol.frame import FrameType
from stridecore.clock import run_virtual
from stridecore.device import DeviceSession
from stridecore.health import StreamHealth
from stridecore.report.steps_summary import StepsSummary
from stridecore.schema import Placement
from stridecore.transport.sim import SimTransport
from stridecore.transport.sim_device import SimDevice, SimSensorParams

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


class ScriptedHost:
    """The host side of one simulated device: sends commands, feeds replies to a decoder."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self.framing = device.p.framing
        self.decoder = StreamDecoder(framing=self.framing)
        self._seq = 0
        self._req = 0

    def send(self, ftype: FrameType, t_s: float, body: object | None = None) -> None:
        data = encode_command(ftype, self._seq, self._req, body, self.framing)
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
    """Run the simulated sensor for ``duration_s`` of sensor time through a
    :class:`~stridecore.device.DeviceSession` (the live host: handshake, time sync, reconnect,
    backlog) on a virtual-time loop; ``speed`` > 0 paces it against ``clock`` with ``sleep``
    every ``tick_s``, when ``on_tick`` also sees the totals."""
    transport = SimTransport("sim://", device=SimDevice(params), t0_s=0.0)
    placement = Placement.from_device_code(params.placement)
    session = DeviceSession(transport, key=placement.value if placement else "sensor",
                            on_received=lambda _s, got: res.batches.append(got.batch))
    st = session.stream
    res = DemoResult(st.health, st.decoder, steps=st.steps)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        wall0 = clock()

        async def ticker() -> None:
            while True:
                await asyncio.sleep(tick_s)
                t = loop.time()
                res.health.link_up = transport.device.link_up(t)
                res.health.disconnects = len(session.link.disconnects)
                res.sim_time_s = t
                if on_tick is not None:
                    on_tick(t, res)
                if speed > 0:
                    ahead = t / speed - (clock() - wall0)
                    if ahead > 0:
                        sleep(ahead)

        task = loop.create_task(ticker())
        try:
            await session.run(duration_s)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        res.health.disconnects = len(session.link.disconnects)
        res.sim_time_s = loop.time()
        res.wall_time_s = clock() - wall0

    run_virtual(main())
    return res
