"""A simulated sensor that behaves like firmware: a sans-I/O device model in virtual time.

The model answers every v1 command with correct replies and status codes, samples a
:class:`~stridecore.simulate.motion.MotionSource` through an IMU with its own output data rate
(which strays from nominal), timestamps samples with its own clock (offset and drift in ppm),
packs n samples per frame from the MTU, sends STATUS at 1 Hz, keeps a backlog it replays as
type 0x11 on READ_BACKLOG, and injects faults: lost frames, corrupted bytes, duplicated and
reordered frames, FIFO overruns, clipping at the configured range and disconnects.

Time is passed in (true time, seconds): :meth:`SimDevice.receive` takes host bytes at a time,
:meth:`SimDevice.poll` returns the wire units sent up to a time. Nothing sleeps, so tests run in
virtual time; :mod:`stridecore.transport.sim` paces it for live use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from firmware_protocol import cobs_encode, encode_frame, encode_imu6
from firmware_protocol.cobs import CobsError, cobs_decode
from firmware_protocol.frame import REPLY_BIT, FrameError, FrameType, decode_frame
from firmware_protocol.imu6 import RAW_MAX, RAW_MIN
from firmware_protocol.messages import (
    COMMAND_BODIES,
    BacklogReply,
    Capability,
    Command,
    Config,
    ConfigRequest,
    DevicePlacement,
    DeviceStatus,
    Empty,
    Event,
    EventKind,
    Info,
    PayloadError,
    ReadBacklog,
    Reply,
    StartFlag,
    StartReply,
    StartStop,
    Status,
    StatusFlag,
    StreamMask,
    TimeSyncReply,
    decode_command,
)
from stridecore.schema import Placement
from stridecore.simulate.motion import G_MPS2, MotionSource

SUPPORTED_ODR_HZ = (104, 208, 416, 833, 1666)
SUPPORTED_ACC_RANGE_G = (2, 4, 8, 16)
SUPPORTED_GYRO_RANGE_DPS = (125, 250, 500, 1000, 2000)
ATT_OVERHEAD = 3  # B of an ATT notification header


def n_for_mtu(mtu: int, n_max: int = 255) -> int:
    """Samples per frame that fit one notification at ATT MTU ``mtu`` (185 → 13, 247 → 18)."""
    return max(1, min(n_max, (mtu - ATT_OVERHEAD - 20) // 12))


@dataclass(frozen=True)
class Faults:
    """Fault injection. Probabilities are per wire unit (frame) unless said otherwise."""

    drop_prob: float = 0.0  # a frame is lost on the link (its seq is consumed)
    corrupt_prob: float = 0.0  # 1–3 bytes of a wire unit are overwritten
    duplicate_prob: float = 0.0  # a frame is sent twice
    reorder_prob: float = 0.0  # a frame is sent after the next one
    fifo_overrun_prob: float = 0.0  # per data frame: the IMU FIFO loses 1..n samples before it
    disconnects_s: tuple[tuple[float, float], ...] = ()  # (start, duration), true time


@dataclass(frozen=True)
class SimSensorParams:
    """Device and IMU settings of the simulated sensor (units in the names)."""

    placement: DevicePlacement = DevicePlacement.RIGHT_FOOT
    uid: bytes = b"SIM00001"
    framing: str = "cobs"  # "cobs" (serial) or "packet" (BLE, one frame per notification)
    mtu: int = 247  # ATT MTU on BLE; serial frames use n_max
    odr_hz: int = 416
    acc_range_g: int = 16
    gyro_range_dps: int = 2000
    n_max: int = 18
    odr_error_ppm: float = 8000.0  # true IMU rate = odr_hz · (1 + ppm·1e-6)
    clock_offset_s: float = 12.5  # device clock reading at true time 0
    clock_drift_ppm: float = 30.0
    timestamp_jitter_us: float = 20.0
    noise_acc_mps2: float = 0.02
    noise_gyr_radps: float = 0.002
    tx_latency_s: float = 0.002
    reply_latency_s: float = 0.001
    status_period_s: float = 1.0
    backlog_capacity_s: float = 120.0
    battery_mv: int = 3950
    battery_low_s: float = math.inf  # true time from which STATUS reports a low battery
    button_s: tuple[float, ...] = ()  # true times of button presses (EVENT frames)
    motion_block_s: float = 0.25  # the motion source is evaluated this far ahead (cost/call)
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    capabilities: int = int(Capability.BACKLOG | Capability.TIME_SYNC | Capability.IDENTIFY
                            | Capability.BATTERY)

    def __post_init__(self) -> None:
        if self.framing not in ("cobs", "packet"):
            raise ValueError(f"framing must be 'cobs' or 'packet', not {self.framing!r}")
        if len(self.uid) != 8:
            raise ValueError("uid must be 8 bytes")


def acc_scale_mps2(acc_range_g: int) -> float:
    """m/s² per count of an int16 accelerometer at ±``acc_range_g``."""
    return float(np.float32(acc_range_g * G_MPS2 / 32768.0))


def gyro_scale_radps(gyro_range_dps: int) -> float:
    """rad/s per count of an int16 gyroscope at ±``gyro_range_dps``."""
    return float(np.float32(math.radians(gyro_range_dps) / 32768.0))


@dataclass
class _Out:
    t_s: float
    order: int
    data: bytes


class SimDevice:
    """The simulated sensor. Feed host bytes with :meth:`receive`, collect output with
    :meth:`poll`. Link state follows ``faults.disconnects_s`` (see :meth:`link_up`)."""

    def __init__(self, params: SimSensorParams | None = None,
                 motion: MotionSource | None = None) -> None:
        self.p = params or SimSensorParams()
        if motion is None:
            from stridecore.simulate.session import live_motion

            motion = live_motion(Placement.from_device_code(self.p.placement))
        self.motion = motion
        self._rng = np.random.default_rng(self.p.seed)
        self._fault_rng = np.random.default_rng(self.p.seed + 1)
        self._rx = b""  # serial bytes from the host not yet delimited
        self._last_tx = 0.0
        self._cfg_id = 1
        self._odr_hz = self.p.odr_hz
        self._acc_range_g = self.p.acc_range_g
        self._gyro_range_dps = self.p.gyro_range_dps
        self._n_max = self.p.n_max
        self._seq = 0
        self._order = 0
        self._out: list[_Out] = []
        self._held: _Out | None = None  # frame held back for a reorder
        self._streaming = False
        self._stream_mask = 0
        self._sampling = False
        self._t_sample0 = 0.0  # true time of sample index 0
        self._next_idx = 0  # next sample index the IMU produces
        self._next_sent = 0  # next sample index to pack into a live frame
        self._live_start = 0  # sample index where the current live stream (re)started
        self._pending_raw = np.zeros((0, 6), np.int16)
        self._pending_first = 0
        self._t_now = 0.0
        self._next_status = 0.0
        self._fifo_overruns = 0
        self._tx_drops = 0
        self._clipped_since_status = False
        cap = max(1, int(self.p.backlog_capacity_s * max(SUPPORTED_ODR_HZ)))
        self._ring_raw = np.zeros((cap, 6), np.int16)
        self._ring_idx = np.full(cap, -1, np.int64)
        self.log: list[str] = []  # human-readable device log (for debugging tests)
        self._mcache: tuple | None = None  # (grid, first idx, acc, gyr) of the motion ahead

    # --------------------------------------------------------------- clock and config
    def device_us(self, t_s: float | np.ndarray) -> float | np.ndarray:
        """Device clock (µs) at true time ``t_s``."""
        return (self.p.clock_offset_s + np.asarray(t_s) * (1 + self.p.clock_drift_ppm * 1e-6)) \
            * 1e6

    @property
    def true_odr_hz(self) -> float:
        return self._odr_hz * (1 + self.p.odr_error_ppm * 1e-6)

    @property
    def n_per_frame(self) -> int:
        if self.p.framing == "packet":
            return n_for_mtu(self.p.mtu, self._n_max)
        return self._n_max

    def config(self) -> Config:
        return Config(self._odr_hz, self._acc_range_g, self._gyro_range_dps, self._n_max,
                      self._cfg_id, acc_scale_mps2(self._acc_range_g),
                      gyro_scale_radps(self._gyro_range_dps), 1, 2, 3)

    @property
    def mtu(self) -> int:
        """ATT MTU of the BLE link (``params.mtu`` until :meth:`set_mtu`)."""
        return self.p.mtu

    def set_mtu(self, mtu: int) -> None:
        """The ATT MTU negotiated on the link: on BLE framing, frames packed from now on carry
        :func:`n_for_mtu` samples (frames already queued keep theirs), STATUS reports it."""
        mtu = int(mtu)
        if not 23 <= mtu <= 517:
            raise ValueError(f"ATT MTU must be in [23, 517], not {mtu}")
        if mtu != self.p.mtu:
            self.p = replace(self.p, mtu=mtu)

    def link_up(self, t_s: float) -> bool:
        """False inside a scheduled disconnect."""
        return not any(a <= t_s < a + d for a, d in self.p.faults.disconnects_s)

    # --------------------------------------------------------------- host -> device
    def receive(self, data: bytes, t_s: float) -> None:
        """Bytes from the host arriving at true time ``t_s`` (one frame per call on BLE)."""
        self._advance(t_s)
        if not self.link_up(t_s):
            return  # nobody is listening
        if self.p.framing == "packet":
            self._on_frame(bytes(data), t_s)
            return
        self._rx += data
        *blocks, self._rx = self._rx.split(b"\x00")
        if len(self._rx) > 4096:  # no delimiter in sight: drop, as firmware would
            self._rx = b""
        for block in blocks:
            if block:
                try:
                    self._on_frame(cobs_decode(block), t_s)
                except CobsError:
                    self.log.append(f"{t_s:.3f} bad COBS from host")

    def _on_frame(self, frame: bytes, t_s: float) -> None:
        """One host frame: checked like firmware would, answered with a status code."""
        try:
            f = decode_frame(frame)
        except FrameError as e:
            if e.kind != "unknown_type" or len(frame) < 7 or frame[1] >= 0x10:
                self.log.append(f"{t_s:.3f} dropped host frame: {e}")  # no reply possible
                return
            req = Command(frame[1], frame[4], None)
            self._reply(req, Status.UNKNOWN_TYPE, None, t_s)
            return
        if f.type not in COMMAND_BODIES:
            self.log.append(f"{t_s:.3f} host sent a non-command frame {f.name}")
            return
        try:
            cmd = decode_command(f.type, f.payload)
        except PayloadError:
            if f.payload:
                self._reply(Command(f.type, f.payload[0], None), Status.BAD_LENGTH, None, t_s)
            return
        self._handle(cmd, t_s)

    def _reply(self, cmd: Command, status: Status, body: object | None, t_s: float) -> None:
        rep = Reply(cmd.type, cmd.req_id, int(status), body if status == Status.OK else None)
        t_tx = t_s + self.p.reply_latency_s
        if isinstance(body, TimeSyncReply):
            body = TimeSyncReply(body.token, body.t_rx_us, int(self.device_us(t_tx)))
            rep = Reply(cmd.type, cmd.req_id, int(status), body)
        self._send(cmd.type | REPLY_BIT, rep.pack(), t_tx)

    def _handle(self, cmd: Command, t_s: float) -> None:
        t = FrameType(cmd.type)
        body = cmd.body
        ok = Status.OK
        if t == FrameType.GET_INFO:
            part = b"LSM6DSO-SIM".ljust(12, b"\x00")
            self._reply(cmd, ok, Info(0, 0, 2, 0, 1, self.p.uid, int(self.p.placement), part,
                                      self.p.capabilities, 20 + 12 * 255), t_s)
        elif t == FrameType.GET_CONFIG:
            self._reply(cmd, ok, self.config(), t_s)
        elif t == FrameType.SET_CONFIG:
            self._set_config(cmd, body, t_s)
        elif t == FrameType.START:
            self._start(cmd, body, t_s)
        elif t == FrameType.STOP:
            self._stop_stream(t_s)
            self._sampling = False
            self._reply(cmd, ok, Empty(), t_s)
        elif t == FrameType.TIME_SYNC:
            self._reply(cmd, ok, TimeSyncReply(body.token, int(self.device_us(t_s)), 0), t_s)
        elif t == FrameType.GET_STATUS:
            self._reply(cmd, ok, self._status(t_s), t_s)
        elif t == FrameType.IDENTIFY:
            self._reply(cmd, ok, Empty(), t_s)
        elif t == FrameType.READ_BACKLOG:
            self._read_backlog(cmd, body, t_s)
        else:  # pragma: no cover - the decoder only yields known commands
            self._reply(cmd, Status.UNKNOWN_TYPE, None, t_s)

    def _set_config(self, cmd: Command, req: ConfigRequest, t_s: float) -> None:
        if self._streaming:
            self._reply(cmd, Status.INVALID_STATE, None, t_s)
            return
        valid = (req.odr_hz in SUPPORTED_ODR_HZ and req.acc_range_g in SUPPORTED_ACC_RANGE_G
                 and req.gyro_range_dps in SUPPORTED_GYRO_RANGE_DPS and 1 <= req.n_max <= 255)
        if not valid:
            self._reply(cmd, Status.BAD_PARAMETER, None, t_s)
            return
        self._odr_hz, self._acc_range_g = req.odr_hz, req.acc_range_g
        self._gyro_range_dps, self._n_max = req.gyro_range_dps, req.n_max
        self._cfg_id = self._cfg_id % 255 + 1
        self._sampling = False  # a new configuration restarts the IMU
        self._reply(cmd, Status.OK, self.config(), t_s)

    def _start(self, cmd: Command, req: StartStop, t_s: float) -> None:
        resume = bool(req.flags & StartFlag.RESUME) and self._sampling
        if not resume:
            self._sampling = True
            self._t_sample0 = t_s
            self._next_idx = self._next_sent = 0
            self._pending_raw = np.zeros((0, 6), np.int16)
            self._pending_first = 0
            self._ring_idx[:] = -1
            self._fifo_overruns = self._tx_drops = 0
        else:
            # samples taken while nobody listened stay in the backlog; live resumes now
            self._next_sent = self._next_idx
            self._pending_raw = np.zeros((0, 6), np.int16)
            self._pending_first = self._next_idx
        self._live_start = self._next_idx
        self._streaming = True
        self._stream_mask = req.stream_mask
        self._next_status = t_s + self.p.status_period_s
        self._reply(cmd, Status.OK, StartReply(self._next_idx & 0xFFFFFFFF,
                                               int(self.device_us(t_s)), self._cfg_id), t_s)

    def _stop_stream(self, t_s: float) -> None:
        self._streaming = False

    def _read_backlog(self, cmd: Command, req: ReadBacklog, t_s: float) -> None:
        if not self.p.capabilities & Capability.BACKLOG:
            self._reply(cmd, Status.UNSUPPORTED, None, t_s)
            return
        # unwrap from_idx near the present
        ref = self._next_idx
        d = (req.from_idx - ref) % (1 << 32)
        start = ref + d - ((1 << 32) if d >= (1 << 31) else 0)
        end = self._live_start if self._streaming else self._next_idx
        cap = self._ring_idx.size
        start = max(start, end - cap, 0)
        idx = np.arange(start, end)
        have = self._ring_idx[idx % cap] == idx if idx.size else np.zeros(0, bool)
        first = int(idx[have][0]) if have.any() else start
        count = int(have.sum())
        self._reply(cmd, Status.OK, BacklogReply(first & 0xFFFFFFFF, count), t_s)
        n = self.n_per_frame
        t_tx = t_s + self.p.reply_latency_s
        # contiguous runs of stored samples, n per frame
        runs = np.flatnonzero(np.diff(np.concatenate(([0], have.astype(np.int8), [0]))))
        for a, b in zip(runs[::2], runs[1::2], strict=True):
            for k in range(int(a), int(b), n):
                sel = idx[k : min(k + n, int(b))]
                raw = self._ring_raw[sel % cap]
                t_first = self._t_sample0 + sel[0] / self.true_odr_hz
                t_us = round(float(self.device_us(t_first)))
                frame = encode_imu6(self._seq, t_us, int(sel[0]), self._cfg_id, raw, backlog=True)
                self._emit(frame, t_tx)

    # --------------------------------------------------------------- device -> host
    def _status(self, t_s: float) -> DeviceStatus:
        flags = StatusFlag.STREAMING if self._streaming else StatusFlag(0)
        if self._clipped_since_status:
            flags |= StatusFlag.CLIPPED
        if self.p.capabilities & Capability.BACKLOG and self._next_sent < self._next_idx:
            flags |= StatusFlag.BACKLOG_AVAILABLE
        mtu = self.p.mtu if self.p.framing == "packet" else 0
        battery_mv, soc = self.p.battery_mv, 87
        if t_s >= self.p.battery_low_s:
            flags |= StatusFlag.LOW_BATTERY
            battery_mv, soc = 3400, 8
        return DeviceStatus(int(self.device_us(t_s)), battery_mv, soc, int(flags),
                            self._fifo_overruns, self._tx_drops, mtu, 3150)

    def _send(self, ftype: int, payload: bytes, t_s: float) -> None:
        self._emit(encode_frame(ftype, self._seq, payload), t_s)

    def _emit(self, frame: bytes, t_s: float) -> None:
        """Queue one frame: consumes a seq, then the link faults decide its fate. The transmit
        queue is FIFO, so a frame never leaves before one queued earlier."""
        t_s = max(t_s, self._last_tx)
        self._last_tx = t_s
        self._seq = (self._seq + 1) & 0xFFFF
        if not self.link_up(t_s):
            return
        f = self.p.faults
        r = self._fault_rng
        if f.drop_prob and r.random() < f.drop_prob:
            return
        wire = cobs_encode(frame) + b"\x00" if self.p.framing == "cobs" else frame
        if f.corrupt_prob and r.random() < f.corrupt_prob:
            buf = bytearray(wire)
            for _ in range(int(r.integers(1, 4))):
                buf[int(r.integers(0, len(buf)))] = int(r.integers(0, 256))
            wire = bytes(buf)
        copies = 2 if (f.duplicate_prob and r.random() < f.duplicate_prob) else 1
        for _ in range(copies):
            unit = _Out(t_s, self._order, wire)
            self._order += 1
            if self._held is not None:  # a held frame goes out right after this one
                held, self._held = self._held, None
                unit.order, held.order = held.order, unit.order
                held.t_s = max(held.t_s, unit.t_s)
                self._out += [unit, held]
            elif f.reorder_prob and r.random() < f.reorder_prob:
                self._held = unit
            else:
                self._out.append(unit)

    def _advance(self, t_s: float) -> None:
        """Run the IMU, the framing, the STATUS timer and the link up to true time ``t_s``,
        event by event in time order, so the output does not depend on how time is advanced."""
        if t_s < self._t_now:
            return
        while True:
            events = [a for a, _ in self.p.faults.disconnects_s if self._t_now < a <= t_s]
            presses = [b for b in self.p.button_s if self._t_now < b <= t_s]
            events += presses
            if self._streaming and self._stream_mask & StreamMask.STATUS \
                    and self._next_status <= t_s:
                events.append(self._next_status)
            if not events:
                break
            t_ev = min(events)
            if self._sampling:
                self._sample_until(t_ev)
            if not self.link_up(t_ev):
                self._streaming = False  # notifications stop with the link; sampling goes on
            elif t_ev in presses:
                if self._streaming:  # a press while nobody listens is lost
                    ev = Event(int(self.device_us(t_ev)), int(self._next_idx),
                               int(EventKind.BUTTON), 1)
                    self._send(FrameType.EVENT, ev.pack(), t_ev + self.p.tx_latency_s)
            elif self._streaming and t_ev == self._next_status:
                st = self._status(t_ev)
                self._clipped_since_status = False
                self._send(FrameType.STATUS, st.pack(), t_ev + self.p.tx_latency_s)
                self._next_status += self.p.status_period_s
            self._t_now = t_ev
        if self._sampling:
            self._sample_until(t_s)
        self._t_now = t_s

    def _sample_until(self, t_s: float) -> None:
        odr = self.true_odr_hz
        end = math.floor((t_s - self._t_sample0) * odr) + 1  # samples with time <= t_s
        if end <= self._next_idx:
            return
        idx = np.arange(self._next_idx, end)
        acc, gyr = self._motion_at(idx, odr)
        noise = self._rng.standard_normal((idx.size, 6))  # row by row: split-invariant
        acc = acc + noise[:, :3] * self.p.noise_acc_mps2
        gyr = gyr + noise[:, 3:] * self.p.noise_gyr_radps
        a_counts = np.round(acc / acc_scale_mps2(self._acc_range_g))
        g_counts = np.round(gyr / gyro_scale_radps(self._gyro_range_dps))
        counts = np.concatenate([a_counts, g_counts], axis=1)
        if ((counts > RAW_MAX) | (counts < RAW_MIN)).any():
            self._clipped_since_status = True
        raw = np.clip(counts, RAW_MIN, RAW_MAX).astype(np.int16)
        self._next_idx = end
        cap = self._ring_idx.size
        self._ring_raw[idx % cap] = raw
        self._ring_idx[idx % cap] = idx
        if not self._streaming:
            return
        # live framing: n samples per frame, sent when the last one is sampled
        start = max(int(idx[0]), self._next_sent)
        keep = idx >= start
        if self._pending_raw.shape[0] == 0:
            self._pending_first = start
        self._pending_raw = np.concatenate([self._pending_raw, raw[keep]])
        n = self.n_per_frame
        f = self.p.faults
        while self._pending_raw.shape[0] >= n:
            first = self._pending_first
            chunk = self._pending_raw[:n]
            self._pending_raw = self._pending_raw[n:]
            self._pending_first = first + n
            self._next_sent = first + n
            if f.fifo_overrun_prob and self._fault_rng.random() < f.fifo_overrun_prob:
                lost = int(self._fault_rng.integers(1, n))
                self._fifo_overruns += lost
                self._ring_idx[np.arange(first, first + lost) % cap] = -1
                chunk = chunk[lost:]
                first += lost
            t_first = self._t_sample0 + first / odr
            jitter = self._fault_rng.normal(0, self.p.timestamp_jitter_us)
            t_us = round(float(self.device_us(t_first)) + jitter)
            t_last = self._t_sample0 + (first + chunk.shape[0] - 1) / odr
            frame = encode_imu6(self._seq, t_us, first, self._cfg_id, chunk)
            self._emit(frame, t_last + self.p.tx_latency_s)

    def _motion_at(self, idx: np.ndarray, odr: float) -> tuple[np.ndarray, np.ndarray]:
        """Motion at samples ``idx`` (consecutive). The motion source is a pure function of
        time with a large fixed cost per call, so it is evaluated ``motion_block_s`` ahead and
        cached; the cache is keyed by the sampling grid (start time, rate)."""
        grid = (self._t_sample0, odr)
        c = self._mcache
        a, b = int(idx[0]), int(idx[-1]) + 1
        if c is None or c[0] != grid or a < c[1] or b > c[1] + c[2].shape[0]:
            n = max(b - a, math.ceil(self.p.motion_block_s * odr))
            acc, gyr = self.motion.sample(self._t_sample0 + np.arange(a, a + n) / odr)
            c = self._mcache = (grid, a, np.asarray(acc, float), np.asarray(gyr, float))
        k0 = a - c[1]
        return c[2][k0 : k0 + b - a], c[3][k0 : k0 + b - a]

    def poll(self, t_s: float) -> list[tuple[float, bytes]]:
        """Everything sent up to true time ``t_s``: (send time, wire unit) in sending order."""
        self._advance(t_s)
        ready = [o for o in self._out if o.t_s <= t_s]
        if ready:
            self._out = [o for o in self._out if o.t_s > t_s]
        ready.sort(key=lambda o: (o.t_s, o.order))
        return [(o.t_s, o.data) for o in ready]

    def sample_time_s(self, sample_idx: np.ndarray | int) -> np.ndarray | float:
        """True time (s) at which sample ``sample_idx`` of the current START was taken."""
        return self._t_sample0 + np.asarray(sample_idx) / self.true_odr_hz

    def next_output_s(self) -> float:
        """Earliest true time at which :meth:`poll` can return something new unless the host
        sends a command first (a lower bound: a frame due then may still be lost): the next
        queued unit, the next live frame, STATUS or link change (inf: nothing is coming)."""
        cands = [o.t_s for o in self._out]
        if self._streaming and self._sampling:
            pending = self._pending_raw.shape[0]
            first = self._pending_first if pending else max(self._next_idx, self._next_sent)
            last = first + self.n_per_frame - 1
            cands.append(self._t_sample0 + last / self.true_odr_hz + self.p.tx_latency_s)
        if self._streaming and self._stream_mask & StreamMask.STATUS:
            cands.append(self._next_status + self.p.tx_latency_s)
        cands += [e for a, d in self.p.faults.disconnects_s for e in (a, a + d)
                  if e > self._t_now]
        return min(cands, default=math.inf)

    def last_queued_s(self) -> float:
        """Send time (s, true time) of the last unit queued and not yet polled (-inf: none)."""
        return max((o.t_s for o in self._out), default=-math.inf)

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def next_sample_idx(self) -> int:
        return self._next_idx

