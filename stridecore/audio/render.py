"""Pre-render every cue phrase to a short WAV with espeak-ng: ``python -m stridecore.audio.render``.

For each :data:`~stridecore.coaching.phrases.PHRASES` entry (or the ``--cue`` ones):

1. ``espeak-ng`` (:data:`VOICE`, :data:`SPEED_WPM` words/min, :data:`PITCH`, :data:`AMPLITUDE`)
   writes a mono 16-bit WAV at its native 22,050 Hz (= :data:`~stridecore.audio.clips.RATE_HZ`;
   another rate is refused rather than resampled);
2. the clip is scaled so its peak is :data:`~stridecore.audio.clips.PEAK_DBFS` (-3 dBFS);
3. it is trimmed to the first/last sample at or above
   :data:`~stridecore.audio.clips.SILENCE_DBFS` (-40 dBFS, after scaling), keeping
   :data:`PAD_MS` (10 ms) either side (zeros where espeak-ng left less);
4. a :data:`FADE_MS` (5 ms) raised-cosine fade in and out, inside the pads, avoids clicks;
5. rounded to int16 and written to ``<out>/<cue value>.wav``, with ``manifest.json`` (text,
   duration, levels, sha256 of each file, espeak-ng version and settings).

Everything is deterministic: re-rendering with the same espeak-ng gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from stridecore.audio.clips import (
    CLIP_DIR,
    PEAK_DBFS,
    RATE_HZ,
    SILENCE_DBFS,
    db_to_amp,
    first_above,
    last_above,
    peak_dbfs,
    read_wav,
    rms_dbfs,
    write_wav,
)
from stridecore.coaching.phrases import PHRASES
from stridecore.schema import Cue

VOICE = "en-us"
SPEED_WPM = 165
PITCH = 50
AMPLITUDE = 100
PAD_MS = 10.0
FADE_MS = 5.0
ESPEAK = "espeak-ng"


class EspeakMissingError(RuntimeError):
    """espeak-ng is not installed (Debian: ``apt-get install espeak-ng``)."""


def espeak_version(exe: str = ESPEAK) -> str:
    """The espeak-ng version string, e.g. ``"1.51"``."""
    path = shutil.which(exe)
    if path is None:
        raise EspeakMissingError(f"{exe} not found: install it (Debian: apt-get install espeak-ng)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"text-to-speech:\s*(\S+)", out)
    return m.group(1) if m else out.strip()


def speak_raw(text: str, exe: str = ESPEAK) -> tuple[np.ndarray, int]:
    """espeak-ng's untouched output for ``text`` → (int16 samples, rate Hz)."""
    path = shutil.which(exe)
    if path is None:
        raise EspeakMissingError(f"{exe} not found: install it (Debian: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run([path, "-v", VOICE, "-s", str(SPEED_WPM), "-p", str(PITCH),
                        "-a", str(AMPLITUDE), "-w", str(wav), text],
                       check=True, capture_output=True)
        return read_wav(wav)


def process(raw: np.ndarray, rate_hz: int) -> np.ndarray:
    """Normalise, trim, pad and fade raw int16 speech (steps 2–4 of the module doc) → int16."""
    x = raw.astype(np.float64) / 32768.0
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise ValueError("espeak-ng produced silence")
    x *= db_to_amp(PEAK_DBFS) / peak
    q = np.round(x * 32768.0)
    first, last = first_above(q.astype(np.int16)), last_above(q.astype(np.int16))
    assert first is not None and last is not None
    pad = round(PAD_MS * rate_hz / 1000.0)
    lo, hi = first - pad, last + 1 + pad
    y = np.zeros(hi - lo)
    src_lo, src_hi = max(lo, 0), min(hi, len(x))
    y[src_lo - lo:src_hi - lo] = x[src_lo:src_hi]
    nf = round(FADE_MS * rate_hz / 1000.0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(nf) / nf)  # 0 → just below 1
    y[:nf] *= ramp
    y[len(y) - nf:] *= ramp[::-1]
    return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)


def render(out_dir: Path = CLIP_DIR, cues: list[Cue] | None = None) -> dict:
    """Render the clips of ``cues`` (default: all) into ``out_dir``; returns the manifest."""
    version = espeak_version()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for cue in (cues if cues is not None else list(Cue)):
        cue = Cue(cue)
        raw, rate = speak_raw(PHRASES[cue])
        if rate != RATE_HZ:
            raise ValueError(f"espeak-ng wrote {rate} Hz, expected {RATE_HZ} Hz")
        samples = process(raw, rate)
        path = out_dir / f"{cue.value}.wav"
        write_wav(path, samples, rate)
        entries.append({
            "cue": cue.value,
            "text": PHRASES[cue],
            "file": path.name,
            "n_samples": len(samples),
            "duration_ms": round(1000.0 * len(samples) / rate, 3),
            "onset_ms": round(1000.0 * (first_above(samples) or 0) / rate, 3),
            "peak_dbfs": round(peak_dbfs(samples), 3),
            "rms_dbfs": round(rms_dbfs(samples), 3),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        })
    manifest = {
        "generator": "python -m stridecore.audio.render",
        "espeak_ng_version": version,
        "voice": VOICE,
        "speed_wpm": SPEED_WPM,
        "pitch": PITCH,
        "amplitude": AMPLITUDE,
        "rate_hz": RATE_HZ,
        "format": "mono 16-bit PCM WAV",
        "peak_target_dbfs": PEAK_DBFS,
        "silence_threshold_dbfs": SILENCE_DBFS,
        "pad_ms": PAD_MS,
        "fade_ms": FADE_MS,
        "clips": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=CLIP_DIR, help="output folder (default: shipped)")
    ap.add_argument("--cue", action="append", choices=[c.value for c in Cue],
                    help="render only this cue (repeatable; default: all)")
    args = ap.parse_args(argv)
    manifest = render(args.out, [Cue(c) for c in args.cue] if args.cue else None)
    for e in manifest["clips"]:
        print(f"{e['file']:24s} {e['duration_ms']:7.1f} ms  peak {e['peak_dbfs']:6.2f} dBFS  "
              f"rms {e['rms_dbfs']:6.2f} dBFS  {e['text']!r}")


if __name__ == "__main__":
    main()
