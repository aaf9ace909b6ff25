"""The cue engine: step rows in, cue decisions out; pure, deterministic, the clock passed in.

Flow per STEPS row (in the order given; any grouping of rows into calls gives the same log):

1. The row's arrival time is ``t_emit_s`` (else ``t_to_s``, else ``t_ic_s``), never earlier
   than the engine's time. Rows of placements outside the kit are ignored; ``mount_changed``
   asks for the "sensor slipped" system cue.
2. Rows of one leg with initial contacts within ``pair_tolerance_s`` (foot and shin of the
   same contact; a pelvis row joins the contact of its leg) form one *contact*. A contact is
   complete once every kit sensor of its leg (and the pelvis) has reported, or once a row with
   an IC ``settle_s`` later arrives, or on :meth:`CueEngine.tick` ``settle_timeout_s`` after its
   IC. Contacts are evaluated in IC order, so persistence counts steps, not sensor rows.
3. Context: a walking/still contact, a smoothed foot grade above ``climb_above_deg`` or a stop
   (no contact for ``stop_s``) ends every fault episode: no form cue there.
4. Each enabled rule updates the window median of its metric (NaN = not measured: no update)
   and its fault state with hysteresis; a fault held ``persist_steps`` contacts and
   ``persist_s`` seconds (quick feet: ``cadence_persist_steps``, ``cadence_persist_s``) is
   ready. The ready fault of highest priority is said if the global
   floor, its cue's (growing) cooldown, the snooze and the clip gap allow; otherwise the
   suppression is logged once per fault episode and reason.
5. A cued fault that leaves its state and stays out ``praise_hold_steps`` contacts within
   ``praise_window_s`` of its cue earns a praise (at most one per ``praise_cooldown_s``).

System cues are queued and said one clip (``clip_s``) apart, outside the form-cue floor.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from stridecore.coaching.config import CoachConfig
from stridecore.coaching.events import SYSTEM_EVENT_CUE, CueDecision, SystemEvent
from stridecore.coaching.kit import Kit, segment
from stridecore.coaching.phrases import PHRASES
from stridecore.coaching.rules import ABOVE, RULES_BY_NAME, Rule, impact_prior
from stridecore.schema import CUE_LOG, Cue, GaitMode, Placement

_NAN = math.nan
BANDS = ("flat", "moderate", "steep")
"""Grade bands of the personal baselines (``CoachConfig.descent_below_deg``,
``steep_below_deg``)."""


def _reports_steps(p: Placement) -> bool:
    return p.value.endswith(("foot", "shin"))


def _f(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _NAN
    return v


@dataclass
class _Contact:
    side: str
    t_ic_s: float
    rows: dict[Placement, dict[str, object]] = field(default_factory=dict)


@dataclass
class _RuleState:
    window: deque
    side_windows: dict[str, deque] = field(default_factory=dict)
    in_fault: bool = False
    entered_n: int = 0
    entered_t_s: float = _NAN
    episode: int = 0
    out_n: int = 0  # consecutive contacts with the window median past the exit threshold
    spoken_in_episode: bool = False
    logged: set = field(default_factory=set)
    # per leg ("" for both) and for values (":v") and window medians (":m"): (contact n, IC)
    # where the current run past the exit threshold began (the metric left the normal band)
    out_since: dict[str, tuple[int, float]] = field(default_factory=dict)
    back_in: dict[str, int] = field(default_factory=dict)  # ... its contacts since back inside

    def reset(self) -> None:
        self.window.clear()
        self.side_windows.clear()
        self.out_since.clear()
        self.back_in.clear()
        self.in_fault = False
        self.out_n = 0
        self.spoken_in_episode = False
        self.logged = set()


@dataclass
class _Praise:
    rule: Rule
    cue_t_s: float
    left_n: int
    left_t_ic_s: float


class CueEngine:
    """Step stream + injected clock → :class:`CueDecision` s (module doc for the policy)."""

    def __init__(self, kit: Kit, config: CoachConfig | None = None) -> None:
        self.kit = kit
        self.config = config or CoachConfig()
        self.rules: tuple[Rule, ...] = kit.rules(experimental=self.config.personal_baselines,
                                                   cfg=self.config)
        self._knee_sides = kit.knee_sides()
        # each rule's causes: the rules of higher priority and another cue (said first)
        self._causes: dict[str, tuple[Rule, ...]] = {
            r.name: tuple(h for h in self.rules if h.priority < r.priority and h.cue is not r.cue)
            for r in self.rules}
        self._log: list[CueDecision] = []
        self.reset()

    # --- public API ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (a new session); the log is cleared too."""
        self._t = -math.inf
        self._pending: list[_Contact] = []
        self._recent: deque[_Contact] = deque(maxlen=8)
        self._state = {r.name: _RuleState(deque(maxlen=self.config.window_steps))
                       for r in self.rules}
        self._n = 0  # running contacts evaluated in context since the last reset
        self._ics: deque[tuple[int, float]] = deque(maxlen=8)  # (n, IC) of the last contacts
        self._last_contact_t_ic = -math.inf
        self._last_arrival_t = -math.inf
        self._grades: deque[float] = deque(maxlen=self.config.grade_window_steps)
        self._speeds: deque[float] = deque(maxlen=self.config.grade_window_steps)
        self._cadence_base: deque[float] = deque(maxlen=self.config.cadence_baseline_memory_steps)
        # personal baselines: rule -> grade band -> grade-normalised values of past contacts
        self._base: dict[str, dict[str, deque[float]]] = {
            r.name: {b: deque(maxlen=self.config.baseline_memory_steps) for b in BANDS}
            for r in self.rules if r.baseline}
        self._learn: list[tuple[str, str, float]] = []  # this contact's (rule, band, value)
        self._busy_until = -math.inf
        self._last_form_t = -math.inf
        self._last_praise_t = -math.inf
        self._said: dict[Cue, int] = {}
        self._last_said_t: dict[Cue, float] = {}
        self._praise: list[_Praise] = []
        self._queue: list[tuple[float, Cue, str]] = []  # (request time, cue, fault/key)
        self._snooze_until = -math.inf
        self._snoozed = False
        self._lost: set[str] = set()
        self._battery_t: dict[str, float] = {}
        self._slipped_t: dict[str, float] = {}
        self.late_rows = 0
        self.ignored_rows = 0
        self._pelvis_reports = False
        self._log = []

    def on_steps(self, steps: Mapping[str, np.ndarray], now_s: float) -> list[CueDecision]:
        """Feed STEPS rows (a dict of equal-length columns, any placements, host clock);
        ``now_s`` = host time they arrived. Returns the decisions taken."""
        start = len(self._log)
        n = len(steps["t_ic_s"]) if "t_ic_s" in steps else 0
        cols = {k: np.asarray(v) for k, v in steps.items()}
        for i in range(n):
            self._row({k: v[i] for k, v in cols.items()})
        self._advance(now_s)
        return self._log[start:]

    def on_system(self, event: SystemEvent | str, key: str = "", now_s: float = 0.0
                  ) -> list[CueDecision]:
        """A sensor or button event at ``now_s``; ``key``: the sensor (e.g. ``left_foot``)."""
        start = len(self._log)
        self._advance(now_s)
        self._system(SystemEvent(event), str(key), self._t)
        self._advance(now_s)
        return self._log[start:]

    def tick(self, now_s: float) -> list[CueDecision]:
        """Time passing without steps: completes contacts, detects stops, ends the snooze and
        says queued system cues whose turn has come."""
        start = len(self._log)
        self._advance(now_s)
        return self._log[start:]

    @property
    def decisions(self) -> list[CueDecision]:
        return list(self._log)

    def log_table(self) -> dict[str, np.ndarray]:
        """Every decision so far as ``CUE_LOG`` columns (numpy arrays)."""
        d = self._log
        out: dict[str, np.ndarray] = {
            "t_host_s": np.array([x.t_host_s for x in d], np.float64),
            "cue": np.array([x.cue.value for x in d], dtype=object),
            "fault": np.array([x.fault for x in d], dtype=object),
            "spoken": np.array([x.spoken for x in d], dtype=bool),
            "suppressed_reason": np.array([x.suppressed_reason for x in d], dtype=object),
            "text": np.array([x.text for x in d], dtype=object),
            "latency_ms": np.array([x.latency_ms for x in d], np.float64),
        }
        assert tuple(out) == CUE_LOG.names
        return out

    def report(self) -> dict[str, object]:
        """Internals for debugging: fault states, counters, snooze."""
        return {
            "rules": {n: {"in_fault": s.in_fault, "entered_n": s.entered_n,
                          "episode": s.episode} for n, s in self._state.items()},
            "contacts": self._n, "grade_deg": self._grade(), "snoozed": self._snoozed,
            "cadence_baseline_spm": self._cadence_baseline(), "late_rows": self.late_rows,
            "ignored_rows": self.ignored_rows, "queue": list(self._queue),
        }

    # --- time --------------------------------------------------------------------------------
    def _advance(self, now_s: float) -> None:
        """Move the engine's time to ``now_s``: flush what is due by then."""
        now_s = float(now_s)
        cfg = self.config
        # contacts that will get no more rows
        while self._pending and now_s >= self._pending[0].t_ic_s + cfg.settle_timeout_s:
            c = self._pending.pop(0)
            self._finalize(c, max(c.t_ic_s + cfg.settle_timeout_s, self._t))
        self._flush_system(now_s)
        if now_s > self._t:
            self._t = now_s
        if now_s - self._last_arrival_t > cfg.stop_s and not self._pending:
            self._end_episodes()

    def _flush_system(self, until_s: float) -> None:
        """Say queued system cues whose turn comes by ``until_s``; end the snooze when due."""
        while True:
            due = max(self._queue[0][0], self._busy_until) if self._queue else math.inf
            snooze_end = self._snooze_until if self._snoozed else math.inf
            if min(due, snooze_end) > until_s:
                return
            if snooze_end <= due:
                self._snoozed = False
                self._queue.append((snooze_end, Cue.RESUMED, "button"))
                self._queue.sort(key=lambda q: q[0])
                continue
            req, cue, fault = self._queue.pop(0)
            t = max(due, self._t)
            self._emit(t, cue, fault, True, "", (t - req) * 1e3, _NAN)
            self._busy_until = t + self.config.clip_s

    # --- system events -----------------------------------------------------------------------
    def _system(self, ev: SystemEvent, key: str, t: float) -> None:
        cfg = self.config
        if ev is SystemEvent.BUTTON:
            if self._snoozed:
                self._snoozed = False
                self._queue.append((t, Cue.RESUMED, "button"))
            else:
                self._snoozed = True
                self._snooze_until = t + cfg.snooze_s
                self._queue.append((t, Cue.SNOOZED, "button"))
            self._queue.sort(key=lambda q: q[0])
            return
        cue = SYSTEM_EVENT_CUE[ev]
        fault = f"sensor:{key}"
        reason = ""
        if ev is SystemEvent.SENSOR_LOST:
            reason = "duplicate" if key in self._lost else ""
            self._lost.add(key)
        elif ev is SystemEvent.SENSOR_BACK:
            reason = "" if key in self._lost else "duplicate"
            self._lost.discard(key)
        elif ev is SystemEvent.LOW_BATTERY:
            if t - self._battery_t.get(key, -math.inf) < cfg.low_battery_repeat_s:
                reason = "repeat"
            else:
                self._battery_t[key] = t
        elif ev is SystemEvent.SENSOR_SLIPPED:
            if t - self._slipped_t.get(key, -math.inf) < cfg.slipped_repeat_s:
                return  # the same slip, reported again (one row per step): not logged
            self._slipped_t[key] = t
        if reason:
            self._emit(t, cue, fault, False, reason, 0.0, _NAN)
            return
        self._queue.append((t, cue, fault))
        self._queue.sort(key=lambda q: q[0])

    # --- rows and contacts -------------------------------------------------------------------
    def _row(self, row: dict[str, object]) -> None:
        cfg = self.config
        try:
            p = Placement(str(row.get("placement", "")))
        except ValueError:
            self.ignored_rows += 1
            return
        if p not in self.kit.placements:
            self.ignored_rows += 1
            return
        t_ic = _f(row.get("t_ic_s"))
        if not math.isfinite(t_ic):
            self.ignored_rows += 1
            return
        arrival = t_ic
        for k in ("t_emit_s", "t_to_s"):
            v = _f(row.get(k, _NAN))
            if math.isfinite(v):
                arrival = max(v, t_ic)
                break
        arrival = max(arrival, self._t)
        self._advance_rows(arrival)
        self._last_arrival_t = max(self._last_arrival_t, arrival)
        if bool(row.get("mount_changed", False)):
            self._system(SystemEvent.SENSOR_SLIPPED, p.value, self._t)
            self._flush_system(self._t)
        if p is Placement.PELVIS:
            self._pelvis_reports = True
        side = str(row.get("side", "")) or (p.side.value if p.side else "")
        # a row of a contact already evaluated: too late, ignored
        for c in self._recent:
            if (c.side == side or not side) and abs(c.t_ic_s - t_ic) <= cfg.pair_tolerance_s \
                    and p not in c.rows:
                self.late_rows += 1
                return
        target = None
        for c in self._pending:
            if (c.side == side or not side) and abs(c.t_ic_s - t_ic) <= cfg.pair_tolerance_s \
                    and p not in c.rows:
                target = c
                break
        if target is None:
            target = _Contact(side, t_ic)
            self._pending.append(target)
            self._pending.sort(key=lambda c: c.t_ic_s)
        target.rows[p] = row
        # complete contacts at the front, in IC order
        while self._pending:
            c = self._pending[0]
            if self._complete(c) or t_ic > c.t_ic_s + cfg.settle_s:
                self._pending.pop(0)
                self._finalize(c, self._t)
            else:
                break

    def _advance_rows(self, t: float) -> None:
        self._flush_system(t)
        if t > self._t:
            self._t = t

    def _complete(self, c: _Contact) -> bool:
        """Every sensor of the kit that reports contacts on this leg has reported this one
        (foot and shin pipelines emit step records; a thigh's knee comes in the shin's record;
        a pelvis once it has sent a row: its pipeline emits one per step, at the next
        contact)."""
        for p in self.kit.placements:
            if (p.side is not None and p.side.value == c.side and _reports_steps(p)
                    and p not in c.rows):
                return False
        # a pelvis that reports contacts (a step row seen this session) is waited for too
        return not (self._pelvis_reports and Placement.PELVIS not in c.rows)

    def _value(self, c: _Contact, rule: Rule, g: float) -> float:
        """Rule ``rule``'s metric at contact ``c``; ``g``: the smoothed grade (°, NaN unknown)."""
        if rule.metric == "cadence_ratio":
            norm = self._cadence_norm(c)
            base = self._cadence_baseline()
            if not (math.isfinite(norm) and math.isfinite(base) and math.isfinite(g)):
                return _NAN
            down = max(-g, 0.0)
            return norm / (base * (1 - self.config.cadence_descent_pct_per_deg / 100 * down))
        if rule.name == "knee" and c.side not in self._knee_sides:
            return _NAN
        v = self._metric(c, rule.metric, rule.sources)
        if rule.baseline and math.isfinite(v):
            return self._relative(rule, v, g)
        if rule.name == "impact_abs" and math.isfinite(v):
            return self._impact_at_grade(c, v, g)
        return v

    def _impact_at_grade(self, c: _Contact, v: float, g: float) -> float:
        """A contact's tibial peak ``v`` (g) carried from the slope it landed on (its own foot
        grade) to the smoothed grade its threshold is set at, with the grade prior:
        v × exp(k · (descent_smoothed − descent_own)), k = ``impact_prior_per_deg``. A footfall
        on broken ground lands on its own slope, several degrees off the 5-contact median, and
        its impact follows that slope (Gottschall & Kram 2005); judged against the median's
        threshold it read 5–15 % high or low. Unchanged without a foot grade."""
        own = self._metric(c, "grade_deg", ("foot",))
        if not (math.isfinite(own) and math.isfinite(g)):
            return v
        k = self.config.impact_prior_per_deg
        return v * math.exp(k * (max(-g, 0.0) - max(-own, 0.0)))

    def _band(self, grade: float) -> str:
        cfg = self.config
        if grade > cfg.descent_below_deg:
            return "flat"
        return "moderate" if grade > cfg.steep_below_deg else "steep"

    def _relative(self, rule: Rule, v: float, g: float) -> float:
        """``v`` against the runner's own baseline at the current grade: a ratio
        (``baseline="ratio"``) or a difference. The value is grade-normalised with the prior
        (impact × exp(k·descent), shank angle + k·descent) and compared with the median of the
        band's past normalised values; a band with fewer than ``baseline_min_steps`` contacts
        borrows the nearest learnt band (the prior carries it over). NaN until a band is learnt
        or without a grade. The normalised value is learnt after the contact
        (:meth:`_finalize`) if no rule is in a fault then."""
        cfg = self.config
        if not math.isfinite(g):
            return _NAN
        down = max(-g, 0.0)
        ratio = rule.baseline == "ratio"
        if ratio:
            sp = [x for x in self._speeds if math.isfinite(x)]
            speed = float(np.median(sp)) if sp else _NAN
            if not speed > 0.5:
                return _NAN
            norm = v / (impact_prior(cfg, g) * speed)
        else:
            norm = v - cfg.shank_ic_prior_deg_per_deg * down
        band = self._band(g)
        self._learn.append((rule.name, band, norm))
        bases = self._base[rule.name]
        i = BANDS.index(band)
        ref = _NAN
        for j in sorted(range(len(BANDS)), key=lambda j: (abs(j - i), j)):
            if len(bases[BANDS[j]]) >= cfg.baseline_min_steps:
                ref = float(np.median(np.fromiter(bases[BANDS[j]], float)))
                break
        if not math.isfinite(ref):
            return _NAN
        if ratio:
            return norm / ref if ref > 0 else _NAN
        return norm - ref

    @staticmethod
    def _metric(c: _Contact, metric: str, sources: tuple[str, ...]) -> float:
        for seg in sources:
            for p in sorted(c.rows, key=lambda q: q.value):
                if segment(p) == seg:
                    v = _f(c.rows[p].get(metric, _NAN))
                    if math.isfinite(v):
                        return v
        return _NAN

    def _grade(self) -> float:
        g = [x for x in self._grades if math.isfinite(x)]
        return float(np.median(g)) if g else _NAN

    def _cadence_norm(self, c: _Contact) -> float:
        """The foot's cadence at a reference speed of 1 m/s: cadence / speed^k (steps/min),
        speed = the median of the last contacts' stride length × cadence / 120 (NaN without a
        foot's stride length). Cadence rises with speed (k ≈ 0.25: Cavanagh & Kram 1989), so a
        slow technical section is not "slow feet"."""
        cad = self._metric(c, "cadence_spm", ("foot",))
        sp = [x for x in self._speeds if math.isfinite(x)]
        speed = float(np.median(sp)) if sp else _NAN
        if not (math.isfinite(cad) and speed > 0.5):
            return _NAN
        return cad / speed ** self.config.cadence_speed_exponent

    def _learnable(self, name: str) -> bool:
        """No fault of rule ``name``'s priority or higher is in progress: a contact may be
        learnt as the runner's normal for it."""
        prio = RULES_BY_NAME[name].priority
        return not any(self._state[r.name].in_fault for r in self.rules if r.priority <= prio)

    def _learn_cadence(self, c: _Contact, grade: float) -> None:
        """Add this running contact's grade-normalised cadence at speed to the runner's own
        baseline (when :meth:`_learnable`: a fault is not learnt as normal)."""
        if "cadence" not in self._state or not math.isfinite(grade) \
                or not self._learnable("cadence"):
            return
        norm = self._cadence_norm(c)
        if math.isfinite(norm):
            down = max(-grade, 0.0)
            self._cadence_base.append(
                norm / (1 - self.config.cadence_descent_pct_per_deg / 100 * down))

    def _cadence_baseline(self) -> float:
        if len(self._cadence_base) < self.config.cadence_baseline_steps:
            return _NAN
        return float(np.median(np.fromiter(self._cadence_base, float)))

    # --- evaluation ----------------------------------------------------------------------------
    def _finalize(self, c: _Contact, t: float) -> None:
        """Evaluate a complete contact at decision time ``t``."""
        cfg = self.config
        self._recent.append(c)
        if c.t_ic_s - self._last_contact_t_ic > cfg.stop_s:
            self._end_episodes()
        self._last_contact_t_ic = max(self._last_contact_t_ic, c.t_ic_s)
        gait = ""
        for seg in ("foot", "shin", "thigh", "pelvis"):
            for p in sorted(c.rows, key=lambda q: q.value):
                if segment(p) == seg and str(c.rows[p].get("gait_mode", "")):
                    gait = str(c.rows[p]["gait_mode"])
                    break
            if gait:
                break
        g_row = self._metric(c, "grade_deg", ("foot",))
        if math.isfinite(g_row):
            self._grades.append(g_row)
        sl = self._metric(c, "stride_length_m", ("foot",))
        cad = self._metric(c, "cadence_spm", ("foot",))
        if math.isfinite(sl) and math.isfinite(cad):
            self._speeds.append(sl * cad / 120.0)
        grade = self._grade()
        if gait in (GaitMode.WALK.value, GaitMode.STILL.value) or (
                math.isfinite(grade) and grade > cfg.climb_above_deg):
            self._end_episodes()
            return
        self._n += 1
        self._ics.append((self._n, c.t_ic_s))
        self._learn = []
        for rule in self.rules:
            self._update(rule, c, grade)
        for rule in self.rules:  # a symptom's persistence counts from when its cause ended
            st = self._state[rule.name]
            if rule.symptom and st.in_fault and any(
                    self._state[h.name].in_fault for h in self._causes[rule.name]):
                st.entered_n, st.entered_t_s = self._n, c.t_ic_s
        for name, band, v in self._learn:
            if self._learnable(name):
                self._base[name][band].append(v)
        self._learn_cadence(c, grade)
        self._praise_check(t, c)
        self._choose(t, c)

    def _update(self, rule: Rule, c: _Contact, grade: float) -> None:
        st = self._state[rule.name]
        thr = rule.thresholds(self.config, grade)
        if thr is None:
            self._close(rule, st, c)
            return
        v = self._value(c, rule, grade)
        if not math.isfinite(v):
            return
        if rule.per_side:
            w = st.side_windows.setdefault(c.side, deque(maxlen=self.config.side_window_steps))
        else:
            w = st.window
        w.append((v, self._n, c.t_ic_s))
        if rule.per_side:
            meds = [float(np.median([x[0] for x in q])) for q in st.side_windows.values()]
            med = max(meds) if rule.direction == ABOVE else min(meds)
        else:
            med = float(np.median([x[0] for x in w]))
        enter, leave = thr
        s = rule.direction
        own = float(np.median([x[0] for x in w])) if rule.per_side else med
        edge = rule.normal_edge(self.config, grade, leave)
        for key, x in (((c.side if rule.per_side else "") + ":v", v),
                       ((c.side if rule.per_side else "") + ":m", own)):
            if s * (x - edge) > 0:
                st.out_since.setdefault(key, (self._n, c.t_ic_s))
                st.back_in[key] = 0
            elif key in st.out_since:
                st.back_in[key] = st.back_in.get(key, 0) + 1
                if st.back_in[key] > rule.backdate_gap_steps(self.config):
                    del st.out_since[key], st.back_in[key]
        if not st.in_fault:
            if s * (med - enter) > 0:
                # the episode starts where the metric left the normal band (the contact that
                # began the current run of values, or of window medians, past the rule's
                # normal edge; a run that began more than backdate_steps contacts before is
                # dated there) or at the first faulted contact of the confirming window,
                # whichever is earliest
                first = min((x[1:] for q in ([w] if not rule.per_side else
                                             st.side_windows.values()) for x in q
                             if s * (x[0] - enter) > 0), key=lambda x: x[0])
                lim = first[0] - self.config.backdate_steps
                floor = next(x for x in self._ics if x[0] >= lim)
                first = min([first, *(max(x, floor, key=lambda y: y[0])
                                      for x in st.out_since.values())], key=lambda x: x[0])
                # a stride-averaged metric's value at a contact describes the stride ending
                # there: the change it shows began up to stride_lag contacts before
                first = min([first, *(x for x in self._ics
                                      if first[0] - rule.stride_lag <= x[0] < first[0])],
                            key=lambda x: x[0])
                st.in_fault = True
                st.out_n = 0
                st.entered_n = first[0]
                st.entered_t_s = first[1]
                st.episode += 1
                st.spoken_in_episode = False
                st.logged = set()
        elif s * (med - leave) < 0:
            st.out_n += 1
            if st.out_n >= rule.exit_steps(self.config):
                self._close(rule, st, c)
        else:
            st.out_n = 0

    def _close(self, rule: Rule, st: _RuleState, c: _Contact) -> None:
        if st.in_fault and st.spoken_in_episode:
            self._praise.append(_Praise(rule, self._last_said_t.get(rule.cue, -math.inf),
                                        self._n, c.t_ic_s))
        st.in_fault = False
        st.spoken_in_episode = False

    def _end_episodes(self) -> None:
        """A context where form is not judged (walk, climb, stop): every episode ends."""
        for st in self._state.values():
            st.reset()
        self._ics.clear()  # an episode is never dated back across the break
        self._praise.clear()

    def _ready(self, rule: Rule, c: _Contact) -> bool:
        st = self._state[rule.name]
        n, s = rule.persistence(self.config)
        return st.in_fault and self._n - st.entered_n + 1 >= n and c.t_ic_s - st.entered_t_s >= s

    def _building_above(self, rule: Rule, c: _Contact) -> bool:
        """A fault of higher priority (another cue) is in its persistence: ``rule`` waits for
        it (the cause is said first); a ``symptom`` rule waits while it lasts."""
        return any(self._state[h.name].in_fault and (rule.symptom or not self._ready(h, c))
                   for h in self._causes[rule.name])

    def _cooldown(self, cue: Cue) -> float:
        n = self._said.get(cue, 0)
        if n == 0:
            return 0.0
        cfg = self.config
        return min(cfg.cooldown_s * cfg.cooldown_growth ** (n - 1), cfg.cooldown_max_s)

    def _suppress(self, rule: Rule, reason: str, t: float, c: _Contact) -> None:
        st = self._state[rule.name]
        if reason in st.logged:
            return
        st.logged.add(reason)
        self._emit(t, rule.cue, rule.fault.value, False, reason, (t - c.t_ic_s) * 1e3,
                   c.t_ic_s)

    def _choose(self, t: float, c: _Contact) -> None:
        ready = [r for r in self.rules if self._ready(r, c)]
        if not ready:
            return
        cfg = self.config
        spoken = None
        for rule in ready:  # priority order
            if spoken is not None or self._building_above(rule, c):
                self._suppress(rule, "priority", t, c)
                continue
            if self._snoozed:
                self._suppress(rule, "snoozed", t, c)
                continue
            if t - self._last_said_t.get(rule.cue, -math.inf) < self._cooldown(rule.cue):
                self._suppress(rule, "cooldown", t, c)
                continue
            if t - self._last_form_t < cfg.floor_s:
                self._suppress(rule, "floor", t, c)
                continue
            if t < self._busy_until:
                return  # another clip is playing: try again on the next contact
            spoken = rule
        if spoken is None:
            return
        st = self._state[spoken.name]
        st.spoken_in_episode = True
        st.logged = set()
        # the other rules of the same cue are answered by it (e.g. knee and its shin proxy)
        for r in self.rules:
            if r.cue is spoken.cue and r is not spoken and self._state[r.name].in_fault:
                self._state[r.name].spoken_in_episode = True
        self._say(t, spoken.cue, spoken.fault.value, c.t_ic_s)

    def _praise_check(self, t: float, c: _Contact) -> None:
        cfg = self.config
        for pr in list(self._praise):
            if self._state[pr.rule.name].in_fault or t - pr.cue_t_s > cfg.praise_window_s:
                self._praise.remove(pr)  # relapsed, or too late to praise
                continue
            if self._n - pr.left_n < cfg.praise_hold_steps:
                continue
            if self._snoozed or t < self._busy_until or t - self._last_form_t < cfg.floor_s:
                continue  # wait for a free moment within the praise window
            self._praise.remove(pr)
            if t - self._last_praise_t < cfg.praise_cooldown_s:
                self._emit(t, Cue.PRAISE, pr.rule.fault.value, False, "cooldown",
                           (t - pr.left_t_ic_s) * 1e3, pr.left_t_ic_s)
                continue
            self._last_praise_t = t
            self._say(t, Cue.PRAISE, pr.rule.fault.value, pr.left_t_ic_s)
            self._praise.clear()  # one praise for everything corrected just now
            return

    # --- output ------------------------------------------------------------------------------
    def _say(self, t: float, cue: Cue, fault: str, t_ic: float) -> None:
        self._said[cue] = self._said.get(cue, 0) + 1
        self._last_said_t[cue] = t
        self._last_form_t = t
        self._busy_until = t + self.config.clip_s
        self._emit(t, cue, fault, True, "", (t - t_ic) * 1e3, t_ic)

    def _emit(self, t: float, cue: Cue, fault: str, spoken: bool, reason: str,
              latency_ms: float, t_ic: float) -> None:
        self._log.append(CueDecision(float(t), cue, fault, spoken, reason, PHRASES[cue],
                                     float(latency_ms), float(t_ic)))
