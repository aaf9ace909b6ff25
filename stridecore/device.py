"""One sensor session: connect, identify, configure, stream, keep time, survive the link.

:class:`DeviceSession` drives a :class:`~stridecore.transport.base.Transport` with protocol v1
(``firmware_protocol/PROTOCOL.md``): GET_INFO, SET_CONFIG or GET_CONFIG, a burst of TIME_SYNC
probes, START; then a TIME_SYNC probe every few seconds. One command is in flight at a time,
with a timeout and retries (commands are idempotent; TIME_SYNC is not retried: a late probe
is just a bad probe). When the link drops it reconnects with exponential backoff, checks that
the device answering has the same ``uid``, sends START with resume, asks for the backlog where
the device offers it, and records the gap in samples. Everything received goes, unit by unit,
to a :class:`~stridecore.stream.DeviceStream` (samples on the host clock, live pipeline) and to
the recorder when there is one — the same calls replay makes.

Time is the running event loop's clock, so fault runs go in virtual time on
:class:`~stridecore.clock.VirtualTimeLoop`. Several sessions share one loop
(:func:`run_sessions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firmware_protocol import encode_command
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import (
    Capability,
    Config,
    ConfigRequest,
    Empty,
    Info,
    ReadBacklog,
    Reply,
    StartFlag,
    StartStop,
    Status,
    StreamMask,
    TimeSyncRequest,
)
from stridecore.stream import DeviceStream, Received
from stridecore.timesync import TimeSyncParams
from stridecore.transport.base import LinkLost, Transport, TransportError, Unit

if TYPE_CHECKING:
    from stridecore.recording import RecordingWriter


def uid_text(uid: bytes) -> str:
    """A device uid for people: its ASCII text when printable, else hex."""
    return uid.decode() if uid.isascii() and uid.decode().isprintable() else uid.hex()


class DeviceError(Exception):
    """The device does not behave: one line for the user."""


@dataclass(frozen=True)
class SessionParams:
    """Host-side session settings (units in the names)."""

    command_timeout_s: float = 0.5
    command_retries: int = 2
    sync_burst_n: int = 8  # TIME_SYNC probes right after each (re)connect
    sync_burst_gap_s: float = 0.02
    sync_period_s: float = 2.0  # one probe this often while streaming ...
    sync_fast_period_s: float = 0.5  # ... but this often for the first sync_fast_s
    sync_fast_s: float = 30.0  # (a BLE link needs many probes to find a fast round trip)
    sync_jitter: float = 0.25  # ± this fraction of the period, so probes do not stay in
    # lockstep with a BLE connection interval
    sync_timeout_s: float = 0.25  # a probe slower than this is useless: not waited for
    backoff_first_s: float = 0.05  # reconnect attempts: first wait, doubling ...
    backoff_max_s: float = 0.5  # ... up to this, so streaming resumes < 2 s after the link
    config: ConfigRequest | None = None  # None: keep the device's configuration
    stream_mask: int = int(StreamMask.IMU6 | StreamMask.STATUS)
    sync: TimeSyncParams = field(default_factory=TimeSyncParams)


@dataclass
class LinkLog:
    """What happened to the link, in host time (s)."""

    connects: list[float] = field(default_factory=list)
    disconnects: list[float] = field(default_factory=list)
    resumed: list[dict] = field(default_factory=list)  # per reconnect: times, gap, backlog
    attempts: int = 0


class DeviceSession:
    """One sensor over one transport. ``key`` names it in recordings and reports;
    ``on_received`` sees what each received unit produced (live displays, coaching);
    ``on_link(session, kind, t_host_s)`` each link event the recorder gets (connect,
    disconnect, resumed, streaming, end), at the host time it became known."""

    def __init__(self, transport: Transport, *, key: str | None = None,
                 params: SessionParams | None = None, recorder: RecordingWriter | None = None,
                 pipeline: bool = True, keep_samples: bool = True,
                 t0_host_s: float = 0.0,
                 on_received: Callable[[DeviceSession, Received], None] | None = None,
                 on_link: Callable[[DeviceSession, str, float], None] | None = None) -> None:
        self.transport = transport
        self.on_received = on_received
        self.on_link = on_link
        self.p = params or SessionParams()
        self.key = key or f"dev_{id(self) & 0xFFFF:04x}"
        self.recorder = recorder
        self.stream = DeviceStream(self.key, transport.framing, pipeline=pipeline,
                                   keep_samples=keep_samples, sync=self.p.sync,
                                   t0_host_s=t0_host_s)
        self.info: Info | None = None
        self.link = LinkLog()
        self._seq = 0
        self._req = 0
        self._token = 0
        self._waiting: dict[tuple[int, int], asyncio.Future] = {}
        self._cmd_lock = asyncio.Lock()
        self._lost = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self.error: str | None = None

    # ------------------------------------------------------------------ wire
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _encode(self, ftype: FrameType, req_id: int, body: object) -> bytes:
        data = encode_command(ftype, self._seq, req_id, body, self.transport.framing)
        self._seq = (self._seq + 1) & 0xFFFF
        return data

    async def _send(self, data: bytes) -> None:
        unit = Unit(self._now(), data)
        self.stream.on_tx(unit)
        if self.recorder is not None:
            self.recorder.unit(self.key, "tx", unit.t_host_s, data)
        await self.transport.write(data)

    async def command(self, ftype: FrameType, body: object | None = None, *,
                      retries: int | None = None, timeout_s: float | None = None) -> Reply:
        """Send one command and wait for its reply (timeout and retries from the params).
        Raises :class:`DeviceError` when no reply comes or the status is not OK, and
        :class:`LinkLost` when the link drops meanwhile."""
        if body is None:
            body = Empty()
        tries = 1 + (self.p.command_retries if retries is None else retries)
        timeout_s = self.p.command_timeout_s if timeout_s is None else timeout_s
        async with self._cmd_lock:
            req_id = self._req
            self._req = (self._req + 1) & 0xFF
            key = (int(ftype), req_id)
            for _ in range(tries):
                if isinstance(body, TimeSyncRequest):
                    body = TimeSyncRequest(self._next_token())
                fut = asyncio.get_running_loop().create_future()
                self._waiting[key] = fut
                try:
                    await self._send(self._encode(ftype, req_id, body))
                    lost = asyncio.ensure_future(self._lost.wait())
                    done, _ = await asyncio.wait({fut, lost}, timeout=timeout_s,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    lost.cancel()
                    if fut in done:
                        rep: Reply = fut.result()
                        if rep.status != Status.OK:
                            raise DeviceError(f"{self.transport.name}: {ftype.name} refused "
                                              f"({Status(rep.status).name.lower()})")
                        return rep
                    if self._lost.is_set():
                        raise LinkLost(f"{self.transport.name}: link lost")
                finally:
                    self._waiting.pop(key, None)
            raise DeviceError(f"{self.transport.name}: no answer to {ftype.name} after "
                              f"{tries} tries of {timeout_s * 1e3:.0f} ms")

    def _next_token(self) -> int:
        self._token = (self._token + 1) & 0xFFFFFFFF
        return self._token

    async def _read_loop(self) -> None:
        tr = self.transport
        try:
            while True:
                unit = await tr.read()
                if self.recorder is not None:
                    self.recorder.unit(self.key, "rx", unit.t_host_s, unit.data)
                n_probes = len(self.stream.probes)
                got = self.stream.on_rx(unit)
                if self.recorder is not None and len(self.stream.probes) > n_probes:
                    from stridecore.recording import TimeSyncProbe

                    for pr in self.stream.probes[n_probes:]:
                        self.recorder.time_sync(self.key, TimeSyncProbe(*pr))
                if self.on_received is not None:
                    self.on_received(self, got)
                for rep in got.replies:
                    fut = self._waiting.get((rep.command, rep.req_id))
                    if fut is not None and not fut.done():
                        fut.set_result(rep)
        except LinkLost:
            self._lost.set()

    # ------------------------------------------------------------------ session
    async def _open(self) -> None:
        await self.transport.open()
        self._lost = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        t = self._now()
        self.link.connects.append(t)
        self._event("connect", t)

    async def _drop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self.transport.close()

    def _event(self, kind: str, t: float, **fields: object) -> None:
        """A link event that happened at ``t`` (host s), known now (``t_report_s``: a resume
        is known only once its handshake is done; what reacts to it live reacts then)."""
        now = self._now()
        if self.recorder is not None:
            self.recorder.link_event(self.key, t, kind, t_report_s=now, **fields)
        if self.on_link is not None:
            self.on_link(self, kind, now)

    async def _handshake(self, resume: bool) -> dict:
        """GET_INFO (and the uid check), the configuration, START; on a first connection the
        TIME_SYNC burst comes before START (a quiet link gives tight probes), on a reconnect
        after it and the backlog request (data first: streaming resumes at once)."""
        rep = await self.command(FrameType.GET_INFO)
        info: Info = rep.body
        if self.info is not None and info.uid != self.info.uid:
            raise DeviceError(f"{self.transport.name}: a different sensor answered (uid "
                              f"{uid_text(info.uid)}, expected {uid_text(self.info.uid)})")
        first = self.info is None
        self.info = info
        if first:
            if self.p.config is not None:
                cfg = (await self.command(FrameType.SET_CONFIG, self.p.config)).body
            else:
                cfg = (await self.command(FrameType.GET_CONFIG)).body
            self._config_snapshot(cfg)
            await self._sync_burst()
        before = self.stream.decoder.next_sample_idx
        flags = int(StartFlag.RESUME) if resume else 0
        start = (await self.command(FrameType.START, StartStop(self.p.stream_mask, flags))).body
        out: dict = {"t_resumed_s": self._now(), "from_idx": before,
                     "restart_idx": int(start.sample_idx)}
        cfg = self.stream.config
        if cfg is not None and start.cfg_id != cfg.cfg_id:  # reconfigured meanwhile
            self._config_snapshot((await self.command(FrameType.GET_CONFIG)).body)
        if resume and before >= 0:
            out["gap_samples"] = int(start.sample_idx - (before & 0xFFFFFFFF)) & 0xFFFFFFFF
            if info.capabilities & Capability.BACKLOG and out["gap_samples"]:
                bl = (await self.command(FrameType.READ_BACKLOG,
                                         ReadBacklog(before & 0xFFFFFFFF))).body
                out["backlog_samples"] = int(bl.count)
        if not first:
            await self._sync_burst()
        return out

    def _config_snapshot(self, cfg: Config) -> None:
        info = self.info
        if self.recorder is None or info is None:
            return
        self.recorder.config(self.key, self._now(), {
            "uid": info.uid.hex(), "placement": info.placement,
            "firmware": f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}",
            "hw_rev": info.hw_rev, "proto_minor": info.proto_minor,
            "capabilities": info.capabilities, "odr_hz": cfg.odr_hz,
            "acc_range_g": cfg.acc_range_g, "gyro_range_dps": cfg.gyro_range_dps,
            "n_max": cfg.n_max, "cfg_id": cfg.cfg_id})

    async def _sync_burst(self) -> None:
        for i in range(self.p.sync_burst_n):
            if i:
                await asyncio.sleep(self.p.sync_burst_gap_s)
            await self._probe()

    async def _probe(self) -> None:
        """One TIME_SYNC probe; a lost or late one is simply not used."""
        with contextlib.suppress(DeviceError):
            await self.command(FrameType.TIME_SYNC, TimeSyncRequest(0), retries=0,
                               timeout_s=self.p.sync_timeout_s)

    async def _reconnect(self, deadline: float) -> bool:
        """Reconnect with backoff until it works or ``deadline``; False at the deadline."""
        wait = self.p.backoff_first_s
        while self._now() < deadline:
            self.link.attempts += 1
            try:
                await self._open()
            except TransportError:
                await asyncio.sleep(min(wait, max(0.0, deadline - self._now())))
                wait = min(wait * 2, self.p.backoff_max_s)
                continue
            try:
                res = await self._handshake(resume=True)
            except (LinkLost, DeviceError) as e:
                await self._drop()
                if isinstance(e, DeviceError) and "different sensor" in str(e):
                    raise
                continue
            self.link.resumed.append(res)
            self._event("resumed", res["t_resumed_s"], **{k: v for k, v in res.items()
                                                           if k != "t_resumed_s"})
            return True
        return False

    async def run(self, duration_s: float | None = None,
                  stop: asyncio.Event | None = None) -> DeviceSession:
        """Stream until ``duration_s`` of host time has passed or ``stop`` is set. The first
        connection must succeed and the device must answer (:class:`TransportError` /
        :class:`DeviceError` otherwise); link losses, also during the start, are survived.
        Always closes the link; samples received before any error stay in :attr:`stream`."""
        t_end = self._now() + duration_s if duration_s is not None else float("inf")
        stop = stop or asyncio.Event()
        await self._open()
        try:
            try:
                res = await self._handshake(resume=False)
                self._event("streaming", res["t_resumed_s"])
            except LinkLost:  # the link dropped during the start: reconnect like any drop
                self._lost.set()
            t_fast_end = self._now() + self.p.sync_fast_s
            rng = random.Random(self.key)  # probe jitter; replay does not depend on it
            while self._now() < t_end and not stop.is_set():
                lost = asyncio.ensure_future(self._lost.wait())
                stopped = asyncio.ensure_future(stop.wait())
                period = (self.p.sync_fast_period_s if self._now() < t_fast_end
                          else self.p.sync_period_s)
                period *= 1.0 + self.p.sync_jitter * (2.0 * rng.random() - 1.0)
                timeout = min(period, max(0.0, t_end - self._now()))
                await asyncio.wait({lost, stopped}, timeout=timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
                lost.cancel()
                stopped.cancel()
                if stop.is_set() or self._now() >= t_end:
                    break
                if not self._lost.is_set():
                    with contextlib.suppress(LinkLost):
                        await self._probe()
                    if not self._lost.is_set():
                        continue
                t = self._now()
                self.link.disconnects.append(t)
                self._event("disconnect", t)
                await self._drop()
                if not await self._reconnect(t_end):
                    break
            if self._reader is not None and not self._lost.is_set():
                with contextlib.suppress(DeviceError, LinkLost):
                    await self.command(FrameType.STOP, StartStop(self.p.stream_mask, 0),
                                       retries=0)
        except DeviceError as e:
            self.error = str(e)
            raise
        finally:
            await self._drop()
            self.stream.finish()
            self._event("end", self._now())
        return self


async def run_sessions(sessions: list[DeviceSession], duration_s: float | None = None,
                       stop: asyncio.Event | None = None) -> list[DeviceSession]:
    """Run several sessions on the running loop until ``duration_s`` or ``stop``."""
    stop = stop or asyncio.Event()
    await asyncio.gather(*(s.run(duration_s, stop) for s in sessions))
    return sessions
