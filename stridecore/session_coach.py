"""What every sensor of a session produced, in one deterministic order, for the cue engine.

Live, steps arrive unit by unit from several devices whose units interleave however the
event loop schedules them; replay hands each device's units over in 30 s blocks. For the cue
log of a replay to equal the live one byte for byte, the engine must see the same calls in
the same order with the same clock in both. :class:`SessionCoach` gives it that:

- every input carries a host time since the session start: a step's ``t_recv_s`` (arrival of
  the unit that completed it), a link event's time, a STATUS/EVENT message's arrival;
- inputs are handed to the engine sorted by (time, kind, device rank, per-device order) —
  at one instant first the clock tick, then system events, then the steps of each device
  (all rows that arrived at that instant in one :meth:`CueEngine.on_steps` call);
- the engine's clock also advances on a fixed grid (:attr:`grid_s`) through
  :meth:`CueEngine.tick`, so time-based rules (a stop, the end of a snooze, a queued system
  cue) fire at the same instants whatever the units;
- :meth:`advance` processes everything strictly before a time. Live calls it with the loop's
  time minus a hold (``hold_s``: inputs stamped before it but still queued in a transport get
  time to arrive); replay calls :meth:`finish` once after all the devices.

The result is a function of the inputs' times and contents only, not of how they were
delivered — live equals replay unless a unit waits longer than the hold between its stamp
and its processing (then a live log may differ; the recording still holds the truth).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable

import numpy as np

from firmware_protocol.messages import DeviceStatus, Event, EventKind, StatusFlag
from stridecore.coaching import CueDecision, CueEngine, SystemEvent
from stridecore.tables import Columns

GRID_S = 0.25  # engine clock ticks, host s
HOLD_S = 0.03  # live: inputs younger than this wait for stragglers, s

_TICK, _SYSTEM, _STEPS = 0, 1, 2


class SessionCoach:
    """Orders a session's steps and system events into the cue engine; keeps every decision.

    ``keys``: the devices in a fixed order (their rank breaks ties at one instant).
    ``on_decision`` sees each decision as it is made (live: audio, display, recording).
    """

    def __init__(self, engine: CueEngine, keys: Iterable[str], *, grid_s: float = GRID_S,
                 on_decision: Callable[[CueDecision], None] | None = None) -> None:
        self.engine = engine
        self.rank = {k: i for i, k in enumerate(keys)}
        self.grid_s = float(grid_s)
        self.on_decision = on_decision
        self.decisions: list[CueDecision] = []
        self._heap: list[tuple] = []
        self._n: dict[str, int] = {}
        self._next_tick = 0
        self._last_t = 0.0  # the latest input time
        self._low_battery: set[str] = set()
        #: host time (s) of the input being processed: the arrival of the data behind a
        #: decision, for latency
        self.input_t_s = math.nan

    # ------------------------------------------------------------------ inputs
    def _push(self, t: float, kind: int, key: str, payload: object) -> None:
        n = self._n[key] = self._n.get(key, 0) + 1
        heapq.heappush(self._heap, (t, kind, self.rank.get(key, len(self.rank)), n, key,
                                    payload))
        self._last_t = max(self._last_t, t)

    def steps(self, key: str, table: Columns) -> None:
        """Step records of device ``key`` (STEPS columns with ``t_recv_s``, host s)."""
        t = np.asarray(table.get("t_recv_s", ()), np.float64)
        if not len(t):
            return
        for tv in np.unique(t[np.isfinite(t)]).tolist():
            rows = np.flatnonzero(t == tv)
            self._push(tv, _STEPS, key, {c: v[rows] for c, v in table.items()})

    def link(self, key: str, event: str, t_s: float) -> None:
        """A link event of device ``key`` at ``t_s`` (host s since the session start)."""
        kind = {"disconnect": SystemEvent.SENSOR_LOST, "resumed": SystemEvent.SENSOR_BACK
                }.get(event)
        if kind is not None:
            self._push(float(t_s), _SYSTEM, key, kind)

    def telemetry(self, key: str, t_s: float, body: object) -> None:
        """A STATUS or EVENT message of device ``key`` that arrived at ``t_s``."""
        if isinstance(body, DeviceStatus):
            low = bool(body.flags & StatusFlag.LOW_BATTERY)
            if low and key not in self._low_battery:
                self._low_battery.add(key)
                self._push(float(t_s), _SYSTEM, key, SystemEvent.LOW_BATTERY)
            elif not low:
                self._low_battery.discard(key)
        elif isinstance(body, Event) and body.kind == EventKind.BUTTON:
            self._push(float(t_s), _SYSTEM, key, SystemEvent.BUTTON)

    # ------------------------------------------------------------------ processing
    def advance(self, t_s: float) -> list[CueDecision]:
        """Process every input and clock tick strictly before ``t_s`` (host s)."""
        out: list[CueDecision] = []
        while True:
            tick_t = self._next_tick * self.grid_s
            item_t = self._heap[0][0] if self._heap else math.inf
            if min(tick_t, item_t) >= t_s:
                break
            if tick_t <= item_t:
                self._next_tick += 1
                self.input_t_s = tick_t
                self._emit(self.engine.tick(tick_t), out)
                continue
            t, kind, _, _, key, payload = heapq.heappop(self._heap)
            self.input_t_s = t
            if kind == _SYSTEM:
                self._emit(self.engine.on_system(payload, key=key, now_s=t), out)
            else:
                self._emit(self.engine.on_steps(payload, t), out)
        return out

    def _emit(self, got: list[CueDecision], out: list[CueDecision]) -> None:
        for d in got:
            out.append(d)
            self.decisions.append(d)
            if self.on_decision is not None:
                self.on_decision(d)  # sees input_t_s: when the data behind it arrived

    def finish(self) -> list[CueDecision]:
        """Process everything (the end of the session: up to the latest input)."""
        return self.advance(math.nextafter(self._last_t, math.inf))

    def log_table(self) -> Columns:
        return self.engine.log_table()
