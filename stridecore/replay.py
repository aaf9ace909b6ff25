"""Replay a recorded session through the same decoder, clock maps and pipeline as live.

The recording holds every unit each device sent and received, with its host time. Replay
hands them, per device in recorded order, to a fresh :class:`~stridecore.stream.DeviceStream`
— received units through :meth:`~stridecore.stream.DeviceStream.on_rx_block`, sent ones with
their place among them — which gives exactly what the live session's
:meth:`~stridecore.stream.DeviceStream.on_rx` / :meth:`~stridecore.stream.DeviceStream.on_tx`
calls gave, unit by unit: the samples, host times and step records are the live ones, bit for
bit. Units are decoded many seconds at a time (:data:`BLOCK_S`), which makes replay fast.

Sent and received units of a device are ordered by host time, ties in file order (what
:meth:`~stridecore.recording.RecordingReader.units` yields). A unit is handed over once no
unit read later can come before it: messages are written at most ``batch_s`` after their first
unit (the reader's merge margin). ``speed`` paces the blocks against the wall clock (1 = real
time); 0 runs as fast as possible.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stridecore.recording import RecordingReader, open_recording
from stridecore.stream import DeviceStream
from stridecore.transport.base import Unit

BLOCK_S = 30.0  # host seconds of received units decoded at once (speed; results do not change)


@dataclass
class ReplayResult:
    """Per-device streams after replay, and the reader (session metadata, link events)."""

    reader: RecordingReader
    streams: dict[str, DeviceStream] = field(default_factory=dict)
    units: int = 0
    blocks: int = 0  # calls of on_rx_block
    wall_s: float = 0.0
    duration_s: float = 0.0


class _Pending:
    """One device's units read but not yet handed to its stream."""

    def __init__(self) -> None:
        self.t: list[np.ndarray] = []  # received: host times, message order, ends, bytes
        self.order: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []  # unit ends, counted from the first pending byte
        self.data: list[bytes] = []
        self.nbytes = 0
        self.tx: list[tuple[float, int, Unit]] = []  # sent: (t_host_s, message order, unit)

    def span_s(self) -> float:
        return float(self.t[-1][-1] - self.t[0][0]) if self.t else 0.0

    def take(self, safe_s: float) -> tuple[np.ndarray, np.ndarray, bytes, list] | None:
        """Received units before ``safe_s`` (all if inf) and the sent units among them."""
        t, order, ends = _cat(self.t, np.float64), _cat(self.order), _cat(self.ends)
        data = b"".join(self.data)
        late = np.flatnonzero(t >= safe_s)
        n = int(late[0]) if late.size else len(t)  # units come in time order per channel
        cut = int(ends[n - 1]) if n else 0
        rest = n < len(t)  # kept for later
        self.t, self.order = ([t[n:]], [order[n:]]) if rest else ([], [])
        self.ends, self.data = ([ends[n:] - cut], [data[cut:]]) if rest else ([], [])
        self.nbytes = len(data) - cut
        t, order, ends, data = t[:n], order[:n], ends[:n], data[:cut]
        tx, keep = [], []
        for tt, o, u in self.tx:
            if tt < safe_s:  # after the received units before it (ties: in file order)
                tx.append((int(np.count_nonzero((t < tt) | ((t == tt) & (order < o)))), u))
            else:
                keep.append((tt, o, u))
        self.tx = keep
        tx.sort(key=lambda x: x[0])  # stable: file order among equals
        if not n and not tx:
            return None
        return t, ends, data, tx


def _cat(parts: list[np.ndarray], dtype=np.int64) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


Block = tuple[str, np.ndarray, np.ndarray, bytes, list[tuple[int, Unit]]]


