"""Transports opened by URL, like pyserial's ``serial_for_url``.

=====================================  =========================================================
``sim://?placement=left_foot&...``     the simulated sensor (:mod:`.sim`; options there)
``serial:///dev/ttyACM0?baud=921600``  a serial / USB-CDC port (:mod:`.serial`)
``/dev/ttyACM0``, ``COM3``             the same, as a bare path
``loop://``, ``socket://host:port``,   any pyserial URL handler, passed through to pyserial
``rfc2217://...``, ``spy://...``
``ble://NAME-or-ADDRESS``              a BLE sensor (bleak)
``file://run.mcap``                    a recording: not a live link, see ``stridecore replay``
=====================================  =========================================================

Modules importing third-party link libraries (pyserial, bleak) are imported only when their
scheme is used, so a missing optional library only matters to its own scheme.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from stridecore.transport.base import LinkLost, Transport, TransportError, Unit

__all__ = ["SERIAL_SCHEMES", "LinkLost", "Transport", "TransportError", "Unit", "open_url"]

#: pyserial's URL handlers (``serial.serial_for_url``) plus our ``serial://`` spelling
SERIAL_SCHEMES = ("serial", "loop", "socket", "rfc2217", "spy", "alt", "hwgrep", "cp2110")


def scheme_of(url: str) -> str:
    """The URL scheme, or ``"serial"`` for a bare device path (``/dev/ttyUSB0``, ``COM3``)."""
    if "://" not in url:
        return "serial"
    return urlsplit(url).scheme.lower()


def open_url(url: str) -> Transport:
    """A (not yet opened) :class:`Transport` for ``url``; :class:`TransportError` with one line
    for an unknown scheme or bad options."""
    scheme = scheme_of(url)
    if scheme == "sim":
        from stridecore.transport.sim import SimTransport

        return SimTransport(url)
    if scheme in SERIAL_SCHEMES:
        from stridecore.transport.serial import SerialTransport

        return SerialTransport(url)
    if scheme == "ble":
        try:
            from stridecore.transport.ble import BleTransport
        except ImportError as e:
            raise TransportError(f"ble:// links need the bleak package ({e})") from None
        return BleTransport(url)
    if scheme == "file":
        raise TransportError(f"{url}: a recording is not a live link; "
                             "use `stridecore replay FILE.mcap`")
    known = ", ".join(["sim", *SERIAL_SCHEMES, "ble", "file"])
    raise TransportError(f"unknown URL scheme {scheme!r} in {url!r} (known: {known})")
