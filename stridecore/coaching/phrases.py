"""The words of every cue: short, imperative, from the form guide's checklist.

One phrase per :class:`~stridecore.schema.Cue`. ``stridecore/audio`` pre-renders each to a WAV
(``python -m stridecore.audio.render``); the cue engine writes the same text in the cue log.
The guide's own wording is kept where it is short enough to say mid-stride (``seed/
downhill-form-guide.txt``: "Keep knees soft", "Hip level", "short stride and quick turnover",
"a tiny push-off").
"""

from __future__ import annotations

from stridecore.schema import Cue

PHRASES: dict[Cue, str] = {
    Cue.SOFTEN_KNEES: "Soften your knees",
    Cue.LAND_MIDFOOT: "Land midfoot",
    Cue.LAND_FOREFOOT: "Land on the forefoot",
    Cue.QUICK_ROLL: "Quick roll forward",
    Cue.HIPS_LEVEL: "Hips level",
    Cue.SHORTEN_STRIDE: "Shorten your stride",
    Cue.QUICKER_STEPS: "Quick feet",
    Cue.PUSH_OFF: "Tiny push off",
    Cue.SOFTER_LANDING: "Light feet",
    Cue.PRAISE: "Nice, that's it",
    Cue.SENSOR_LOST: "Sensor lost",
    Cue.SENSOR_BACK: "Sensor back",
    Cue.LOW_BATTERY: "Sensor battery low",
    Cue.SENSOR_SLIPPED: "Sensor slipped, check the strap",
    Cue.SNOOZED: "Coaching paused",
    Cue.RESUMED: "Coaching on",
}

SYSTEM_CUES: frozenset[Cue] = frozenset({Cue.SENSOR_LOST, Cue.SENSOR_BACK, Cue.LOW_BATTERY,
                                         Cue.SENSOR_SLIPPED, Cue.SNOOZED, Cue.RESUMED})
"""Cues the runner must hear whatever the form-cue spacing says."""

assert set(PHRASES) == set(Cue), "every cue needs a phrase"
