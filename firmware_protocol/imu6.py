"""IMU6 data frames (types 0x10 live, 0x11 backlog): encoding and batch decoding with numpy.

Payload: ``t_us u64 | sample_idx u32 | cfg_id u8 | n u8 | n × (ax ay az gx gy gz) int16``.
Decoding gathers all frames of one length into a 2-D array and views it through a structured
dtype, so there is no Python loop per sample (and none per frame for the field extraction).
"""

from __future__ import annotations

import numpy as np

from firmware_protocol.frame import (
    IMU6_BYTES_PER_SAMPLE,
    IMU6_HEADER_LEN,
    IMU6_MAX_SAMPLES,
    IMU6_OVERHEAD,
    FrameType,
    encode_frame,
)

HEADER_DTYPE = np.dtype(
    [
        ("version", "u1"),
        ("type", "u1"),
        ("seq", "<u2"),
        ("t_us", "<u8"),
        ("sample_idx", "<u4"),
        ("cfg_id", "u1"),
        ("n", "u1"),
    ]
)
assert HEADER_DTYPE.itemsize == IMU6_HEADER_LEN
RAW_MAX = 32767
RAW_MIN = -32768


def frame_len(n: int) -> int:
    """Bytes of an IMU6 frame with ``n`` samples: ``20 + 12·n``."""
    return IMU6_OVERHEAD + IMU6_BYTES_PER_SAMPLE * n


def encode_imu6(seq: int, t_us: int, sample_idx: int, cfg_id: int, raw: np.ndarray,
                backlog: bool = False) -> bytes:
    """One IMU6 frame from ``raw`` int16 counts of shape (n, 6) (ax ay az gx gy gz).

    ``sample_idx`` is taken modulo 2**32 (it wraps on the wire).
    """
    raw = np.ascontiguousarray(raw, dtype="<i2")
    if raw.ndim != 2 or raw.shape[1] != 6 or not 1 <= raw.shape[0] <= IMU6_MAX_SAMPLES:
        raise ValueError(f"raw must have shape (n, 6) with 1 <= n <= 255, got {raw.shape}")
    head = np.zeros((), HEADER_DTYPE)
    head["t_us"] = t_us & 0xFFFFFFFFFFFFFFFF
    head["sample_idx"] = sample_idx & 0xFFFFFFFF
    head["cfg_id"] = cfg_id
    head["n"] = raw.shape[0]
    payload = head.tobytes()[4:] + raw.tobytes()
    ftype = FrameType.IMU6_BACKLOG if backlog else FrameType.IMU6
    return encode_frame(ftype, seq, payload)


def gather_imu6(buf: np.ndarray, starts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Headers (structured, shape (k,)) and raw counts (int16, shape (k, n, 6)) of the ``k``
    frames of ``n`` samples that start at ``starts`` in ``buf`` (uint8)."""
    length = frame_len(n)
    starts = np.asarray(starts, np.int64)
    if starts.size and (np.diff(starts) == length).all():  # back to back: a plain view
        rows = buf[starts[0] : starts[0] + starts.size * length].reshape(-1, length)
    elif starts.size * length < (1 << 20):  # small: a plain gather is quickest
        rows = buf[starts[:, None] + np.arange(length)]
    else:
        rows = np.lib.stride_tricks.sliding_window_view(buf, length)[starts]
    heads = rows[:, :IMU6_HEADER_LEN].copy().view(HEADER_DTYPE).reshape(-1)
    raw = rows[:, IMU6_HEADER_LEN : length - 2].copy().view("<i2").reshape(-1, n, 6)
    return heads, raw
