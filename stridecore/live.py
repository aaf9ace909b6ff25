"""``stridecore live``: sensors → pipelines → cue engine → audio, recorded.

Each URL is one :class:`~stridecore.device.DeviceSession` on one event loop (as in
:mod:`stridecore.record`); every received unit goes through its device's real-time pipeline
(foot or shin, :func:`~stridecore.shin_pipeline.pipeline_for`); the step records, link events
(sensor lost / back) and STATUS / EVENT messages (low battery, the button) go through a
:class:`~stridecore.session_coach.SessionCoach` into the :class:`~stridecore.coaching.
CueEngine`; spoken cues are handed to a :class:`~stridecore.audio.CuePlayer`, which plays on
its own audio thread (sample processing never waits for audio). The recording holds every
wire unit as ``record`` does, plus ``/coach/kit`` (the sensor set and its key order),
``/coach/cue`` (each decision, CUE_LOG columns) and ``/KEY/step`` (each step record).

:func:`coach_recording` replays a recording through the same pipelines and the same
:class:`SessionCoach`: its cue log equals the live one byte for byte (tested).

With simulated sensors (``sim://``) the loop is closed: each spoken form cue reaches the
simulated runner (:meth:`~stridecore.simulate.runner.Runner.cue`), who may correct the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stridecore.coaching import CoachConfig, CueDecision, CueEngine, Kit
from stridecore.coaching.phrases import SYSTEM_CUES
from stridecore.knee_join import KneeJoins
from stridecore.record import SessionRun, device_key, record_transports
from stridecore.replay import ReplayResult
from stridecore.schema import CUE_LOG, STEPS
from stridecore.session_coach import HOLD_S, SessionCoach
from stridecore.symmetry import Symmetry
from stridecore.tables import Columns, concat, write_csv

COACH_TICK_S = 0.01  # how often live hands what arrived to the coach, host s
KIT_TOPIC, CUE_TOPIC, STEP_NAME = "/coach/kit", "/coach/cue", "step"

DEFAULT_LIVE_S = 90.0
DEFAULT_URLS = tuple(
    f"sim://?placement={p}&odr=208&profile=heel_striker&run_s={DEFAULT_LIVE_S:g}"
    f"&session_seed=3&seed={i}" for i, p in enumerate(
        ("left_foot", "right_foot", "left_shin", "right_shin", "left_thigh", "right_thigh")))
"""The built-in run: a heel-striking trail runner with foot, shin and thigh sensors on both
legs (208 Hz: the simulated sensors render their body model on the host's loop), a steep
descent where heel strike and a straight knee set in, over ``DEFAULT_LIVE_S``."""


def _empty_log() -> Columns:
    return {c.name: np.zeros(0, object if c.dtype in ("str", "enum:Cue") else
                             (bool if c.dtype == "bool" else np.float64))
            for c in CUE_LOG.columns}


def cue_log_csv(log: Columns) -> bytes:
    """The cue log as CSV bytes (the form compared between live and replay)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "cues.csv"
        write_csv(path, log, CUE_LOG)
        return path.read_bytes()


def kit_of(streams) -> Kit:
    """The kit of ``streams``: their placements and configured accelerometer ranges."""
    streams = [s for s in streams if s.placement is not None]
    return Kit.from_placements([s.placement for s in streams],
                               {s.placement: float(s.config.acc_range_g) for s in streams
                                if s.config is not None})


def _json_row(table: Columns, i: int) -> dict:
    out = {}
    for c in STEPS.columns:
        v = table[c.name][i]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[c.name] = v
    return out


def _decision_json(d: CueDecision) -> dict:
    lat = d.latency_ms if math.isfinite(d.latency_ms) else None
    return {"cue": d.cue.value, "fault": d.fault, "spoken": bool(d.spoken),
            "suppressed_reason": d.suppressed_reason, "text": d.text, "latency_ms": lat,
            "t_decision_s": d.t_host_s}


class LiveCoach:
    """The live glue: device sessions → :class:`SessionCoach` → player and recording."""

    def __init__(self, config: CoachConfig, player=None, *,
                 on_decision: Callable[[CueDecision], None] | None = None,
                 close_loop: bool = True) -> None:
        self.config = config
        self.player = player
        self.on_decision_cb = on_decision
        self.close_loop = close_loop
        self.coach: SessionCoach | None = None
        self.kit: Kit | None = None
        self.keys: list[str] = []
        self.run: SessionRun | None = None
        self.writer = None
        self.t0 = 0.0
        self._buffer: list[tuple[str, tuple]] = []  # inputs before the kit is known
        self.joins: KneeJoins | None = None
        self.steps_out: dict[str, list[Columns]] = {}
        self.symmetry = Symmetry()  # left vs right, last 20 steps per leg
        self._tele_seen: dict[str, int] = {}
        self._sim_runners: list = []
        #: per cue handed to the player: (receipt of its data, host s; time.monotonic() just
        #: before play()) — onsets are matched by their play() time, drops leave no onset
        self.played: list[tuple[float, float]] = []
        self.stalls_ms: list[float] = []

    # ------------------------------------------------------------------ session hooks
    def on_start(self, run: SessionRun, writer) -> None:
        self.run, self.writer = run, writer
        self.keys = [s.key for s in run.sessions]
        self.t0 = asyncio.get_running_loop().time()
        from stridecore.transport.sim import SimTransport

        for s in run.sessions:
            s.stream.on_fed = functools.partial(self._on_fed, s.key)
            tr = s.transport
            if isinstance(tr, SimTransport):
                src = getattr(getattr(tr.device, "motion", None), "source", None)
                if src is not None and hasattr(src, "cue"):
                    self._sim_runners.append((tr, src))

    def _on_fed(self, key: str, samples, t_host_s, t_recv_s) -> None:
        self._input(key, ("fed", samples, t_host_s, t_recv_s))

    def on_received(self, session, got) -> None:
        for out in got.outputs:
            if out.n_steps:
                self._input(session.key, ("steps", out.steps))
        tele = session.stream.telemetry
        k = self._tele_seen.get(session.key, 0)
        for t, body in tele[k:]:
            self._input(session.key, ("telemetry", t, body))
        self._tele_seen[session.key] = len(tele)

    def on_link(self, session, kind: str, t_host_s: float) -> None:
        self._input(session.key, ("link", kind, t_host_s - self.t0))

    def _input(self, key: str, item: tuple) -> None:
        if self.coach is None:
            self._buffer.append((key, item))
            self._maybe_start()
            return
        self._route(key, item)

    def _route(self, key: str, item: tuple) -> None:
        kind = item[0]
        if kind == "fed":
            self.joins.fed(key, *item[1:])
        elif kind == "steps":
            for table in self.joins.steps(key, item[1]):
                self._steps_out(key, table)
        else:
            _give(self.coach, key, item)
            return
        for k, row in self.joins.ready():
            self._steps_out(k, row)

    def _steps_out(self, key: str, table: Columns) -> None:
        """Step records as the coach gets them (knee joined where the kit has it)."""
        self.coach.steps(key, table)
        self.symmetry.add(table)
        self.steps_out.setdefault(key, []).append(table)
        if self.writer is not None:
            for i in range(len(table["t_ic_s"])):
                t = float(table["t_recv_s"][i])
                self.writer.json(f"/{key}/{STEP_NAME}",
                                 self.t0 + (t if math.isfinite(t) else 0.0),
                                 _json_row(table, i))

    def _maybe_start(self, force: bool = False) -> None:
        if self.coach is not None or self.run is None:
            return
        sessions = self.run.sessions
        # the kit and the knee joins need each sensor's placement (GET_INFO) and rate
        # (GET_CONFIG): a join built before a leg's config had arrived had no knee for the
        # whole session (seen when a loaded machine answered GET_CONFIG late)
        if not force and any(s.stream.info is None or s.stream.config is None
                             for s in sessions):
            return
        self.kit = kit_of(s.stream for s in sessions)
        self.joins = knee_joins(s.stream for s in sessions)
        engine = CueEngine(self.kit, self.config)
        self.coach = SessionCoach(engine, self.keys, on_decision=self._decided)
        if self.writer is not None:
            self.writer.json(KIT_TOPIC, asyncio.get_running_loop().time(), {
                "keys": self.keys, "placements": sorted(p.value for p in self.kit.placements),
            })
        for key, item in self._buffer:
            self._route(key, item)
        self._buffer.clear()

    def _decided(self, d: CueDecision) -> None:
        if self.writer is not None:
            self.writer.json(CUE_TOPIC, self.t0 + d.t_host_s, _decision_json(d))
        if self.on_decision_cb is not None:
            self.on_decision_cb(d)
        if not d.spoken:
            return
        if self.player is not None:
            # (receipt of the data behind it, monotonic time just before play())
            self.played.append((self.t0 + self.coach.input_t_s, time.monotonic()))
            self.player.play(d.cue, d.text, t_stream_s=d.t_host_s)
        if self.close_loop and d.cue not in SYSTEM_CUES:
            for tr, runner in self._sim_runners:
                t_true = asyncio.get_running_loop().time() - (tr.t0_s or 0.0)
                with contextlib.suppress(KeyError, ValueError):
                    runner.cue(d.cue, t_true)

    async def ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + COACH_TICK_S
            await asyncio.sleep(COACH_TICK_S)
            now = loop.time()
            self.stalls_ms.append((now - due) * 1e3)
            if self.coach is None:
                self._maybe_start(force=now - self.t0 > 10.0)
            if self.coach is not None:
                self.coach.advance(now - self.t0 - HOLD_S)

    def on_end(self, run: SessionRun, writer) -> None:
        self._maybe_start(force=True)
        if self.coach is not None:
            for k, row in self.joins.finish():
                self._steps_out(k, row)
            self.coach.finish()

    def steps_table(self, key: str) -> Columns:
        """The step records of ``key`` as the coach got them (knee joined)."""
        parts = self.steps_out.get(key, [])
        return concat(parts, STEPS) if parts else {}


def knee_joins(streams) -> KneeJoins:
    """The thigh + shin joins of the devices whose placement and rate are known."""
    streams = [st for st in streams if st.placement is not None and st.config is not None]
    return KneeJoins({st.key: st.placement for st in streams},
                     {st.key: float(st.config.odr_hz) for st in streams})


def _give(coach: SessionCoach, key: str, item: tuple) -> None:
    kind = item[0]
    if kind == "steps":
        coach.steps(key, item[1])
    elif kind == "telemetry":
        coach.telemetry(key, item[1], item[2])
    else:
        coach.link(key, item[1], item[2])


async def live_session(urls: list[str], *, duration_s: float | None, out: Path | None = None,
                       config: CoachConfig | None = None, player=None,
                       stop: asyncio.Event | None = None,
                       on_decision: Callable[[CueDecision], None] | None = None,
                       on_tick: Callable[[LiveCoach, float], None] | None = None,
                       on_start: Callable[[LiveCoach], None] | None = None,
                       meta: dict | None = None) -> tuple[SessionRun, LiveCoach]:
    """Run a live coaching session on the running loop (real or virtual time).
    ``on_start(coach)``: once the device sessions exist (e.g. to observe them)."""
    from stridecore.transport import open_url

    transports = [open_url(u) for u in urls]
    taken: set[str] = set()
    keys = [device_key(u, taken) for u in urls]
    lc = LiveCoach(config or CoachConfig(), player, on_decision=on_decision)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []

    def start(run, writer) -> None:
        lc.on_start(run, writer)
        if on_start is not None:
            on_start(lc)
        tasks.append(loop.create_task(lc.ticker()))
        if on_tick is not None:
            async def view() -> None:
                while True:
                    await asyncio.sleep(0.25)
                    on_tick(lc, loop.time() - lc.t0)
            tasks.append(loop.create_task(view()))

    def end(run, writer) -> None:
        for t in tasks:
            t.cancel()
        lc.on_end(run, writer)

    # What exists now (modules, compiled kernels, the runner's plan) lives as long as the
    # session: frozen out of the cycle collector, whose full passes over it paused the loop
    # for ~0.1 s each (gc.freeze, Python ≥ 3.7); thawed again when the session ends.
    gc.collect()
    gc.freeze()
    try:
        run = await record_transports(
            transports, keys, out, duration_s=duration_s, stop=stop,
            meta={"job": "live", **(meta or {})}, on_received=lc.on_received,
            on_link=lc.on_link, on_start=start, on_end=end)
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
    finally:
        gc.unfreeze()
    return run, lc


def latencies_ms(lc: LiveCoach) -> list[float]:
    """Receipt of the triggering data → first non-silent sample handed to the audio device,
    per spoken cue with an onset, ms (loop time = ``time.monotonic``; real time only)."""
    if lc.player is None or not lc.played:
        return []
    before = np.array([b for _, b in lc.played])
    out = []
    for o in lc.player.onsets:  # a cue the player dropped has no onset: it is skipped
        i = int(np.searchsorted(before, o.t_call_s, side="right")) - 1
        if i >= 0:
            out.append((o.t_handed_s - lc.played[i][0]) * 1e3)
    return out


# ---------------------------------------------------------------------- replay


def coach_recording(path: str | Path, config: CoachConfig | None = None
                    ) -> tuple[SessionCoach, ReplayResult]:
    """Replay a recording through the same pipelines and cue engine as live: the decisions
    (and :meth:`SessionCoach.log_table`) equal the live ones; with the replay's result."""
    from stridecore.replay import replay

    fed: dict[str, list] = {}
    res = replay(path, jobs=1, on_fed=lambda k, *a: fed.setdefault(k, []).append(a))
    reader = res.reader
    t0 = reader.t0_host_s
    keys = list(res.streams)
    kit_msg = [f for _, _, f in reader.json_messages("kit")]
    if kit_msg and "keys" in kit_msg[0]:
        keys = [k for k in kit_msg[0]["keys"] if k in res.streams] + [
            k for k in res.streams if k not in kit_msg[0]["keys"]]
    kit = kit_of(res.streams[k] for k in keys)
    coach = SessionCoach(CueEngine(kit, config or CoachConfig()), keys)
    # the knee joins see each leg's thigh first, then its shin: their result does not depend
    # on the interleaving (knee_join), so this equals what live decided as data came
    joins = knee_joins(res.streams[k] for k in keys)
    thighs = [k for k in keys if joins.role.get(k, ("", ""))[1] == "thigh"]
    for k in thighs + [k for k in keys if k not in thighs]:
        for args in fed.get(k, ()):
            joins.fed(k, *args)
    for k in keys:
        st = res.streams[k]
        for table in joins.steps(k, st.steps_table()):
            coach.steps(k, table)
    for k, row in joins.ready() + joins.finish():
        coach.steps(k, row)
    for k in keys:
        st = res.streams[k]
        for t, f in reader.link_events(k):  # reacted to when it became known
            coach.link(k, str(f.get("event", "")), float(f.get("t_report_s", t)) - t0)
        for t, body in st.telemetry:
            coach.telemetry(k, t, body)
    coach.finish()
    return coach, res


def recorded_cue_log(reader) -> Columns:
    """The cue log a live session wrote into its recording (``/coach/cue``), CUE_LOG columns."""
    rows = [f for _, _, f in reader.json_messages("cue")]
    log = _empty_log()
    if not rows:
        return log
    log["t_host_s"] = np.array([f["t_decision_s"] for f in rows], np.float64)
    for c in ("cue", "fault", "suppressed_reason", "text"):
        log[c] = np.array([f[c] for f in rows], object)
    log["spoken"] = np.array([f["spoken"] for f in rows], bool)
    log["latency_ms"] = np.array([np.nan if f["latency_ms"] is None else f["latency_ms"]
                                  for f in rows], np.float64)
    return log


def run_live_blocking(urls: list[str], *, duration_s: float | None, speed: float = 1.0,
                      **kw) -> tuple[SessionRun, LiveCoach]:
    """:func:`live_session` on a fresh loop: ``speed`` 1 = real time, 0 = virtual time as
    fast as possible (tests), else virtual time paced to that many times real time."""
    from stridecore.clock import _run, run_at_speed

    main = live_session(urls, duration_s=duration_s, **kw)
    if speed == 1.0:  # a plain loop: loop.time() is time.monotonic(), the audio thread's clock
        return _run(asyncio.new_event_loop(), main)
    return run_at_speed(main, speed)


