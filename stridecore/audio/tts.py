"""Optional live TTS (pyttsx3) for custom phrases that have no shipped clip.

Install with the ``tts`` extra (``pip install 'stridecore[tts]'``). The result goes through the
same level/trim/fade processing as the shipped clips (:func:`stridecore.audio.render.process`),
so a custom phrase sounds as loud as a cue. Synthesis takes tens to hundreds of ms: the
:class:`~stridecore.audio.player.CuePlayer` runs it on a worker thread.
"""

from __future__ import annotations

import importlib.util
import tempfile
from math import gcd
from pathlib import Path

from stridecore.audio.clips import RATE_HZ, Clip, read_wav

INSTALL_HINT = "live TTS for custom phrases needs pyttsx3: pip install 'stridecore[tts]'"


class TTSUnavailableError(RuntimeError):
    """pyttsx3 (the ``tts`` extra) is not installed."""


def tts_available() -> bool:
    """True when pyttsx3 can be imported."""
    return importlib.util.find_spec("pyttsx3") is not None


def require_tts() -> None:
    """Raise :class:`TTSUnavailableError` (one line, with the install command) without pyttsx3."""
    if not tts_available():
        raise TTSUnavailableError(INSTALL_HINT)


def synthesize(text: str, rate_hz: int = RATE_HZ) -> Clip:
    """Speak ``text`` with pyttsx3 into a processed clip at ``rate_hz`` (blocking)."""
    require_tts()
    import pyttsx3
    from scipy.signal import resample_poly

    from stridecore.audio.render import process

    engine = pyttsx3.init()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tts.wav"
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        samples, rate = read_wav(path)
    if rate != rate_hz:
        g = gcd(rate, rate_hz)
        samples = resample_poly(samples.astype(float), rate_hz // g, rate // g).round()
        samples = samples.clip(-32768, 32767).astype("int16")
    return Clip(process(samples, rate_hz), rate_hz, text, None)
