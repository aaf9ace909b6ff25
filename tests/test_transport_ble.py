"""``ble://`` transport (bleak) over a real GATT stack: bumble's virtual controllers, in virtual
time. The sensor here is the bare GATT peripheral (bytes in, bytes out); the simulated firmware
behind it is tested with the device session elsewhere."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakError,
)

from stridecore.clock import run_virtual
from stridecore.testing.ble_bumble import BumbleSensor, VirtualRadio
from stridecore.transport import open_url
from stridecore.transport.base import LinkLost, TransportError
from stridecore.transport.ble import BleTransport, parse_ble_url


def virtual(main) -> Any:
    async def bounded():
        async with asyncio.timeout(120.0):
            return await main
    return run_virtual(bounded())


def transport(radio: VirtualRadio, url: str, **kw) -> BleTransport:
    scanner, client = radio.bleak_backends()
    return BleTransport(url, scanner_backend=kw.pop("scanner", scanner),
                        client_backend=kw.pop("client", client))


def test_urls_and_their_errors():
    assert parse_ble_url("ble://SC1A2B") == ("SC1A2B", {"scan_timeout": 10.0,
                                                        "connect_timeout": 10.0})
    assert parse_ble_url("ble://F0:F0:F0:F0:F0:01?scan_timeout=2.5")[0] == "F0:F0:F0:F0:F0:01"
    for bad, why in [("ble://", "NAME-or-ADDRESS"), ("ble://x?speed=3", "unknown option"),
                     ("ble://x?scan_timeout=soon", "not a number"),
                     ("ble://x?connect_timeout=0", "must be in")]:
        with pytest.raises(TransportError, match=why):
            parse_ble_url(bad)
    assert isinstance(open_url("ble://SC1A2B"), BleTransport)
    assert open_url("ble://SC1A2B").framing == "packet"


def test_by_name_and_by_address_data_both_ways_and_a_dropped_link():
    async def main():
        async with VirtualRadio() as radio:
            got: list[bytes] = []
            sensor = await BumbleSensor(radio, "SCLF01", on_write=got.append).start()
            other = await BumbleSensor(radio, "SCRF02").start()
            t = transport(radio, "ble://SCLF01?scan_timeout=3")
            await t.open()
            assert t.is_open and t.address == sensor.address and t.mtu == 247
            await sensor.wait_subscribed()
            await t.write(b"\x01\x02hello")
            for k in range(50):
                await sensor.notify(bytes([k]) * (10 + k))
            units = [await t.read() for _ in range(50)]
            assert [u.data for u in units] == [bytes([k]) * (10 + k) for k in range(50)]
            assert all(b.t_host_s >= a.t_host_s for a, b in itertools.pairwise(units))
            while not got:
                await asyncio.sleep(0.01)
            assert got == [b"\x01\x02hello"]
            # the sensor drops the link: queued units first, then LinkLost; reads and writes
            for k in range(3):
                await sensor.notify(bytes([200 + k]) * 20)
            await asyncio.sleep(0.2)
            await sensor.disconnect()
            tail = []
            with pytest.raises(LinkLost):
                while True:
                    tail.append((await t.read()).data)
            assert tail == [bytes([200 + k]) * 20 for k in range(3)]
            assert not t.is_open
            with pytest.raises(LinkLost):
                await t.write(b"x")
            await t.close()
            # advertising again: open() scans and connects again
            await sensor.start_advertising()
            await t.open()
            await sensor.wait_subscribed()
            await sensor.notify(b"again")
            assert (await t.read()).data == b"again"
            await t.close()
            # by address, the other sensor
            t2 = transport(radio, f"ble://{other.address}?scan_timeout=3")
            await t2.open()
            assert t2.device_name == "SCRF02"
            await other.wait_subscribed()
            await other.notify(b"right")
            assert (await t2.read()).data == b"right"
            await t2.close()
            await t2.close()  # idempotent
    virtual(main())


def test_bad_links_are_one_line_errors():
    async def main():
        async with VirtualRadio() as radio:
            scanner, client = radio.bleak_backends()
            ok = await BumbleSensor(radio, "SCOK").start()
            # nobody of that name
            with pytest.raises(TransportError, match=r"no sensor named NOPE found in 2 s"):
                await transport(radio, "ble://NOPE?scan_timeout=2").open()
            # a device of that name without our service
            other = await radio.create_device("OTHER")
            other.advertising_data = bytes.fromhex("020106") + b"\x06\x09OTHER"
            await other.start_advertising(advertising_interval_min=20.0)
            with pytest.raises(TransportError, match="does not offer the stridecore service"):
                await transport(radio, "ble://OTHER?scan_timeout=2").open()

            # no adapter
            class NoAdapter(scanner):
                async def start(self) -> None:
                    raise BleakError("No Bluetooth adapters found.")

            with pytest.raises(TransportError, match="Bluetooth adapter not available"):
                await transport(radio, "ble://SCOK", scanner=NoAdapter).open()

            # the adapter is off
            class Off(scanner):
                async def start(self) -> None:
                    raise BleakBluetoothNotAvailableError(
                        "Bluetooth is turned off", BleakBluetoothNotAvailableReason.POWERED_OFF)

            with pytest.raises(TransportError, match=r"^ble://SCOK: Bluetooth is not available "
                               r"\(Bluetooth is turned off; powered off\)$"):
                await transport(radio, "ble://SCOK", scanner=Off).open()

            # an MTU too small for one data frame
            class TinyMtu(client):
                @property
                def mtu_size(self) -> int:
                    return 23

            with pytest.raises(TransportError, match=r"ATT MTU 23 is too small"):
                await transport(radio, "ble://SCOK?scan_timeout=2", client=TinyMtu).open()

            # a backend that knows the MTU only when asked (BlueZ: _acquire_mtu)
            class AskFirst(client):
                asked = False

                @property
                def mtu_size(self) -> int:
                    return 247 if self.asked else 23

                async def _acquire_mtu(self) -> None:
                    self.asked = True

            await ok.wait_disconnected()
            if not ok.is_advertising:
                await ok.start_advertising()
            t = transport(radio, "ble://SCOK?scan_timeout=2", client=AskFirst)
            await t.open()
            assert t.mtu == 247
            await t.close()

            # the connection itself refused (the sensor advertises again after the last try)
            await ok.wait_disconnected()
            if not ok.is_advertising:
                await ok.start_advertising()
            class Refused(client):
                async def connect(self, *a, **k) -> None:
                    raise BleakError("Connection refused by the peer")

            with pytest.raises(TransportError, match="connection failed: Connection refused"):
                await transport(radio, "ble://SCOK?scan_timeout=2", client=Refused).open()
    virtual(main())
