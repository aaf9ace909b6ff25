"""Live cue latency: `stridecore live` over simulated sensors at real-time pace, NULL audio.

Run: ``uv run python benchmarks/live_latency.py --markdown`` (``--seconds 120``).

The session is the one ``stridecore live`` runs by default (foot, shin and thigh sensors on
both legs of a simulated heel-striking trail runner, serial framing, 208 Hz), on a plain asyncio
loop whose clock is ``time.monotonic`` — the clock the audio thread stamps onsets with. Audio
goes to a real miniaudio device on the NULL backend (10 ms periods).

(a) latency per spoken cue: from the receipt of the unit holding the data that completed the
    triggering step (its host stamp, ``t_recv_s``) to the first non-silent sample handed to
    the audio device (the NULL device's callback). To get enough cues in a short run, the
    coaching policy is made chatty here (persistence 2 steps, floor and cooldown 3 s,
    thresholds that every landing crosses) — the path a cue takes is the default one; the
    default policy speaks a few times a minute at most. System cues (sensor events) have no
    triggering step and are not in (a). Onsets are matched to cues by their play() time; a
    cue the player dropped (replaced while another played) has no onset.
(b) sample processing while audio plays vs silent: per device, the gap between consecutive
    received units handled, and how late the coach's 10 ms ticker ran. The simulated sensors
    render their body model on the same loop in 0.25 s blocks, so units come in bursts; what
    matters is that the distribution is the same while audio plays as in silence.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _machine import code_version, machine, table

from stridecore.audio import CuePlayer, open_sink
from stridecore.clock import _run
from stridecore.coaching import CoachConfig
from stridecore.live import DEFAULT_URLS, latencies_ms, live_session
from stridecore.warmup import warm_kernels

CHATTY = dict(persist_steps=2, persist_s=0.0, floor_s=3.0, cooldown_s=3.0, cooldown_growth=1.0,
              strike_max_deg=-60.0, strike_exit_deg=-70.0, strike_flat_max_deg=-60.0,
              strike_flat_exit_deg=-70.0)


def pct(x: list[float] | np.ndarray) -> list[str]:
    a = np.asarray(x, float)
    if not a.size:
        return ["0", "-", "-", "-", "-"]
    return [f"{a.size:,}", f"{np.percentile(a, 50):.1f}", f"{np.percentile(a, 95):.1f}",
            f"{np.percentile(a, 99):.1f}", f"{a.max():.1f}"]


def run(seconds: float, chatty: bool) -> dict:
    cfg = replace(CoachConfig(), **CHATTY) if chatty else CoachConfig()
    player = CuePlayer(open_sink("null"))
    gaps = {"playing": [], "silent": []}
    last: dict[str, float] = {}
    urls = [u.replace("run_s=90", f"run_s={max(60.0, seconds):g}") for u in DEFAULT_URLS]

    def observe(lc) -> None:  # time the handling of every received unit
        def timed(session, got, orig=lc.on_received) -> None:
            orig(session, got)
            now = time.monotonic()
            prev = last.get(session.key)
            last[session.key] = now
            if prev is not None:
                gaps["silent" if player.idle else "playing"].append((now - prev) * 1e3)

        for s in lc.run.sessions:
            s.on_received = timed

    warm_kernels()  # as `stridecore live` does before a real-time session
    out = Path(tempfile.mkdtemp()) / "live.mcap"
    main = live_session(urls, duration_s=seconds, out=out, config=cfg, player=player,
                        on_start=observe)
    wall0 = time.monotonic()
    run_, lc = _run(asyncio.new_event_loop(), main)
    wall = time.monotonic() - wall0
    player.close(drain=True)
    lat = latencies_ms(lc)
    spoken = [d for d in lc.coach.decisions if d.spoken]
    return {"lat": lat, "gaps": gaps, "stalls": lc.stalls_ms, "spoken": len(spoken),
            "wall": wall, "errors": run_.errors, "onsets": len(player.onsets),
            "dropped": len(player.dropped)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    print("live_latency: stridecore live over simulated sensors, real time, NULL audio")
    for k, v in machine().items():
        print(f"  {k:8}{v}")
    print(f"  code    {code_version()}")
    res = run(a.seconds, chatty=True)
    print(f"session: {a.seconds:g} s real time (wall {res['wall']:.1f} s), "
          f"{len(DEFAULT_URLS)} sensors, "
          f"{res['spoken']} cues spoken, {res['onsets']} onsets, {res['dropped']} dropped by "
          f"the player, errors {res['errors']}")
    table("(a) receipt of the triggering data -> first non-silent sample handed to the NULL "
          "device, ms", ["cues", "n", "p50", "p95", "p99", "max"],
          [["spoken form cues (chatty policy)", *pct(res["lat"])]], a.markdown)
    g = res["gaps"]
    table("(b) sample processing: gap between consecutive units handled per device, ms",
          ["audio", "n", "p50", "p95", "p99", "max"],
          [["playing", *pct(g["playing"])], ["silent", *pct(g["silent"])]], a.markdown)
    table("coach ticker lateness (10 ms period), ms", ["", "n", "p50", "p95", "p99", "max"],
          [["all", *pct(res["stalls"])]], a.markdown)
    p95 = float(np.percentile(res["lat"], 95)) if res["lat"] else float("nan")
    print(f"\ntarget: p95 <= 100 ms: {p95:.1f} ms {'PASS' if p95 <= 100 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
