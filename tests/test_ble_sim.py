"""BumbleSimSensor: the simulated sensor behind a real GATT server, driven by plain bleak.

Scenarios longer than a moment run on stridecore's virtual-time loop (``run_virtual``): the
sensor's pump, bumble's controllers and bleak all run on ``loop.time()``, so ten simulated
seconds of 833 Hz data cost well under a wall second.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError

from firmware_protocol import StreamDecoder, encode_command
from firmware_protocol.batch import Samples
from firmware_protocol.frame import FrameType
from firmware_protocol.gatt import RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID
from firmware_protocol.messages import (
    ConfigRequest,
    DevicePlacement,
    ReadBacklog,
    Reply,
    StartFlag,
    StartStop,
    Status,
)
from stridecore.clock import run_virtual
from stridecore.testing.ble_bumble import VirtualRadio
from stridecore.testing.ble_sim import BumbleSimSensor, ble_name
from stridecore.transport.sim import SimUrlError
from stridecore.transport.sim_device import SimDevice, SimSensorParams

TIMEOUT_S = 60.0  # virtual seconds: a scenario that hangs fails instead
CONFIG = ConfigRequest(833, 16, 2000, 18)
PROBLEM_FREE = "sim://?motion=still&odr_error_ppm=0&jitter_us=0"


def virtual(main: Coroutine[Any, Any, Any]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(TIMEOUT_S):
            return await main
    return run_virtual(bounded())


class Host:
    """A plain bleak central speaking the v1 protocol: commands by ``req_id``, notifications
    through one packet-framing :class:`StreamDecoder`."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.decoder = StreamDecoder(framing="packet")
        self.parts: list[Samples] = []
        self.frames: list[np.ndarray] = []
        self.messages: list[Any] = []
        self.gaps: list[Any] = []
        self.replies: dict[int, Reply] = {}
        self.notifications = 0
        self._seq = 0
        self._req = 0
        self._event = asyncio.Event()

    def on_notify(self, _char: object, data: bytearray) -> None:
        self.notifications += 1
        batch = self.decoder.feed_packet(data)
        self.parts.append(batch.samples)
        self.frames.append(batch.frames)
        self.gaps += batch.gaps
        for m in batch.messages:
            self.messages.append(m)
            if isinstance(m.body, Reply):
                self.replies[m.body.req_id] = m.body
        self._event.set()

    async def subscribe(self) -> None:
        await self.client.start_notify(TX_CHAR_UUID, self.on_notify)

    async def command(self, ftype: FrameType, body: object | None = None) -> Reply:
        self._req = self._req % 255 + 1
        req = self._req
        self.replies.pop(req, None)
        data = encode_command(ftype, self._seq, req, body, framing="packet")
        self._seq = (self._seq + 1) & 0xFFFF
        await self.client.write_gatt_char(RX_CHAR_UUID, data, response=False)
        async with asyncio.timeout(1.0):
            while req not in self.replies:
                self._event.clear()
                await self._event.wait()
        rep = self.replies.pop(req)
        assert rep.command == ftype and rep.status == Status.OK, rep
        return rep

    @property
    def samples(self) -> Samples:
        return Samples.concat(self.parts)

    @property
    def all_frames(self) -> np.ndarray:
        return np.concatenate(self.frames) if self.frames else np.zeros(0)

    def problems(self) -> dict[str, int]:
        return {k: v for k, v in self.decoder.problems.items() if v}


async def _connect(radio: VirtualRadio, sensor: BumbleSimSensor, **kw: Any) -> Host:
    _, client_cls = radio.bleak_backends()
    client = BleakClient(sensor.address, backend=client_cls, **kw)
    await client.connect()
    host = Host(client)
    await host.subscribe()
    return host


async def _until(pred: Callable[[], bool], step_s: float = 0.005) -> None:
    while not pred():
        await asyncio.sleep(step_s)


