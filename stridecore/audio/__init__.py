"""Cue audio: shipped espeak-ng clips, sinks (miniaudio device / NULL / WAV / console), a
non-blocking player that measures onsets, and cue timelines rendered to WAV. See docs/audio.md.
"""

from stridecore.audio.clips import (
    CLIP_DIR,
    PEAK_DBFS,
    RATE_HZ,
    SILENCE_DBFS,
    Clip,
    MissingClipError,
    check_clips,
    clip,
    peak_dbfs,
    read_wav,
    rms_dbfs,
    write_wav,
)
from stridecore.audio.player import CuePlayer, Dropped, Onset
from stridecore.audio.sinks import (
    AudioDeviceError,
    ConsoleSink,
    MiniaudioSink,
    Sink,
    WavSink,
    open_sink,
)
from stridecore.audio.timeline import Placed, render_timeline
from stridecore.audio.tts import TTSUnavailableError, synthesize, tts_available

__all__ = [
    "CLIP_DIR",
    "PEAK_DBFS",
    "RATE_HZ",
    "SILENCE_DBFS",
    "AudioDeviceError",
    "Clip",
    "ConsoleSink",
    "CuePlayer",
    "Dropped",
    "MiniaudioSink",
    "MissingClipError",
    "Onset",
    "Placed",
    "Sink",
    "TTSUnavailableError",
    "WavSink",
    "check_clips",
    "clip",
    "open_sink",
    "peak_dbfs",
    "read_wav",
    "render_timeline",
    "rms_dbfs",
    "synthesize",
    "tts_available",
    "write_wav",
]
