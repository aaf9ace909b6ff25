"""Ingest speed: replaying a recorded hour of two feet, and host latency from bytes in to samples.

Run: ``uv run python benchmarks/ingest_speed.py --markdown`` (an hour of two feet at 833 Hz; the
recordings are made once and cached; ``--duration 120 --reps 1 --unit-s 30`` for a quick look).
Prints the machine and code, then:

(0) the recordings: two simulated feet (``left_foot``, ``right_foot``) with the running
    simulator's runner (``motion=run``), ``--odr`` 833 Hz (the simulated IMU's nearest rate to
    1 kHz; 1666 also offered), one file per framing: serial (``transport=serial``, COBS byte
    stream, one unit per 5 ms read tick) and BLE (``transport=ble``, one frame per unit).
    Recorded like ``record_session`` does (the same ``SimTransport``\\ s and
    ``record_transports``) in virtual time (``run_virtual``) with ``pipeline=False,
    keep_samples=False``, except that the simulated runner is planned for the whole session:
    ``sim://`` URLs alone plan him for 600 s, after which he stands still. Making an hour takes
    minutes, so the files are cached under ``$STRIDECORE_CACHE`` or ``~/.cache/stridecore``
    (``bench/``), keyed by the options and a digest of the wire protocol and the recording
    format; the digest of the generating code (simulator, device session) is kept with each
    file and printed (``--refresh`` records again, ``--no-cache`` into a temporary folder);
(a) replay speed as a multiple of real time (session duration / wall time; best and median of
    ``--reps`` passes, the cases interleaved pass by pass so that machine noise hits them alike),
    per framing: ``replay(path, keep_samples=False)`` (decoder + clock maps + foot pipeline, the
    streaming path; the issue's target is >= 1000x), the same with the two devices replayed side
    by side in two processes (``jobs=2``; a device's stream depends on its own units only) and
    ``keep_samples=True``, against baselines
    measured in the same run: reading the units only (``iter_blocks(open_recording(path))``,
    replay's blocks), reading + decoding only (a ``StreamDecoder`` per device fed the very blocks
    replay feeds), replay without the pipeline, and the live per-unit path
    (``DeviceStream.on_rx`` one unit at a time, as a live session does; one pass over the last
    ``--unit-s`` seconds of the session, the units before fed in replay's blocks);
(b) when the streaming replay is below the target (or ``--profile always``), per framing: one
    ``replay(path, keep_samples=False)`` with timers around each component's entry points
    (seconds per component), and one under cProfile (the top functions by own time);
(c) host latency from bytes in to samples ready, ms (p50, p99, max):
    - replay-like: ``time.perf_counter`` around ``DeviceStream.on_rx`` (decode, clock map,
      pipeline) for every received unit of the per-unit slice of (a), in recorded order, which
      is exactly the host work of a live session per unit; split by what the unit completed;
    - live over a real pty for ``--pty-s`` seconds of real time: two ``PtySensor``\\ s (serial
      framing, 921600 baud) read by ``SerialTransport``\\ s and ``DeviceSession``\\ s through
      ``record_transports`` (recording into a temporary file, pipeline on, as the live CLI
      does). Latency of each frame: from the sensor thread's ``os.write`` of the frame's last
      byte (its 0x00 delimiter) to the moment the unit holding that byte has gone through
      ``on_rx`` (the session's ``on_received`` callback). The sensors run in this process: their
      thread competes with the host for the GIL and the cores, which real sensors do not;
      ``--pty-motion sine`` (a cheap motion source) shows how much of the tail that is.

The machine is a shared VM: compare the ratios of one run rather than absolute numbers across
runs. Exit status 1 if replay and the per-unit path disagree (samples, steps) or a recording
fails.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _machine import code_version, machine, table, tree_version  # noqa: E402

import stridecore  # noqa: E402
from firmware_protocol import StreamDecoder  # noqa: E402
from firmware_protocol.messages import Reply, TimeSyncReply  # noqa: E402
from stridecore.recording import open_recording  # noqa: E402
from stridecore.replay import BLOCK_S, iter_blocks, replay  # noqa: E402
from stridecore.stream import DeviceStream  # noqa: E402
from stridecore.transport.base import Unit  # noqa: E402

TARGET_X = 1000.0  # replay speed, multiple of real time
FEET = ("left_foot", "right_foot")
UIDS = {"left_foot": "INGEST_L", "right_foot": "INGEST_R"}
FRAMINGS = {"serial": "cobs", "ble": "packet"}
RECORDING_LAYOUT = 1  # bump when the way this script records changes
ROOT = Path(stridecore.__file__).resolve().parent
FP_ROOT = ROOT.parent / "firmware_protocol"
#: the wire format's definition (what the bytes of a recording mean), not the decoder's code
WIRE_FILES = ("frame.py", "cobs.py", "crc.py", "imu6.py", "messages.py", "gatt.py")


# --------------------------------------------------------------------------- output helpers
def fmt(x: float | None, d: int = 1) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:,.{d}f}"


def ms_row(ms: np.ndarray) -> list[str]:
    if len(ms) == 0:
        return ["0", "—", "—", "—", "—"]
    return [f"{len(ms):,}", fmt(np.median(ms), 3), fmt(np.percentile(ms, 99), 3),
            fmt(ms.max(), 2), fmt(ms.mean(), 3)]


# --------------------------------------------------------------------------- code versions
def ingest_files() -> list[Path]:
    """The host ingest path measured here: replay, stream, clock map, health, pipeline."""
    names = ["replay.py", "stream.py", "record.py", "device.py", "clock.py", "timesync.py",
             "health.py", "pipeline.py", "report/steps_summary.py", "transport/serial.py",
             "testing/pty_sensor.py"]
    return ([ROOT / n for n in names] + sorted((ROOT / "recording").glob("*.py"))
            + sorted((ROOT / "dsp").rglob("*.py")))


def ingest_version() -> str:
    return tree_version(ingest_files(), ROOT.parent, "ingest sha256", " + uncommitted: ",
                        shown=ROOT)


def _digest(files: list[Path], salt: str) -> str:
    h = hashlib.sha256(salt.encode())
    for f in files:
        h.update(str(f.relative_to(ROOT.parent)).encode() + f.read_bytes())
    return h.hexdigest()[:12]


def cache_digest() -> str:
    """The cache key: the wire protocol and the recording format (what a recording means to
    the replay measured here) and the way this script records."""
    return _digest([*(FP_ROOT / n for n in WIRE_FILES), ROOT / "recording" / "format.py"],
                   f"layout {RECORDING_LAYOUT}")


def generator_digest() -> str:
    """Digest of all the code that shapes a recording's bytes: the wire protocol, the simulated
    sensor and runner, the device session (its replies come through the decoder and the
    stream) and the recording. Kept with each recording and shown; not part of the cache key,
    because the tree changes often and an hour takes many minutes to record (``--refresh``)."""
    return _digest(sorted(FP_ROOT.glob("*.py"))
                   + [ROOT / n for n in ("record.py", "device.py", "stream.py", "clock.py",
                                         "timesync.py", "health.py", "schema.py")]
                   + sorted((ROOT / "transport").glob("*.py"))
                   + sorted((ROOT / "simulate").rglob("*.py"))
                   + sorted((ROOT / "recording").glob("*.py")), f"layout {RECORDING_LAYOUT}")


def git_head() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(ROOT.parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# --------------------------------------------------------------------------- (0) recordings
def sim_urls(framing: str, odr: int, tick_s: float, seed: int) -> list[str]:
    return [f"sim://?placement={foot}&odr={odr}&transport={framing}&motion=run&tick={tick_s:g}"
            f"&seed={seed + i}&session_seed={seed}&uid={UIDS[foot]}"
            for i, foot in enumerate(FEET)]


def record_one(framing: str, duration_s: float, odr: int, tick_s: float, seed: int,
               out: str) -> dict:
    """Record two simulated feet into ``out`` (what ``record_session(urls, out, duration_s=...,
    pipeline=False, keep_samples=False)`` does, the runner planned for the whole session).
    Runs in a worker process; returns what the sidecar JSON keeps."""
    from stridecore.clock import run_virtual
    from stridecore.record import device_key, record_transports
    from stridecore.schema import Placement
    from stridecore.simulate.session import live_motion
    from stridecore.transport.sim import SimTransport, parse_sim_link
    from stridecore.transport.sim_device import SimDevice

    urls = sim_urls(framing, odr, tick_s, seed)
    transports, keys, taken = [], [], set()
    for u in urls:
        params, link = parse_sim_link(u)
        motion = live_motion(Placement.from_device_code(params.placement),
                             profile=link.profile, seed=link.session_seed,
                             duration_s=duration_s + 60.0)
        transports.append(SimTransport(u, SimDevice(params, motion)))
        keys.append(device_key(u, taken))
    tmp = Path(out + f".part{os.getpid()}")
    tmp.unlink(missing_ok=True)
    made_by = {"generator_digest": generator_digest(), "git": git_head()}
    t0 = time.perf_counter()
    run = run_virtual(record_transports(transports, keys, tmp, duration_s=duration_s,
                                        meta={"made_by": "benchmarks/ingest_speed.py"},
                                        pipeline=False, keep_samples=False))
    wall = time.perf_counter() - t0
    if run.errors:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"recording {framing} failed: {'; '.join(run.errors)}")
    os.replace(tmp, out)
    info = {"framing": framing, "urls": urls, "duration_s": duration_s, "wall_s": wall,
            "bytes": Path(out).stat().st_size, "made": time.strftime("%Y-%m-%d %H:%M:%S"),
            **made_by}
    Path(out + ".json").write_text(json.dumps(info, indent=1))
    return info


def recordings(framings: list[str], a: argparse.Namespace, folder: Path) -> dict[str, dict]:
    """Path and sidecar info per framing, recording what is missing (in parallel)."""
    digest = cache_digest()
    want = {}
    for fr in framings:
        name = (f"ingest_{fr}_{a.odr}hz_{a.duration:g}s_tick{a.tick * 1e3:g}ms_seed{a.seed}"
                f"_{digest}.mcap")
        want[fr] = folder / name
    missing = [fr for fr, p in want.items()
               if a.refresh or not (p.exists() and p.with_name(p.name + ".json").exists())]
    if missing:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        jobs = max(1, min(len(missing), cores, a.jobs))
        print(f"recording {', '.join(missing)} ({a.duration:g} s each, {jobs} process"
              f"{'es' if jobs > 1 else ''}) into {folder} ...", flush=True)
        t0 = time.perf_counter()
        if jobs == 1:
            for fr in missing:
                record_one(fr, a.duration, a.odr, a.tick, a.seed, str(want[fr]))
        else:
            with ProcessPoolExecutor(jobs) as ex:
                futs = [ex.submit(record_one, fr, a.duration, a.odr, a.tick, a.seed,
                                  str(want[fr])) for fr in missing]
                for f in futs:
                    f.result()
        print(f"  recorded in {time.perf_counter() - t0:.1f} s wall", flush=True)
    out = {}
    for fr, p in want.items():
        info = json.loads(p.with_name(p.name + ".json").read_text())
        info["path"] = p
        info["cached"] = fr not in missing
        out[fr] = info
    return out


# --------------------------------------------------------------------------- (a) the cases
def case_read(path: Path) -> dict:
    """Reading only: replay's blocks (``iter_blocks``: the recorded messages as arrays, sent
    units placed among the received ones)."""
    n = nbytes = 0
    for _k, t, _ends, data, tx in iter_blocks(open_recording(path)):
        n += len(t) + len(tx)
        nbytes += len(data)
    return {"units": n, "bytes": nbytes}


def case_decode(path: Path) -> dict:
    """Reading + decoding only: one StreamDecoder per device, fed replay's blocks."""
    reader = open_recording(path)
    framings = {k: str(i.get("framing", "cobs")) for k, i in reader.devices.items()}
    decs = {k: StreamDecoder(framing=fr) for k, fr in framings.items()}
    n = {"samples": 0, "batches": 0, "replies": 0, "units": 0}
    for key, _t, ends, data, tx in iter_blocks(reader):
        d = decs[key]
        b = d.feed(data) if d.framing == "cobs" else d.feed_packed(data, ends)
        n["samples"] += len(b.samples)
        n["batches"] += 1
        n["units"] += len(ends) + len(tx)
        n["replies"] += sum(isinstance(m.body, Reply) for m in b.messages)
    for d in decs.values():
        n["samples"] += len(d.flush().samples)
    return n


