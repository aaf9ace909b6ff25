"""Render cues into a WAV at their times: the library side of ``stridecore replay --audio``.

Each clip is placed so that its first non-silent sample (``|s| >= -40 dBFS``) falls on the
event's time, i.e. the 10 ms lead-in pad sits just before it. Clips never overlap: a clip
that would start before the previous one ended starts right after it (its onset is late by the
overlap; :attr:`Placed.late_ms` says by how much). Nothing is dropped — unlike the live
:class:`~stridecore.audio.player.CuePlayer`, which keeps at most one cue waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stridecore.audio.clips import RATE_HZ, Clip, clip, write_wav
from stridecore.coaching.phrases import PHRASES
from stridecore.schema import Cue

_BY_TEXT = {text: cue for cue, text in PHRASES.items()}
_VALUES = {c.value for c in Cue}


@dataclass(frozen=True)
class Placed:
    """Where one event's clip went in the file (times in s from the file start)."""

    t_event_s: float
    """the event's time, relative to ``start_s``"""
    t_onset_s: float
    """where its first non-silent sample is in the file"""
    start_index: int
    """file sample index of the clip's first sample"""
    n_samples: int
    cue: Cue | None
    text: str

    @property
    def late_ms(self) -> float:
        """Onset delay caused by the non-overlap rule, ms."""
        return 1000.0 * (self.t_onset_s - self.t_event_s)


def clip_for(what: Cue | str, rate_hz: int = RATE_HZ) -> Clip:
    """The clip of a cue, a cue value (``"soften_knees"``) or a cue's phrase; other text is
    spoken with live TTS (needs the ``tts`` extra)."""
    if isinstance(what, Cue) or what in _VALUES:
        got = clip(Cue(what))
    elif what in _BY_TEXT:
        got = clip(_BY_TEXT[what])
    else:
        from stridecore.audio.tts import synthesize

        got = synthesize(str(what), rate_hz)
    if got.rate_hz != rate_hz:
        raise ValueError(f"clips are {got.rate_hz} Hz; rate_hz={rate_hz} is not supported")
    return got


def render_timeline(events: Iterable[tuple[float, Cue | str]], out_wav: Path | str,
                    rate_hz: int = RATE_HZ, start_s: float = 0.0,
                    end_s: float | None = None) -> list[Placed]:
    """Write a mono 16-bit WAV covering ``[start_s, end_s]`` with each event's clip at its time.

    ``events``: ``(t_s, cue or text)`` on any clock (e.g. stream time); file time 0 is
    ``start_s``. Events before ``start_s`` or at/after ``end_s`` are left out. Without
    ``end_s`` the file ends with the last clip. Clips running past ``end_s`` are cut there.
    Returns the placements, in time order.
    """
    placed: list[Placed] = []
    pieces: list[tuple[int, np.ndarray]] = []
    prev_end = 0
    for t_s, what in sorted(events, key=lambda e: e[0]):
        t_rel = float(t_s) - start_s
        if t_rel < 0 or (end_s is not None and t_s >= end_s):
            continue
        c = clip_for(what, rate_hz)
        samples = c.samples
        first = round(t_rel * rate_hz) - c.onset_index
        if first < 0:  # the lead-in pad would start before the file: cut it
            samples, first = samples[-first:], 0
            onset_in_clip = c.onset_index - (len(c.samples) - len(samples))
        else:
            onset_in_clip = c.onset_index
        first = max(first, prev_end)
        prev_end = first + len(samples)
        pieces.append((first, samples))
        placed.append(Placed(t_rel, (first + onset_in_clip) / rate_hz, first, len(samples),
                             c.cue, c.text))
    n_total = prev_end if end_s is None else max(round((end_s - start_s) * rate_hz), 0)
    out = np.zeros(n_total, np.int16)
    for first, samples in pieces:
        seg = samples[:max(n_total - first, 0)]
        out[first:first + len(seg)] = seg
    write_wav(Path(out_wav), out, rate_hz)
    return placed
