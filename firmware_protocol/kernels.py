"""numba kernels of the stream decoder: COBS split + decode + CRC in one pass, CRC of packets.

Pure functions of arrays (numpy and numba only). The numpy reference they must agree with is
:func:`firmware_protocol.cobs.cobs_decode_many` plus :func:`binascii.crc_hqx` (tests check it).
"""

from __future__ import annotations

import numpy as np

from firmware_protocol._jit import njit

# per-block status of cobs_frames
OK = 0
BAD_COBS = 1
OVERSIZE = 2
BAD_CRC = 3
TRUNCATED = 4


def _crc_table() -> np.ndarray:
    tab = np.zeros(256, np.int64)
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        tab[b] = c & 0xFFFF
    return tab


CRC_TABLE = _crc_table()


@njit
def crc16_at(buf, start, n, table):  # pragma: no cover - compiled
    """CRC-16/CCITT-FALSE of ``buf[start:start+n]``."""
    crc = 0xFFFF
    for k in range(start, start + n):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ np.int64(buf[k])]
    return crc


@njit
def cobs_frames(buf, max_encoded, table, out, o_start, o_len, status):  # pragma: no cover
    """Split ``buf`` (ending in 0x00) at delimiters, COBS-decode each non-empty block into
    ``out`` and check its CRC. Fills ``o_start``/``o_len``/``status`` per block; returns the
    number of blocks. Status: OK, BAD_COBS, OVERSIZE (encoded block too long), BAD_CRC,
    TRUNCATED (decoded shorter than 6 B)."""
    n = buf.size
    nb = 0
    o = 0
    i = 0
    while i < n:
        j = i
        while buf[j] != 0:
            j += 1
        length = j - i
        if length == 0:
            i = j + 1
            continue
        o_start[nb] = o
        o_len[nb] = 0
        if length > max_encoded:
            status[nb] = OVERSIZE
            nb += 1
            i = j + 1
            continue
        p = i
        w = o
        ok = True
        while p < j:
            code = np.int64(buf[p])
            end = p + code
            if end > j:
                ok = False
                break
            for q in range(p + 1, end):
                out[w] = buf[q]
                w += 1
            if code != 0xFF and end < j:
                out[w] = 0
                w += 1
            p = end
        if not ok:
            status[nb] = BAD_COBS
        else:
            flen = w - o
            o_len[nb] = flen
            if flen < 6:
                status[nb] = TRUNCATED
            else:
                stored = np.int64(out[w - 2]) | (np.int64(out[w - 1]) << 8)
                crc = crc16_at(out, o, flen - 2, table)
                status[nb] = OK if crc == stored else BAD_CRC
            o = w
        nb += 1
        i = j + 1
    return nb


@njit
def crc_ok_many(buf, starts, lens, table):  # pragma: no cover - compiled
    """For frames ``buf[starts[k]:starts[k]+lens[k]]`` (each ≥ 2 B): does the CRC match?"""
    res = np.zeros(starts.size, np.bool_)
    for k in range(starts.size):
        s = starts[k]
        n = lens[k]
        stored = np.int64(buf[s + n - 2]) | (np.int64(buf[s + n - 1]) << 8)
        res[k] = crc16_at(buf, s, n - 2, table) == stored
    return res