def stream_summary(streams: dict[str, DeviceStream]) -> dict:
    """Per device: samples, steps, ICs and a digest of the step table (NaN-safe bytes)."""
    out = {}
    for k, st in sorted(streams.items()):
        tab = st.steps_table()
        h = hashlib.sha256()
        n_steps = 0
        for col in sorted(tab):
            x = np.asarray(tab[col])
            n_steps = len(x)
            h.update(col.encode() + (x.tobytes() if x.dtype != object else repr(x).encode()))
        out[k] = {"samples": st.health.samples, "steps": n_steps,
                  "ics": sum(len(t["t_ic_s"]) for t in st.ics), "digest": h.hexdigest()[:12]}
    return out


def case_replay(path: Path, pipeline: bool, keep: bool, jobs: int = 1) -> dict:
    r = replay(path, pipeline=pipeline, keep_samples=keep, jobs=jobs)
    return {"duration_s": r.duration_s, "units": r.units, "summary": stream_summary(r.streams)}


def kind_of(got) -> str:
    if any(isinstance(rep.body, TimeSyncReply) for rep in got.replies):
        return "completed a TIME_SYNC reply (clock map refit)"
    if got.replies:
        return "completed another reply"
    out = got.output
    if out is not None and (out.n_steps or out.n_ics):
        return "pipeline emitted an IC or a step"
    if len(got.batch.samples):
        return "samples, nothing emitted"
    return "no samples (frame not complete, STATUS)"