# ----- identity ---------------------------------------------------------------------------
async def test_name_address_and_url_options() -> None:
    radio = VirtualRadio()
    left = BumbleSimSensor("sim://?placement=left_foot&transport=serial&motion=still", radio)
    right = BumbleSimSensor("sim://?placement=right_foot&motion=still", radio)
    other = BumbleSimSensor("sim://?placement=right_foot&uid=ABCDEFGH&motion=still", radio)
    assert left.device.p.framing == "packet"  # transport= is forced to BLE framing
    assert left.name.startswith("SCLF") and right.name.startswith("SCRF")
    assert len({left.name, right.name, other.name}) == 3
    for s in (left, right, other):
        assert len(s.name.encode()) <= 8
        s.ble.advertising_data()  # fits legacy advertising data
    assert left.address != right.address
    assert left.name == ble_name(left.device.p)

    dev = SimDevice(SimSensorParams(framing="packet", placement=DevicePlacement.PELVIS,
                                    uid=b"PELVIS01"))
    explicit = BumbleSimSensor("sim://?tick=0.01", radio, device=dev, t0_s=5.0)
    assert explicit.device is dev and explicit.t0_s == 5.0 and explicit.link.tick_s == 0.01
    assert explicit.name.startswith("SCPV")
    with pytest.raises(ValueError, match="framing"):
        BumbleSimSensor("sim://", radio, device=SimDevice(SimSensorParams(framing="cobs")))
    with pytest.raises(SimUrlError):
        BumbleSimSensor("sim://?bogus=1", radio)


# ----- commands ---------------------------------------------------------------------------
async def _get_info_scenario() -> None:
    async with VirtualRadio() as radio, BumbleSimSensor(
            "sim://?placement=left_foot&mtu=185&motion=still", radio) as sensor:
        scanner, client_cls = radio.bleak_backends()
        found = await BleakScanner.find_device_by_name(sensor.name, timeout=5.0,
                                                       backend=scanner)
        assert found is not None and found.address == sensor.address
        client = BleakClient(found, backend=client_cls)
        assert sensor.device.mtu == 185  # the URL's, until an MTU exchange
        await client.connect()
        assert client.mtu_size == 247
        assert sensor.device.mtu == 247  # follows the negotiated MTU
        host = Host(client)
        await host.subscribe()
        await _until(lambda: sensor.subscribed)
        rep = await host.command(FrameType.GET_INFO)
        assert rep.body.placement == DevicePlacement.LEFT_FOOT
        assert rep.body.uid == b"SIMLFOOT"
        assert host.problems() == {}
        await client.disconnect()


async def test_get_info_over_bleak_on_a_real_loop() -> None:
    async with asyncio.timeout(20.0):
        await _get_info_scenario()


def test_get_info_over_bleak_in_virtual_time() -> None:
    virtual(_get_info_scenario())


async def _configure_and_start(host: Host) -> float:
    """SET_CONFIG + START (IMU6 and STATUS); true time of sample 0 is returned by the caller."""
    cfg = (await host.command(FrameType.SET_CONFIG, CONFIG)).body
    assert (cfg.odr_hz, cfg.n_max) == (833, 18)
    start = (await host.command(FrameType.START, StartStop())).body
    assert start.sample_idx == 0
    return start.cfg_id


def test_ten_virtual_seconds_of_imu6_at_833_hz() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio, BumbleSimSensor(
                "sim://?placement=left_foot&odr=833&seed=7", radio) as sensor:
            host = await _connect(radio, sensor)
            await _until(lambda: sensor.subscribed)
            await host.command(FrameType.GET_INFO)
            await _configure_and_start(host)
            await asyncio.sleep(10.0)
            dev = sensor.device
            t_end = sensor.true_time_s()
            taken = math.floor((t_end - float(dev.sample_time_s(0))) * dev.true_odr_hz) + 1
            samples, frames = host.samples, host.all_frames

            assert host.problems() == {}
            assert host.gaps == []
            assert np.array_equal(samples.sample_idx, np.arange(len(samples)))
            n = 18  # n_for_mtu(247)
            assert set(frames["n"].tolist()) == {n}
            assert taken - n <= len(samples) <= taken  # ± one frame (the one being filled)
            assert len(samples) == pytest.approx(10.0 * 833 * 1.008, abs=2 * n)
            statuses = [m for m in host.messages if m.type == FrameType.STATUS]
            assert 9 <= len(statuses) <= 10
            assert all(s.body.mtu == 247 for s in statuses)
            assert sensor.notified == host.notifications
            await host.client.disconnect()

    virtual(main())


def test_dropped_frames_are_never_sent() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio, BumbleSimSensor(
                "sim://?placement=right_foot&odr=833&drop=0.05&seed=3", radio) as sensor:
            host = await _connect(radio, sensor)
            await _until(lambda: sensor.subscribed)
            await _configure_and_start(host)
            await asyncio.sleep(5.0)
            samples = host.samples
            missing = sum(g.count for g in host.gaps)
            assert host.decoder.problems["lost_frames"] > 0 and missing > 0
            problems = host.problems()
            assert problems.pop("lost_frames") > 0
            assert problems.pop("lost_samples") == missing
            assert problems == {}  # no corruption: frames are lost whole
            assert missing % 18 == 0  # whole frames of 18 samples
            assert len(samples) + missing >= samples.sample_idx[-1] + 1 - 18
            assert sensor.notified == host.notifications
            await host.client.disconnect()

    virtual(main())


