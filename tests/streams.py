"""Helpers that build protocol byte streams for tests (our own encoder, documented format)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from firmware_protocol import cobs_encode, encode_frame, encode_imu6
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import Config, DeviceStatus, Reply

ODR_HZ = 416
ACC_SCALE = float(np.float32(16 * 9.80665 / 32768))
GYR_SCALE = float(np.float32(math.radians(2000) / 32768))
CONFIG = Config(ODR_HZ, 16, 2000, 18, 1, ACC_SCALE, GYR_SCALE)


def config_reply(seq: int = 0, cfg: Config = CONFIG) -> bytes:
    return encode_frame(FrameType.GET_CONFIG | 0x80, seq, Reply(2, 1, 0, cfg).pack())


def status_frame(seq: int, t_us: int) -> bytes:
    return encode_frame(FrameType.STATUS, seq, DeviceStatus(t_us, 3900, 80, 8, 0, 0, 247,
                                                            2500).pack())


def data_frames(k: int, n: int = 18, seq0: int = 1, idx0: int = 0, t0_us: int = 1_000_000,
                odr_hz: float = ODR_HZ * 1.01, seed: int = 0, cfg_id: int = 1,
                raw_range: int = 4000) -> tuple[list[bytes], np.ndarray]:
    """``k`` consecutive IMU6 frames and their raw samples (k·n, 6)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(-raw_range, raw_range, (k * n, 6)).astype(np.int16)
    frames = []
    for j in range(k):
        idx = idx0 + j * n
        t_us = t0_us + round((idx - idx0) * 1e6 / odr_hz)
        frames.append(encode_imu6(seq0 + j, t_us, idx, cfg_id, raw[j * n : (j + 1) * n]))
    return frames, raw


def serial(frames: list[bytes]) -> bytes:
    return b"".join(cobs_encode(f) + b"\x00" for f in frames)


def chunk(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the (sorted, deduplicated) cut positions."""
    pos = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *pos, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def expected_si(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return raw[:, :3] * ACC_SCALE, raw[:, 3:] * GYR_SCALE