def warm_up(path: Path, seconds: float) -> None:
    """Numba kernels (decoder, pipeline) compiled or loaded from cache: the first seconds."""
    reader = open_recording(path)
    framings = {k: str(i.get("framing", "cobs")) for k, i in reader.devices.items()}
    streams = {k: DeviceStream(k, fr, keep_samples=False, t0_host_s=reader.t0_host_s)
               for k, fr in framings.items()}
    for key, t, ends, data, tx in iter_blocks(reader, stop_t=reader.t0_host_s + seconds):
        streams[key].on_rx_block(t, ends, data, tx)


def per_unit(path: Path, unit_s: float) -> dict:
    """The live path: replay's blocks up to the last ``unit_s`` seconds, then on_tx / on_rx
    one unit at a time with ``perf_counter`` around each ``on_rx`` (pipeline on,
    keep_samples=False). Returns wall time and duration of the per-unit part, the on_rx times
    and kinds, and the stream summary at the end (to compare with replay)."""
    reader = open_recording(path)
    t0 = reader.t0_host_s
    framings = {k: str(i.get("framing", "cobs")) for k, i in reader.devices.items()}
    streams = {k: DeviceStream(k, fr, pipeline=True, keep_samples=False, t0_host_s=t0)
               for k, fr in framings.items()}
    end = reader.summary()["last_t_host_s"] or t0
    stop_t = max(t0, end - unit_s)
    for key, t, ends, data, tx in iter_blocks(reader, stop_t=stop_t):
        streams[key].on_rx_block(t, ends, data, tx)
    rest = [u for u in open_recording(path).units(None, None) if u[2] >= stop_t]
    units = [(streams[k], d == "tx", Unit(t, data)) for k, d, t, data in rest]
    keys = [k for k, _d, _t, _data in rest]
    lat = np.empty(len(units))
    kinds = []
    tx_s = 0.0
    pc = time.perf_counter
    gc.collect()
    n = 0
    for st, is_tx, u in units:
        if is_tx:
            a = pc()
            st.on_tx(u)
            tx_s += pc() - a
            continue
        a = pc()
        got = st.on_rx(u)
        lat[n] = pc() - a
        kinds.append(kind_of(got))  # the Received is dropped: keeping them all slows gc
        n += 1
    wall = float(lat[:n].sum()) + tx_s  # host work only (not this loop's bookkeeping)
    for st in streams.values():
        st.finish()
    span = (units[-1][2].t_host_s - units[0][2].t_host_s) if units else 0.0
    rx_keys = [k for k, (_st, is_tx, _u) in zip(keys, units, strict=True) if not is_tx]
    return {"wall_s": wall, "span_s": span, "ms": lat[:n] * 1e3, "kinds": kinds, "keys": rx_keys,
            "units": len(units), "summary": stream_summary(streams)}


