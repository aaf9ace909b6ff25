"""Cue timelines rendered to WAV (``replay --audio``): onsets, lengths, levels from the signal."""

from __future__ import annotations

import numpy as np
import pytest

from stridecore.audio.clips import RATE_HZ, clip, first_above, peak_dbfs, read_wav, rms_dbfs
from stridecore.audio.timeline import render_timeline
from stridecore.schema import Cue


def test_timeline_places_each_onset_on_its_time(tmp_path):
    a, b, c = Cue.SOFTEN_KNEES, Cue.QUICKER_STEPS, Cue.PRAISE
    events = [(12.25, "Hips level"), (10.5, a), (12.0, b.value), (15.0, c)]  # unsorted
    out = tmp_path / "cues.wav"
    placed = render_timeline(events, out, start_s=10.0)
    samples, rate = read_wav(out)
    assert rate == RATE_HZ
    assert [p.cue for p in placed] == [a, b, Cue.HIPS_LEVEL, c]
    ends = []
    for p in placed:
        cl = clip(p.cue)
        # onset found in the signal: first sample above -40 dBFS from the clip's start
        onset = first_above(samples, start=p.start_index)
        assert onset == round(p.t_onset_s * rate)
        seg = samples[p.start_index:p.start_index + len(cl.samples)]
        assert np.array_equal(seg, cl.samples)  # same length, same level, untouched
        assert peak_dbfs(seg) == pytest.approx(peak_dbfs(cl.samples))
        assert rms_dbfs(seg) == pytest.approx(rms_dbfs(cl.samples))
        ends.append(p.start_index + len(cl.samples))
    for p in (placed[0], placed[1], placed[3]):  # on time, within 1 ms
        detected = first_above(samples, start=max(round(p.t_event_s * rate) - 441, 0)) / rate
        assert abs(detected - p.t_event_s) <= 0.001 and abs(p.late_ms) <= 1.0
    # "Hips level" at 12.25 s overlaps "Quick feet" (12.0 s + 0.7 s): starts right after it
    assert placed[2].start_index == ends[1] and placed[2].late_ms > 400
    # silence between clips, and the file ends with the last clip
    assert not samples[:placed[0].start_index].any()
    assert not samples[ends[0]:placed[1].start_index].any()
    assert not samples[ends[2]:placed[3].start_index].any()
    assert len(samples) == ends[3]


def test_timeline_window_cuts_and_drops(tmp_path):
    out = tmp_path / "w.wav"
    # t=0.0 puts the onset at the file start: the 10 ms lead-in pad is cut
    placed = render_timeline([(-1.0, Cue.PRAISE), (0.0, Cue.HIPS_LEVEL), (2.9, Cue.PRAISE),
                              (3.0, Cue.PRAISE)], out, end_s=3.0)
    samples, rate = read_wav(out)
    assert len(samples) == 3 * rate
    assert [p.t_event_s for p in placed] == [0.0, 2.9]
    assert placed[0].start_index == 0 and first_above(samples) == 0
    assert placed[1].t_onset_s == pytest.approx(2.9, abs=1 / rate)
    assert samples[-100:].any()  # the last clip runs past end_s and is cut there
