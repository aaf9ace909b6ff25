"""The ``stridecore`` command.

Conventions: exit 0 ok, 1 failure, 2 bad usage or bad input; every error is one line on stderr
(``--verbose`` adds the traceback); ``--json`` puts only JSON on stdout. Heavy modules are
imported inside the commands so ``stridecore --help`` stays fast.
"""

from __future__ import annotations

import json
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
    """Stream the simulated sensor (with faults) through the decoder; print a live summary."""
    from stridecore.demo import DEFAULT_DEMO_URL, run_demo

    params = _sim_params(url or DEFAULT_DEMO_URL)
    if as_json:
        res = run_demo(params, duration_s=duration, speed=speed)
        out = res.health.as_dict(res.decoder)
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
                live.update(health_table(res.health.as_dict(res.decoder), t), refresh=True)

        res = run_demo(params, duration_s=duration, speed=speed, on_tick=on_tick)
        live.update(health_table(res.health.as_dict(res.decoder), res.sim_time_s,
                                 final=True), refresh=True)


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
