"""The simulated sensor behind a real BLE GATT server: :class:`SimDevice` on a bumble peripheral.

:class:`BumbleSimSensor` is what ``sim://`` (:class:`~stridecore.transport.sim.SimTransport`)
is in process, but over the air of a :class:`~stridecore.testing.ble_bumble.VirtualRadio`: a
bleak client (our BLE transport, or plain bleak in a test) scans for it, connects, subscribes to
TX and writes commands to RX as it would to a real sensor::

    async with VirtualRadio() as radio:
        async with BumbleSimSensor("sim://?placement=left_foot&odr=833&drop=0.01"
                                   "&disconnect=4:1.5&seed=7", radio) as sensor:
            Scanner, Client = radio.bleak_backends()
            async with BleakClient(sensor.address, backend=Client) as client:
                ...

- The URL takes every option of ``sim://`` (device and link options: ``tick``, ``motion``,
  ``profile``, ``session_seed``, ``run_s``); ``transport`` is forced to BLE framing (one frame
  per notification). ``device=`` and ``t0_s=`` as for ``SimTransport``.
- While a central is subscribed to TX, a pump polls the device every ``tick`` (true time
  ``loop.time() − t0_s``) and sends each frame as one notification, in order (ticks at which
  the device cannot have sent anything are skipped: :meth:`SimDevice.next_output_s`). Frames the
  device sends while nobody is subscribed are gone, as with firmware. A write to RX goes to
  :meth:`SimDevice.receive`; its reply is sent when due (not at the next tick).
- The device's ATT MTU follows the one negotiated on the link (:meth:`SimDevice.set_mtu` on
  each ATT MTU exchange; before one the device keeps its configured ``mtu``).
- The fault schedule ``disconnect=START:DURATION`` drops the link from the sensor side (reason
  Connection Timeout, as an out-of-range peripheral) and stops advertising; once the device is
  reachable again it advertises again, so the client can reconnect. ``drop=`` etc. are the
  device's own faults (dropped frames are never sent).

Name: legacy advertising data has room for 8 name bytes (the virtual controller sends no scan
response), so the name is ``SC`` + placement tag + CRC-16 of the uid in hex: ``SCLF3A7B``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from binascii import crc_hqx
from dataclasses import replace

from bumble import hci
from bumble.device import Connection

from firmware_protocol.messages import DevicePlacement
from stridecore.schema import Placement
from stridecore.simulate.motion import MotionSource, StillMotion
from stridecore.testing.ble_bumble import BumbleSensor, VirtualRadio
from stridecore.transport.sim import SimLinkOptions, parse_sim_link
from stridecore.transport.sim_device import SimDevice, SimSensorParams

__all__ = ["BumbleSimSensor", "ble_name", "sim_motion"]

_PLACEMENT_TAGS = {
    DevicePlacement.UNKNOWN: "XX",
    DevicePlacement.LEFT_FOOT: "LF",
    DevicePlacement.RIGHT_FOOT: "RF",
    DevicePlacement.LEFT_SHIN: "LS",
    DevicePlacement.RIGHT_SHIN: "RS",
    DevicePlacement.LEFT_THIGH: "LT",
    DevicePlacement.RIGHT_THIGH: "RT",
    DevicePlacement.PELVIS: "PV",
}
#: how often the pump looks at the device while nobody is subscribed (link changes of the
#: fault schedule wake it on time regardless)
IDLE_TICK_S = 0.25
_EPS_S = 1e-9


def ble_name(params: SimSensorParams) -> str:
    """Advertised name of a simulated sensor: ``SC`` + placement tag + CRC-16 of the uid
    (8 ASCII bytes, the most legacy advertising data leaves for the name)."""
    tag = _PLACEMENT_TAGS.get(DevicePlacement(params.placement), "XX")
    return f"SC{tag}{crc_hqx(params.uid, 0xFFFF):04X}"


def sim_motion(params: SimSensorParams, link: SimLinkOptions) -> MotionSource:
    """The motion a ``sim://`` link gives its device (as :class:`SimTransport` does)."""
    if link.motion == "still":
        return StillMotion()
    from stridecore.simulate.session import live_motion

    return live_motion(Placement.from_device_code(params.placement),
                       profile=link.profile, seed=link.session_seed, duration_s=link.run_s)