# --------------------------------------------------------------------------- (b) profile
def _components() -> list[tuple[str, object, tuple[str, ...]]]:
    """(label, class, methods) timed by :func:`timed_replay`."""
    from stridecore.health import StreamHealth
    from stridecore.pipeline import Pipeline
    from stridecore.stream import LiveFeed
    from stridecore.timesync import ClockMap

    return [
        ("decoder (StreamDecoder.feed / feed_packed / flush)", StreamDecoder,
         ("feed", "feed_packet", "feed_packed", "flush")),
        ("stream health (StreamHealth.update)", StreamHealth, ("update",)),
        ("clock map: samples to host time (ClockMap.to_host_s)", ClockMap, ("to_host_s",)),
        ("clock map: TIME_SYNC probe, refit (ClockMap.add_probe)", ClockMap, ("add_probe",)),
        ("live-sample filter (LiveFeed.select)", LiveFeed, ("select",)),
        ("pipeline (Pipeline.process)", Pipeline, ("process",)),
        ("pipeline events to host time (DeviceStream._to_host)", DeviceStream, ("_to_host",)),
        ("sent units (DeviceStream._tx_probes: host-side decoder)", DeviceStream,
         ("_tx_probes",)),
    ]


def timed_replay(path: Path, read_s: float, md: bool, label: str) -> None:
    """One replay(keep_samples=False) with perf_counter around the entry points of each
    component (methods wrapped for the run; the outermost timed call counts, so nothing is
    counted twice): seconds without cProfile's distortion."""
    comps = _components()
    acc = {name: [0, 0.0] for name, _c, _m in comps}
    active = [False]
    saved = []

    def wrap(fn, slot):
        def timed(*args, **kw):
            if active[0]:
                return fn(*args, **kw)
            active[0] = True
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                slot[1] += time.perf_counter() - t0
                slot[0] += 1
                active[0] = False
        return timed

    for name, cls, methods in comps:
        for m in methods:
            saved.append((cls, m, cls.__dict__[m]))
            setattr(cls, m, wrap(cls.__dict__[m], acc[name]))
    try:
        gc.collect()
        t0 = time.perf_counter()
        r = replay(path, keep_samples=False)
        total = time.perf_counter() - t0
    finally:
        for cls, m, fn in saved:
            setattr(cls, m, fn)
    rows, covered = [], 0.0
    for name, (calls, sec) in acc.items():
        covered += sec
        rows.append([name, f"{calls:,}", f"{sec:.2f}", f"{sec / total:.0%}",
                     f"{sec / max(calls, 1) * 1e6:,.1f}"])
    rest = total - covered
    rows.append(["rest: reading the units, replay loop, DeviceStream glue", "",
                 f"{rest:.2f}", f"{rest / total:.0%}", ""])
    rows.append([f"  of which reading alone (best of (a)): {read_s:.2f} s", "", "", "", ""])
    rows.append(["replay(keep_samples=False), timed", "1", f"{total:.2f}", "100%", ""])
    table(f"(b) where replay's time goes, {label}: one replay(keep_samples=False), "
          f"{r.units:,} units, {r.duration_s:,.0f} s of session ({r.duration_s / total:,.0f}x "
          "real time with the timers); perf_counter around each component's entry points",
          ["component", "calls", "s", "share", "µs/call"], rows, md)


