"""A real GATT stack in one process for BLE tests: bumble's virtual controllers behind bleak.

Nothing here is on the runtime path; it needs the ``bumble`` dev dependency.

- :class:`VirtualRadio` owns one bumble :class:`~bumble.link.LocalLink` (the "air") and creates
  bumble :class:`~bumble.device.Device` s on it, each with its own virtual
  :class:`~bumble.controller.Controller` and HCI host, on the running asyncio loop.
- :class:`BumbleSensor` is a bumble peripheral that looks like a v1 sensor over the air: it
  advertises :data:`firmware_protocol.gatt.SERVICE_UUID` and its name, serves the RX
  (write / write without response) and TX (notify) characteristics, hands each write to
  ``on_write(data)`` and sends one notification per :meth:`BumbleSensor.notify` call.
- :class:`BumbleBleakScanner` and :class:`BumbleBleakClient` are a bleak backend over a bumble
  central on the same radio, for bleak's public ``backend=`` argument.

How the backend finds its radio: :meth:`VirtualRadio.bleak_backends` returns the two backend
classes bound to that radio (subclasses carrying a ``radio`` class attribute)::

    async with VirtualRadio() as radio:
        sensor = await BumbleSensor(radio, "SC-R01", on_write=got.append).start()
        Scanner, Client = radio.bleak_backends()
        found = await BleakScanner.discover(1.0, service_uuids=[SERVICE_UUID],
                                            return_adv=True, backend=Scanner)
        async with BleakClient(address, backend=Client) as client:
            await client.start_notify(TX_CHAR_UUID, on_notify)

All bleak clients and scanners of one radio share one bumble central ("the host adapter",
address ``F0:F0:F0:F0:F0:00``), as all BleakClients of a real host share its adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid as _uuid
from collections.abc import Callable
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import core, gatt, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from firmware_protocol.gatt import PREFERRED_MTU, RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID

__all__ = [
    "BumbleBleakClient",
    "BumbleBleakScanner",
    "BumbleSensor",
    "VirtualRadio",
]

HOST_ADDRESS = "F0:F0:F0:F0:F0:00"
LE_ACL_DATA_PACKET_LENGTH = 251
_ADV_MAX = 31  # B of legacy advertising data (the virtual controller sends no scan response)
_ADV = core.AdvertisingData

#: bumble characteristic property bits -> bleak property names
_PROPERTY_NAMES = {
    gatt.Characteristic.Properties.BROADCAST: "broadcast",
    gatt.Characteristic.Properties.READ: "read",
    gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    gatt.Characteristic.Properties.WRITE: "write",
    gatt.Characteristic.Properties.NOTIFY: "notify",
    gatt.Characteristic.Properties.INDICATE: "indicate",
    gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    gatt.Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


def _uuid_str(u: core.UUID | str) -> str:
    """A bumble UUID as bleak spells it: the full 128-bit form in lower case."""
    if isinstance(u, str):
        u = core.UUID(u)
    return str(_uuid.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


class _Controller(Controller):
    """bumble's virtual controller, plus LE Create Connection Cancel as the spec has it.

    bumble 0.0.236 answers the cancel with success but keeps the pending connection and never
    ends it, so ``Device.connect(timeout=…)`` to a device that is not advertising hangs after
    its timeout. Here the cancel ends the attempt with an LE Connection Complete event of
    status Unknown Connection Identifier (Vol 4, Part E, 7.8.13), which bumble's host turns
    into a connection failure and ``connect`` into ``bumble.core.TimeoutError``.
    """

    def on_hci_le_create_connection_cancel_command(self, command: Any) -> Any:
        pending = self.pending_le_connection
        result = super().on_hci_le_create_connection_cancel_command(command)
        if pending is not None:
            self.pending_le_connection = None
            event = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address.address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            # after the Command Complete that the caller sends when this returns
            asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return result


class VirtualRadio:
    """One virtual air (a bumble ``LocalLink``) and the devices on it, on the running loop.

    Use it as ``async with VirtualRadio() as radio`` (or call :meth:`close`): closing powers
    every device off. Addresses are handed out as ``F0:F0:F0:F0:F0:01``, ``…:02``, … (the
    host central is ``…:00``).
    """

    def __init__(self) -> None:
        self.link = LocalLink()
        self.devices: list[Device] = []
        self._next = 1
        self._central: Device | None = None
        self._central_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()  # bumble allows one pending LE connection at a time
        self._scan_users = 0
        self._backends: tuple[type[BumbleBleakScanner], type[BumbleBleakClient]] | None = None

    def new_address(self) -> str:
        address = f"F0:F0:F0:F0:F0:{self._next:02X}"
        self._next += 1
        return address

    async def create_device(self, name: str, address: str | None = None) -> Device:
        """A powered-on bumble device with its own controller on this radio."""
        address = address or self.new_address()
        controller = _Controller(name, link=self.link, public_address=address)
        # LE data length extension (251 B PDUs, as phones and nRF52 negotiate): a 247-B ATT
        # notification is one ACL packet instead of ten 27-B fragments, ~5x less CPU per frame
        controller.le_acl_data_packet_length = LE_ACL_DATA_PACKET_LENGTH
        device = Device(name=name, address=hci.Address(address),
                        host=Host(controller, AsyncPipeSink(controller)))
        await device.power_on()
        self.devices.append(device)
        return device

    async def central(self) -> Device:
        """The shared host central (created on first use)."""
        async with self._central_lock:
            if self._central is None:
                self._central = await self.create_device("stridecore-host", HOST_ADDRESS)
            return self._central

    async def scan_started(self) -> Device:
        central = await self.central()
        self._scan_users += 1
        if not central.scanning:
            await central.start_scanning(filter_duplicates=False)
        return central

    async def scan_stopped(self) -> None:
        self._scan_users = max(0, self._scan_users - 1)
        central = self._central
        if self._scan_users == 0 and central is not None and central.scanning:
            await central.stop_scanning()

    def bleak_backends(self) -> tuple[type[BumbleBleakScanner], type[BumbleBleakClient]]:
        """``(Scanner, Client)``: the bleak backend classes bound to this radio, for
        ``BleakScanner(backend=Scanner)`` and ``BleakClient(address, backend=Client)``."""
        if self._backends is None:
            ns = {"radio": self, "__module__": __name__}
            scanner = type("BumbleBleakScanner", (BumbleBleakScanner,), ns)
            client = type("BumbleBleakClient", (BumbleBleakClient,), ns)
            self._backends = (scanner, client)
        return self._backends

    async def close(self) -> None:
        for device in reversed(self.devices):
            with contextlib.suppress(Exception):
                await device.power_off()
        self.devices.clear()
        self._central = None

    async def __aenter__(self) -> VirtualRadio:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class BumbleSensor:
    """A bumble peripheral playing a v1 sensor: advertising, the GATT service and the link.

    ``on_write(data)`` gets the bytes of each write to RX; :meth:`notify` sends one TX
    notification. ``on_connect(connection)`` / ``on_disconnect(reason)`` are optional hooks.
    Call ``await sensor.start()`` (powers on, serves GATT, advertises).
    """

    def __init__(self, radio: VirtualRadio, name: str,
                 on_write: Callable[[bytes], object] | None = None, *,
                 address: str | None = None,
                 on_connect: Callable[[Connection], object] | None = None,
                 on_disconnect: Callable[[int], object] | None = None,
                 advertising_interval_ms: float = 20.0) -> None:
        self.radio = radio
        self.name = name
        self.address = address or radio.new_address()
        self.on_write = on_write
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.advertising_interval_ms = advertising_interval_ms
        self.device: Device | None = None
        self.connection: Connection | None = None
        self.subscribed = False
        self.writes: list[bytes] = []  # every write received, in order
        self._subscribed_event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._disconnected_event = asyncio.Event()
        self._disconnected_event.set()

        self.rx = gatt.Characteristic(
            RX_CHAR_UUID,
            gatt.Characteristic.Properties.WRITE
            | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_rx_write),
        )
        self.tx = gatt.Characteristic(
            TX_CHAR_UUID, gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE, b"",
        )
        self.tx.on(self.tx.EVENT_SUBSCRIPTION, self._on_subscription)
        self.service = gatt.Service(SERVICE_UUID, [self.rx, self.tx])

    def advertising_data(self) -> bytes:
        """Flags, the complete 128-bit service UUID list and the complete local name."""
        data = bytes(_ADV([
            (_ADV.Type.FLAGS, bytes([_ADV.LE_GENERAL_DISCOVERABLE_MODE_FLAG
                                     | _ADV.BR_EDR_NOT_SUPPORTED_FLAG])),
            (_ADV.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
             core.UUID(SERVICE_UUID).to_bytes(force_128=True)),
            (_ADV.Type.COMPLETE_LOCAL_NAME, self.name.encode()),
        ]))
        if len(data) > _ADV_MAX:
            raise ValueError(f"name {self.name!r} too long for legacy advertising data "
                             f"({len(data)} > {_ADV_MAX} B; at most 8 UTF-8 bytes fit)")
        return data

    async def start(self) -> BumbleSensor:
        adv = self.advertising_data()
        self.device = await self.radio.create_device(self.name, self.address)
        self.device.add_service(self.service)
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        self.device.advertising_data = adv
        await self.start_advertising()
        return self

    # ----- link control -------------------------------------------------------------------
    async def start_advertising(self) -> None:
        assert self.device is not None, "start() first"
        await self.device.start_advertising(
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def stop_advertising(self) -> None:
        assert self.device is not None, "start() first"
        await self.device.stop_advertising()

    @property
    def is_advertising(self) -> bool:
        return self.device is not None and bool(self.device.is_advertising)

    @property
    def is_connected(self) -> bool:
        return self.connection is not None

    async def disconnect(self) -> None:
        """Drop the link from the peripheral side (the central sees an unsolicited
        disconnection)."""
        if self.connection is not None:
            await self.connection.disconnect()
            await self._disconnected_event.wait()

    async def wait_connected(self) -> Connection:
        await self._connected_event.wait()
        assert self.connection is not None
        return self.connection

    async def wait_subscribed(self) -> None:
        """Until the central has enabled TX notifications on the current link."""
        await self._subscribed_event.wait()

    async def wait_disconnected(self) -> None:
        await self._disconnected_event.wait()

    # ----- data ---------------------------------------------------------------------------
    async def notify(self, data: bytes) -> None:
        """Send ``data`` as one TX notification to the connected central (dropped, as by
        firmware, when the central has not subscribed)."""
        if self.connection is None or self.device is None:
            raise ConnectionError(f"{self.name}: not connected")
        await self.device.notify_subscriber(self.connection, self.tx, bytes(data))

    @property
    def mtu(self) -> int:
        return self.connection.att_mtu if self.connection is not None else 23

    # ----- bumble events ------------------------------------------------------------------
    def _on_rx_write(self, connection: Connection, value: bytes) -> None:
        data = bytes(value)
        self.writes.append(data)
        if self.on_write is not None:
            self.on_write(data)

    def _on_subscription(self, connection: Connection, notify_enabled: bool,
                         indicate_enabled: bool) -> None:
        self.subscribed = bool(notify_enabled)
        if self.subscribed:
            self._subscribed_event.set()
        else:
            self._subscribed_event.clear()

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self._disconnected_event.clear()
        self._connected_event.set()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        if self.on_connect is not None:
            self.on_connect(connection)

    def _on_disconnection(self, reason: int) -> None:
        self.connection = None
        self.subscribed = False
        self._subscribed_event.clear()
        self._connected_event.clear()
        self._disconnected_event.set()
        if self.on_disconnect is not None:
            self.on_disconnect(reason)


# ===== bleak backend ======================================================================
def _advertisement_data(adv: Advertisement) -> AdvertisementData:
    data = adv.data
    name = data.get(_ADV.Type.COMPLETE_LOCAL_NAME, raw=True) or data.get(
        _ADV.Type.SHORTENED_LOCAL_NAME, raw=True)
    uuids: list[str] = []
    for ad_type, size in (
        (_ADV.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 2),
        (_ADV.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 2),
        (_ADV.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, 4),
        (_ADV.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, 4),
        (_ADV.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 16),
        (_ADV.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 16),
    ):
        for raw in data.get_all(ad_type, raw=True):
            for i in range(0, len(raw) - size + 1, size):
                u = _uuid_str(core.UUID.from_bytes(raw[i:i + size]))
                if u not in uuids:  # bumble's virtual controller repeats the data as a
                    uuids.append(u)  # scan response, which bumble's accumulator appends
    manufacturer: dict[int, bytes] = {}
    for raw in data.get_all(_ADV.Type.MANUFACTURER_SPECIFIC_DATA, raw=True):
        if len(raw) >= 2:
            manufacturer[int.from_bytes(raw[:2], "little")] = bytes(raw[2:])
    service_data: dict[str, bytes] = {}
    for ad_type, size in ((_ADV.Type.SERVICE_DATA_16_BIT_UUID, 2),
                          (_ADV.Type.SERVICE_DATA_32_BIT_UUID, 4),
                          (_ADV.Type.SERVICE_DATA_128_BIT_UUID, 16)):
        for raw in data.get_all(ad_type, raw=True):
            if len(raw) >= size:
                service_data[_uuid_str(core.UUID.from_bytes(raw[:size]))] = bytes(raw[size:])
    tx_power = data.get(_ADV.Type.TX_POWER_LEVEL, raw=True)
    return AdvertisementData(
        local_name=bytes(name).decode("utf-8", "replace") if name else None,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=int.from_bytes(tx_power, "little", signed=True) if tx_power else None,
        rssi=int(adv.rssi),
        platform_data=(adv,),
    )


class BumbleBleakScanner(BaseBleakScanner):
    """bleak scanner backend over the radio's bumble central (use
    :meth:`VirtualRadio.bleak_backends`)."""

    radio: ClassVar[VirtualRadio]

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None,
                 scanning_mode: str = "active", **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._central: Device | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._central = await self.radio.scan_started()
        self._central.on(self._central.EVENT_ADVERTISEMENT, self._on_advertisement)

    async def stop(self) -> None:
        if self._central is not None:
            self._central.remove_listener(self._central.EVENT_ADVERTISEMENT,
                                          self._on_advertisement)
            self._central = None
            await self.radio.scan_stopped()

    def _on_advertisement(self, adv: Advertisement) -> None:
        ad = _advertisement_data(adv)
        if not self.is_allowed_uuid(ad.service_uuids):
            return
        address = adv.address.to_string(False)
        device = self.create_or_update_device(address, address, ad.local_name, adv, ad)
        self.call_detection_callbacks(device, ad)


class BumbleBleakClient(BaseBleakClient):
    """bleak client backend: one LE connection from the radio's bumble central (use
    :meth:`VirtualRadio.bleak_backends`). ``connect`` exchanges the MTU (asking for
    ``PREFERRED_MTU`` = 247) and discovers all services, characteristics and descriptors."""

    radio: ClassVar[VirtualRadio]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device,
                         disconnected_callback=kwargs.pop("disconnected_callback", None),
                         timeout=kwargs.pop("timeout", 30.0), **kwargs)
        self._name = (address_or_ble_device.name
                      if isinstance(address_or_ble_device, BLEDevice) else None)
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnecting = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # ----- connection ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self.is_connected:
            return
        central = await self.radio.central()
        timeout = float(kwargs.get("timeout", self._timeout))
        try:
            async with self.radio.connect_lock:
                connection = await central.connect(
                    hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS),
                    timeout=timeout)
        except core.TimeoutError as e:
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found.") from e
        self._connection = connection
        self._disconnecting = False
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(connection)
            self._peer = peer
            await peer.request_mtu(PREFERRED_MTU)
            self.services = await self._discover(peer)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.disconnect()
            raise

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnecting = True
        done = asyncio.get_running_loop().create_future()
        connection.once(connection.EVENT_DISCONNECTION,
                        lambda *_: done.done() or done.set_result(None))
        with contextlib.suppress(Exception):
            await connection.disconnect()
        if self._connection is not None:
            await asyncio.wait_for(done, timeout=5.0)

    def _on_disconnection(self, reason: int) -> None:
        solicited = self._disconnecting
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        self.services = None
        if not solicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("pairing is not supported by the bumble test backend")

    async def unpair(self) -> None:
        raise BleakError("pairing is not supported by the bumble test backend")

    # ----- discovery ----------------------------------------------------------------------
    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in await peer.discover_services():
            bservice = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bservice)
            for char in await peer.discover_characteristics(service=service):
                props = [name for bit, name in _PROPERTY_NAMES.items()
                         if char.properties & bit]
                bchar = BleakGATTCharacteristic(
                    char, char.handle, _uuid_str(char.uuid), props,
                    lambda: self.mtu_size - 3, bservice)
                collection.add_characteristic(bchar)
                for desc in await peer.discover_descriptors(characteristic=char):
                    collection.add_descriptor(BleakGATTDescriptor(
                        desc, desc.handle, _uuid_str(desc.type), bchar))
        return collection

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    # ----- I/O ----------------------------------------------------------------------------
    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray(await self._require().read_value(characteristic.obj))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray(await self._require().read_value(descriptor.handle))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        await self._require().write_value(characteristic.obj, bytes(data),
                                          with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._require().write_value(descriptor.handle, bytes(data), with_response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        peer = self._require()

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        old = self._subscribers.pop(characteristic.handle, None)
        if old is not None:
            await peer.unsubscribe(characteristic.obj, old)
        self._subscribers[characteristic.handle] = subscriber
        await peer.subscribe(characteristic.obj, subscriber, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await peer.unsubscribe(characteristic.obj, subscriber)
