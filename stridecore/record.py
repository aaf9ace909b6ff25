"""Record a session: several sensors on one event loop, every unit into one MCAP file.

:func:`record_session` opens each URL (:func:`stridecore.transport.open_url`), runs one
:class:`~stridecore.device.DeviceSession` per sensor on the running loop and hands every unit
sent and received to a :class:`~stridecore.recording.RecordingWriter`, which batches them and
flushes the file at least once a second. Simulated sensors of one session share one origin of
true time, so two simulated feet stay in step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from stridecore.device import DeviceError, DeviceSession, SessionParams
from stridecore.transport import Transport, TransportError, open_url, scheme_of

TICK_S = 0.1  # how often the recorder's batches and flushes are checked, host s


def device_key(url: str, taken: set[str]) -> str:
    """A short unique name for a sensor in a recording: the sim placement, the port's base
    name, or ``dev1``, ``dev2`` ..."""
    scheme = scheme_of(url)
    base = ""
    if scheme == "sim":
        base = dict(parse_qsl(urlsplit(url).query)).get("placement", "right_foot")
    elif scheme in ("serial", "ble"):
        path = url.split("://", 1)[-1].split("?", 1)[0]
        base = path.rstrip("/").rsplit("/", 1)[-1]
    base = "".join(c if c.isalnum() or c in "_-" else "_" for c in base) or "dev"
    key, k = base, 1
    while key in taken:
        k += 1
        key = f"{base}{k}"
    taken.add(key)
    return key


@dataclass
class SessionRun:
    """The result of :func:`record_session`."""

    sessions: list[DeviceSession] = field(default_factory=list)
    exceptions: list[Exception] = field(default_factory=list)  # what ended sensors' sessions
    path: Path | None = None

    @property
    def errors(self) -> list[str]:
        """One line per sensor whose session could not start or ended in an error."""
        return [str(e) for e in self.exceptions]

    @property
    def received_nothing(self) -> bool:
        """No sensor sent a single byte (e.g. no such port): the recording is empty."""
        return all(s.stream.decoder.bytes_in == 0 for s in self.sessions)


async def record_session(urls: list[str], out: Path | None = None, *,
                         duration_s: float | None = None, stop: asyncio.Event | None = None,
                         meta: dict | None = None, params: SessionParams | None = None,
                         pipeline: bool = True, keep_samples: bool = True,
                         on_received: Callable | None = None,
                         on_link: Callable | None = None, on_start: Callable | None = None,
                         on_end: Callable | None = None) -> SessionRun:
    """Stream every URL until ``duration_s`` or ``stop``; record into ``out`` when given.

    A sensor that cannot be reached or does not answer at the start ends the whole session
    (its error in :attr:`SessionRun.errors`); the file is closed properly in every case.
    """
    transports: list[Transport] = [open_url(u) for u in urls]  # TransportError: bad URL
    taken: set[str] = set()
    keys = [device_key(u, taken) for u in urls]
    return await record_transports(transports, keys, out, duration_s=duration_s, stop=stop,
                                   meta=meta, params=params, pipeline=pipeline,
                                   keep_samples=keep_samples, on_received=on_received,
                                   on_link=on_link, on_start=on_start, on_end=on_end)


async def record_transports(transports: list[Transport], keys: list[str],
                            out: Path | None = None, *, duration_s: float | None = None,
                            stop: asyncio.Event | None = None, meta: dict | None = None,
                            params: SessionParams | None = None, pipeline: bool = True,
                            keep_samples: bool = True,
                            on_received: Callable | None = None,
                            t0_epoch_ns: int | None = None,
                            on_link: Callable | None = None,
                            on_start: Callable | None = None,
                            on_end: Callable | None = None) -> SessionRun:
    """:func:`record_session` for transports already made (not opened). ``on_start(run,
    writer)`` is called once the sessions exist (writer None without ``out``), ``on_end(run,
    writer)`` after they all ended, before the file is closed (for what a caller adds to the
    recording, e.g. the cue log)."""
    from stridecore.transport.sim import SimTransport

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for tr in transports:
        if isinstance(tr, SimTransport) and tr.t0_s is None:
            tr.t0_s = t0
    writer = None
    if out is not None:
        from stridecore.recording import RecordingWriter

        writer = RecordingWriter(out, session=dict(meta or {}), t0_host_s=t0,
                                 t0_epoch_ns=t0_epoch_ns)
        for key, tr in zip(keys, transports, strict=True):
            writer.add_device(key, {"url": tr.url, "framing": tr.framing,
                                    "scheme": scheme_of(tr.url)})
    run = SessionRun(path=out)
    run.sessions = [DeviceSession(tr, key=k, params=params, recorder=writer,
                                  pipeline=pipeline, keep_samples=keep_samples, t0_host_s=t0,
                                  on_received=on_received, on_link=on_link)
                    for k, tr in zip(keys, transports, strict=True)]
    stop = stop or asyncio.Event()

    async def one(s: DeviceSession) -> None:
        try:
            await s.run(duration_s, stop)
        except (TransportError, DeviceError) as e:
            run.exceptions.append(e)
            stop.set()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            writer.tick(loop.time())

    tick_task = loop.create_task(ticker()) if writer is not None else None
    try:
        if on_start is not None:
            on_start(run, writer)
        await asyncio.gather(*(one(s) for s in run.sessions))
    finally:
        if tick_task is not None:
            tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick_task
        try:
            if on_end is not None:
                on_end(run, writer)
        finally:
            if writer is not None:
                writer.close()
    return run


def record_simulated(session, out: Path, *, meta: dict | None = None,
                     transport: str = "serial", t0_epoch_ns: int | None = None) -> SessionRun:
    """Record a whole simulated session (:class:`~stridecore.simulate.session.
    SimulatedSession`): its devices stream the run to a host in virtual time, so the
    recording's host time equals the simulation's true time (the truth's ``t_ic_s``).
    ``t0_epoch_ns`` pins the wall-clock stamp (default now) for byte-identical files."""
    from stridecore.clock import run_virtual
    from stridecore.simulate.session import sim_device
    from stridecore.transport.sim import SimTransport

    places = list(session.recording.sensors)
    transports: list[Transport] = [
        SimTransport(f"sim://?placement={p.value}", sim_device(session, p, transport=transport),
                     t0_s=0.0) for p in places]
    end = max(s.duration_s for s in session.recording.sensors.values())
    return run_virtual(record_transports(transports, [p.value for p in places], out,
                                         duration_s=end, meta=meta, pipeline=False,
                                         keep_samples=False, t0_epoch_ns=t0_epoch_ns))
