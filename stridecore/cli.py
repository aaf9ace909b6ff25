"""The ``stridecore`` command.

Conventions: exit 0 ok, 1 failure, 2 bad usage or bad input; every error is one line on stderr
(``--verbose`` adds the traceback); ``--json`` puts only JSON on stdout. Heavy modules are
imported inside the commands so ``stridecore --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="stridecore",
    help="Shoe- and shin-mounted IMUs to live running-form coaching.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class UserError(Exception):
    """Bad input or usage: reported in one line, exit 2."""


class Failure(Exception):
    """A run that failed (a sensor that does not answer): reported in one line, exit 1."""


_state = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Show tracebacks on errors.")] = False,
) -> None:
    _state["verbose"] = verbose


def _sim_params(url: str):
    from stridecore.transport.sim import SimUrlError, parse_sim_url

    try:
        return parse_sim_url(url)
    except SimUrlError as e:
        raise UserError(str(e)) from e


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="Simulated sensor, e.g. sim://?transport=ble&drop=0.01"
                                     )] = "",
    duration: Annotated[float, typer.Option(min=0.1, help="Sensor time to stream, s.")] = 10.0,
    speed: Annotated[float, typer.Option(min=0.0, help="Times real time; 0 = as fast as "
                                         "possible.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Only a JSON summary on stdout.")
                       ] = False,
) -> None:
    """Stream the simulated sensor (with faults) through the decoder and the real-time foot
    pipeline; print a live summary (stream health, contacts, landing, cadence, contact time)."""
    from stridecore.demo import DEFAULT_DEMO_URL, run_demo

    params = _sim_params(url or DEFAULT_DEMO_URL)
    if as_json:
        res = run_demo(params, duration_s=duration, speed=speed)
        out = res.health.as_dict(res.decoder)
        out["gait"] = res.steps.as_dict()
        out["sim_time_s"] = round(res.sim_time_s, 3)
        out["wall_time_s"] = round(res.wall_time_s, 3)
        print(json.dumps(out))
        return
    from rich.console import Console
    from rich.live import Live

    from stridecore.report.live_table import health_table

    console = Console()
    interactive = console.is_terminal
    last = [0.0]
    with Live(console=console, auto_refresh=False, transient=False) as live:
        def on_tick(t: float, res) -> None:
            if interactive or t - last[0] >= 1.0 - 1e-9:
                last[0] = t
                live.update(health_table(res.health.as_dict(res.decoder), t,
                                         steps=res.steps.as_dict()), refresh=True)

        res = run_demo(params, duration_s=duration, speed=speed, on_tick=on_tick)
        live.update(health_table(res.health.as_dict(res.decoder), res.sim_time_s,
                                 final=True, steps=res.steps.as_dict()), refresh=True)


@app.command("sim-capture")
def sim_capture(
    out: Annotated[Path, typer.Argument(help="Capture file to write.")],
    url: Annotated[str, typer.Option(help="Simulated sensor URL (transport=serial|ble).")
                   ] = "sim://",
    duration: Annotated[float, typer.Option(min=0.1, help="Sensor time, s.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Only JSON on stdout.")] = False,
) -> None:
    """Record what a simulated sensor sends into a capture file for
    ``python -m firmware_protocol decode`` (serial: raw bytes; ble: host_ns/length records)."""
    from firmware_protocol.capture import write_ble_capture
    from stridecore.demo import ScriptedHost
    from stridecore.transport.sim_device import SimDevice

    params = _sim_params(url)
    device = SimDevice(params)
    host = ScriptedHost(device)
    from firmware_protocol.frame import FrameType

    units: list[tuple[float, bytes]] = []
    host.send(FrameType.GET_INFO, 0.0)
    host.send(FrameType.GET_CONFIG, 0.0)
    host.send(FrameType.START, 0.0)
    t, tick = 0.0, 0.05
    while t < duration:
        t = min(duration, t + tick)
        units += device.poll(t)
    host.send(FrameType.STOP, t)
    units += device.poll(t + 0.1)
    try:
        with out.open("wb") as f:
            if params.framing == "cobs":
                n = f.write(b"".join(u for _, u in units))
            else:
                n = write_ble_capture(f, ((round(ts * 1e9), u) for ts, u in units))
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from e
    transport = "serial" if params.framing == "cobs" else "ble"
    info = {"path": str(out), "transport": transport, "bytes": n, "units": len(units)}
    if as_json:
        print(json.dumps(info))
    else:
        typer.echo(f"wrote {n} B ({len(units)} {transport} units) to {out}; decode with: "
                   f"python -m firmware_protocol decode {out} --transport {transport}")


def _placements(text: str):
    from stridecore.schema import Placement

    out = []
    for name in (x.strip() for x in text.split(",") if x.strip()):
        try:
            out.append(Placement(name))
        except ValueError:
            known = ", ".join(p.value for p in Placement)
            raise UserError(f"unknown sensor placement {name!r}; known: {known}") from None
    if not out or len(set(out)) != len(out):
        raise UserError("--sensors needs distinct placements, e.g. left_foot,right_foot")
    return out


@app.command()
def simulate(
    duration: Annotated[float, typer.Option(min=60.0, help="Session length, s (≥ 60).")] = 600.0,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (0–999 dev, ≥ 1000 test).")
                    ] = 0,
    profile: Annotated[str, typer.Option(help="Runner profile: trail, heel_striker, "
                                         "forefoot, novice, walker.")] = "trail",
    sensors: Annotated[str, typer.Option(help="Comma-separated placements.")
                       ] = "left_foot,right_foot",
    odr: Annotated[int, typer.Option(help="Sample rate, Hz (104, 208, 416 or 833 with "
                                     "--out; 100–1600 otherwise).")] = 833,
    mount: Annotated[str, typer.Option(help="Foot mount: laces, heel or lateral.")] = "laces",
    out: Annotated[Path | None, typer.Option(help="Session recording (.mcap) of the simulated "
                                             "devices streaming the run over serial links; "
                                             "stridecore replay / export read it.")] = None,
    truth: Annotated[Path | None, typer.Option(help="Per-step truth CSV (schema 'truth').")
                     ] = None,
    npz: Annotated[Path | None, typer.Option(help="Sample arrays of every sensor (.npz).")
                   ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Only a JSON summary on stdout.")
                       ] = False,
) -> None:
    """Simulate a labelled trail run: a runner on a route with descents, a climb, a walk
    break, rocky and soft ground and form faults; writes the device streams, the per-step
    truth and the sample arrays. Deterministic for a seed."""
    import numpy as np

    from stridecore.simulate import __version__
    from stridecore.simulate.profiles import PROFILES
    from stridecore.simulate.session import simulate as run_sim
    from stridecore.tables import write_csv

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    if mount not in ("laces", "heel", "lateral"):
        raise UserError(f"unknown mount {mount!r}; known: laces, heel, lateral")
    places = _placements(sensors)
    if not 100 <= odr <= 1600:
        raise UserError("--odr must be within 100–1600 Hz")
    from stridecore.transport.sim_device import SUPPORTED_ODR_HZ

    device_odrs = tuple(r for r in SUPPORTED_ODR_HZ if r <= 1600)
    if out is not None and odr not in device_odrs:
        raise UserError(f"--out streams a device: --odr must be one of {device_odrs}")
    sess = run_sim(duration, seed, profile, places, fs_hz=float(odr), mount=mount)
    rec = sess.recording
    info: dict = {"simulator": __version__, "profile": profile, "seed": seed,
                  "duration_s": duration, "split": rec.split, "steps": rec.meta["steps"],
                  "terrains": rec.meta["terrains"], "faults": rec.meta["faults"],
                  "sensors": {p.value: len(s.samples) for p, s in rec.sensors.items()},
                  "files": []}
    from stridecore.schema import TRUTH

    try:
        if truth is not None:
            write_csv(truth, rec.truth, TRUTH)
            info["files"].append(str(truth))
        if npz is not None:
            arrays = {}
            for p, s in rec.sensors.items():
                for k in ("sample_idx", "t_device_us", "acc_mps2", "gyr_radps", "flags"):
                    arrays[f"{p.value}.{k}"] = getattr(s.samples, k)
            np.savez_compressed(npz, **arrays)
            info["files"].append(str(npz))
        if out is not None:
            if out.exists():
                raise UserError(f"{out} exists; choose another --out")
            from stridecore.record import record_simulated

            run = record_simulated(sess, out, meta={
                "simulator": __version__, "profile": profile, "seed": str(seed),
                "mount": mount, "split": rec.split})
            if run.errors:
                raise Failure(run.errors[0])
            info["files"].append(str(out))
    except OSError as e:
        raise UserError(f"cannot write: {e.strerror}: {e.filename}") from e
    if as_json:
        print(json.dumps(info))
        return
    typer.echo(f"simulated {duration:g} s of '{profile}' (seed {seed}, {rec.split} split, "
               f"simulator {__version__}): {info['steps']} steps on "
               f"{', '.join(info['terrains'])}; faults: {', '.join(info['faults']) or 'none'}")
    for p, n in info["sensors"].items():
        typer.echo(f"  {p}: {n} samples at {odr} Hz")
    for f in info["files"]:
        typer.echo(f"  wrote {f}")


def _session_lines(key: str, st, link=None) -> list[str]:
    """A few lines about one device of a session (live or replayed)."""
    h = st.health
    smp = h.samples
    info = st.info
    who = f"{key}" + (f" (uid {info.uid.decode(errors='replace')})" if info else "")
    lines = [f"{who}: {smp} samples, {h.backlog_samples} backfilled, {len(st.gaps)} gaps "
             f"reported, problems: " + (", ".join(f"{k} {v}" for k, v in
                                                  st.decoder.problems.items() if v) or "none")]
    if link is not None and link.disconnects:
        lag = [r["t_resumed_s"] for r in link.resumed]
        lines.append(f"  link: {len(link.disconnects)} disconnects, {len(lag)} resumed")
    c = st.clock
    if c.ready:
        lines.append(f"  clock: drift {c.drift_ppm:+.1f} ppm, ±{c.uncertainty_ms:.2f} ms")
    g = st.steps.as_dict()
    if g["steps"]:
        land = ", ".join(f"{k} {v}" for k, v in g["landing"].items())
        lines.append(f"  steps: {g['steps']} ({land}); cadence {g['cadence_spm']} spm, contact "
                     f"{g['contact_ms']} ms, strike {g['strike_angle_deg']}°, grade "
                     f"{g['grade_deg']}°, peak {g['peak_acc_g']} g (medians of the last steps)")
    return lines


def _session_json(key: str, st, link=None) -> dict:
    d = st.health.as_dict(st.decoder)
    d["gaps_reported"] = len(st.gaps)
    d["gait"] = st.steps.as_dict()
    if st.clock.ready:
        d["clock"] = {"drift_ppm": round(st.clock.drift_ppm, 3),
                      "uncertainty_ms": round(st.clock.uncertainty_ms, 4)}
    if link is not None:
        d["link"] = {"disconnects": len(link.disconnects), "resumed": link.resumed}
    return d


@app.command()
def record(
    urls: Annotated[list[str], typer.Argument(help="Sensor URLs: sim://?..., serial:///dev/"
                                              "ttyACM0?baud=921600, /dev/ttyUSB0, loop://, ...")],
    out: Annotated[Path, typer.Option("--out", help="Session recording to write (.mcap).")],
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many "
                                                   "seconds (default: Ctrl-C).")] = None,
    speed: Annotated[float, typer.Option(min=0.0, help="sim:// only: times real time; 0 = as "
                                         "fast as possible.")] = 1.0,
    odr: Annotated[int | None, typer.Option(help="Configure every sensor to this output data "
                                            "rate, Hz (default: keep the sensor's).")] = None,
    acc_range_g: Annotated[int, typer.Option(help="With --odr: accelerometer range, g.")] = 16,
    gyro_range_dps: Annotated[int, typer.Option(help="With --odr: gyro range, °/s.")] = 2000,
    athlete: Annotated[str, typer.Option(help="Session metadata.")] = "",
    shoe: Annotated[str, typer.Option(help="Session metadata.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Only a JSON summary on stdout.")
                       ] = False,
) -> None:
    """Stream one or more sensors on one loop (connect, configure, time sync, reconnect) and
    record every byte into one MCAP file, flushed at least once a second."""
    import asyncio
    import signal

    from stridecore.clock import run_at_speed
    from stridecore.record import record_session
    from stridecore.transport import TransportError, open_url, scheme_of

    if out.exists():
        raise UserError(f"{out} exists; choose another --out")
    if speed != 1.0 and any(scheme_of(u) != "sim" for u in urls):
        raise UserError("--speed applies to sim:// sensors only")
    if speed == 0 and duration is None:
        raise UserError("--speed 0 needs --duration")
    try:
        for u in urls:
            open_url(u)  # bad URLs fail here, before anything is opened
    except TransportError as e:
        raise UserError(str(e)) from e

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if speed != 0:
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        meta = {k: v for k, v in (("athlete", athlete), ("shoe", shoe)) if v}
        return await record_session(list(urls), out, duration_s=duration, stop=stop, meta=meta,
                                    params=params)

    from stridecore.device import SessionParams

    params = None
    if odr is not None:
        from firmware_protocol.messages import ConfigRequest

        params = SessionParams(config=ConfigRequest(odr, acc_range_g, gyro_range_dps, 18))

    try:
        run = run_at_speed(main(), speed)
    except TransportError as e:
        raise UserError(str(e)) from e
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from e
    if run.errors and run.received_nothing and all(
            isinstance(e, TransportError) for e in run.exceptions):
        out.unlink(missing_ok=True)  # nothing was ever connected: no empty file left behind
        raise UserError(run.errors[0])
    if as_json:
        print(json.dumps({"path": str(out), "errors": run.errors,
                          "devices": {s.key: _session_json(s.key, s.stream, s.link)
                                      for s in run.sessions}}, default=str))
    else:
        for s in run.sessions:
            for line in _session_lines(s.key, s.stream, s.link):
                typer.echo(line)
        typer.echo(f"recorded {out}")
    if run.errors:
        raise Failure(run.errors[0] + f" (what was received is in {out})")


@app.command()
def live(
    urls: Annotated[list[str] | None, typer.Argument(
        help="Sensor URLs (sim://?..., serial:///dev/ttyACM0, ble://NAME); default: the "
             "built-in simulated runner with foot and shin sensors on both legs.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many "
                                                   "seconds (default: Ctrl-C; 90 s for the "
                                                   "built-in run).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Session recording (.mcap); "
                                             "default runs/live-<time>.mcap.")] = None,
    audio: Annotated[str, typer.Option(help="default (the sound device; a WAV file next to "
                                       "the recording when there is none), null, console or "
                                       "wav:PATH.")] = "default",
    latency_ms: Annotated[float, typer.Option(min=0.0, max=2000.0, help="Output latency of "
                                              "the earphones (Bluetooth adds 150-250 ms).")
                          ] = 0.0,
    speed: Annotated[float, typer.Option(min=0.0, help="sim:// only: times real time; 0 = as "
                                         "fast as possible (audio then goes to a WAV file).")
                     ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Only a JSON summary on stdout.")
                       ] = False,
) -> None:
    """Coach live: sensors -> pipelines -> cue engine -> spoken cues, with a compact live view
    (cadence, landing mix, knee measure, grade, last cue); records the session (wire units,
    steps and the cue log) into one MCAP file."""
    import asyncio
    import signal
    import time as _time

    import numpy as np

    from stridecore.audio import AudioDeviceError, CuePlayer, open_sink
    from stridecore.live import (
        DEFAULT_LIVE_S,
        DEFAULT_URLS,
        cue_log_csv,
        latencies_ms,
        live_session,
    )
    from stridecore.transport import TransportError, open_url, scheme_of

    url_list = list(urls or DEFAULT_URLS)
    if not urls and duration is None:
        duration = DEFAULT_LIVE_S
    if speed != 1.0 and any(scheme_of(u) != "sim" for u in url_list):
        raise UserError("--speed applies to sim:// sensors only")
    if speed == 0 and duration is None:
        raise UserError("--speed 0 needs --duration")
    if out is None:
        out = Path("runs") / _time.strftime("live-%Y%m%d-%H%M%S.mcap")
        out.parent.mkdir(exist_ok=True)
    if out.exists():
        raise UserError(f"{out} exists; choose another --out")
    try:
        for u in url_list:
            open_url(u)
    except TransportError as e:
        raise UserError(str(e)) from e
    wav = out.with_suffix(".cues.wav")
    spec = audio if speed == 1.0 or audio.startswith(("wav:", "console", "null")) \
        else f"wav:{wav}"
    note = ""
    try:
        sink = open_sink(spec)
    except AudioDeviceError as e:
        if audio != "default":
            raise UserError(str(e)) from e
        sink, spec = open_sink(f"wav:{wav}"), f"wav:{wav}"
        note = f"no audio output device here: the cues go to {wav}"
    except ValueError as e:
        raise UserError(str(e)) from e
    player = CuePlayer(sink, output_latency_ms=latency_ms)

    from rich.console import Console
    from rich.live import Live

    from stridecore.report.live_coach_view import live_table

    console = Console(stderr=as_json)
    if note and not as_json:
        console.print(note)
    if speed == 1.0:  # real time: no kernel may compile or load while the sensors stream
        from stridecore.warmup import try_warm_kernels

        if not as_json:
            console.print("loading the real-time kernels (a first run compiles them: ~1 min)")
        warm_s, why = try_warm_kernels()
        if why:
            console.print(why)
        elif not as_json:
            console.print(f"kernels ready in {warm_s:.1f} s")
    shown = {"kit": False}

    def on_tick(lc, t: float) -> None:
        if lc.kit is not None and not shown["kit"]:
            shown["kit"] = True
            if not as_json:
                view.console.print(lc.kit.matrix(lc.config))
        if not as_json:
            view.update(live_table(lc, t), refresh=True)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if speed != 0:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGINT, stop.set)
                loop.add_signal_handler(signal.SIGTERM, stop.set)
        return await live_session(url_list, duration_s=duration, out=out, player=player,
                                  stop=stop, on_tick=on_tick)

    import contextlib

    from stridecore.clock import _run, run_at_speed

    view = Live(console=console, auto_refresh=False, transient=False) if not as_json else None
    try:
        with view if view is not None else contextlib.nullcontext():
            run, lc = (_run(asyncio.new_event_loop(), main()) if speed == 1.0
                       else run_at_speed(main(), speed))
            if view is not None and lc.run is not None:
                view.update(live_table(lc, lc.coach.input_t_s if lc.coach else 0.0,
                                       final=True), refresh=True)
    except TransportError as e:
        raise UserError(str(e)) from e
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from e
    finally:
        player.close(drain=True, timeout_s=5.0)
    lat = latencies_ms(lc) if speed == 1.0 and not spec.startswith(("wav:", "console")) else []
    log = lc.coach.log_table() if lc.coach is not None else {}
    spoken = [d for d in (lc.coach.decisions if lc.coach else []) if d.spoken]
    if log:
        cue_csv = out.with_suffix(".cues.csv")
        cue_csv.write_bytes(cue_log_csv(log))
    summary = {
        "path": str(out), "audio": spec, "errors": run.errors,
        "cues_spoken": len(spoken), "decisions": len(lc.coach.decisions) if lc.coach else 0,
        "cues": [{"t_s": round(d.t_host_s, 3), "cue": d.cue.value, "fault": d.fault}
                 for d in spoken],
        "latency_ms": {"n": len(lat), "p50": round(float(np.median(lat)), 1) if lat else None,
                       "p95": round(float(np.percentile(lat, 95)), 1) if lat else None},
        "steps": {s.key: len(s.stream.steps_table().get("t_ic_s", ())) for s in run.sessions},
        "symmetry": lc.symmetry.as_dict(),
    }
    if as_json:
        print(json.dumps(summary))
    else:
        for d in spoken:
            typer.echo(f"  {d.t_host_s:7.1f} s  {d.text!r:34} ({d.fault})")
        sym = [r for r in lc.symmetry.table() if r.n_left and r.n_right]
        if sym:
            typer.echo("left / right (median of the last 20 steps each, symmetry index):")
            for r in sym:
                typer.echo(f"  {r.segment:5} {r.metric:28} {r.left:8.2f} {r.right:8.2f}"
                           f" {r.si_pct:+6.1f} %")
        typer.echo(f"{len(spoken)} cue(s) spoken; recorded {out} (cue log "
                   f"{out.with_suffix('.cues.csv')}); audio: {spec}")
        if lat:
            typer.echo(f"cue latency (data received -> audio): p50 "
                       f"{summary['latency_ms']['p50']} ms, p95 {summary['latency_ms']['p95']}"
                       f" ms over {len(lat)}")
    if run.errors:
        raise Failure(run.errors[0] + f" (what was received is in {out})")


@app.command()
def replay(
    recording: Annotated[Path, typer.Argument(help="Session recording (.mcap).")],
    speed: Annotated[float, typer.Option(min=0.0, help="Times real time; 0 = as fast as "
                                         "possible.")] = 0.0,
    steps: Annotated[int, typer.Option(min=0, help="Print this many last steps per device "
                                       "(0: none).")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Only a JSON summary on stdout.")
                       ] = False,
    jobs: Annotated[int, typer.Option(min=0, help="Processes replaying devices side by side "
                                      "when --speed is 0 (0: one per device, up to the "
                                      "cores).")] = 0,
    cues: Annotated[Path | None, typer.Option("--cues", help="Run the cue engine too and "
                                              "write its cue log (CSV).")] = None,
    audio: Annotated[Path | None, typer.Option("--audio", help="Run the cue engine too and "
                                               "render the spoken cues into this WAV at their "
                                               "times.")] = None,
) -> None:
    """Feed a recording's bytes, in order, through the same decoder, clock maps and pipeline
    as live, and print the per-device summary and its last steps; with --cues / --audio also
    through the cue engine (the same log as live)."""
    from stridecore.recording import RecordingError
    from stridecore.replay import replay as run_replay

    if cues is not None or audio is not None:
        _replay_cues(recording, cues, audio, as_json)
        return

    if jobs == 0:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    try:
        res = run_replay(recording, speed=speed, jobs=jobs)
    except RecordingError as e:
        raise UserError(str(e)) from e
    if as_json:
        print(json.dumps({"path": str(recording), "note": res.reader.note,
                          "duration_s": round(res.duration_s, 3), "units": res.units,
                          "wall_s": round(res.wall_s, 3),
                          "devices": {k: _session_json(k, st) for k, st in res.streams.items()}},
                         default=str))
    else:
        _print_replay(recording, res, steps)
    if res.reader.truncated:  # everything there was replayed; the file itself is damaged
        raise UserError(res.reader.note)


def _replay_cues(recording: Path, cues: Path | None, audio: Path | None, as_json: bool) -> None:
    from stridecore.audio import render_timeline
    from stridecore.live import coach_recording, cue_log_csv, recorded_cue_log
    from stridecore.recording import RecordingError

    try:
        coach, res = coach_recording(recording)
    except RecordingError as e:
        raise UserError(str(e)) from e
    log = coach.log_table()
    data = cue_log_csv(log)
    live_log = recorded_cue_log(res.reader)
    same = None
    if len(live_log["t_host_s"]):
        same = cue_log_csv(live_log) == data
    try:
        if cues is not None:
            cues.write_bytes(data)
        placed = []
        if audio is not None:
            spoken = [(float(t), c) for t, c, s in
                      zip(log["t_host_s"], log["cue"], log["spoken"], strict=True) if s]
            end = max(res.duration_s, spoken[-1][0] + 3.0 if spoken else 0.0)
            placed = render_timeline(spoken, audio, start_s=0.0, end_s=end)
    except OSError as e:
        raise UserError(f"cannot write: {e.strerror or e}") from e
    n_spoken = int(sum(bool(x) for x in log["spoken"]))
    if as_json:
        print(json.dumps({"path": str(recording), "decisions": len(log["t_host_s"]),
                          "spoken": n_spoken, "equals_live_log": same,
                          "cues": str(cues) if cues else None,
                          "audio": str(audio) if audio else None, "placed": len(placed)}))
    else:
        for t, c, f, s in zip(log["t_host_s"], log["text"], log["fault"], log["spoken"],
                              strict=True):
            if s:
                typer.echo(f"  {t:7.1f} s  {c!r:34} ({f})")
        typer.echo(f"{n_spoken} cue(s) spoken, {len(log['t_host_s'])} decision(s)"
                   + ("" if same is None else
                      f"; equal to the live session's log: {'yes' if same else 'NO'}"))
        if cues is not None:
            typer.echo(f"cue log: {cues}")
        if audio is not None:
            typer.echo(f"audio: {audio} ({len(placed)} cue(s))")
    if res.reader.truncated:
        raise UserError(res.reader.note)


def _print_replay(recording: Path, res, steps: int) -> None:
    typer.echo(f"{recording}: {res.duration_s:.1f} s, {len(res.streams)} device(s), "
               f"{res.units} units, replayed in {res.wall_s:.2f} s")
    for key, st in res.streams.items():
        for line in _session_lines(key, st):
            typer.echo(line)
        table = st.steps_table()
        n = len(table.get("t_ic_s", ()))
        if steps and n:
            typer.echo(f"  {'t_ic_s':>9} {'landing':>8} {'strike°':>8} {'contact ms':>10} "
                       f"{'grade°':>7} {'cadence':>7} {'peak g':>6}")
            for i in range(max(0, n - steps), n):
                typer.echo(f"  {table['t_ic_s'][i]:9.3f} {table['landing'][i] or '-':>8} "
                           f"{table['strike_angle_deg'][i]:8.1f} {table['contact_ms'][i]:10.0f} "
                           f"{table['grade_deg'][i]:7.1f} {table['cadence_spm'][i]:7.0f} "
                           f"{table['peak_acc_g'][i]:6.1f}")


@app.command()
def devices(
    scan_timeout: Annotated[float, typer.Option(min=0.1, max=120.0, help="Bluetooth scan, s."
                                                )] = 5.0,
    port: Annotated[list[str] | None, typer.Option(
        "--port", help="Serial port to probe (repeatable; default: every port the OS lists)."
    )] = None,
    no_ble: Annotated[bool, typer.Option("--no-ble", help="Do not scan Bluetooth.")] = False,
    no_serial: Annotated[bool, typer.Option("--no-serial", help="Do not probe serial ports.")
                         ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Only JSON on stdout.")] = False,
) -> None:
    """List sensors: BLE sensors advertising the stridecore service (name, address, RSSI, and
    placement from GET_INFO) and serial ports with a sensor answering on them."""
    import asyncio

    from stridecore.discover import find_sensors

    found, notes = asyncio.run(find_sensors(ble=not no_ble, serial=not no_serial,
                                            serial_ports=port, scan_timeout_s=scan_timeout))
    if as_json:
        print(json.dumps({"sensors": [f.as_dict() for f in found], "notes": notes}))
    else:
        for f in found:
            where = f"{f.address}" + (f"  {f.rssi_dbm} dBm" if f.rssi_dbm is not None else "")
            what = (f"{f.placement}, uid {f.uid}, firmware {f.firmware}" if f.uid
                    else f"no GET_INFO: {f.note}")
            typer.echo(f"{f.url:<28} {where:<30} {what}")
        for n in notes:
            typer.echo(n, err=True)
    if not found:
        raise Failure("no sensors found" + (f" ({'; '.join(notes)})" if notes else ""))


@app.command()
def export(
    recording: Annotated[Path, typer.Argument(help="Session recording (.mcap).")],
    samples: Annotated[Path, typer.Option("--samples", help="Samples table to write: .csv or "
                                          ".parquet (SI units, device and host times).")],
    as_json: Annotated[bool, typer.Option("--json", help="Only JSON on stdout.")] = False,
) -> None:
    """Export every sample of a recording (replayed through the live decoder and clock maps)
    as CSV or Parquet; backfilled samples are labelled."""
    from stridecore.export import ExportError, export_samples
    from stridecore.recording import RecordingError

    try:
        info = export_samples(recording, samples)
    except (RecordingError, ExportError) as e:
        raise UserError(str(e)) from e
    if as_json:
        print(json.dumps(info))
    else:
        typer.echo(f"wrote {info['rows']} samples ({info['backfilled']} backfilled) to "
                   f"{info['path']}")
    if info["note"]:  # a cut recording: what it holds was exported, the file is damaged
        raise UserError(info["note"])


@app.command()
def score(
    steps: Annotated[Path, typer.Argument(help="Steps CSV (schema table 'steps').")],
    truth: Annotated[Path, typer.Argument(help="Truth CSV (schema table 'truth').")],
    tol_ms: Annotated[float, typer.Option("--tol-ms", min=0.0,
                                          help="Matching tolerance for initial contacts, ms.")
                      ] = 50.0,
    as_json: Annotated[bool, typer.Option("--json", help="Only JSON on stdout.")] = False,
) -> None:
    """Score any steps table against any truth table: one-to-one IC matching, precision,
    recall, F1, timing bias and limits of agreement, contact time, strike angle, landing
    confusion, knee and grade errors, by dataset, sensor, split and condition."""
    from stridecore.bench.report import render
    from stridecore.bench.score import score as run_score
    from stridecore.schema import STEPS, TRUTH
    from stridecore.tables import TableError, read_csv

    try:
        s = read_csv(steps, STEPS)
        t = read_csv(truth, TRUTH)
        result = run_score(s, t, tol_ms=tol_ms)
    except TableError as e:
        raise UserError(str(e)) from e
    if as_json:
        print(json.dumps(result.as_dict()))
    else:
        typer.echo(render(result))


@app.command()
def detect(
    data: Annotated[Path, typer.Argument(help="IMU CSV: acc_x..z, gyr_x..z [, t_s].")],
    out: Annotated[Path, typer.Option("--out", help="Steps CSV to write.")] = Path("steps.csv"),
    placement: Annotated[str, typer.Option("--placement", help="foot, shin or pelvis.")
                         ] = "foot",
    side: Annotated[str, typer.Option("--side", help="left or right (not for a pelvis).")
                    ] = "right",
    rate: Annotated[float | None, typer.Option("--rate", help="Sample rate, Hz "
                                               "(else from t_s).")] = None,
    acc_unit: Annotated[str, typer.Option("--acc-unit", help="ms2 or g.")] = "ms2",
    gyr_unit: Annotated[str, typer.Option("--gyr-unit", help="dps or rads.")] = "dps",
    as_json: Annotated[bool, typer.Option("--json", help="Only a JSON summary on stdout.")
                       ] = False,
) -> None:
    """Detect every contact in any foot, shin or pelvis sensor's data and write one row per
    contact (t_ic_s, t_to_s, contact_ms, landing, strike_angle_deg, grade_deg, peak_acc_g,
    ...; shin: peak_tibial_acc_g, shank angle; pelvis: a row per step of either leg with its
    side, pelvic drop, sway, push-off; gyro columns optional for shin and pelvis, without them
    the gyro metrics are empty). Times are in the input's time base (t = 0 at the first row
    without t_s)."""
    import numpy as np

    from stridecore.imu_csv import ImuCsvError, read_imu_csv
    from stridecore.pelvis_pipeline import PelvisPipeline
    from stridecore.pipeline import Output, Pipeline
    from stridecore.schema import STEPS, Placement
    from stridecore.shin_pipeline import ShinPipeline
    from stridecore.tables import write_csv

    if placement not in ("foot", "shin", "pelvis"):
        raise UserError(f"--placement must be foot, shin or pelvis, not {placement!r}")
    if side not in ("left", "right"):
        raise UserError(f"--side must be left or right, not {side!r}")
    if acc_unit not in ("ms2", "g"):
        raise UserError(f"--acc-unit must be ms2 or g, not {acc_unit!r}")
    if gyr_unit not in ("dps", "rads"):
        raise UserError(f"--gyr-unit must be dps or rads, not {gyr_unit!r}")
    try:
        imu = read_imu_csv(data, rate_hz=rate, acc_unit=acc_unit, gyr_unit=gyr_unit,
                           require_gyro=placement == "foot")
    except (ImuCsvError, ValueError) as e:
        raise UserError(str(e)) from e
    if imu.note:
        print(f"stridecore: warning: {imu.note}", file=sys.stderr)
    if not 90.0 <= imu.fs_hz <= 1700.0:
        raise UserError(f"{data}: sample rate {imu.fs_hz:g} Hz is unusable for the "
                        f"{placement} pipeline (100–1600 Hz)")
    where = Placement.PELVIS if placement == "pelvis" else Placement(f"{side}_{placement}")
    kind = {"foot": Pipeline, "shin": ShinPipeline, "pelvis": PelvisPipeline}[placement]
    pipe = kind(imu.fs_hz, where, time_offset_s=imu.t0_s)
    # the file's end: the contact in progress too (a step without toe-off)
    res = Output.concat([pipe.run(imu.samples, block=4096), pipe.flush()])
    steps = dict(res.steps)
    steps["recording_id"] = np.full(len(steps["t_ic_s"]), data.name, object)
    try:
        write_csv(out, steps, STEPS)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from e
    n = len(steps["t_ic_s"])
    summary = {"input": str(data), "out": str(out), "fs_hz": imu.fs_hz,
               "samples": len(imu.samples), "contacts": n,
               "landing": {k: int(np.sum(steps["landing"] == k))
                           for k in ("heel", "midfoot", "forefoot")},
               "median_contact_ms": (float(np.nanmedian(steps["contact_ms"]))
                                     if n and np.isfinite(steps["contact_ms"]).any() else None),
               "median_cadence_spm": (float(np.nanmedian(steps["cadence_spm"]))
                                      if n and np.isfinite(steps["cadence_spm"]).any()
                                      else None)}
    if as_json:
        print(json.dumps(summary))
        return
    typer.echo(f"{data}: {len(imu.samples)} samples at {imu.fs_hz:g} Hz, {n} contacts "
               f"-> {out}")
    if n:
        typer.echo("  landing: " + ", ".join(f"{k} {v}" for k, v in summary["landing"].items())
                   + (f"; median contact {summary['median_contact_ms']:.0f} ms"
                      if summary["median_contact_ms"] is not None else ""))


@app.command()
def schema() -> None:
    """Print the data dictionary (docs/schema.md)."""
    from stridecore.schema import render_markdown

    typer.echo(render_markdown())


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and maps errors to one line and an exit code.

    Usage errors are reported by typer itself (exit 2); our own errors are caught here.
    """
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args
    try:
        app(args=args, prog_name="stridecore")  # standalone: ends in SystemExit
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except UserError as e:
        if verbose:
            traceback.print_exc()
        print(f"stridecore: error: {e}", file=sys.stderr)
        return 2
    except Failure as e:
        if verbose:
            traceback.print_exc()
        print(f"stridecore: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except Exception as e:  # the one place that turns any failure into one line
        if verbose:
            traceback.print_exc()
        print(f"stridecore: error: {type(e).__name__}: {e} (run with --verbose for details)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