class BumbleSimSensor:
    """A :class:`SimDevice` served over a bumble GATT server on ``radio``.

    ``url``: a ``sim://`` URL (bad ones raise :class:`~stridecore.transport.sim.SimUrlError`);
    ``device``: an explicit device (BLE framing) instead of the URL's device options;
    ``t0_s``: loop time of true time 0 (shared by sensors that start from one instant;
    default: the loop time of :meth:`start`). ``name`` / ``address`` override the derived
    name and the radio's next address.
    """

    #: poll the device at every tick (the plain way; by default the pump skips the ticks
    #: before :meth:`SimDevice.next_output_s`, which gives the same notifications at the same
    #: times for a fraction of the cost)
    poll_every_tick: bool = False

    def __init__(self, url: str, radio: VirtualRadio, device: SimDevice | None = None,
                 t0_s: float | None = None, *, name: str | None = None,
                 address: str | None = None) -> None:
        params, self.link = parse_sim_link(url)
        if device is None:
            params = replace(params, framing="packet")
            device = SimDevice(params, sim_motion(params, self.link))
        elif device.p.framing != "packet":
            raise ValueError("BumbleSimSensor needs a SimDevice with framing='packet' (BLE)")
        self.url = url
        self.radio = radio
        self.device = device
        self.t0_s = t0_s
        self.ble = BumbleSensor(radio, name or ble_name(device.p), on_write=self._on_write,
                                address=address, on_connect=self._on_connect,
                                on_disconnect=self._on_disconnect)
        self.ble.tx.on(self.ble.tx.EVENT_SUBSCRIPTION, self._on_subscription)
        # counters (for tests and benchmarks)
        self.notified = 0  # notifications sent
        self.discarded = 0  # frames the device sent while nobody was subscribed
        self.link_drops = 0  # scheduled disconnects that dropped a connection
        self._task: asyncio.Task | None = None
        self._running = False
        self._waiter: asyncio.Future | None = None
        self._kicked = False
        self._error: BaseException | None = None

    # ----- identity -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.ble.name

    @property
    def address(self) -> str:
        return self.ble.address

    @property
    def is_connected(self) -> bool:
        return self.ble.is_connected

    @property
    def is_advertising(self) -> bool:
        return self.ble.is_advertising

    @property
    def subscribed(self) -> bool:
        return self.ble.subscribed

    def true_time_s(self) -> float:
        """Simulated true time now (s since ``t0_s``)."""
        return asyncio.get_running_loop().time() - (self.t0_s or 0.0)

    # ----- lifecycle ----------------------------------------------------------------------
    async def start(self) -> BumbleSimSensor:
        """Power the peripheral on, advertise (unless the schedule has the link down now) and
        start the pump."""
        if self._running:
            return self
        loop = asyncio.get_running_loop()
        if self.t0_s is None:
            self.t0_s = loop.time()
        if self.ble.device is None:
            await self.ble.start()
        t = self.true_time_s()
        self.device.poll(t)
        if not self.device.link_up(t) and self.ble.is_advertising:
            await self.ble.stop_advertising()
        elif self.device.link_up(t) and not self.ble.is_advertising:
            await self.ble.start_advertising()
        self._running = True
        self._error = None
        self._task = loop.create_task(self._run(), name=f"ble-sim {self.name}")
        return self

    async def stop(self) -> None:
        """Stop the pump, drop any connection and stop advertising (the sensor is gone from
        the air until :meth:`start`). Raises what the pump died of, if it did."""
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.ble.device is not None:
            with contextlib.suppress(Exception):
                if self.ble.is_advertising:
                    await self.ble.stop_advertising()
            with contextlib.suppress(Exception):
                await self.ble.disconnect()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def __aenter__(self) -> BumbleSimSensor:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- the pump -----------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self.link.tick_s
        next_t = loop.time()
        try:
            while self._running:
                await self._step()
                now = loop.time()
                if now >= next_t:  # the next tick on the grid (a slow step skips ticks)
                    next_t += tick * (math.floor((now - next_t) / tick) + 1)
                if self.ble.subscribed:
                    # the first tick at which the device can have sent something: polls in
                    # between would return nothing (the same output as polling every tick)
                    due = self.t0_s + self.device.next_output_s()  # type: ignore[operator]
                    wake = next_t
                    if not self.poll_every_tick and due > next_t:
                        wake = (next_t + tick * math.ceil((due - next_t) / tick)
                                if math.isfinite(due) else due)  # inf: until a write
                else:
                    wake = min(now + IDLE_TICK_S, self._next_link_change(now))
                await self._sleep_until(wake)
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # kept for stop(); the sensor goes silent
            self._error = e
            raise

    async def _step(self) -> None:
        """Everything the device sent up to now: notified if a central listens, else gone;
        then the link follows the fault schedule."""
        t = self.true_time_s()
        dev, ble = self.device, self.ble
        sent = dev.poll(t)
        for k, (_, frame) in enumerate(sent):
            if not (ble.subscribed and ble.connection is not None):
                self.discarded += len(sent) - k
                break
            try:
                await ble.notify(frame)
            except Exception:  # the link went while sending: the rest is lost
                self.discarded += len(sent) - k
                break
            self.notified += 1
        if not dev.link_up(t):
            if ble.is_advertising:
                await ble.stop_advertising()
            connection = ble.connection
            if connection is not None:
                self.link_drops += 1
                with contextlib.suppress(Exception):
                    await connection.disconnect(reason=hci.HCI_CONNECTION_TIMEOUT_ERROR)
                await ble.wait_disconnected()
        elif self._running and ble.connection is None and not ble.is_advertising:
            await ble.start_advertising()

    def _next_link_change(self, now: float) -> float:
        """Loop time of the next start or end of a scheduled disconnect after ``now``."""
        t = now - (self.t0_s or 0.0)
        edges = [e for a, d in self.device.p.faults.disconnects_s for e in (a, a + d) if e > t]
        return (self.t0_s or 0.0) + min(edges) + _EPS_S if edges else math.inf

    async def _sleep_until(self, when: float) -> None:
        if self._kicked:
            self._kicked = False
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiter = fut
        handle = loop.call_at(when, _resolve, fut) if math.isfinite(when) else None
        try:
            await fut
        finally:
            if handle is not None:
                handle.cancel()
            self._waiter = None
            self._kicked = False

    def _kick(self) -> None:
        """Run the pump now (a reply is due, the link changed)."""
        self._kicked = True
        if self._waiter is not None:
            _resolve(self._waiter)

    # ----- bumble events ------------------------------------------------------------------
    def _on_write(self, data: bytes) -> None:
        t = self.true_time_s()
        dev = self.device
        dev.receive(data, t)
        # pump the reply when it is due (it leaves after whatever the device had queued)
        due = max(dev.p.reply_latency_s, dev.last_queued_s() - t)
        asyncio.get_running_loop().call_later(due + _EPS_S, self._kick)

    def _on_subscription(self, connection: Connection, notify_enabled: bool,
                         indicate_enabled: bool) -> None:
        if notify_enabled:  # what was sent before anybody listened is gone
            self.discarded += len(self.device.poll(self.true_time_s()))
        self._kick()

    def _on_connect(self, connection: Connection) -> None:
        connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE,
                      lambda: self._on_mtu(connection))
        self._kick()

    def _on_mtu(self, connection: Connection) -> None:
        """The ATT MTU exchange: frames packed from now on fit the new MTU (until the
        exchange the device keeps its configured MTU, as 23 B fits no IMU6 frame)."""
        if connection is self.ble.connection:
            self.device.set_mtu(connection.att_mtu)
            self._kick()  # frames may now be due earlier

    def _on_disconnect(self, reason: int) -> None:
        self._kick()


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
