"""Play cues without ever blocking sample processing, and record when each one sounded.

:class:`CuePlayer` queues a clip and returns at once; the sink's own thread (a miniaudio device
callback) pulls the samples. For each played clip it records an :class:`Onset`: the host
monotonic time :meth:`CuePlayer.play` was called and the time the device callback that handed
the clip's first non-silent sample (``|s| >= -40 dBFS``) to the device ran — the live cue
latency.

Queue rule — one cue at a time, at most one waiting:

- a clip that has started always plays to its end (never cut);
- a cue requested while one plays becomes the pending cue, replacing an older pending cue;
  but a form cue never replaces a pending system cue (:data:`~stridecore.coaching.phrases.
  SYSTEM_CUES`): the form cue is dropped instead; a cue equal to the pending one is dropped as
  a duplicate;
- dropped cues are listed in :attr:`CuePlayer.dropped` with the reason.

``output_latency_ms`` is the delay the output adds after the device (Bluetooth earphones add
150–250 ms). It never delays anything: it is added to each onset's expected audible time
(:attr:`Onset.t_audible_s`) and offered as :attr:`CuePlayer.lead_s`, how much earlier a caller
who knows a target time should call :meth:`CuePlayer.play`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from stridecore.audio.clips import Clip, clip
from stridecore.audio.sinks import Sink
from stridecore.audio.tts import require_tts, synthesize
from stridecore.coaching.phrases import PHRASES, SYSTEM_CUES
from stridecore.schema import Cue


@dataclass(frozen=True)
class Onset:
    """When one clip's first non-silent sample was handed to the sink (all times in s)."""

    cue: Cue | None
    text: str
    t_call_s: float
    """host monotonic time :meth:`CuePlayer.play` was called"""
    t_handed_s: float
    """host monotonic time the sink callback that handed the first non-silent sample ran"""
    position_s: float
    """that sample's time on the sink's sample clock (frames since the sink started / rate); for
    the WAV sink, its time in the file"""
    t_stream_s: float | None
    """the stream time passed to :meth:`CuePlayer.play`, if any"""
    output_latency_s: float = 0.0

    @property
    def delay_ms(self) -> float:
        """play() call → first non-silent sample handed to the device, ms."""
        return 1000.0 * (self.t_handed_s - self.t_call_s)

    @property
    def t_audible_s(self) -> float:
        """Expected audible time: handed + output latency (device buffer not included), s."""
        return self.t_handed_s + self.output_latency_s


@dataclass(frozen=True)
class Dropped:
    """A cue that was never played, and why (``"replaced"``, ``"system cue pending"``,
    ``"duplicate"``, ``"closed"``, ``"tts failed: ..."``)."""

    cue: Cue | None
    text: str
    t_call_s: float
    reason: str


@dataclass
class _Item:
    clip: Clip
    cue: Cue | None
    text: str
    t_call_s: float
    t_stream_s: float | None
    pos: int = 0


