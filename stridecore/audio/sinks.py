"""Where cue audio goes: a real audio device (miniaudio), its NULL backend, a WAV file, a console.

:func:`open_sink` takes a spec string:

- ``"null"``: a real miniaudio ``PlaybackDevice`` on the NULL backend — its own thread pulls
  samples through the same callback as a sound card, in real time, and discards them. Exercises
  the whole playback path on a headless machine.
- ``"default"``: the system's default output device. If none can be opened (or miniaudio falls
  back to NULL), :class:`AudioDeviceError` is raised so the caller can pick another sink.
- ``"wav:PATH"``: writes what a device would have played into a mono 16-bit WAV, each cue at its
  time on the player's clock (silence between), so a headless run produces an audio file.
- ``"console"``: prints ``[cue] text`` lines; plays nothing.

A sink that plays audio pulls int16 frames from a :class:`FrameSource` (the
:class:`~stridecore.audio.player.CuePlayer`'s queue): real devices from their own thread, the
WAV sink when the player advances its clock. ``period_ms`` is the device callback period: the
onset delay of a cue is at most about one period (plus thread scheduling).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import wave
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from stridecore.audio.clips import RATE_HZ

DEFAULT_PERIOD_MS = 10


class AudioDeviceError(RuntimeError):
    """No audio device could be opened for this sink spec."""


class FrameSource(Protocol):
    """What a sink pulls audio from."""

    def pull(self, n: int) -> np.ndarray:
        """The next ``n`` int16 frames (zeros when nothing plays); advances the sink clock."""
        ...

    @property
    def idle(self) -> bool:
        """True when nothing plays and nothing is queued."""
        ...

    @property
    def remaining_frames(self) -> int:
        """Frames left to play of what is queued now."""
        ...


class Sink:
    """Common interface of every sink; the base class plays nothing."""

    name: str = "sink"
    plays_audio: bool = True
    offline: bool = False
    """True when the sink runs on the player's clock (:meth:`advance`), not in real time."""
    rate_hz: int = RATE_HZ

    def start(self, source: FrameSource) -> None:
        """Begin pulling frames from ``source``."""
        self._source = source

    def advance(self, t_s: float) -> None:
        """The player's clock is now ``t_s`` (s); sinks with their own clock ignore it."""

    def announce(self, cue: str | None, text: str, t_s: float) -> None:
        """A cue was requested (``cue`` value or None for custom text); only the console prints."""

    def close(self) -> None:
        """Stop and release the sink (the WAV sink first writes out everything queued)."""


@contextlib.contextmanager
def _quiet_stderr(on: bool = True):
    """Silence file descriptor 2 (C libraries' own messages, e.g. ALSA's card probing)."""
    if not on:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class MiniaudioSink(Sink):
    """A miniaudio playback device, mono int16, pulling from its own thread.

    ``backend``: ``"null"`` (miniaudio's NULL backend) or ``"default"`` (system default, NULL
    refused). ``keep_output=True`` keeps a copy of every frame handed to the device
    (:meth:`output`) — for tests and measurements.
    """

    def __init__(self, backend: str = "null", rate_hz: int = RATE_HZ,
                 period_ms: int = DEFAULT_PERIOD_MS, keep_output: bool = False) -> None:
        import miniaudio

        if backend not in ("null", "default"):
            raise ValueError(f"unknown miniaudio backend {backend!r}: 'null' or 'default'")
        self.name = backend
        self.rate_hz = int(rate_hz)
        self.period_ms = int(period_ms)
        self.keep_output = keep_output
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.callbacks = 0
        self.error: BaseException | None = None
        try:
            with _quiet_stderr(backend == "default"):  # ALSA prints its probing to fd 2
                self._device = miniaudio.PlaybackDevice(
                    output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1,
                    sample_rate=self.rate_hz, buffersize_msec=self.period_ms,
                    backends=[miniaudio.Backend.NULL] if backend == "null" else None,
                    app_name="stridecore")
        except miniaudio.MiniaudioError as e:
            raise AudioDeviceError(f"cannot open the {backend} audio device ({e}); use the "
                                   "'null', 'wav:PATH' or 'console' sink instead") from e
        if backend == "default" and self._device.backend.lower() == "null":
            self._device.close()
            raise AudioDeviceError("no audio output device (miniaudio fell back to NULL); use "
                                   "the 'null', 'wav:PATH' or 'console' sink instead")
        self.backend = self._device.backend

    def _generator(self, source: FrameSource):
        n = yield b""
        while True:
            self.callbacks += 1
            try:
                out = source.pull(n)
            except BaseException as e:  # keep the device alive; report the first error
                self.error = self.error or e
                out = np.zeros(n, np.int16)
            if self.keep_output:
                with self._lock:
                    self._chunks.append(out.copy())
            n = yield out.tobytes()

    def start(self, source: FrameSource) -> None:
        gen = self._generator(source)
        next(gen)
        self._device.start(gen)

    def output(self) -> np.ndarray:
        """Every int16 frame handed to the device so far (needs ``keep_output=True``)."""
        with self._lock:
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)

    def close(self) -> None:
        self._device.close()


class WavSink(Sink):
    """Writes what would be played into a mono 16-bit WAV on the player's clock.

    File time 0 is the player's time 0 (stream time ``t_stream_s`` when the caller passes it,
    else seconds since the player was opened). Frames are pulled up to each :meth:`advance`
    time, so cues land where a zero-latency device would have played them; :meth:`close` plays
    out what is queued and finishes the file.
    """

    name = "wav"
    offline = True

    def __init__(self, path: Path | str, rate_hz: int = RATE_HZ) -> None:
        self.path = Path(path)
        self.rate_hz = int(rate_hz)
        self.frames = 0
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.rate_hz)

    def advance(self, t_s: float) -> None:
        target = round(t_s * self.rate_hz)
        while self.frames < target:
            n = min(target - self.frames, self.rate_hz)
            self._write(self._source.pull(n))

    def _write(self, out: np.ndarray) -> None:
        self._wav.writeframes(np.ascontiguousarray(out, dtype="<i2").tobytes())
        self.frames += len(out)

    def close(self) -> None:
        if self._wav is None:
            return
        source = getattr(self, "_source", None)
        while source is not None and not source.idle:
            self._write(source.pull(max(min(source.remaining_frames, self.rate_hz), 1)))
        self._wav.close()
        self._wav = None


class ConsoleSink(Sink):
    """Prints ``[cue] text`` for each cue (``[custom]`` for custom text); plays nothing."""

    name = "console"
    plays_audio = False

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def announce(self, cue: str | None, text: str, t_s: float) -> None:
        print(f"[{cue or 'custom'}] {text}", file=self.stream or sys.stdout, flush=True)


def open_sink(spec: str, rate_hz: int = RATE_HZ, period_ms: int = DEFAULT_PERIOD_MS) -> Sink:
    """A sink from its spec: ``"null"``, ``"default"``, ``"wav:PATH"`` or ``"console"``."""
    if spec in ("null", "default"):
        return MiniaudioSink(spec, rate_hz=rate_hz, period_ms=period_ms)
    if spec.startswith("wav:") and len(spec) > 4:
        return WavSink(spec[4:], rate_hz=rate_hz)
    if spec == "console":
        return ConsoleSink()
    raise ValueError(f"unknown audio sink {spec!r}: 'null', 'default', 'wav:PATH' or 'console'")