def profile_replay(path: Path, top: int, md: bool, label: str) -> None:
    """cProfile of one replay(keep_samples=False): the top functions by own time."""
    pr = cProfile.Profile()
    gc.collect()
    pr.enable()
    replay(path, keep_samples=False)
    pr.disable()
    st = pstats.Stats(pr)
    total = sum(v[3] for k, v in st.stats.items()
                if k[0].endswith("stridecore/replay.py") and k[2] == "replay")
    items = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in items:
        where = file
        for base in (str(ROOT.parent) + "/", str(Path(np.__file__).parents[1]) + "/"):
            where = where.replace(base, "")
        rows.append([f"{where}:{line}({func})", f"{nc:,}", f"{tt:.3f}", f"{ct:.3f}",
                     f"{tt / total:.1%}", f"{tt / max(nc, 1) * 1e6:.1f}"])
    table(f"    top {top} functions by own time under cProfile, {label} (replay {total:.1f} s "
          "under the profiler, which slows pure-Python code more than numpy and numba: read "
          "the order, not the seconds)",
          ["function", "calls", "own s", "cumulative s", "own share", "own µs/call"], rows, md)


# --------------------------------------------------------------------------- (c) pty
class _TimedWrites:
    """Stands in for the ``os`` module inside ``stridecore.testing.pty_sensor`` while the pty
    run lasts: ``os.write`` of a sensor thread is logged with the time just before the write
    (per thread name, ``PtySensor /dev/pts/N``); everything else is ``os`` itself."""

    def __init__(self) -> None:
        self.log: dict[str, list[tuple[float, bytes]]] = {}

    def __getattr__(self, name: str):
        return getattr(os, name)

    def write(self, fd: int, data) -> int:
        t = time.monotonic()
        n = os.write(fd, data)
        self.log.setdefault(threading.current_thread().name, []).append((t, bytes(data[:n])))
        return n


