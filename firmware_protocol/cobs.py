"""Consistent Overhead Byte Stuffing (Cheshire & Baker 1999, IEEE/ACM Trans. Netw. 7(2):159).

Serial framing is ``cobs_encode(frame) + b"\\x00"``. :func:`cobs_decode` decodes one block;
:func:`cobs_decode_many` decodes every block of a buffer at once with numpy (one Python
iteration per COBS *code* position across all blocks); it is the reference the stream
decoder's numba kernel (:mod:`firmware_protocol.kernels`) is tested against.
"""

from __future__ import annotations

import numpy as np

DELIMITER = 0x00


class CobsError(ValueError):
    """The bytes are not a valid COBS encoding."""


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode ``data``; the result contains no 0x00 and excludes the delimiter."""
    out = bytearray()
    blocks = bytes(data).split(b"\x00")
    last = len(blocks) - 1
    for i, block in enumerate(blocks):
        long_run = False
        while len(block) >= 254:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
            long_run = True
        if block or not long_run or i != last:
            out.append(len(block) + 1)
            out += block
    return bytes(out)


def cobs_max_encoded_len(n: int) -> int:
    """Upper bound of ``len(cobs_encode(x))`` for ``len(x) == n`` (excluding the delimiter)."""
    return n + n // 254 + 1


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS block (without the delimiter). Raises :class:`CobsError` if invalid."""
    buf = bytes(data)
    n = len(buf)
    if n == 0:
        raise CobsError("empty COBS block")
    if b"\x00" in buf:
        raise CobsError("zero byte inside COBS block")
    out = bytearray()
    i = 0
    while i < n:
        code = buf[i]
        end = i + code
        if end > n:
            raise CobsError("COBS code runs past the end of the block")
        out += buf[i + 1 : end]
        if code != 0xFF and end < n:
            out.append(0)
        i = end
    return bytes(out)


def cobs_decode_many(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode many COBS blocks ``buf[starts[k]:ends[k]]`` (no zeros inside) in one pass.

    Returns ``(out, out_starts, out_lens, ok)``: the decoded bytes of all valid blocks
    concatenated (uint8), each block's offset and length in ``out`` and a bool per block that is
    False where a code ran past the block's end (that block's slice is empty).

    The zero a code byte stands for sits exactly where the *next* code byte is, so decoding is:
    find the code positions (walk all blocks' code chains in lock-step), overwrite each non-first
    code with 0 (or drop it if the previous code was 0xFF), and drop the first code of each block.
    """
    buf = np.asarray(buf, dtype=np.uint8)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    nblk = starts.size
    ok = np.ones(nblk, dtype=bool)
    if nblk == 0:
        e = np.zeros(0, np.int64)
        return np.zeros(0, np.uint8), e, e.copy(), ok
    zero_at: list[np.ndarray] = []  # code positions that become 0x00
    drop_at: list[np.ndarray] = []  # code positions that vanish (after a 0xFF code)
    drop_blk: list[np.ndarray] = []
    pos = starts
    blk = np.arange(nblk)
    end = ends
    code = buf[pos].astype(np.int64)
    while True:
        nxt = pos + code
        over = nxt > end
        if over.any():
            ok[blk[over]] = False
        live = nxt < end
        if not live.any():
            break
        was_ff = code[live] == 0xFF
        pos, blk, end = nxt[live], blk[live], end[live]
        if was_ff.any():
            drop_at.append(pos[was_ff])
            drop_blk.append(blk[was_ff])
            zero_at.append(pos[~was_ff])
        else:
            zero_at.append(pos)
        code = buf[pos].astype(np.int64)
    out = buf.copy()
    keep = buf != 0  # drops the delimiters between blocks
    keep[starts] = False  # first code of each block
    if zero_at:
        z = np.concatenate(zero_at)
        out[z] = 0
        keep[z] = True
    n_drop = np.zeros(nblk, np.int64)
    if drop_at:
        keep[np.concatenate(drop_at)] = False
        n_drop = np.bincount(np.concatenate(drop_blk), minlength=nblk)
    lens = ends - starts - 1 - n_drop
    if not ok.all():  # remove bad blocks' bytes
        for k in np.flatnonzero(~ok).tolist():
            keep[starts[k] : ends[k]] = False
        lens[~ok] = 0
    # bytes outside every block (e.g. skipped segments) must not leak into the output
    covered = np.zeros(buf.size + 1, np.int8)
    covered[starts] += 1
    covered[ends] -= 1
    if buf.size and (ends - starts).sum() + nblk < buf.size:
        keep &= np.cumsum(covered[:-1]) > 0
    out = out[keep]
    out_starts = np.concatenate(([0], np.cumsum(lens[:-1])))
    return out, out_starts, lens, ok
