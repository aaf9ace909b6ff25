"""``sim://`` URLs: a simulated sensor described in one string, like pyserial's URL handlers.

``sim://?transport=ble&placement=left_foot&odr=833&drop=0.01&disconnect=4:1.5,20:3&seed=7``
(``button=30,95``: button presses at those true times, s; ``battery_low=600``: the battery
reads low from then on)

:func:`parse_sim_url` gives the device (:class:`SimSensorParams`); :class:`SimTransport` is the
link on an asyncio loop, with host-side options ``tick``, ``motion``, ``profile`` and
``session_seed``, ``run_s`` (:class:`SimLinkOptions`).

Every option has a default (the ones of :class:`SimSensorParams`); unknown options and bad
values raise :class:`SimUrlError` with one line saying which and why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode, urlsplit

from firmware_protocol.messages import DevicePlacement
from stridecore.schema import Placement
from stridecore.simulate.motion import MotionSource, StillMotion
from stridecore.transport.base import LinkLost, Transport, TransportError, Unit
from stridecore.transport.sim_device import SUPPORTED_ODR_HZ, SimDevice, SimSensorParams


class SimUrlError(ValueError):
    """A ``sim://`` URL that cannot be understood."""


def _float(key: str, v: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(v)
    except ValueError:
        raise SimUrlError(f"sim:// option {key}={v!r} is not a number") from None
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise SimUrlError(f"sim:// option {key}={v} is outside [{lo}, {hi}]")
    return x


def _int(key: str, v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise SimUrlError(f"sim:// option {key}={v!r} is not an integer") from None


def _disconnects(v: str) -> tuple[tuple[float, float], ...]:
    out = []
    for part in filter(None, v.split(",")):
        a, sep, d = part.partition(":")
        if not sep:
            raise SimUrlError(f"sim:// disconnect={part!r}: expected START_S:DURATION_S")
        out.append((_float("disconnect", a, 0), _float("disconnect", d, 0)))
    return tuple(out)


_PARAMS = {  # url key -> (params field, parser)
    "odr": ("odr_hz", _int),
    "acc_range_g": ("acc_range_g", _int),
    "gyro_range_dps": ("gyro_range_dps", _int),
    "n_max": ("n_max", _int),
    "mtu": ("mtu", _int),
    "seed": ("seed", _int),
    "odr_error_ppm": ("odr_error_ppm", _float),
    "drift_ppm": ("clock_drift_ppm", _float),
    "offset_s": ("clock_offset_s", _float),
    "jitter_us": ("timestamp_jitter_us", _float),
}
_FAULTS = {
    "drop": "drop_prob",
    "corrupt": "corrupt_prob",
    "duplicate": "duplicate_prob",
    "reorder": "reorder_prob",
    "overrun": "fifo_overrun_prob",
}
_PLACEMENT_UIDS = {1: b"SIMLFOOT", 2: b"SIMRFOOT", 3: b"SIMLSHIN", 4: b"SIMRSHIN",
                   5: b"SIMLTHGH", 6: b"SIMRTHGH", 7: b"SIMPELVS"}
KNOWN = sorted([*_PARAMS, *_FAULTS, "disconnect", "button", "battery_low", "transport",
                "placement", "uid",
                "tick", "motion", "profile", "session_seed", "run_s"])


def parse_sim_url(url: str, base: SimSensorParams | None = None) -> SimSensorParams:
    """Params of a ``sim://`` URL (``sim://`` alone gives the defaults or ``base``)."""
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise SimUrlError(f"not a sim:// URL: {url!r}")
    params = base or SimSensorParams()
    kw: dict = {}
    faults: dict = {}
    for key, v in parse_qsl(parts.query, keep_blank_values=True):
        if key in _PARAMS:
            field, parse = _PARAMS[key]
            kw[field] = parse(key, v)
        elif key in _FAULTS:
            faults[_FAULTS[key]] = _float(key, v, 0.0, 1.0)
        elif key == "disconnect":
            faults["disconnects_s"] = _disconnects(v)
        elif key == "button":
            kw["button_s"] = tuple(_float(key, x, 0.0) for x in filter(None, v.split(",")))
        elif key == "battery_low":
            kw["battery_low_s"] = _float(key, v, 0.0)
        elif key == "transport":
            if v not in ("serial", "ble"):
                raise SimUrlError(f"sim:// transport={v!r}: expected serial or ble")
            kw["framing"] = "cobs" if v == "serial" else "packet"
        elif key == "placement":
            try:
                kw["placement"] = DevicePlacement(Placement(v).device_code)
            except ValueError:
                raise SimUrlError(f"sim:// placement={v!r}: expected one of "
                                  f"{', '.join(p.value for p in Placement)}") from None
        elif key == "uid":
            if len(v) != 8:
                raise SimUrlError("sim:// uid must be 8 characters")
            kw["uid"] = v.encode("ascii", "replace")
        else:
            raise SimUrlError(f"unknown sim:// option {key!r} (known: {', '.join(KNOWN)})")
    if "odr_hz" in kw and kw["odr_hz"] not in SUPPORTED_ODR_HZ:
        raise SimUrlError(f"sim:// odr={kw['odr_hz']}: the simulated IMU offers "
                          f"{', '.join(map(str, SUPPORTED_ODR_HZ))} Hz")
    if "placement" in kw and "uid" not in kw:  # each simulated placement its own device
        kw["uid"] = _PLACEMENT_UIDS.get(int(kw["placement"]), params.uid)
    if faults:
        kw["faults"] = replace(params.faults, **faults)
    try:
        return replace(params, **kw)
    except ValueError as e:
        raise SimUrlError(f"sim:// {e}") from None


# ------------------------------------------------------------------ the link (asyncio transport)


@dataclass(frozen=True)
class SimLinkOptions:
    """How the host side of a ``sim://`` link behaves (not the device: see SimSensorParams).

    ``tick_s``: how often the host collects what the device sent (a serial read loop's cadence;
    data arrive up to one tick late, command replies are collected when due). ``motion``:
    ``run`` (the running simulator's runner, ``profile`` and ``session_seed``; every sensor with
    the same two sees the same runner; ``run_s``: how long the runner runs before standing) or
    ``still`` (a sensor lying flat; cheap for long tests).
    """

    tick_s: float = 0.005
    motion: str = "run"
    profile: str = "trail"
    session_seed: int = 0
    run_s: float = 600.0


def parse_sim_link(url: str) -> tuple[SimSensorParams, SimLinkOptions]:
    """Device params and link options of a ``sim://`` URL."""
    parts = urlsplit(url)
    dev_q, link = [], {}
    for key, v in parse_qsl(parts.query, keep_blank_values=True):
        if key == "tick":
            link["tick_s"] = _float(key, v, 1e-4, 1.0)
        elif key == "motion":
            if v not in ("run", "still"):
                raise SimUrlError(f"sim:// motion={v!r}: expected run or still")
            link["motion"] = v
        elif key == "profile":
            from stridecore.simulate.profiles import PROFILES

            if v not in PROFILES:
                raise SimUrlError(f"sim:// profile={v!r}: expected one of {', '.join(PROFILES)}")
            link["profile"] = v
        elif key == "session_seed":
            link["session_seed"] = _int(key, v)
        elif key == "run_s":
            link["run_s"] = _float(key, v, 60.0, 86400.0)
        else:
            dev_q.append((key, v))
    if parts.scheme != "sim":
        raise SimUrlError(f"not a sim:// URL: {url!r}")
    params = parse_sim_url("sim://?" + urlencode(dev_q))
    return params, SimLinkOptions(**link)


class SimTransport(Transport):
    """The simulated sensor as a live link on the running event loop.

    True (simulated) time is ``loop.time() − t0_s``; on a :class:`~stridecore.clock.
    VirtualTimeLoop` a simulated hour takes seconds. The device keeps sampling through the
    disconnects of its fault schedule: :meth:`open` fails while the link is down, and
    :meth:`read` raises :class:`LinkLost` once everything sent before the drop was read. On
    serial framing a unit is every byte collected in one tick (a read chunk); on BLE framing
    one frame per unit. ``t0_s`` is shared between sensors that must start from one instant
    (default: the loop time of the first :meth:`open`).
    """

    def __init__(self, url: str = "sim://", device: SimDevice | None = None,
                 t0_s: float | None = None) -> None:
        super().__init__(url)
        try:
            params, self.link = parse_sim_link(url)
        except SimUrlError as e:
            raise TransportError(str(e)) from None
        if device is None:
            device = SimDevice(params, self._motion(params))
        self.device = device
        self.framing = device.p.framing
        self.t0_s = t0_s
        self._units: deque[Unit] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._open = False
        self._lost = False

    def _motion(self, params: SimSensorParams) -> MotionSource:
        if self.link.motion == "still":
            return StillMotion()
        from stridecore.simulate.session import live_motion

        return live_motion(Placement.from_device_code(params.placement),
                           profile=self.link.profile, seed=self.link.session_seed,
                           duration_s=self.link.run_s)

    def true_time_s(self) -> float:
        """Simulated true time now (s since ``t0_s``)."""
        return asyncio.get_running_loop().time() - (self.t0_s or 0.0)

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if self.t0_s is None:
            self.t0_s = loop.time()
        if self._open:
            return
        t = self.true_time_s()
        self.device.poll(t)  # what was sent while nobody listened is gone
        if not self.device.link_up(t):
            raise TransportError(f"{self.name}: sensor not reachable (out of range)")
        self._units.clear()
        self._wake = asyncio.Event()
        self._open, self._lost = True, False
        self._task = loop.create_task(self._collect_loop())

    async def close(self) -> None:
        self._open = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._wake is not None:
            self._wake.set()

    async def _collect_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while self._open:
            next_t += self.link.tick_s
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            self._collect()

    def _collect(self) -> None:
        if not self._open:
            return
        now = asyncio.get_running_loop().time()
        t = now - (self.t0_s or 0.0)
        sent = self.device.poll(t)
        if sent:
            if self.framing == "cobs":
                self._units.append(Unit(now, b"".join(d for _, d in sent)))
            else:
                self._units.extend(Unit(now, d) for _, d in sent)
        if not self.device.link_up(t):
            self._open, self._lost = False, True
        if self._wake is not None and (sent or self._lost):
            self._wake.set()

    async def write(self, data: bytes) -> None:
        if not self._open:
            raise LinkLost(f"{self.name}: link lost")
        t = self.true_time_s()
        if not self.device.link_up(t):
            self._collect()
            raise LinkLost(f"{self.name}: link lost")
        self.device.receive(bytes(data), t)
        # collect the reply when it is due (it leaves after whatever the device had queued)
        # instead of at the next tick
        due = max(self.device.p.reply_latency_s, self.device.last_queued_s() - t)
        asyncio.get_running_loop().call_later(due + 1e-9, self._collect)

    async def read(self) -> Unit:
        while not self._units:
            if not self._open:
                raise LinkLost(f"{self.name}: link lost")
            assert self._wake is not None
            self._wake.clear()
            await self._wake.wait()
        return self._units.popleft()
