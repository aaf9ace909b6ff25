"""Load (or, on a first run, compile) every kernel a live session runs, before its clock starts.

numba compiles a kernel at its first call and caches the machine code on disk (``cache=True``,
:mod:`firmware_protocol._jit`). In a real-time session that first call comes with the first
samples: on a cold cache the event loop stalled for 9–37 s (``benchmarks/live_latency.py``,
2026-11-26), on a warm one for up to ~0.2 s while ~50 kernels load, and the sensors' data
queued behind it. :func:`warm_kernels` takes that cost before the session: a short ``live``
session in virtual time over simulated sensors of every kind (foot, shin, thigh, pelvis),
through the same transports, decoder, pipelines, knee join, cue engine and MCAP writer, so
every kernel a real session calls is compiled and loaded into this process (tested: a
session after it compiles nothing). Virtual-time sessions (tests, ``--speed`` ≠ 1) need no
warm-up: a stall there costs no stream time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from stridecore.schema import Placement

WARM_S = 4.0  # virtual seconds of running
# one sensor of each kind (the right side runs the same kernels); shin + thigh on one leg
# make the knee join run
WARM_PLACEMENTS = (Placement.LEFT_FOOT, Placement.LEFT_SHIN, Placement.LEFT_THIGH,
                   Placement.PELVIS)


def warm_urls() -> list[str]:
    """One simulated sensor of each kind (208 Hz)."""
    return [f"sim://?placement={p.value}&odr=208&profile=heel_striker&run_s=60&session_seed=1"
            f"&seed={i}" for i, p in enumerate(WARM_PLACEMENTS)]


def warm_kernels(seconds: float = WARM_S) -> float:
    """Run ``seconds`` of a virtual-time ``live`` session (one sensor of each kind, recorded
    to a temporary MCAP, no audio); return the wall time it took, s. Call before a real-time
    session's loop starts."""
    from stridecore.live import run_live_blocking

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stridecore-warm-") as d:
        run_live_blocking(warm_urls(), duration_s=seconds, speed=0,
                          out=Path(d) / "warm.mcap")
    return time.perf_counter() - t0


def try_warm_kernels(seconds: float = WARM_S) -> tuple[float, str]:
    """:func:`warm_kernels`, or why it could not run (no writable temporary directory): the
    session then starts cold. Returns (wall s or NaN, reason or "")."""
    try:
        return warm_kernels(seconds), ""
    except OSError as e:
        return float("nan"), f"kernel warm-up skipped ({e.strerror or e}): the first samples " \
                             "may stall while the kernels load"
