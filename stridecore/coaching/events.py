"""What goes into the cue engine besides steps (:class:`SystemEvent`) and what comes out
(:class:`CueDecision`, one per row of the ``CUE_LOG`` table)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stridecore.schema import Cue


class SystemEvent(StrEnum):
    """Sensor and button events the runner must hear about."""

    SENSOR_LOST = "sensor_lost"
    SENSOR_BACK = "sensor_back"
    LOW_BATTERY = "low_battery"
    SENSOR_SLIPPED = "sensor_slipped"
    BUTTON = "button"  # a press of a sensor's button: snooze form cues (again: resume)


SYSTEM_EVENT_CUE: dict[SystemEvent, Cue] = {
    SystemEvent.SENSOR_LOST: Cue.SENSOR_LOST,
    SystemEvent.SENSOR_BACK: Cue.SENSOR_BACK,
    SystemEvent.LOW_BATTERY: Cue.LOW_BATTERY,
    SystemEvent.SENSOR_SLIPPED: Cue.SENSOR_SLIPPED,
}


@dataclass(frozen=True)
class CueDecision:
    """One decision of the engine, spoken or suppressed.

    ``t_host_s``: decision time (host clock, s), deterministic: the arrival time of the row
    that completed the triggering contact (``t_emit_s``, else ``t_to_s``, else ``t_ic_s``), the
    event time of a system event, or the time a queued cue's turn came. ``fault``: the fault
    (``Fault`` value) behind a form cue or praise, ``sensor:<key>`` for sensor events, ``button``
    for snooze/resume. ``latency_ms`` = (``t_host_s`` − ``trigger_t_ic_s``) × 1000 for form cues
    (decision latency from the triggering step's IC; audio output adds its own), and the time
    spent in the queue for system cues (``trigger_t_ic_s`` is NaN for them).
    """

    t_host_s: float
    cue: Cue
    fault: str
    spoken: bool
    suppressed_reason: str
    text: str
    latency_ms: float
    trigger_t_ic_s: float