# ----- the link ---------------------------------------------------------------------------
def test_scheduled_disconnect_drops_the_link_then_the_sensor_advertises_again() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio, BumbleSimSensor(
                "sim://?placement=left_foot&odr=833&disconnect=2:1.5&seed=7", radio) as sensor:
            loop = asyncio.get_running_loop()
            lost = loop.create_future()
            host = await _connect(radio, sensor,
                                  disconnected_callback=lambda c: lost.set_result(c))
            await _until(lambda: sensor.subscribed)
            await host.command(FrameType.GET_INFO)
            await _configure_and_start(host)

            assert await lost is host.client  # an unsolicited disconnection, seen by bleak
            t_lost = sensor.true_time_s()
            assert 2.0 <= t_lost < 2.0 + 2 * sensor.link.tick_s
            assert not host.client.is_connected and not sensor.is_connected
            assert sensor.link_drops == 1
            last_idx = int(host.samples.sample_idx[-1])
            assert last_idx > 1.5 * 833
            assert host.problems() == {}

            # out of range: not advertising, not found, connecting times out
            assert not sensor.is_advertising
            scanner, client_cls = radio.bleak_backends()
            found = await BleakScanner.discover(0.5, service_uuids=[SERVICE_UUID],
                                                backend=scanner)
            assert found == []
            with pytest.raises(BleakDeviceNotFoundError):
                await BleakClient(sensor.address, backend=client_cls, timeout=0.3).connect()

            # back in range at 3.5 s: advertising again, the same client reconnects
            device = await BleakScanner.find_device_by_name(sensor.name, timeout=3.0,
                                                            backend=scanner)
            assert device is not None
            assert sensor.true_time_s() >= 3.5 and sensor.is_advertising
            await host.client.connect()
            await host.subscribe()
            await _until(lambda: sensor.subscribed)
            assert (await host.command(FrameType.GET_INFO)).body.uid == b"SIMLFOOT"
            start = (await host.command(FrameType.START,
                                        StartStop(flags=int(StartFlag.RESUME)))).body
            assert start.sample_idx > last_idx + 1.4 * 833  # sampling went on meanwhile
            backlog = (await host.command(FrameType.READ_BACKLOG,
                                          ReadBacklog(last_idx + 1))).body
            assert backlog.count == start.sample_idx - (last_idx + 1)
            await asyncio.sleep(1.0)
            idx = host.samples.sample_idx
            assert idx[-1] > start.sample_idx + 0.9 * 833
            # every sample arrived once: live before the drop, backlog, live after
            assert np.array_equal(np.unique(idx), np.arange(idx[-1] + 1))
            await host.client.disconnect()

    virtual(main())


def test_two_sensors_at_once() -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            t0 = asyncio.get_running_loop().time()
            sensors = [BumbleSimSensor(f"sim://?placement={p}&odr=833&seed=7", radio, t0_s=t0)
                       for p in ("left_foot", "right_foot")]
            for s in sensors:
                await s.start()
            scanner, _ = radio.bleak_backends()
            found = await BleakScanner.discover(0.5, service_uuids=[SERVICE_UUID],
                                                return_adv=True, backend=scanner)
            assert sorted(found) == sorted(s.address for s in sensors)
            assert {found[s.address][1].local_name for s in sensors} == {s.name for s in sensors}

            hosts = [await _connect(radio, s) for s in sensors]
            for s in sensors:
                await _until(lambda s=s: s.subscribed)
            infos = [(await h.command(FrameType.GET_INFO)).body for h in hosts]
            assert [i.placement for i in infos] == [DevicePlacement.LEFT_FOOT,
                                                    DevicePlacement.RIGHT_FOOT]
            for h in hosts:
                await _configure_and_start(h)
            await asyncio.sleep(5.0)
            for h in hosts:
                assert h.problems() == {} and h.gaps == []
                assert len(h.samples) == pytest.approx(5.0 * 833 * 1.008, abs=36)
                await h.client.disconnect()
            for s in sensors:
                await s.stop()

    virtual(main())