def pty_run(seconds: float, odr: int, motion: str) -> dict:
    """Two PtySensors, two SerialTransports, record_transports on a real loop."""
    import stridecore.testing.pty_sensor as ps
    from stridecore.record import record_transports
    from stridecore.testing.pty_sensor import PtySensor, SineMotion
    from stridecore.transport.serial import SerialTransport

    class TimedSerial(SerialTransport):
        def __init__(self, url: str) -> None:
            super().__init__(url)
            self.n_bytes = 0
            self.last = (0.0, 0.0, 0)
            self.rows: list[tuple] = []  # (t_read loop, t_taken, bytes so far, t_done, kind)

        async def read(self) -> Unit:
            u = await super().read()
            self.n_bytes += len(u.data)
            self.last = (u.t_host_s, time.monotonic(), self.n_bytes)
            return u

    def on_received(session, got) -> None:
        tr = session.transport
        tr.rows.append((*tr.last, time.monotonic(), kind_of(got)))

    log = _TimedWrites()
    real_os = ps.os
    ps.os = log
    sensors = []
    try:
        for foot in FEET:
            url = f"sim://?placement={foot}&odr={odr}&uid={UIDS[foot]}"
            sensors.append(PtySensor(url, motion=SineMotion() if motion == "sine" else None)
                           .start())
        transports = [TimedSerial(f"serial://{s.port}?baud=921600") for s in sensors]
        with tempfile.TemporaryDirectory() as d:
            run = asyncio.run(record_transports(
                transports, list(FEET), Path(d) / "pty.mcap", duration_s=seconds,
                pipeline=True, keep_samples=False, on_received=on_received))
    finally:
        for s in sensors:
            s.stop()
        ps.os = real_os
    res = {"errors": run.errors, "rows": []}
    for tr, sess in zip(transports, run.sessions, strict=True):
        writes = log.log.get(f"PtySensor {tr.name.split('://', 1)[-1]}", [])
        d_off, d_t, base = [], [], 0
        for t, data in writes:
            z = np.flatnonzero(np.frombuffer(data, np.uint8) == 0)
            d_off.append(base + z)
            d_t.append(np.full(z.size, t))
            base += len(data)
        d_off = np.concatenate(d_off) if d_off else np.zeros(0, np.int64)
        d_t = np.concatenate(d_t) if d_t else np.zeros(0)
        rows = tr.rows
        if not rows:
            continue
        t_read = np.array([r[0] for r in rows])
        t_taken = np.array([r[1] for r in rows])
        cum = np.array([r[2] for r in rows])
        t_done = np.array([r[3] for r in rows])
        j = np.searchsorted(cum, d_off, side="right")  # unit holding byte d_off
        ok = j < len(rows)
        j, dt = j[ok], d_t[ok]
        res["rows"].append({
            "key": sess.key, "frames": int(ok.sum()), "bytes_written": base,
            "bytes_read": int(cum[-1]), "units": len(rows),
            "total_ms": (t_done[j] - dt) * 1e3, "wake_ms": (t_read[j] - dt) * 1e3,
            "host_ms": (t_done[j] - t_read[j]) * 1e3,
            "on_rx_ms": (t_done - t_taken) * 1e3,
            "samples": sess.stream.health.samples})
    return res


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=3600.0, help="session length, s")
    ap.add_argument("--odr", type=int, default=833, choices=(833, 1666))
    ap.add_argument("--framings", default="serial,ble", help="serial,ble or one of them")
    ap.add_argument("--tick", type=float, default=0.005, help="sim:// read tick, s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3, help="passes of each replay case")
    ap.add_argument("--unit-s", type=float, default=300.0,
                    help="seconds at the end of the session fed unit by unit")
    ap.add_argument("--pty-s", type=float, default=10.0, help="real seconds per pty run (0: none)")
    ap.add_argument("--pty-motion", default="run,sine",
                    help="sensor motion of the pty runs: run (the simulator), sine, or both")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="auto: when the streaming replay is below the target")
    ap.add_argument("--profile-top", type=int, default=15)
    ap.add_argument("--no-cache", action="store_true", help="record into a temporary folder")
    ap.add_argument("--refresh", action="store_true", help="record again even when cached")
    ap.add_argument("--jobs", type=int, default=2, help="processes making recordings")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)
    md = a.markdown
    framings = [f for f in a.framings.split(",") if f]
    if not framings or any(f not in FRAMINGS for f in framings):
        ap.error("--framings: serial, ble or serial,ble")
    ok = True

    print("ingest_speed: replay of two feet as a multiple of real time; bytes-in to "
          "samples-ready latency")
    print("machine:")
    for k, v in machine().items():
        print(f"  {k:7s} {v}")
    print(f"  code    {ingest_version()}")
    print(f"          {code_version()}")
    print(f"  recordings: cache key (protocol + recording format) {cache_digest()}, "
          f"generator code now {generator_digest()}")

    tmp = None
    if a.no_cache:
        tmp = tempfile.TemporaryDirectory(prefix="ingest_speed_")
        folder = Path(tmp.name)
    else:
        from stridecore.bench.datasets import cache_dir

        folder = cache_dir() / "bench"
        folder.mkdir(parents=True, exist_ok=True)
    try:
        recs = recordings(framings, a, folder)
    except Exception as e:
        print(f"recording failed: {type(e).__name__}: {e}")
        return 1

    rows = []
    gen_now = generator_digest()
    for fr, info in recs.items():
        summ = open_recording(info["path"]).summary()
        units = sum(v["rx_units"] + v["tx_units"] for v in summ["per_device"].values())
        info["units"], info["summary"] = units, summ
        rows.append([fr, f"{info['duration_s']:g}", f"{units:,}",
                     f"{info['bytes'] / 1e6:.1f}", f"{info['wall_s']:.1f}",
                     f"{info['duration_s'] / info['wall_s']:.1f}x",
                     ("cached, made " if info["cached"] else "made now, ") + info["made"]
                     + f" at git {info.get('git', '?')}, generator "
                     + f"{info.get('generator_digest', '?')}"
                     + ("" if info.get("generator_digest") == gen_now else " (≠ now)")])
    table(f"(0) recordings: two feet ({', '.join(FEET)}), sim:// odr={a.odr}, motion=run, "
          f"tick={a.tick * 1e3:g} ms, seed {a.seed}; made in virtual time by record_transports "
          "(pipeline off; each unit still goes through DeviceStream.on_rx as in a live "
          "session); speed = session s / wall s of making it",
          ["framing", "session s", "units", "MB", "made in s", "speed", "file"], rows, md)
    for info in recs.values():
        print(f"  {info['path']}")

    # warm-up: numba kernels (decoder, pipeline) compiled or loaded from cache
    t0 = time.perf_counter()
    for info in recs.values():
        warm_up(info["path"], 5.0)
    print(f"\nwarm-up (not in the tables): {time.perf_counter() - t0:.2f} s (numba compile or "
          "cache load, first 5 s of each recording)")

    # (a) replay speed ------------------------------------------------------------------
    cases = [("read units only (replay's blocks)", lambda p: case_read(p)),
             ("read + decode only (StreamDecoder, replay's blocks)", lambda p: case_decode(p)),
             ("replay, pipeline off, keep_samples=False", lambda p: case_replay(p, False, False)),
             ("replay, keep_samples=False (streaming path)", lambda p: case_replay(p, True, False)),
             ("replay, keep_samples=True", lambda p: case_replay(p, True, True)),
             ("replay, keep_samples=False, one process per device (jobs=2)",
              lambda p: case_replay(p, True, False, jobs=2))]
    STREAM = 3  # index of the target case (one process)
    PAR = 5  # the same, the devices side by side
    times = {(fr, c): [] for fr in recs for c in range(len(cases))}
    results = {}
    for _rep in range(max(1, a.reps)):
        for fr, info in recs.items():
            for c, (_name, fn) in enumerate(cases):
                gc.collect()
                t0 = time.perf_counter()
                results[fr, c] = fn(info["path"])
                times[fr, c].append(time.perf_counter() - t0)
    units_res = {}
    for fr, info in recs.items():
        units_res[fr] = per_unit(info["path"], a.unit_s)

    rows, speed = [], {}
    for fr in recs:
        dur = results[fr, STREAM]["duration_s"]
        ref = statistics.median(times[fr, STREAM])
        for c, (name, _fn) in enumerate(cases):
            ts = times[fr, c]
            best, med = min(ts), statistics.median(ts)
            if c in (STREAM, PAR):
                speed[fr, c] = (dur / best, dur / med)
            rows.append([fr if c == 0 else "", name, f"{len(ts)}", f"{best:.2f}", f"{med:.2f}",
                         f"{dur / best:,.0f}x", f"{dur / med:,.0f}x", f"{med / ref:.2f}"])
        u = units_res[fr]
        x = u["span_s"] / u["wall_s"] if u["wall_s"] > 0 else float("nan")
        est = dur / x if np.isfinite(x) and x > 0 else float("nan")
        rows.append(["", f"per unit, as live: DeviceStream.on_rx one unit at a time (last "
                     f"{u['span_s']:.0f} s, {u['units']:,} units, 1 pass; s scaled to the session)",
                     "1", fmt(est, 2), fmt(est, 2), f"{x:,.0f}x", f"{x:,.0f}x", fmt(est / ref, 2)])
    table(f"(a) replay speed, multiple of real time = session duration / wall time; best and "
          f"median of {max(1, a.reps)} passes, interleaved; vs streaming = case median / "
          "median of replay(keep_samples=False); each row includes the ones above it",
          ["framing", "case", "passes", "best s", "median s", "x real time best",
           "x real time median", "vs streaming"], rows, md)
    for fr in recs:
        t = {c: statistics.median(times[fr, c]) for c in range(len(cases))}
        full = t[STREAM]
        print(f"  {fr}: of the streaming replay's {full:.2f} s (medians): reading "
              f"{t[0] / full:.0%}, decoding {(t[1] - t[0]) / full:.0%}, clock maps + health + "
              f"stream glue {(t[2] - t[1]) / full:.0%}, pipeline {(t[3] - t[2]) / full:.0%}; "
              f"keeping the samples adds {(t[4] - t[3]) / full:+.0%}")

    # sanity: the three replays and the per-unit path agree
    print("\nsame results?")
    for fr in recs:
        a_, b_ = results[fr, STREAM]["summary"], results[fr, 4]["summary"]
        u_ = units_res[fr]["summary"]
        dec = results[fr, 1]["samples"]
        bt = results[fr, 1]
        hours = results[fr, STREAM]["duration_s"] / 3600 * len(a_)
        print(f"  {fr}: replay decodes in {bt['batches']:,} blocks of >= {BLOCK_S:g} s "
              f"({bt['batches'] / hours:,.0f} per device-hour, "
              f"{bt['units'] / max(bt['batches'], 1):,.0f} units each, {bt['replies']:,} "
              "replies in all)")
        n_rep = sum(v["samples"] for v in a_.values())
        same = a_ == b_ == u_ == results[fr, PAR]["summary"]
        ok &= same
        per = "; ".join(f"{k}: {v['samples']:,} samples, {v['steps']:,} steps, {v['ics']:,} ICs"
                        for k, v in a_.items())
        print(f"    {per}. replay keep_samples False / True, jobs=2 and the per-unit path: "
              f"{'identical' if same else 'DIFFERENT'} (samples, steps, ICs, step-table "
              f"digest); decode-only samples {dec:,} vs replay {n_rep:,}")
        if not same:
            print(f"    streaming {a_}\n    keep {b_}\n    per unit {u_}")

    print("\ntarget: replay (decode + clock maps + pipeline, keep_samples=False) >= "
          f"{TARGET_X:g}x real time")
    below = False
    for (fr, c), (best, med) in speed.items():
        verdict = "PASS" if best >= TARGET_X else "FAIL"
        if c == STREAM:
            below |= best < TARGET_X
        how = "one process" if c == STREAM else "one process per device (jobs=2)"
        print(f"  {fr}, {how}: best {best:,.0f}x, median {med:,.0f}x  {verdict} (on the best "
              f"pass; median {'PASS' if med >= TARGET_X else 'FAIL'})")

    # (b) profile -----------------------------------------------------------------------
    if a.profile == "always" or (a.profile == "auto" and below):
        for fr, info in recs.items():
            timed_replay(info["path"], min(times[fr, 0]), md, fr)
            profile_replay(info["path"], a.profile_top, md, fr)

    # (c) latency -----------------------------------------------------------------------
    rows = []
    for fr in recs:
        u = units_res[fr]
        ms = u["ms"]
        kinds = np.array(u["kinds"])
        rows.append([fr, "every received unit", *ms_row(ms)])
        for k in sorted(set(u["kinds"])):
            rows.append(["", f"  {k}", *ms_row(ms[kinds == k])])
    table("(c1) host work per received unit, replay-like: perf_counter around DeviceStream."
          "on_rx (decode + clock map + pipeline, keep_samples=False) for every received unit "
          f"of the last {a.unit_s:g} s, in recorded order (both feet), gc on; ms",
          ["framing", "units", "n", "p50", "p99", "max", "mean"], rows, md)

    if a.pty_s > 0:
        rows = []
        for motion in [m for m in a.pty_motion.split(",") if m]:
            t0 = time.perf_counter()
            try:
                res = pty_run(a.pty_s, a.odr, motion)
            except Exception as e:
                print(f"\npty run ({motion}) failed: {type(e).__name__}: {e}")
                ok = False
                continue
            wall = time.perf_counter() - t0
            if res["errors"]:
                print(f"\npty run ({motion}) errors: {'; '.join(res['errors'])}")
                ok = False
            label = ("running simulator" if motion == "run" else "SineMotion")
            tot = [np.concatenate([r[k] for r in res["rows"]]) if res["rows"] else np.zeros(0)
                   for k in ("total_ms", "wake_ms", "host_ms", "on_rx_ms")]
            frames = sum(r["frames"] for r in res["rows"])
            units = sum(r["units"] for r in res["rows"])
            rows.append([f"serial pty, sensors: {label} ({frames:,} frames, {units:,} units, "
                         f"{wall:.0f} s)", "write → on_rx done (per frame)", *ms_row(tot[0])])
            rows.append(["", "  write → host loop read the bytes", *ms_row(tot[1])])
            rows.append(["", "  read → on_rx done (queue, recorder, on_rx)", *ms_row(tot[2])])
            rows.append(["", "on_rx + recorder per unit (read() return → done)", *ms_row(tot[3])])
            for r in res["rows"]:
                print(f"  pty {motion} {r['key']}: {r['bytes_written']:,} B written, "
                      f"{r['bytes_read']:,} B read, {r['samples']:,} samples")
        table(f"(c2) live latency over a real pty ({a.pty_s:g} s real time, two feet at "
              f"{a.odr} Hz, 921600 baud, DeviceSession via record_transports, recording to a "
              "temp file, pipeline on): from the sensor thread's os.write of a frame's "
              "delimiter to the on_received callback of the unit that held it; ms",
              ["run", "interval", "n", "p50", "p99", "max", "mean"], rows, md)
        print("  the sensors run in this process (a thread each): they compete with the host "
              "for the GIL and the cores, which real sensors do not")

    if tmp is not None:
        tmp.cleanup()
    print(f"\nreplay, per-unit path and the replays agree: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
