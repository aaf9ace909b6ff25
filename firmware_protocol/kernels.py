"""numba kernels of the stream decoder: COBS split + decode + CRC in one pass, CRC of packets.

Pure functions of arrays (numpy and numba only). The numpy reference they must agree with is
:func:`firmware_protocol.cobs.cobs_decode_many` plus :func:`binascii.crc_hqx` (tests check it).

Speed (a COBS stream of 176-B IMU6 frames: ~1.2 ns per byte, ~5.5 with byte-at-a-time loops):

* CRC-16 is computed *sliced by 16*: ``CRC_SLICES[k, b]`` is the CRC register after byte ``b``
  followed by ``k`` zero bytes, so 16 bytes cost 16 independent table look-ups and one
  dependent step (the register only reaches the first two bytes; the CRC is linear over GF(2)).
  Tails use the same tables 8, 4, 2 and 1 bytes at a time.
* A COBS block is decoded without a per-run copy: the zero a code byte stands for sits where the
  next code byte is, so (when no code is 0xFF) the decoded block is the encoded one minus its
  first byte with each later code position set to 0. The kernel walks the code chain to the
  0x00 it must land on, copies the block in one vectorised loop that also checks it holds no
  other 0x00, and zeroes the code positions; a valid chain with 0xFF codes is copied run by
  run. Anything else (a zero inside, a chain that overshoots, an oversize block) goes through
  the byte-at-a-time decoder, which defines every status.
* Loops index slices from 0 (``range`` counters, unsigned chain offsets): numba then emits no
  negative-index wrap-around, which otherwise sits in every access and blocks vectorisation.

The kernels take the byte table as before: for (a table equal to) ``CRC_TABLE`` they use the
slicing tables built at import (``CRC_SLICES``), for any other table the byte-at-a-time loop with
that table (slicing needs a table of a CRC), so their results are the byte loop's for any table.
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

_N_SLICES = 16  # CRC slicing tables: bytes per step of the (unrolled) loop of _crc16_sliced


def _crc_table() -> np.ndarray:
    tab = np.zeros(256, np.int64)
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        tab[b] = c & 0xFFFF
    return tab


def _slicing_tables(table: np.ndarray) -> np.ndarray:
    """``(16, 256)`` uint16: row ``k`` is the CRC register after byte ``b`` and ``k`` zero
    bytes, for the MSB-first 16-bit CRC whose byte table is ``table`` (row 0)."""
    tabs = np.empty((_N_SLICES, 256), np.int64)
    tabs[0] = table
    for k in range(1, _N_SLICES):
        prev = tabs[k - 1]
        tabs[k] = ((prev << 8) & 0xFFFF) ^ tabs[0][prev >> 8]
    return tabs.astype(np.uint16)


CRC_TABLE = _crc_table()
CRC_SLICES = _slicing_tables(CRC_TABLE)


@njit
def _is_crc_table(table):  # pragma: no cover - compiled
    """Is ``table`` (the values of) :data:`CRC_TABLE`?"""
    if table.size != 256:
        return False
    ref = CRC_TABLE
    diff = 0
    for b in range(256):
        diff |= np.int64(table[b]) ^ ref[b]
    return diff == 0


@njit
def _crc16_sliced(buf, start, n):  # pragma: no cover - compiled
    """CRC-16/CCITT-FALSE of ``buf[start:start+n]`` by :data:`CRC_SLICES`; needs
    ``0 <= start``, ``0 <= n`` and ``start + n <= buf.size``."""
    tabs = CRC_SLICES
    b = buf[start : start + n]
    c = 0xFFFF
    m = n >> 4
    for r in range(m):
        k = r << 4
        x = c ^ ((np.int64(b[k]) << 8) | np.int64(b[k + 1]))
        c = (np.int64(tabs[15, x >> 8]) ^ np.int64(tabs[14, x & 0xFF])
             ^ np.int64(tabs[13, b[k + 2]]) ^ np.int64(tabs[12, b[k + 3]])
             ^ np.int64(tabs[11, b[k + 4]]) ^ np.int64(tabs[10, b[k + 5]])
             ^ np.int64(tabs[9, b[k + 6]]) ^ np.int64(tabs[8, b[k + 7]])
             ^ np.int64(tabs[7, b[k + 8]]) ^ np.int64(tabs[6, b[k + 9]])
             ^ np.int64(tabs[5, b[k + 10]]) ^ np.int64(tabs[4, b[k + 11]])
             ^ np.int64(tabs[3, b[k + 12]]) ^ np.int64(tabs[2, b[k + 13]])
             ^ np.int64(tabs[1, b[k + 14]]) ^ np.int64(tabs[0, b[k + 15]]))
    k = m << 4
    if n - k >= 8:
        x = c ^ ((np.int64(b[k]) << 8) | np.int64(b[k + 1]))
        c = (np.int64(tabs[7, x >> 8]) ^ np.int64(tabs[6, x & 0xFF])
             ^ np.int64(tabs[5, b[k + 2]]) ^ np.int64(tabs[4, b[k + 3]])
             ^ np.int64(tabs[3, b[k + 4]]) ^ np.int64(tabs[2, b[k + 5]])
             ^ np.int64(tabs[1, b[k + 6]]) ^ np.int64(tabs[0, b[k + 7]]))
        k += 8
    if n - k >= 4:
        x = c ^ ((np.int64(b[k]) << 8) | np.int64(b[k + 1]))
        c = (np.int64(tabs[3, x >> 8]) ^ np.int64(tabs[2, x & 0xFF])
             ^ np.int64(tabs[1, b[k + 2]]) ^ np.int64(tabs[0, b[k + 3]]))
        k += 4
    if n - k >= 2:
        x = c ^ ((np.int64(b[k]) << 8) | np.int64(b[k + 1]))
        c = np.int64(tabs[1, x >> 8]) ^ np.int64(tabs[0, x & 0xFF])
        k += 2
    if n - k >= 1:
        c = ((c << 8) & 0xFFFF) ^ np.int64(tabs[0, (c >> 8) ^ np.int64(b[k])])
    return c


@njit
def _crc16_bytes(buf, start, n, table):  # pragma: no cover - compiled
    """Byte-at-a-time CRC-16 with any byte ``table`` (what the kernels did before slicing)."""
    crc = 0xFFFF
    for k in range(start, start + n):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ np.int64(buf[k])]
    return crc


@njit
def _crc16(buf, start, n, table, sliced):  # pragma: no cover - compiled
    """Sliced when ``table`` is CRC_TABLE (``sliced``) and the range lies inside ``buf``."""
    if sliced and start >= 0 and n >= 0 and start + n <= buf.size:
        return _crc16_sliced(buf, start, n)
    return _crc16_bytes(buf, start, n, table)


@njit
def crc16_at(buf, start, n, table):  # pragma: no cover - compiled
    """CRC-16/CCITT-FALSE of ``buf[start:start+n]`` (``table``: the byte table, ``CRC_TABLE``)."""
    return _crc16(buf, start, n, table, _is_crc_table(table))


@njit
def _decode_block(buf, i, n, max_encoded, out, o):  # pragma: no cover - compiled
    """Byte-at-a-time decoder of the block starting at ``buf[i]`` (non-zero) into ``out[o:]``.

    Returns ``(j, status, w)``: the block's delimiter position (``n`` if the buffer ends first),
    ``OK``, ``OVERSIZE`` or ``BAD_COBS``, and the end of the decoded bytes in ``out``."""
    j = i
    while j < n and buf[j] != 0:
        j += 1
    if j - i > max_encoded:
        return j, OVERSIZE, o
    p = i
    w = o
    while p < j:
        code = np.int64(buf[p])
        end = p + code
        if end > j:
            return j, BAD_COBS, o
        for q in range(p + 1, end):
            out[w] = buf[q]
            w += 1
        if code != 0xFF and end < j:
            out[w] = 0
            w += 1
        p = end
    return j, OK, w


@njit
def cobs_frames(buf, max_encoded, table, out, o_start, o_len, status,
                enc_end):  # pragma: no cover - compiled
    """Split ``buf`` (ending in 0x00) at delimiters, COBS-decode each non-empty block into
    ``out`` and check its CRC. Fills ``o_start``/``o_len``/``status`` and ``enc_end`` (the
    position in ``buf`` just past the block's delimiter) per block; returns the
    number of blocks. Status: OK, BAD_COBS, OVERSIZE (encoded block too long), BAD_CRC,
    TRUNCATED (decoded shorter than 6 B). A tail without a delimiter is decoded as if one
    followed it. ``out`` needs ``buf.size`` bytes."""
    n = buf.size
    sliced = _is_crc_table(table)
    # offsets of the code bytes of the current block (at most max_encoded + 1 of them)
    pos = np.empty(max(0, min(max_encoded, n)) + 2, np.uint64)
    nb = 0
    o = np.int64(0)  # (not the literal 0: numba would compile the callees for it too)
    i = np.int64(0)
    while i < n:
        if buf[i] == 0:  # empty block
            i += 1
            continue
        # walk the code chain (offsets from i, unsigned: no wrap-around checks) up to a 0x00
        lim = n - i if max_encoded >= n - i else max(0, max_encoded + 1)
        blk = buf[i : i + lim]
        m = np.uint64(lim)
        r = np.uint64(0)
        nc = 0
        ff = False
        while r < m:
            c = blk[r]
            if c == 0:
                break
            pos[nc] = r
            nc += 1
            ff |= c == 0xFF
            r += np.uint64(c)
        fast = False
        if r < m:  # the chain lands on a 0x00 within max_encoded bytes: delimiter candidate
            j = i + np.int64(r)
            length = j - i - 1  # decoded length if there is no 0xFF code
            src = buf[i + 1 : j]
            dst = out[o : o + length]
            zeros = 0
            for q in range(length):  # copy, and check that the block holds no other 0x00
                v = src[q]
                dst[q] = v
                zeros |= v == 0
            if zeros == 0:
                fast = True
                if not ff:
                    for k in range(1, nc):  # the zero each code (but the first) stands for
                        dst[pos[k] - np.uint64(1)] = 0
                    w = o + length
                else:  # valid chain with 0xFF codes: copy run by run
                    w = o
                    for k in range(nc):
                        p = i + np.int64(pos[k])
                        code = np.int64(buf[p])
                        end = p + code
                        run = out[w : w + code - 1]
                        srun = buf[p + 1 : end]
                        for q in range(code - 1):
                            run[q] = srun[q]
                        w += code - 1
                        if code != 0xFF and end < j:
                            out[w] = 0
                            w += 1
                st = OK
        if not fast:
            j, st, w = _decode_block(buf, i, n, max_encoded, out, o)
        o_start[nb] = o
        o_len[nb] = 0
        enc_end[nb] = min(j + 1, n)
        if st != OK:
            status[nb] = st
        else:
            flen = w - o
            o_len[nb] = flen
            if flen < 6:
                status[nb] = TRUNCATED
            else:
                stored = np.int64(out[w - 2]) | (np.int64(out[w - 1]) << 8)
                crc = _crc16(out, o, flen - 2, table, sliced)
                status[nb] = OK if crc == stored else BAD_CRC
            o = w
        nb += 1
        i = j + 1
    return nb


@njit
def crc_ok_many(buf, starts, lens, table):  # pragma: no cover - compiled
    """For frames ``buf[starts[k]:starts[k]+lens[k]]`` (each ≥ 2 B): does the CRC match?"""
    sliced = _is_crc_table(table)
    res = np.zeros(starts.size, np.bool_)
    for k in range(starts.size):
        s = starts[k]
        n = lens[k]
        stored = np.int64(buf[s + n - 2]) | (np.int64(buf[s + n - 1]) << 8)
        res[k] = _crc16(buf, s, n - 2, table, sliced) == stored
    return res