class CuePlayer:
    """Non-blocking cue playback on a :class:`~stridecore.audio.sinks.Sink`.

    ``on_onset(onset)`` is called from the audio thread for each onset: keep it short. The
    player owns the sink and closes it in :meth:`close`. All shipped clips are loaded here
    (:class:`~stridecore.audio.clips.MissingClipError` if one is missing), so :meth:`play`
    never reads a file.
    """

    def __init__(self, sink: Sink, output_latency_ms: float = 0.0,
                 on_onset: Callable[[Onset], None] | None = None) -> None:
        self.sink = sink
        self.output_latency_ms = float(output_latency_ms)
        self.on_onset = on_onset
        self.onsets: list[Onset] = []
        self.dropped: list[Dropped] = []
        self._lock = threading.Lock()
        self._current: _Item | None = None
        self._pending: _Item | None = None
        self._frames = 0
        self._closed = False
        self._t0 = time.monotonic()
        self._tts: ThreadPoolExecutor | None = None
        self._tts_cache: dict[str, Clip] = {}
        self._tts_jobs: list[Future] = []
        for c in Cue:
            clip(c)
        sink.start(self)

    @property
    def lead_s(self) -> float:
        """How much earlier to call play() to be heard at a target time (= output latency), s."""
        return self.output_latency_ms / 1000.0

    # -- the caller's side -------------------------------------------------------------------
    def play(self, cue: Cue | str | None, text: str | None = None,
             t_stream_s: float | None = None) -> None:
        """Queue ``cue`` (its shipped clip) and return at once.

        ``text`` other than the cue's phrase (or with ``cue=None``) is a custom phrase: spoken
        with live TTS on a worker thread (needs the ``tts`` extra; raises
        :class:`~stridecore.audio.tts.TTSUnavailableError` here at once if missing).
        ``t_stream_s``: the caller's stream time (s), used by the WAV sink's clock.
        """
        t_call = time.monotonic()
        if self._closed:
            raise RuntimeError("CuePlayer is closed")
        c = Cue(cue) if cue is not None else None
        if text is None:
            if c is None:
                raise ValueError("play() needs a cue or a text")
            text = PHRASES[c]
        t_clock = t_stream_s if t_stream_s is not None else t_call - self._t0
        self.sink.advance(t_clock)
        self.sink.announce(c.value if c is not None else None, text, t_clock)
        if not self.sink.plays_audio:
            self._record_onset(_Item(Clip(np.zeros(0, np.int16), self.sink.rate_hz, text, c),
                                     c, text, t_call, t_stream_s), t_call, t_clock)
            return
        if c is not None and text == PHRASES[c]:
            self._enqueue(_Item(clip(c), c, text, t_call, t_stream_s))
        elif text in self._tts_cache:
            self._enqueue(_Item(self._tts_cache[text], c, text, t_call, t_stream_s))
        else:
            require_tts()
            if self._tts is None:
                self._tts = ThreadPoolExecutor(1, thread_name_prefix="stridecore-tts")
            self._tts_jobs.append(self._tts.submit(self._speak, c, text, t_call, t_stream_s))

    def _speak(self, c: Cue | None, text: str, t_call: float, t_stream_s: float | None) -> None:
        try:
            got = synthesize(text, self.sink.rate_hz)
        except Exception as e:  # a worker-thread failure must still be seen: drop with reason
            self.dropped.append(Dropped(c, text, t_call, f"tts failed: {e}"))
            return
        self._tts_cache[text] = got
        if not self._closed:
            self._enqueue(_Item(got, c, text, t_call, t_stream_s))

    def _enqueue(self, item: _Item) -> None:
        with self._lock:
            pending = self._pending
            if self._current is None and pending is None:
                self._current = item  # starts at the next pull
                return
            if pending is not None:
                if pending.cue == item.cue and pending.text == item.text:
                    self._drop(item, "duplicate")
                    return
                if pending.cue in SYSTEM_CUES and item.cue not in SYSTEM_CUES:
                    self._drop(item, "system cue pending")
                    return
                self._drop(pending, "replaced")
            self._pending = item

    def _drop(self, item: _Item, reason: str) -> None:
        self.dropped.append(Dropped(item.cue, item.text, item.t_call_s, reason))

    @property
    def idle(self) -> bool:
        """Nothing playing, pending or being synthesised."""
        return (self._current is None and self._pending is None
                and all(j.done() for j in self._tts_jobs))

    @property
    def remaining_frames(self) -> int:
        """Frames left to play of the current and the pending clip."""
        with self._lock:
            return sum(len(i.clip.samples) - i.pos for i in (self._current, self._pending) if i)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Sleep until :attr:`idle` (True) or ``timeout_s`` passed (False). Blocks the caller."""
        end = time.monotonic() + timeout_s
        while not self.idle:
            if time.monotonic() > end:
                return False
            time.sleep(0.005)
        return True

    def close(self, drain: bool = True, timeout_s: float = 10.0) -> None:
        """Stop: with ``drain`` let queued cues play out first (up to ``timeout_s``), then
        close the sink. Blocks the caller; undrained cues are listed as dropped."""
        if self._closed:
            return
        if self._tts is not None:  # custom phrases being synthesised: finish or cancel them
            self._tts.shutdown(wait=drain, cancel_futures=not drain)
        if drain and not self.sink.offline:  # an offline sink plays out the queue itself
            self.wait_idle(timeout_s)
        self._closed = True
        if not drain or (not self.sink.offline and not self.idle):
            with self._lock:
                for item in (self._current, self._pending):
                    if item is not None:
                        self._drop(item, "closed")
                self._current = self._pending = None
        self.sink.close()

    def __enter__(self) -> CuePlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sink's side (audio thread) -------------------------------------------------------
    def pull(self, n: int) -> np.ndarray:
        """The next ``n`` int16 frames for the sink (called from its thread)."""
        t_now = time.monotonic()
        out = np.zeros(n, np.int16)
        onsets: list[tuple[_Item, float]] = []
        with self._lock:
            filled = 0
            while filled < n:
                item = self._current
                if item is None:
                    if self._pending is None:
                        break
                    item = self._current = self._pending
                    self._pending = None
                samples = item.clip.samples
                take = min(n - filled, len(samples) - item.pos)
                out[filled:filled + take] = samples[item.pos:item.pos + take]
                k = item.clip.onset_index
                if item.pos <= k < item.pos + take:
                    frame = self._frames + filled + k - item.pos
                    onsets.append((item, frame / self.sink.rate_hz))
                item.pos += take
                filled += take
                if item.pos >= len(samples):
                    self._current = None
            self._frames += n
        for item, position_s in onsets:
            self._record_onset(item, t_now, position_s)
        return out

    def _record_onset(self, item: _Item, t_handed: float, position_s: float) -> None:
        onset = Onset(item.cue, item.text, item.t_call_s, t_handed, position_s, item.t_stream_s,
                      self.output_latency_ms / 1000.0)
        self.onsets.append(onset)
        if self.on_onset is not None:
            self.on_onset(onset)
