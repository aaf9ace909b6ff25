"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, xorout 0).

Also known as CRC-16/IBM-3740 or AUTOSAR CRC-16; Zephyr ``crc16_itu_t``. Check value over ASCII
``123456789`` is ``0x29B1`` (RevEng CRC catalogue).
"""

from __future__ import annotations

from binascii import crc_hqx

CRC_INIT = 0xFFFF
CHECK_VALUE = 0x29B1


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (C speed via :func:`binascii.crc_hqx`)."""
    return crc_hqx(data, CRC_INIT)
