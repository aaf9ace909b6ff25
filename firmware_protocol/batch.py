"""What the stream decoder returns: samples as columns, frame metadata, messages, gaps, problems.

Samples are column arrays (contiguous, one numpy array per quantity), not one Python object per
sample: ``acc_mps2`` and ``gyr_radps`` are (N, 3) float64 in the sensor's housing frame, SI units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import IntFlag

import numpy as np

from firmware_protocol.frame import type_name


class SampleFlag(IntFlag):
    """Bits of the per-sample ``flags`` column."""

    CLIPPED_ACC = 1 << 0  # an accelerometer axis sits at the int16 limit (range clipping)
    CLIPPED_GYR = 1 << 1
    BACKLOG = 1 << 2  # replayed from device memory (type 0x11)
    LATE = 1 << 3  # arrived after later samples (out-of-order frame)
    GAP_BEFORE = 1 << 4  # samples are missing right before this one
    UNKNOWN_CFG = 1 << 5  # no scale known for the frame's cfg_id: SI columns are NaN


FRAME_DTYPE = np.dtype(
    [
        ("frame_no", "<i8"),  # running number of accepted frames (data and messages)
        ("seq", "<u2"),
        ("type", "u1"),  # 0x10 live, 0x11 backlog
        ("t_us", "<u8"),  # device µs of the first sample
        ("sample_idx", "<i8"),  # index of the first sample, unwrapped to 64 bit
        ("cfg_id", "u1"),
        ("n", "u1"),  # samples in the frame (before any LATE/BACKLOG de-duplication)
        ("period_us", "<f8"),  # sample period used for t_device_us within the frame
        # bytes fed to the decoder up to the end of the frame (its COBS delimiter, the end of
        # its packet) or, for a frame held in quarantine, of the frame that released it: the
        # input position at which its samples were delivered, whatever the chunking
        ("end_byte", "<i8"),
    ]
)


@dataclass
class Samples:
    """Decoded samples, one array per column, all of length N.

    ``sample_idx`` device sample index since START (int64, unwrapped); ``t_device_us`` device
    clock (float64 µs; the frame's ``t_us`` plus ``i`` sample periods); ``acc_mps2`` specific
    force (N, 3) m/s²; ``gyr_radps`` angular rate (N, 3) rad/s; ``flags`` :class:`SampleFlag`.
    """

    sample_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    t_device_us: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    acc_mps2: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float64))
    gyr_radps: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float64))
    flags: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return int(self.sample_idx.shape[0])

    def __getitem__(self, sel) -> Samples:
        return Samples(**{f.name: getattr(self, f.name)[sel] for f in fields(self)})

    @staticmethod
    def concat(parts: Iterable[Samples]) -> Samples:
        ps = list(parts)
        if not ps:
            return Samples()
        return Samples(**{f.name: np.concatenate([getattr(p, f.name) for p in ps])
                          for f in fields(Samples)})

    def equals(self, other: Samples) -> bool:
        """Exact equality of every column (NaN equal to NaN)."""
        return all(np.array_equal(getattr(self, f.name), getattr(other, f.name),
                                  equal_nan=getattr(self, f.name).dtype.kind == "f")
                   for f in fields(self))


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded non-data frame, in stream order (``frame_no``)."""

    frame_no: int
    seq: int
    type: int
    body: object  # Command, Reply, DeviceStatus, Event or Log
    end_byte: int = -1  # bytes fed to the decoder up to the end of this frame
    @property
    def name(self) -> str:
        return type_name(self.type)


@dataclass(frozen=True, slots=True)
class Gap:
    """``count`` samples from ``first_idx`` on were missing when frame ``frame_no`` arrived."""

    first_idx: int
    count: int
    frame_no: int


@dataclass
class Batch:
    """What one feed produced."""

    samples: Samples = field(default_factory=Samples)
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, FRAME_DTYPE))
    messages: list[Message] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    problems: Counter = field(default_factory=Counter)
    #: per row of ``frames``: index in ``samples`` of its first delivered sample (frames are
    #: delivered in order; a late or backlog frame may deliver fewer than ``n``)
    sample_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @staticmethod
    def concat(batches: Iterable[Batch]) -> Batch:
        bs = list(batches)
        out = Batch()
        if not bs:
            return out
        out.samples = Samples.concat(b.samples for b in bs)
        out.frames = np.concatenate([b.frames for b in bs])
        offsets = np.cumsum([0] + [len(b.samples) for b in bs[:-1]])
        out.sample_start = np.concatenate([b.sample_start + o for b, o in zip(bs, offsets,
                                                                                strict=True)])
        for b in bs:
            out.messages += b.messages
            out.gaps += b.gaps
            out.problems.update(b.problems)
        return out
