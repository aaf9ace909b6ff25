"""bleak's real API over a real GATT stack: bumble's virtual controllers in one process.

Every scenario runs twice: on a normal asyncio loop and on stridecore's virtual-time loop
(bumble's controllers only use the loop's ``call_soon``/``call_later``, so scan windows and
timeouts cost no wall time there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError

from firmware_protocol.gatt import RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID
from stridecore.clock import run_virtual
from stridecore.testing.ble_bumble import BumbleSensor, VirtualRadio

TIMEOUT_S = 20.0  # a scenario that hangs fails instead (real or virtual seconds)


def _run_real(main: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(main)


@pytest.fixture(params=["real", "virtual"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    runner = _run_real if request.param == "real" else run_virtual

    def go(main: Coroutine[Any, Any, Any]) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(TIMEOUT_S):
                return await main
        return runner(bounded())

    return go


class Inbox:
    """Collects notifications at the bleak callback; :meth:`wait_for` until ``n`` arrived."""

    def __init__(self) -> None:
        self.items: list[bytearray] = []
        self._want = 0
        self._event = asyncio.Event()

    def __call__(self, _char: object, data: bytearray) -> None:
        assert isinstance(data, bytearray)
        self.items.append(data)
        if len(self.items) >= self._want:
            self._event.set()

    async def wait_for(self, n: int) -> list[bytearray]:
        self._want = n
        if len(self.items) < n:
            self._event.clear()
            await self._event.wait()
        return self.items


def _frame(sensor_id: int, i: int, mtu: int) -> bytes:
    """A distinct payload per (sensor, index), 8..mtu-3 bytes long."""
    n = 8 + (i * 37) % (mtu - 3 - 8 + 1)
    head = bytes([sensor_id]) + i.to_bytes(4, "little")
    return (head + bytes((i + k) & 0xFF for k in range(n)))[:n]


async def _sensors(radio: VirtualRadio, *names: str) -> list[BumbleSensor]:
    return [await BumbleSensor(radio, name).start() for name in names]


async def _stream(sensor: BumbleSensor, sensor_id: int, n: int) -> list[bytes]:
    sent = [_frame(sensor_id, i, sensor.mtu) for i in range(n)]
    for frame in sent:
        await sensor.notify(frame)
    return sent


def test_scan_finds_sensors_by_service_uuid(run) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            right, left = await _sensors(radio, "SC-R01", "SC-L01")
            # a bystander advertising something else is filtered out by service UUID
            other = await radio.create_device("other")
            other.advertising_data = bytes.fromhex("020106") + b"\x06\x09OTHER"
            await other.start_advertising(advertising_interval_min=20.0)
            scanner, _ = radio.bleak_backends()

            found = await BleakScanner.discover(0.5, service_uuids=[SERVICE_UUID],
                                                return_adv=True, backend=scanner)
            assert sorted(found) == sorted([right.address, left.address])
            for sensor in (right, left):
                device, adv = found[sensor.address]
                assert device.name == sensor.name
                assert adv.local_name == sensor.name
                assert adv.service_uuids == [SERVICE_UUID]
                assert isinstance(adv.rssi, int)

            everything = await BleakScanner.discover(0.5, return_adv=True, backend=scanner)
            assert len(everything) == 3
            assert everything[other.random_address.to_string(False)][1].local_name == "OTHER"

            device = await BleakScanner.find_device_by_name("SC-L01", timeout=5.0,
                                                            backend=scanner)
            assert device is not None and device.address == left.address
            assert await BleakScanner.find_device_by_name("nope", timeout=0.3,
                                                          backend=scanner) is None

    run(main())


def test_connect_mtu_services_write_and_client_disconnect(run) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            got: list[bytes] = []
            arrived = asyncio.Event()

            def on_write(data: bytes) -> None:
                got.append(data)
                if len(got) == 3:
                    arrived.set()

            sensor = await BumbleSensor(radio, "SC-R01", on_write=on_write).start()
            scanner, client_cls = radio.bleak_backends()
            device = await BleakScanner.find_device_by_name("SC-R01", timeout=5.0,
                                                            backend=scanner)
            assert device is not None
            dropped: list[BleakClient] = []
            client = BleakClient(device, disconnected_callback=dropped.append,
                                 backend=client_cls)
            await client.connect()
            assert client.is_connected and sensor.is_connected
            assert client.mtu_size >= 185
            assert client.mtu_size == sensor.mtu == 247

            service = client.services.get_service(SERVICE_UUID)
            assert service is not None
            rx = service.get_characteristic(RX_CHAR_UUID)
            tx = service.get_characteristic(TX_CHAR_UUID)
            assert rx is not None and tx is not None
            assert {"write", "write-without-response"} <= set(rx.properties)
            assert "notify" in tx.properties
            assert rx.max_write_without_response_size == 244

            await client.write_gatt_char(RX_CHAR_UUID, b"\x01\x02", response=False)
            await client.write_gatt_char(rx, b"\x03" * 200, response=True)
            await client.write_gatt_char(RX_CHAR_UUID, bytearray(b"\x04"), response=False)
            await arrived.wait()
            assert got == [b"\x01\x02", b"\x03" * 200, b"\x04"]

            await client.disconnect()  # solicited: no disconnected_callback
            assert not client.is_connected
            await sensor.wait_disconnected()
            assert dropped == []

    run(main())


def test_200_notifications_arrive_in_order(run) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            (sensor,) = await _sensors(radio, "SC-R01")
            _, client_cls = radio.bleak_backends()
            async with BleakClient(sensor.address, backend=client_cls) as client:
                inbox = Inbox()
                await client.start_notify(TX_CHAR_UUID, inbox)
                await sensor.wait_subscribed()
                sent = await _stream(sensor, 1, 200)
                assert max(map(len, sent)) == client.mtu_size - 3
                received = await inbox.wait_for(200)
                assert [bytes(r) for r in received] == sent

                await client.stop_notify(TX_CHAR_UUID)
                await _until(lambda: not sensor.subscribed)
                await sensor.notify(b"dropped: nobody subscribed")
                await client.write_gatt_char(RX_CHAR_UUID, b"sync", response=True)
                assert len(inbox.items) == 200

    run(main())


def test_link_loss_fires_disconnected_callback_then_reconnect(run) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            (sensor,) = await _sensors(radio, "SC-R01")
            _, client_cls = radio.bleak_backends()
            lost = asyncio.get_running_loop().create_future()
            client = BleakClient(sensor.address, backend=client_cls,
                                 disconnected_callback=lambda c: lost.set_result(c))
            await client.connect()
            inbox = Inbox()
            await client.start_notify(TX_CHAR_UUID, inbox)
            await sensor.wait_subscribed()
            sent = await _stream(sensor, 1, 20)

            assert not sensor.is_advertising  # a connected peripheral stops advertising
            await sensor.disconnect()  # link loss seen from the central
            assert await lost is client
            assert not client.is_connected
            assert [bytes(r) for r in inbox.items] == sent  # nothing sent before was lost

            # out of range: connecting times out
            with pytest.raises(BleakDeviceNotFoundError):
                await BleakClient(sensor.address, backend=client_cls, timeout=0.5).connect()

            # back in range: the same BleakClient connects again and streams
            await sensor.start_advertising()
            await client.connect()
            assert client.is_connected and client.mtu_size == 247
            inbox2 = Inbox()
            await client.start_notify(TX_CHAR_UUID, inbox2)
            await sensor.wait_subscribed()
            sent2 = await _stream(sensor, 2, 30)
            assert [bytes(r) for r in await inbox2.wait_for(30)] == sent2
            assert len(inbox.items) == 20
            await client.disconnect()

    run(main())


def test_two_sensors_stream_to_two_clients_at_once(run) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            sensors = await _sensors(radio, "SC-R01", "SC-L01")
            scanner, client_cls = radio.bleak_backends()
            found = await BleakScanner.discover(0.5, service_uuids=[SERVICE_UUID],
                                                return_adv=True, backend=scanner)
            assert len(found) == 2
            clients = [BleakClient(found[s.address][0], backend=client_cls) for s in sensors]
            inboxes = [Inbox(), Inbox()]
            for client, inbox, sensor in zip(clients, inboxes, sensors, strict=True):
                await client.connect()
                await client.start_notify(TX_CHAR_UUID, inbox)
                await sensor.wait_subscribed()

            sent = await asyncio.gather(*(_stream(s, i, 200) for i, s in enumerate(sensors)))
            for inbox, frames in zip(inboxes, sent, strict=True):
                assert [bytes(r) for r in await inbox.wait_for(200)] == frames
            for client in clients:
                await client.disconnect()

    run(main())


async def _until(pred: Callable[[], bool], step_s: float = 0.001) -> None:
    while not pred():
        await asyncio.sleep(step_s)
