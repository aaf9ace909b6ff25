"""Replay a recorded session through the same decoder, clock maps and pipeline as live.

The recording holds every unit each device sent and received, with its host time. Replay
hands them, per device in recorded order, to a fresh :class:`~stridecore.stream.DeviceStream`
(:meth:`~stridecore.stream.DeviceStream.on_tx` for sent, :meth:`~stridecore.stream.
DeviceStream.on_rx` for received) — the very calls the live session made — so the samples,
host times and step records are the live ones, bit for bit. Units between two that may complete
a reply frame are decoded together (:meth:`~stridecore.stream.DeviceStream.on_rx_many`): the
stream's results depend on units only through those, which makes replay fast. ``speed``
paces the units against the wall clock (1 = real time); 0 runs as fast as possible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stridecore.recording import RecordingReader, open_recording
from stridecore.stream import DeviceStream, ReplyCut
from stridecore.transport.base import Unit

MAX_BATCH_UNITS = 256  # units decoded at once between replies (speed; results do not change)


@dataclass
class ReplayResult:
    """Per-device streams after replay, and the reader (session metadata, link events)."""

    reader: RecordingReader
    streams: dict[str, DeviceStream] = field(default_factory=dict)
    units: int = 0
    wall_s: float = 0.0
    duration_s: float = 0.0


def replay(path: str | Path, *, speed: float = 0.0, pipeline: bool = True,
           keep_samples: bool = True,
           on_unit: Callable[[str, DeviceStream], None] | None = None,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic) -> ReplayResult:
    """Replay ``path``; :class:`~stridecore.recording.RecordingError` for a file that cannot be
    read (a truncated file replays up to where it was cut; ``reader.note`` says so)."""
    reader = open_recording(path)
    t0 = reader.t0_host_s
    res = ReplayResult(reader)
    for key, info in reader.devices.items():
        res.streams[key] = DeviceStream(key, str(info.get("framing", "cobs")),
                                        pipeline=pipeline, keep_samples=keep_samples,
                                        t0_host_s=t0)
    wall0 = clock()
    t_first = None
    t_last = t0
    pending: dict[str, list[Unit]] = {k: [] for k in res.streams}
    cuts = {k: ReplyCut(st.framing) for k, st in res.streams.items()}

    def flush(key: str) -> None:
        units = pending[key]
        if units:
            st = res.streams[key]
            if len(units) == 1:
                st.on_rx(units[0])  # the decoder's one-packet fast path
            else:
                st.on_rx_many(units)
            units.clear()
            if on_unit is not None:
                on_unit(key, st)

    for key, direction, t_host, data in reader.units(None, None):
        if speed > 0:
            if t_first is None:
                t_first = t_host
            ahead = (t_host - t_first) / speed - (clock() - wall0)
            if ahead > 0:
                for k in pending:  # pacing: everything due is shown now
                    flush(k)
                sleep(ahead)
        unit = Unit(t_host, data)
        if direction == "tx":
            # a sent unit only registers TIME_SYNC tokens; a reply to it cannot be among the
            # units still pending (they came before it), so they need no flush
            res.streams[key].on_tx(unit)
        else:
            pending[key].append(unit)
            if cuts[key].after(data) or len(pending[key]) >= MAX_BATCH_UNITS:
                flush(key)
        res.units += 1
        t_last = t_host
    for k in pending:
        flush(k)
    for st in res.streams.values():
        st.finish()
    res.wall_s = clock() - wall0
    res.duration_s = t_last - t0
    return res
