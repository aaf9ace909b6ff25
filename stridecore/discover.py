"""Finding sensors: BLE sensors advertising our service, and serial ports with a sensor on them.

:func:`find_sensors` scans Bluetooth LE for :data:`firmware_protocol.gatt.SERVICE_UUID`, asks
each sensor found for GET_INFO (placement, uid, firmware), and probes serial ports (the OS's
list, or given paths) with GET_INFO: a port is listed only if a sensor answers. Problems (no
Bluetooth, a sensor that does not answer) are notes, not exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass

from firmware_protocol import StreamDecoder, encode_command
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import Info, Reply, Status
from stridecore.device import uid_text
from stridecore.schema import Placement
from stridecore.transport.base import LinkLost, Transport, TransportError


@dataclass
class FoundSensor:
    """A sensor found: how to reach it (``url``) and what it said about itself."""

    kind: str  # "ble" or "serial"
    url: str
    name: str | None = None  # BLE advertised name
    address: str | None = None  # BLE address or serial device path
    rssi_dbm: int | None = None
    placement: str | None = None
    uid: str | None = None
    firmware: str | None = None
    note: str | None = None  # why GET_INFO gave nothing

    def as_dict(self) -> dict:
        return asdict(self)


async def query_info(transport: Transport, timeout_s: float = 1.0) -> Info:
    """Open ``transport``, send GET_INFO and return the device's answer;
    :class:`TransportError` (one line) when it cannot be opened or nothing answers in time.
    The transport is closed afterwards."""
    await transport.open()
    try:
        dec = StreamDecoder(framing=transport.framing)
        await transport.write(encode_command(FrameType.GET_INFO, 0, 1, None, transport.framing))

        async def answer() -> Info:
            while True:
                unit = await transport.read()
                batch = (dec.feed(unit.data) if transport.framing == "cobs"
                         else dec.feed_packet(unit.data))
                for m in batch.messages:
                    body = m.body
                    if (isinstance(body, Reply) and isinstance(body.body, Info)
                            and body.status == Status.OK):
                        return body.body

        try:
            async with asyncio.timeout(timeout_s):
                return await answer()
        except TimeoutError:
            raise TransportError(f"{transport.name}: no answer to GET_INFO in "
                                 f"{timeout_s:g} s") from None
        except LinkLost as e:
            raise TransportError(str(e)) from None
    finally:
        with contextlib.suppress(Exception):
            await transport.close()


def _describe(found: FoundSensor, info: Info) -> None:
    p = Placement.from_device_code(info.placement)
    found.placement = p.value if p else f"code {info.placement}"
    found.uid = uid_text(info.uid)
    found.firmware = f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}"


async def find_sensors(*, ble: bool = True, serial: bool = True,
                       serial_ports: list[str] | None = None, scan_timeout_s: float = 5.0,
                       info_timeout_s: float = 2.0, scanner_backend: type | None = None,
                       client_backend: type | None = None
                       ) -> tuple[list[FoundSensor], list[str]]:
    """Sensors found and notes (one line each) about what could not be looked at."""
    found: list[FoundSensor] = []
    notes: list[str] = []
    if ble:
        try:
            from stridecore.transport.ble import BleTransport, scan
        except ImportError as e:
            notes.append(f"Bluetooth: not looked at (bleak is missing: {e})")
        else:
            try:
                seen = await scan(scan_timeout_s, scanner_backend=scanner_backend)
            except TransportError as e:
                notes.append(f"Bluetooth: {e}")
                seen = []
            for name, address, rssi in seen:
                f = FoundSensor("ble", f"ble://{name or address}", name, address, rssi)
                t = BleTransport(f"ble://{address}?scan_timeout={scan_timeout_s:g}",
                                 scanner_backend=scanner_backend,
                                 client_backend=client_backend)
                try:
                    _describe(f, await query_info(t, info_timeout_s))
                except TransportError as e:
                    f.note = str(e)
                found.append(f)
    if serial:
        paths = serial_ports
        if paths is None:
            from stridecore.transport.serial import list_ports

            try:
                paths = list_ports()
            except Exception as e:  # the OS listing itself failed
                notes.append(f"serial ports: not listed ({type(e).__name__}: {e})")
                paths = []
        from stridecore.transport.serial import SerialTransport

        for path in paths:
            f = FoundSensor("serial", f"serial://{path}", address=path)
            try:
                _describe(f, await query_info(SerialTransport(f"serial://{path}"),
                                              info_timeout_s))
            except TransportError:
                continue  # no sensor on that port
            found.append(f)
    return found, notes
