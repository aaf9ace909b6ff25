"""Stream health: what a user needs to trust a sensor link, accumulated from decoder batches."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from firmware_protocol import Batch, SampleFlag, StreamDecoder
from firmware_protocol.messages import Config, DeviceStatus, Info, Reply
from stridecore.dsp.kernels.health import block_stats
from stridecore.schema import Placement

G = 9.80665


@dataclass
class StreamHealth:
    """Running totals of one device stream (units in the names)."""

    samples: int = 0
    data_frames: int = 0
    backlog_samples: int = 0
    late_samples: int = 0
    clipped_samples: int = 0
    gaps: int = 0
    peak_acc_g: float = 0.0
    peak_gyr_dps: float = 0.0
    first_frame: tuple[int, int] | None = None  # (sample_idx, t_us)
    last_frame: tuple[int, int] | None = None
    messages: Counter = field(default_factory=Counter)
    info: Info | None = None
    config: Config | None = None
    status: DeviceStatus | None = None
    disconnects: int = 0
    link_up: bool = True

    def update(self, batch: Batch) -> None:
        s = batch.samples
        self.samples += len(s)
        self.data_frames += len(batch.frames)
        self.gaps += len(batch.gaps)
        if len(s):
            pa, pg, nb, nl, nc = block_stats(
                s.acc_mps2, s.gyr_radps, s.flags, np.uint8(SampleFlag.BACKLOG),
                np.uint8(SampleFlag.LATE),
                np.uint8(SampleFlag.CLIPPED_ACC | SampleFlag.CLIPPED_GYR))
            self.backlog_samples += nb
            self.late_samples += nl
            self.clipped_samples += nc
            if pa > -np.inf:  # the square root of the largest squared norm (monotonic)
                self.peak_acc_g = max(self.peak_acc_g, math.sqrt(pa) / G)
            if pg > -np.inf:
                self.peak_gyr_dps = max(self.peak_gyr_dps, math.degrees(math.sqrt(pg)))
        live = batch.frames[batch.frames["type"] == 0x10]
        if live.size:
            if self.first_frame is None:
                self.first_frame = (int(live["sample_idx"][0]), int(live["t_us"][0]))
            self.last_frame = (int(live["sample_idx"][-1]), int(live["t_us"][-1]))
        for m in batch.messages:
            self.messages[m.name] += 1
            body = m.body
            if isinstance(body, Reply) and body.body is not None:
                if isinstance(body.body, Info):
                    self.info = body.body
                elif isinstance(body.body, Config):
                    self.config = body.body
                elif isinstance(body.body, DeviceStatus):
                    self.status = body.body
            elif isinstance(body, DeviceStatus):
                self.status = body

    @property
    def measured_odr_hz(self) -> float:
        """Output data rate on the device clock: Δsample_idx / Δt_us of first and last frame."""
        if self.first_frame is None or self.last_frame is None:
            return float("nan")
        d_idx = self.last_frame[0] - self.first_frame[0]
        d_us = self.last_frame[1] - self.first_frame[1]
        return d_idx / d_us * 1e6 if d_us > 0 and d_idx > 0 else float("nan")

    def as_dict(self, decoder: StreamDecoder) -> dict:
        """Plain summary for JSON output and the live table."""
        missing = sum(b - a for a, b in decoder.open_gaps)
        placement = None
        if self.info is not None:
            p = Placement.from_device_code(self.info.placement)
            placement = p.value if p else None
        return {
            "device": {
                "uid": self.info.uid.decode("ascii", "replace") if self.info else None,
                "placement": placement,
                "imu": self.info.imu_part_str if self.info else None,
                "firmware": (f"{self.info.fw_major}.{self.info.fw_minor}.{self.info.fw_patch}"
                             if self.info else None),
            },
            "config": None if self.config is None else {
                "odr_hz": self.config.odr_hz, "acc_range_g": self.config.acc_range_g,
                "gyro_range_dps": self.config.gyro_range_dps, "cfg_id": self.config.cfg_id},
            "samples": self.samples,
            "data_frames": self.data_frames,
            "measured_odr_hz": round(self.measured_odr_hz, 3)
            if np.isfinite(self.measured_odr_hz) else None,
            "gaps": self.gaps,
            "samples_missing_now": missing,
            "samples_recovered": decoder.recovered_samples,
            "backlog_samples": self.backlog_samples,
            "late_samples": self.late_samples,
            "clipped_samples": self.clipped_samples,
            "peak_acc_g": round(self.peak_acc_g, 2),
            "peak_gyr_dps": round(self.peak_gyr_dps, 1),
            "battery_mv": self.status.battery_mv if self.status else None,
            "device_fifo_overruns": self.status.fifo_overruns if self.status else None,
            "disconnects": self.disconnects,
            "link": "up" if self.link_up else "down",
            "messages": dict(self.messages),
            "problems": {k: v for k, v in decoder.problems.items() if v},
            "bytes": decoder.bytes_in,
        }
