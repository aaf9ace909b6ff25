"""The shipped cue clips: one trimmed, level-normalised WAV per :class:`~stridecore.schema.Cue`.

The clips live in ``stridecore/audio/cues/<cue value>.wav`` (mono, 16-bit, :data:`RATE_HZ`),
made by ``python -m stridecore.audio.render`` with espeak-ng, so the runtime needs no TTS
engine. Levels are in dBFS with full scale = 32768 (an int16 sample ``s`` is ``s / 32768``).
"""

from __future__ import annotations

import functools
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stridecore.coaching.phrases import PHRASES
from stridecore.schema import Cue

CLIP_DIR = Path(__file__).parent / "cues"
"""Where the shipped clips and their ``manifest.json`` are."""
RATE_HZ = 22_050
"""Sample rate of every clip and of the playback path (espeak-ng's native rate), Hz."""
PEAK_DBFS = -3.0
"""Peak level every clip is normalised to, dBFS."""
SILENCE_DBFS = -40.0
"""A sample is non-silent when ``|s| >= SILENCE_DBFS``: trimming, onsets and the tests use it."""
RENDER_COMMAND = "python -m stridecore.audio.render"

_FULL_SCALE = 32768.0


class MissingClipError(FileNotFoundError):
    """A cue has no shipped clip (re-render them)."""


def db_to_amp(dbfs: float) -> float:
    """Amplitude (fraction of full scale) of a level in dBFS."""
    return float(10.0 ** (dbfs / 20.0))


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 samples → float64 in [-1, 1)."""
    return np.asarray(samples, dtype=np.float64) / _FULL_SCALE


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak level of int16 samples, dBFS (-inf for silence)."""
    peak = float(np.max(np.abs(to_float(samples)))) if len(samples) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 samples over their whole length, dBFS (-inf for silence)."""
    x = to_float(samples)
    rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def first_above(samples: np.ndarray, dbfs: float = SILENCE_DBFS, start: int = 0) -> int | None:
    """Index of the first int16 sample at or after ``start`` with ``|s| >= dbfs``; None if none."""
    hit = np.flatnonzero(np.abs(to_float(samples[start:])) >= db_to_amp(dbfs))
    return int(hit[0]) + start if len(hit) else None


def last_above(samples: np.ndarray, dbfs: float = SILENCE_DBFS) -> int | None:
    """Index of the last int16 sample with ``|s| >= dbfs``; None if none."""
    hit = np.flatnonzero(np.abs(to_float(samples)) >= db_to_amp(dbfs))
    return int(hit[-1]) if len(hit) else None


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit WAV file → (int16 samples, rate Hz)."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: need mono 16-bit PCM, got {w.getnchannels()} channel(s), "
                             f"{8 * w.getsampwidth()}-bit")
        data = w.readframes(w.getnframes())
        return np.frombuffer(data, dtype="<i2").astype(np.int16), w.getframerate()


def write_wav(path: Path, samples: np.ndarray, rate_hz: int) -> None:
    """Write int16 samples as a mono 16-bit PCM WAV file (byte-for-byte reproducible)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate_hz))
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


@dataclass(frozen=True, eq=False)
class Clip:
    """A mono sound to play: int16 ``samples`` at ``rate_hz``, with what it says."""

    samples: np.ndarray
    rate_hz: int
    text: str = ""
    cue: Cue | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate_hz

    @functools.cached_property
    def onset_index(self) -> int:
        """Index of the first non-silent sample (``|s| >= SILENCE_DBFS``); 0 if all silent."""
        i = first_above(self.samples)
        return 0 if i is None else i

    def as_float32(self) -> np.ndarray:
        """Samples as float32 in [-1, 1)."""
        return (self.samples.astype(np.float32) / np.float32(_FULL_SCALE)).astype(np.float32)


def clip_path(cue: Cue, clip_dir: Path = CLIP_DIR) -> Path:
    return Path(clip_dir) / f"{Cue(cue).value}.wav"


def check_clips(clip_dir: Path = CLIP_DIR) -> None:
    """Raise :class:`MissingClipError` naming every missing clip and the render command."""
    missing = [clip_path(c, clip_dir) for c in Cue if not clip_path(c, clip_dir).is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise MissingClipError(f"no cue clip {names}: render them with `{RENDER_COMMAND}`")


@functools.cache
def _load(cue: Cue, clip_dir: Path) -> Clip:
    path = clip_path(cue, clip_dir)
    if not path.is_file():
        raise MissingClipError(f"no cue clip {path}: render them with `{RENDER_COMMAND}`")
    samples, rate = read_wav(path)
    if rate != RATE_HZ:
        raise ValueError(f"{path}: {rate} Hz, expected {RATE_HZ} Hz: re-render with "
                         f"`{RENDER_COMMAND}`")
    samples.flags.writeable = False
    return Clip(samples, rate, PHRASES[cue], cue)


def clip(cue: Cue | str, clip_dir: Path = CLIP_DIR) -> Clip:
    """The shipped clip of a cue (loaded once, cached; samples are read-only)."""
    return _load(Cue(cue), Path(clip_dir))
