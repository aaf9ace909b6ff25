"""``ble://NAME-or-ADDRESS``: a sensor over Bluetooth LE through bleak (the only module importing
bleak).

``ble://SC1A2B`` (advertised name) or ``ble://F0:F0:F0:F0:F0:01`` (address; on macOS the
CoreBluetooth UUID), options ``scan_timeout`` (s, default 10) and ``connect_timeout`` (s,
default 10): ``ble://SC1A2B?scan_timeout=5``.

:meth:`BleTransport.open` scans for the sensor (it must advertise our service,
:data:`firmware_protocol.gatt.SERVICE_UUID`, or be named/addressed exactly), connects, checks the
GATT service and the negotiated ATT MTU (one data frame must fit a notification), subscribes to
TX and writes commands to RX. The notify callback only stamps the event loop's time and queues
the bytes: one notification is one unit (``framing = "packet"``). On BlueZ bleak's AcquireNotify
path is kept (plain D-Bus delivery drops notifications under load). A disconnect ends
:meth:`read` with :class:`~stridecore.transport.base.LinkLost` after every notification that
arrived; the device session (:mod:`stridecore.device`) reconnects with backoff by calling
:meth:`open` again, which scans again.

``scanner_backend`` / ``client_backend`` pass bleak's public ``backend=`` argument through (the
tests drive a virtual GATT stack with them: :mod:`stridecore.testing.ble_bumble`).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qsl, unquote, urlsplit

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakError

from firmware_protocol.frame import IMU6_BYTES_PER_SAMPLE, IMU6_OVERHEAD
from firmware_protocol.gatt import RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID
from stridecore.transport.base import LinkLost, Transport, TransportError, Unit, loop_time

ATT_HEADER = 3  # a notification carries MTU - 3 bytes
MIN_FRAME = IMU6_OVERHEAD + IMU6_BYTES_PER_SAMPLE  # the smallest data frame (one sample)
_LOST = object()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _not_available(e: BleakBluetoothNotAvailableError) -> str:
    """bleak's message and reason (off, no radio, permission denied) in words."""
    msg = " ".join(str(e.args[0]).split()) if e.args else ""
    reason = getattr(e.args[1], "name", "") if len(e.args) > 1 else ""
    reason = reason.lower().replace("_", " ")
    return "; ".join(x for x in (msg, reason) if x) or type(e).__name__


def parse_ble_url(url: str) -> tuple[str, dict[str, float]]:
    """``(name or address, options)`` of a ``ble://`` URL; :class:`TransportError` (one line)
    for a missing target or unknown or bad options."""
    parts = urlsplit(url)
    target = unquote(parts.netloc + parts.path).strip("/")
    if parts.scheme != "ble" or not target:
        raise TransportError(f"{url!r}: expected ble://NAME-or-ADDRESS")
    opts = {"scan_timeout": 10.0, "connect_timeout": 10.0}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in opts:
            raise TransportError(f"{url}: unknown option {key!r} (known: {', '.join(opts)})")
        try:
            x = float(value)
        except ValueError:
            raise TransportError(f"{url}: option {key}={value!r} is not a number") from None
        if not 0 < x <= 600:
            raise TransportError(f"{url}: option {key}={value} must be in (0, 600] s")
        opts[key] = x
    return target, opts


def _is_address(target: str) -> bool:
    hexes = target.replace(":", "").replace("-", "")
    return ((len(target) == 17 and target.count(":") == 5) or len(target) == 36) and all(
        c in "0123456789abcdefABCDEF" for c in hexes)


