"""Cue playback through real sinks: miniaudio's NULL device, the WAV sink and the console."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from stridecore.audio import (
    AudioDeviceError,
    ConsoleSink,
    CuePlayer,
    MiniaudioSink,
    TTSUnavailableError,
    WavSink,
    clip,
    open_sink,
    read_wav,
    tts_available,
)
from stridecore.audio.clips import first_above
from stridecore.schema import Cue


def _busy_until(t_end: float) -> float:
    """The caller's sample loop: 1 ms sleeps until ``t_end``; returns its longest gap, s."""
    last, worst = time.monotonic(), 0.0
    while last < t_end:
        time.sleep(0.001)
        now = time.monotonic()
        worst, last = max(worst, now - last), now
    return worst


def _check_output(out: np.ndarray, player: CuePlayer, cues: list[Cue], rate: int) -> None:
    """The non-silent samples pulled are the clips, in order, each at its onset record."""
    expected = np.concatenate([clip(c).samples for c in cues])
    assert np.array_equal(out[out != 0], expected[expected != 0])
    assert [o.cue for o in player.onsets] == cues
    for o in player.onsets:
        cl = clip(o.cue)
        i = round(o.position_s * rate)
        assert np.array_equal(out[i:i + len(cl.samples) - cl.onset_index],
                              cl.samples[cl.onset_index:])


def test_null_device_plays_cues_in_order_without_stalling_the_caller():
    sink = MiniaudioSink("null", keep_output=True)
    assert sink.backend.lower() == "null"
    player = CuePlayer(sink, output_latency_ms=200.0)
    cues = [Cue.QUICKER_STEPS, Cue.SOFTER_LANDING, Cue.HIPS_LEVEL, Cue.QUICKER_STEPS]
    worst_stall, call_s = 0.0, []
    for c in cues:
        t0 = time.monotonic()
        player.play(c)
        call_s.append(time.monotonic() - t0)
        worst_stall = max(worst_stall, _busy_until(t0 + clip(c).duration_s + 0.06))
    player.close()
    assert sink.error is None and not player.dropped
    _check_output(sink.output(), player, cues, sink.rate_hz)
    delays = [o.delay_ms for o in player.onsets]
    assert all(0.0 <= d <= 100.0 for d in delays), delays
    assert max(call_s) < 0.005  # play() returns at once
    assert worst_stall < 0.025, f"caller stalled {1000 * worst_stall:.1f} ms"
    o = player.onsets[0]
    assert o.t_audible_s == pytest.approx(o.t_handed_s + 0.2)  # reported, never added
    assert player.lead_s == 0.2


def test_null_device_queue_rule():
    sink = MiniaudioSink("null", keep_output=True)
    seen = []
    player = CuePlayer(sink, on_onset=seen.append)
    a, b, c = Cue.QUICKER_STEPS, Cue.SOFTER_LANDING, Cue.HIPS_LEVEL
    player.play(a)
    player.play(b)  # pending
    player.play(Cue.SENSOR_LOST)  # replaces b
    player.play(c)  # a form cue never replaces a pending system cue
    player.play(Cue.SENSOR_LOST)  # duplicate of the pending cue
    assert player.wait_idle(5.0)
    player.close()
    assert [(d.cue, d.reason) for d in player.dropped] == [
        (b, "replaced"), (c, "system cue pending"), (Cue.SENSOR_LOST, "duplicate")]
    _check_output(sink.output(), player, [a, Cue.SENSOR_LOST], sink.rate_hz)
    assert seen == player.onsets


def test_wav_sink_writes_cues_at_their_stream_times(tmp_path):
    path = tmp_path / "live.wav"
    player = CuePlayer(open_sink(f"wav:{path}"))
    a, b, c = Cue.SOFTEN_KNEES, Cue.QUICKER_STEPS, Cue.PRAISE
    player.play(a, t_stream_s=0.5)
    player.play(b, t_stream_s=3.0)
    player.play(c, t_stream_s=3.2)  # b still playing: c waits, starts right after b
    player.close()
    samples, rate = read_wav(path)
    _check_output(samples, player, [a, b, c], rate)
    starts = [round(0.5 * rate), round(3.0 * rate), round(3.0 * rate) + len(clip(b).samples)]
    for o, start in zip(player.onsets, starts, strict=True):
        assert first_above(samples, start=start) == round(o.position_s * rate)
        assert o.position_s == pytest.approx(start / rate + clip(o.cue).onset_index / rate)
    assert not samples[:starts[0]].any()
    assert len(samples) == starts[2] + len(clip(c).samples)


def test_console_sink_prints_and_plays_nothing():
    buf = io.StringIO()
    player = CuePlayer(ConsoleSink(buf))
    player.play(Cue.SOFTEN_KNEES)
    player.play(Cue.PRAISE, text="Nice, that's it")
    player.close()
    assert buf.getvalue().splitlines() == ["[soften_knees] Soften your knees",
                                          "[praise] Nice, that's it"]
    assert [o.cue for o in player.onsets] == [Cue.SOFTEN_KNEES, Cue.PRAISE]


def test_open_sink_specs(tmp_path):
    assert isinstance(open_sink(f"wav:{tmp_path / 'x.wav'}"), WavSink)
    assert isinstance(open_sink("console"), ConsoleSink)
    with pytest.raises(ValueError, match="unknown audio sink"):
        open_sink("speaker")
    try:  # a machine with a sound card opens it; a headless one gets a clear error
        sink = open_sink("default")
    except AudioDeviceError as e:
        assert "'null', 'wav:PATH' or 'console'" in str(e)
    else:
        assert sink.backend.lower() != "null"
        sink.close()


@pytest.mark.skipif(tts_available(), reason="pyttsx3 installed: the missing-TTS error can't show")
def test_custom_phrase_without_tts_is_one_clear_error():
    player = CuePlayer(open_sink("null"))
    try:
        with pytest.raises(TTSUnavailableError, match=r"pip install 'stridecore\[tts\]'"):
            player.play(None, "Relax your shoulders")
    finally:
        player.close()


@pytest.mark.skipif(not tts_available(), reason="pyttsx3 (the tts extra) not installed")
def test_custom_phrase_with_live_tts(tmp_path):
    from stridecore.audio.clips import PEAK_DBFS, peak_dbfs

    path = tmp_path / "tts.wav"
    player = CuePlayer(open_sink(f"wav:{path}"))
    player.play(None, "Relax your shoulders", t_stream_s=1.0)  # returns before synthesis ends
    player.close()
    samples, rate = read_wav(path)
    (o,) = player.onsets
    assert o.cue is None and o.text == "Relax your shoulders"
    assert first_above(samples) == round(o.position_s * rate)
    assert 1.0 <= o.position_s <= 1.02
    assert abs(peak_dbfs(samples) - PEAK_DBFS) <= 0.5
    assert 0.5 < len(samples) / rate - 1.0 < 3.0
