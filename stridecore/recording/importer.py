"""Import an outside sensor's samples as a session recording, as if its device had streamed them.

The file holds the wire units a host and the sensor would have exchanged over serial (protocol
v1, COBS framing), built with :mod:`firmware_protocol`'s encoders the way the simulated device
builds them (:mod:`stridecore.transport.sim_device`): GET_INFO (the placement, uid
``IMPORTnn``), GET_CONFIG, a burst of :data:`BURST_N` TIME_SYNC probes, START, then IMU6 frames
of :data:`N_PER_FRAME` samples with a probe every :data:`SYNC_PERIOD_S`, and STOP; plus the
link events, configuration snapshot and probe records a live session writes. So
``stridecore replay`` and ``stridecore export`` read it unchanged.

Time. The host clock is the source's time base: session start (``t0_host_s`` = 0) is the
source's t = 0, a data frame arrives :data:`LINK_S` after its last sample, and the handshake
takes the :data:`LEAD_S` before the first sample (negative host times when the source starts at
0). The device clock reads the source's time plus a fixed offset, each frame's ``t_us`` is its
first sample's time, and every command and reply takes :data:`LINK_S` each way, so the probes
pin the clock map to the source's time base and exported ``t_s`` are the source's sample times.
``odr_hz`` is the nominal rate rounded to an integer; the decoder measures the true period from
``t_us`` (204.8 Hz data say 205 Hz in GET_CONFIG and decode at 204.8 Hz).

Data. Quantisation to int16 counts is the only change: ±16 g and ±2000 dps, each doubled until
every sample of every sensor fits below the rails (so nothing is clipped or flagged that the
source did not clip), with the float32 scales firmware reports. The session metadata says so
(``quantised``), beside the caller's ``source`` strings and the source rate(s).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from firmware_protocol import cobs_encode, encode_command, encode_frame, encode_imu6
from firmware_protocol.frame import REPLY_BIT, FrameType
from firmware_protocol.imu6 import RAW_MAX
from firmware_protocol.messages import (
    Capability,
    Config,
    Empty,
    Info,
    Reply,
    StartReply,
    StartStop,
    StreamMask,
    TimeSyncReply,
    TimeSyncRequest,
)
from stridecore.export import samples_columns
from stridecore.recording.format import TimeSyncProbe, check_name
from stridecore.recording.writer import RecordingWriter
from stridecore.replay import replay
from stridecore.schema import Placement
from stridecore.transport.sim_device import acc_scale_mps2, gyro_scale_radps

N_PER_FRAME = 18  # samples per IMU6 frame (what BLE at MTU 247 carries)
LINK_S = 0.001  # one-way link time of every frame, and a data frame's delay after its last sample
REPLY_S = 0.0005  # device turnaround: command received → reply sent
GAP_S = 0.001  # host pause between a reply and its next command
BURST_N = 8  # TIME_SYNC probes before START
BURST_GAP_S = 0.02  # between burst probes
SYNC_PERIOD_S = 2.0  # one probe this often while streaming
LEAD_S = 0.25  # the handshake (0.17 s) starts this long before the first sample
DEVICE_CLOCK_S = 1.0  # device clock reading when the handshake starts
ACC_RANGE_G = 16  # preferred ranges, doubled until the data fit
GYRO_RANGE_DPS = 2000
STREAM_MASK = int(StreamMask.IMU6)  # data only: an imported sensor has no STATUS to send


@dataclass(frozen=True)
class ImportedSensor:
    """One outside sensor: ``key`` names it in the recording; ``acc_mps2`` (m/s²) and
    ``gyr_radps`` (rad/s) are (N, 3) in its frame as mounted; ``t_s`` its sample times (s, the
    source's time base, increasing; default i / ``fs_hz``); ``fs_hz`` its rate (Hz)."""

    key: str
    placement: Placement
    fs_hz: float
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    t_s: np.ndarray | None = None

    def times_s(self) -> np.ndarray:
        """Sample times (s), checked (ValueError, one line)."""
        acc, gyr = np.asarray(self.acc_mps2), np.asarray(self.gyr_radps)
        if acc.ndim != 2 or acc.shape[1] != 3 or gyr.shape != acc.shape or not len(acc):
            raise ValueError(f"{self.key}: acc_mps2 and gyr_radps must both be (N, 3) with "
                             f"N >= 1, got {acc.shape} and {gyr.shape}")
        if not (np.isfinite(acc).all() and np.isfinite(gyr).all()):
            raise ValueError(f"{self.key}: samples must be finite (the wire carries 6 axes)")
        if not (math.isfinite(self.fs_hz) and 0.5 <= self.fs_hz < 65535.5):
            raise ValueError(f"{self.key}: fs_hz must be in [0.5, 65535] Hz, got {self.fs_hz}")
        n = len(acc)
        t = np.arange(n) / self.fs_hz if self.t_s is None else np.asarray(self.t_s, np.float64)
        if t.shape != (n,) or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
            raise ValueError(f"{self.key}: t_s must hold {n} finite, increasing times (s)")
        return t


def import_samples(out: Path, key: str, placement: Placement, fs_hz: float,
                   acc_mps2: np.ndarray, gyr_radps: np.ndarray, *, t_s: np.ndarray | None = None,
                   source: Mapping[str, str], t0_epoch_ns: int) -> None:
    """Write one sensor's samples (m/s², rad/s; (N, 3)) at ``fs_hz`` (Hz) to a new recording
    ``out`` as device ``key``: :func:`import_sensors` with one sensor."""
    import_sensors(out, [ImportedSensor(key, placement, fs_hz, acc_mps2, gyr_radps, t_s)],
                   source=source, t0_epoch_ns=t0_epoch_ns)


def import_sensors(out: Path, sensors: Sequence[ImportedSensor], *,
                   source: Mapping[str, str], t0_epoch_ns: int) -> None:
    """Write ``sensors`` as the devices of one new recording ``out`` (FileExistsError if it
    exists). ``source``: session metadata strings (source, licence, citation, ...);
    ``t0_epoch_ns``: wall clock at the source's t = 0 (ns since the Unix epoch). Same inputs,
    same bytes."""
    if not sensors:
        raise ValueError("nothing to import: no sensors")
    keys = [check_name(s.key) for s in sensors]
    if len(set(keys)) != len(keys):
        raise ValueError(f"device keys must be unique, got {keys}")
    times = [s.times_s() for s in sensors]
    acc_g = _range(max(float(np.abs(s.acc_mps2).max()) for s in sensors), ACC_RANGE_G,
                   acc_scale_mps2, 255, "acc")
    gyr_dps = _range(max(float(np.abs(s.gyr_radps).max()) for s in sensors), GYRO_RANGE_DPS,
                     gyro_scale_radps, 65535, "gyro")
    config = Config(0, acc_g, gyr_dps, N_PER_FRAME, 1, acc_scale_mps2(acc_g),
                    gyro_scale_radps(gyr_dps))
    quantised = (f"int16, acc_scale {config.acc_scale_mps2:.9g} m/s^2 per count (+-{acc_g} g), "
                 f"gyro_scale {config.gyro_scale_radps:.9g} rad/s per count (+-{gyr_dps} dps)")
    rates = ", ".join(dict.fromkeys(repr(float(s.fs_hz)) for s in sensors))
    events = []
    for k, (s, t) in enumerate(zip(sensors, times, strict=True)):
        cfg = replace(config, odr_hz=round(s.fs_hz))
        events += [(ev[0], k, i, ev[1:]) for i, ev in enumerate(_session(s, t, cfg, k + 1))]
    events.sort(key=lambda e: e[:3])
    with RecordingWriter(out, 0.0, t0_epoch_ns=t0_epoch_ns,
                         session={**source, "source_rate_hz": rates,
                                  "quantised": quantised}) as w:
        for s in sensors:
            w.add_device(s.key, {"scheme": "import", "framing": "cobs",
                                 "source_rate_hz": float(s.fs_hz), "samples": len(s.acc_mps2)})
        for t_host, k, _, (kind, value) in events:
            key = keys[k]
            if kind in ("rx", "tx"):
                w.unit(key, kind, t_host, value)
            elif kind == "link":
                w.link_event(key, t_host, value)
            elif kind == "config":
                w.config(key, t_host, value)
            else:
                w.time_sync(key, value)


@dataclass(frozen=True)
class ImportCheck:
    """One imported device replayed and exported, against its source arrays."""

    samples: int  # samples exported
    source_samples: int
    acc_counts: float  # max |exported − source| acceleration, in counts (≤ 0.5: quantisation)
    gyr_counts: float  # the same for the gyro
    t_ms: float  # max |exported t_s − source time| (ms)

    @property
    def ok(self) -> bool:
        """Same sample count, values to half a count, times to 1 ms."""
        half = 0.5 + 1e-9
        return (self.samples == self.source_samples and self.acc_counts <= half
                and self.gyr_counts <= half and self.t_ms <= 1.0)


def check_import(path: Path, sensors: Sequence[ImportedSensor]) -> dict[str, ImportCheck]:
    """Replay ``path`` (the live decoder and clock maps, as ``stridecore export`` does) and
    compare each of ``sensors`` with its device's exported samples, by sample index."""
    res = replay(path, pipeline=False)
    cols = samples_columns(res)
    names = [f"acc_{a}_mps2" for a in "xyz"] + [f"gyr_{a}_radps" for a in "xyz"]
    out = {}
    for s in sensors:
        cfg = res.streams[s.key].config
        sel = cols["device"] == s.key
        n = len(s.acc_mps2)
        idx = cols["sample_idx"][sel].astype(np.int64)
        got = np.stack([cols[c][sel] for c in names], axis=1)[idx < n]
        t_got = cols["t_s"][sel][idx < n]
        idx = idx[idx < n]
        want = np.concatenate([s.acc_mps2, s.gyr_radps], axis=1)[idx]
        scale = np.repeat([cfg.acc_scale_mps2, cfg.gyro_scale_radps], 3)
        counts = np.abs(got - want) / scale if idx.size else np.full((1, 6), math.inf)
        t_ms = np.abs(t_got - s.times_s()[idx]) * 1e3 if idx.size else np.full(1, math.inf)
        out[s.key] = ImportCheck(int(sel.sum()), n, float(counts[:, :3].max()),
                                 float(counts[:, 3:].max()), float(t_ms.max()))
    return out


def _range(peak: float, start: int, scale, limit: int, what: str) -> int:
    """The first of ``start``, 2·start, 4·start ... whose int16 counts hold ``peak`` below the
    rails (clipped samples are flagged at ±32767)."""
    r = start
    while round(peak / scale(r)) >= RAW_MAX:
        r *= 2
        if r > limit:
            raise ValueError(f"{what} peak {peak:.6g} exceeds every range a device can state")
    return r


def _session(s: ImportedSensor, t: np.ndarray, cfg: Config, number: int) -> list[tuple]:
    """``(t_host_s, kind, value)`` of everything one device's session writes, in host order:
    kind "tx" / "rx" (wire units), "link" (event name), "config" (snapshot), "sync" (probe)."""
    offset_s = DEVICE_CLOCK_S - (t[0] - LEAD_S)  # device clock − host clock (s)

    def dev_us(t_s: float) -> int:
        return round((t_s + offset_s) * 1e6)

    host: list[tuple] = []  # (t, kind, value) host side, in order
    replies: list[tuple[float, int, bytes]] = []  # (arrival, type, payload) device → host
    info = Info(0, 0, 0, 0, 0, f"IMPORT{number:02d}".encode(), s.placement.device_code,
                b"IMPORT".ljust(12, b"\x00"), int(Capability.TIME_SYNC), 20 + 12 * 255)
    seq = req = token = 0

    def command(t_s: float, ftype: FrameType, body: object, reply: object) -> float:
        """Host sends ``ftype`` at ``t_s``; returns when the device's reply arrives."""
        nonlocal seq, req, token
        if isinstance(body, TimeSyncRequest):
            token += 1
            body = TimeSyncRequest(token)
            t_rx = t_s + LINK_S
            reply = TimeSyncReply(token, dev_us(t_rx), dev_us(t_rx + REPLY_S))
        host.append((t_s, "tx", encode_command(ftype, seq, req, body)))
        t_back = t_s + 2 * LINK_S + REPLY_S
        replies.append((t_back, ftype | REPLY_BIT, Reply(int(ftype), req, 0, reply).pack()))
        if isinstance(reply, TimeSyncReply):
            host.append((t_back, "sync", TimeSyncProbe(token, t_s, t_back, reply.t_rx_us,
                                                       reply.t_tx_us)))
        seq, req = seq + 1, (req + 1) & 0xFF
        return t_back

    t_now = t[0] - LEAD_S
    host.append((t_now, "link", "connect"))
    t_now = command(t_now, FrameType.GET_INFO, Empty(), info) + GAP_S
    t_now = command(t_now, FrameType.GET_CONFIG, Empty(), cfg)
    host.append((t_now, "config", {
        "uid": info.uid.hex(), "placement": info.placement,
        "firmware": f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}", "hw_rev": info.hw_rev,
        "proto_minor": info.proto_minor, "capabilities": info.capabilities,
        "odr_hz": cfg.odr_hz, "acc_range_g": cfg.acc_range_g,
        "gyro_range_dps": cfg.gyro_range_dps, "n_max": cfg.n_max, "cfg_id": cfg.cfg_id}))
    t_now += GAP_S
    for i in range(BURST_N):
        t_now = command(t_now, FrameType.TIME_SYNC, TimeSyncRequest(0), None)
        t_now += BURST_GAP_S if i < BURST_N - 1 else GAP_S
    t_start = t_now + LINK_S
    t_now = command(t_now, FrameType.START, StartStop(STREAM_MASK, 0),
                    StartReply(0, dev_us(t_start), cfg.cfg_id))
    host.append((t_now, "link", "streaming"))
    # probes while streaming, each answered before STOP
    for t_probe in t[0] + np.arange(SYNC_PERIOD_S, t[-1] - t[0] - 2 * LINK_S, SYNC_PERIOD_S):
        command(float(t_probe), FrameType.TIME_SYNC, TimeSyncRequest(0), None)
    acc = np.round(np.asarray(s.acc_mps2, np.float64) / cfg.acc_scale_mps2)
    gyr = np.round(np.asarray(s.gyr_radps, np.float64) / cfg.gyro_scale_radps)
    raw = np.concatenate([acc, gyr], axis=1).astype(np.int16)
    frames = [(float(t[min(i + N_PER_FRAME, len(t)) - 1]) + LINK_S, FrameType.IMU6, i)
              for i in range(0, len(t), N_PER_FRAME)]
    t_end = frames[-1][0] + GAP_S
    command(t_end, FrameType.STOP, StartStop(STREAM_MASK, 0), Empty())
    # the device sends in time order (replies and data share one queue and one seq counter)
    out = []
    for dev_seq, (t_arr, ftype, body) in enumerate(sorted(replies + frames, key=lambda f: f[0])):
        if ftype == FrameType.IMU6:
            frame = encode_imu6(dev_seq, dev_us(float(t[body])), body, cfg.cfg_id,
                                raw[body:body + N_PER_FRAME])
        else:
            frame = encode_frame(ftype, dev_seq, body)
        out.append((t_arr, "rx", cobs_encode(frame) + b"\x00"))
    host.append((t_end + 2 * LINK_S + REPLY_S, "link", "end"))
    return sorted(out + host, key=lambda e: e[0])  # a reply before what the host makes of it