def iter_blocks(reader: RecordingReader, *, keys: Collection[str] | None = None,
                block_s: float = BLOCK_S, stop_t: float | None = None,
                pace: Callable[[float], float] | None = None,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[Block]:
    """``(key, t_host_s, ends, data, tx)`` blocks of a recording for
    :meth:`~stridecore.stream.DeviceStream.on_rx_block`, per device in recorded order: received
    units of at least ``block_s`` of host time (fewer at the end) and the sent units among them.

    ``keys``: these devices only (None: all). ``stop_t``: hand over exactly the units before
    this host time, then stop. ``pace(t)`` is
    called with the first host time of each recorded message before it is read and returns
    how long to wait for it (s); if > 0, everything that may be handed over is, then
    ``sleep`` waits (pacing a replay)."""
    wanted = [k for k in reader.devices if keys is None or k in keys]
    pending: dict[str, _Pending] = {k: _Pending() for k in wanted}
    margin_s = reader._margin_s  # how late a unit may come in the file (see units())
    newest_first = -np.inf

    def due(key: str, safe_s: float) -> Iterator[Block]:
        got = pending[key].take(safe_s)
        if got is not None:
            yield (key, *got)

    one = wanted[0] if len(wanted) == 1 and len(reader.devices) > 1 else None
    for run in reader.unit_runs(one, None):
        p = pending.get(run.key)
        if p is None or not len(run.t_host_s):
            continue
        t_run = float(run.t_host_s[0])
        if stop_t is not None and newest_first - margin_s >= stop_t:
            break
        ahead = pace(t_run) if pace is not None else 0.0
        if ahead > 0:
            for k in pending:
                yield from due(k, newest_first - margin_s)
            sleep(ahead)
        newest_first = max(newest_first, run.newest_first_s)
        if run.direction == "tx":
            for i, u in enumerate(_units(run)):
                p.tx.append((float(run.t_host_s[i]), int(run.order[i]), u))
        else:
            p.t.append(run.t_host_s)
            p.order.append(run.order)
            p.ends.append(run.ends + p.nbytes)
            p.data.append(run.data)
            p.nbytes += len(run.data)
            if p.span_s() >= block_s:
                yield from due(run.key, min(newest_first - margin_s,
                                            np.inf if stop_t is None else stop_t))
    for k in pending:
        yield from due(k, np.inf if stop_t is None else stop_t)


def replay(path: str | Path, *, speed: float = 0.0, pipeline: bool = True,
           keep_samples: bool = True,
           on_unit: Callable[[str, DeviceStream], None] | None = None,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic, jobs: int = 1,
           on_fed: Callable | None = None) -> ReplayResult:
    """Replay ``path``; :class:`~stridecore.recording.RecordingError` for a file that cannot be
    read (a truncated file replays up to where it was cut; ``reader.note`` says so).
    ``on_unit(key, stream)`` is called after each block handed to a device's stream.

    ``jobs`` > 1: the devices are replayed side by side in that many processes (each device's
    stream depends on its own units only, so the results are the same) and their streams
    handed back; only as fast as possible (``speed`` 0) and without ``on_unit``/``on_fed``.
    ``on_fed(key, samples, t_host_s, t_recv_s)``: each device's in-order live samples as its
    pipeline got them (:attr:`~stridecore.stream.DeviceStream.on_fed`)."""
    reader = open_recording(path)
    t0 = reader.t0_host_s
    res = ReplayResult(reader)
    keys = list(reader.devices)
    wall0 = clock()
    if jobs > 1 and len(keys) > 1 and speed <= 0 and on_unit is None and on_fed is None:
        groups = [keys[i::jobs] for i in range(min(jobs, len(keys)))]
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        t_last = t0
        with ProcessPoolExecutor(len(groups), mp_context=ctx) as ex:
            futures = [ex.submit(_replay_devices, str(path), g, pipeline, keep_samples)
                       for g in groups]
            got = [f.result() for f in futures]
        for streams, units, blocks, t_end in got:
            res.streams.update(streams)
            res.units += units
            res.blocks += blocks
            t_last = max(t_last, t_end)
        res.streams = {k: res.streams[k] for k in keys}
    else:
        t_first: list[float] = []

        def pace(t_block: float) -> float:
            if not t_first:
                t_first.append(t_block)
            return (t_block - t_first[0]) / speed - (clock() - wall0)

        res.streams, res.units, res.blocks, t_last = _replay_devices(
            reader, keys, pipeline, keep_samples, pace if speed > 0 else None, sleep, on_unit,
            on_fed)
    res.wall_s = clock() - wall0
    res.duration_s = t_last - t0
    return res


def _replay_devices(reader: RecordingReader | str, keys: list[str], pipeline: bool,
                    keep_samples: bool, pace: Callable[[float], float] | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    on_unit: Callable[[str, DeviceStream], None] | None = None,
                    on_fed: Callable | None = None,
                    ) -> tuple[dict[str, DeviceStream], int, int, float]:
    """Devices ``keys`` of a recording through fresh streams: (streams, units, blocks, the
    last unit's host time). A path is opened here (a worker process)."""
    if not isinstance(reader, RecordingReader):
        reader = open_recording(reader)
    t0 = reader.t0_host_s
    streams = {k: DeviceStream(k, str(reader.devices[k].get("framing", "cobs")),
                               pipeline=pipeline, keep_samples=keep_samples, t0_host_s=t0)
               for k in keys}
    if on_fed is not None:
        for k, st in streams.items():
            st.on_fed = functools.partial(on_fed, k)
    units = blocks = 0
    t_last = t0
    for key, t, ends, data, tx in iter_blocks(reader, keys=keys, pace=pace, sleep=sleep):
        streams[key].on_rx_block(t, ends, data, tx)
        blocks += 1
        units += len(t) + len(tx)
        if len(t):
            t_last = max(t_last, float(t[-1]))
        if tx:
            t_last = max(t_last, tx[-1][1].t_host_s)
        if on_unit is not None:
            on_unit(key, streams[key])
    for st in streams.values():
        st.finish()
    return streams, units, blocks, t_last


def _units(block) -> list[Unit]:
    starts = np.concatenate(([0], block.ends[:-1]))
    return [Unit(float(t), block.data[a:b]) for t, a, b in
            zip(block.t_host_s, starts.tolist(), block.ends.tolist(), strict=True)]