class BleTransport(Transport):
    """One BLE sensor (see the module docstring)."""

    framing = "packet"

    def __init__(self, url: str, *, scanner_backend: type | None = None,
                 client_backend: type | None = None) -> None:
        super().__init__(url)
        self.target, self._opts = parse_ble_url(url)
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend
        self._client: BleakClient | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._open = False
        #: what the last connection negotiated: address, name, ATT MTU
        self.address: str | None = None
        self.device_name: str | None = None
        self.mtu: int | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    # ------------------------------------------------------------------ open / close
    async def open(self) -> None:
        if self._open:
            return
        self._queue = asyncio.Queue()  # units of an earlier connection were all read
        device = await self._find()
        client = BleakClient(device, disconnected_callback=self._on_disconnect,
                             timeout=self._opts["connect_timeout"],
                             backend=self._client_backend)
        try:
            await client.connect()
        except (TimeoutError, BleakError, OSError) as e:
            raise TransportError(f"{self.name}: connection failed: {_one_line(e)}") from None
        try:
            if client.services.get_service(SERVICE_UUID) is None:
                raise TransportError(f"{self.name}: the device does not offer the stridecore "
                                     f"service {SERVICE_UUID} (another kind of device?)")
            # BlueZ reports 23 until asked: bleak's documented way is its backend's
            # _acquire_mtu() (an AcquireWrite/AcquireNotify round trip) after connecting
            acquire = getattr(getattr(client, "_backend", None), "_acquire_mtu", None)
            if acquire is not None:
                with contextlib.suppress(Exception):
                    await acquire()
            mtu = int(client.mtu_size)
            if mtu - ATT_HEADER < MIN_FRAME:
                raise TransportError(f"{self.name}: ATT MTU {mtu} is too small for one data "
                                     f"frame ({MIN_FRAME + ATT_HEADER} needed)")
            self._client = client
            self._open = True
            # bluez: keep AcquireNotify (use_start_notify False), which does not drop
            await client.start_notify(TX_CHAR_UUID, self._on_notify,
                                      bluez={"use_start_notify": False})
        except TransportError:
            self._open = False
            self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        except (TimeoutError, BleakError, OSError) as e:
            self._open = False
            self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise TransportError(f"{self.name}: could not subscribe to the sensor's data: "
                                 f"{_one_line(e)}") from None
        self.address = getattr(device, "address", None)
        self.device_name = getattr(device, "name", None)
        self.mtu = mtu

    async def _find(self):
        """The advertising device: by address, or by name among those with our service."""
        target = self.target
        by_address = _is_address(target)

        def match(dev, adv) -> bool:
            if by_address:
                return dev.address.lower() == target.lower()
            return (adv.local_name or dev.name) == target

        timeout = self._opts["scan_timeout"]
        try:
            device = await BleakScanner.find_device_by_filter(
                match, timeout=timeout, backend=self._scanner_backend)
        except BleakBluetoothNotAvailableError as e:
            raise TransportError(f"{self.name}: Bluetooth is not available "
                                 f"({_not_available(e)})") from None
        except (BleakError, OSError) as e:
            raise TransportError(f"{self.name}: Bluetooth adapter not available "
                                 f"({_one_line(e)})") from None
        if device is None:
            raise TransportError(f"{self.name}: no sensor {'at' if by_address else 'named'} "
                                 f"{target} found in {timeout:g} s of scanning (off, out of "
                                 "range, or connected elsewhere?)")
        return device

    async def close(self) -> None:
        client, self._client = self._client, None
        was_open, self._open = self._open, False
        if client is not None:
            with contextlib.suppress(Exception):
                if was_open:
                    await client.stop_notify(TX_CHAR_UUID)
            with contextlib.suppress(Exception):
                await client.disconnect()
        if was_open:
            self._queue.put_nowait(_LOST)

    # ------------------------------------------------------------------ data
    def _on_notify(self, _char, data: bytearray) -> None:
        self._queue.put_nowait(Unit(loop_time(), bytes(data)))

    def _on_disconnect(self, _client) -> None:
        if self._open:
            self._open = False
            self._queue.put_nowait(_LOST)

    async def read(self) -> Unit:
        item = await self._queue.get()
        if item is _LOST:
            raise LinkLost(f"{self.name}: link lost")
        return item

    async def write(self, data: bytes) -> None:
        client = self._client
        if client is None or not self._open:
            raise LinkLost(f"{self.name}: link lost")
        try:
            await client.write_gatt_char(RX_CHAR_UUID, data, response=False)
        except (TimeoutError, BleakError, OSError) as e:
            raise LinkLost(f"{self.name}: write failed: {_one_line(e)}") from None


async def scan(timeout_s: float = 5.0, *, scanner_backend: type | None = None
               ) -> list[tuple[str | None, str, int | None]]:
    """``(name, address, RSSI dBm)`` of the devices advertising our service during a scan of
    ``timeout_s``, strongest first; :class:`TransportError` (one line) without Bluetooth."""
    try:
        found = await BleakScanner.discover(timeout=timeout_s, return_adv=True,
                                            service_uuids=[SERVICE_UUID],
                                            backend=scanner_backend)
    except BleakBluetoothNotAvailableError as e:
        raise TransportError(f"Bluetooth is not available ({_not_available(e)})") from None
    except (BleakError, OSError) as e:
        raise TransportError(f"Bluetooth adapter not available ({_one_line(e)})") from None
    out = []
    for dev, adv in found.values():
        uuids = [u.lower() for u in (adv.service_uuids or [])]
        if SERVICE_UUID in uuids:  # backends that ignore the filter
            out.append((adv.local_name or dev.name, dev.address, adv.rssi))
    return sorted(out, key=lambda x: -(x[2] if x[2] is not None else -999))
