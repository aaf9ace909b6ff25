"""BLE path: throughput and host latency of ``ble://`` (bleak) over bumble's GATT stack.

Run: ``uv run python benchmarks/ble_path.py --markdown`` (``--seconds 10 --count 20000``).

Caveat, printed with the results: bumble's virtual controllers do not model radio timing —
no connection intervals, no air time, no losses — so these numbers are the cost of the host
software (bleak's API, our transport, a Python GATT stack on both ends, in one process and on
one event loop), not what a radio link delivers. A real 2M-PHY link at a 15 ms connection
interval carries some 1,000–1,400 notifications of 244 B per second at best.

(a) saturation, real time: a bare GATT peripheral (``BumbleSensor``) sends ``--count`` frames
    of 236 B (an 18-sample IMU6 frame, what an MTU of 247 carries) as fast as ``notify`` returns,
    to one host, and to two hosts at once; notifications/s and bytes/s at the host, and the
    latency from the sensor's ``notify`` call to the host's receive stamp (the transport's
    notify callback, which only stamps and queues) — under saturation that is queueing time.
(b) two simulated feet at 833 Hz streaming for ``--seconds`` of real time through device
    sessions (handshake, time sync, recording, pipeline on, as ``stridecore record`` does):
    latency from the sensor's ``notify`` call to the receive stamp, and to the end of the
    host's work on the unit (``DeviceStream.on_rx`` done, the session's ``on_received``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import code_version, machine, table

from stridecore.record import record_transports
from stridecore.testing.ble_bumble import BumbleSensor, VirtualRadio
from stridecore.testing.ble_sim import BumbleSimSensor
from stridecore.transport.ble import BleTransport

FRAME_B = 236


def pct(ms: np.ndarray) -> list[str]:
    if not ms.size:
        return ["0", "-", "-", "-"]
    return [f"{ms.size:,}", f"{np.percentile(ms, 50):.3f}", f"{np.percentile(ms, 99):.3f}",
            f"{ms.max():.2f}"]


async def saturate(n_hosts: int, count: int) -> dict:
    loop = asyncio.get_running_loop()
    async with VirtualRadio() as radio:
        scanner, client = radio.bleak_backends()
        sensors = [await BumbleSensor(radio, f"SAT{k}").start() for k in range(n_hosts)]
        hosts = [BleTransport(f"ble://SAT{k}?scan_timeout=5", scanner_backend=scanner,
                              client_backend=client) for k in range(n_hosts)]
        for h, s in zip(hosts, sensors, strict=True):
            await h.open()
            await s.wait_subscribed()
        sent: list[dict[bytes, float]] = [{} for _ in sensors]

        async def send(k: int) -> None:
            s = sensors[k]
            for i in range(count):
                data = i.to_bytes(4, "little") + bytes(FRAME_B - 4)
                sent[k][data[:4]] = loop.time()
                await s.notify(data)

        async def receive(k: int) -> np.ndarray:
            lat = np.empty(count)
            for i in range(count):
                u = await hosts[k].read()
                lat[i] = u.t_host_s - sent[k][u.data[:4]]
            return lat

        t0 = time.perf_counter()
        res = await asyncio.gather(*(send(k) for k in range(n_hosts)),
                                   *(receive(k) for k in range(n_hosts)))
        wall = time.perf_counter() - t0
        for h in hosts:
            await h.close()
        await asyncio.sleep(0.5)  # let the stacks finish the disconnections before closing
        lat = np.concatenate(res[n_hosts:]) * 1e3
    n = n_hosts * count
    return {"wall_s": wall, "notifications": n, "per_s": n / wall, "bytes_per_s": n * FRAME_B
            / wall, "lat_ms": lat}


async def two_feet(seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    async with VirtualRadio() as radio:
        scanner, client = radio.bleak_backends()
        t0 = loop.time()
        urls = [f"sim://?placement={p}&odr=833&motion=still&tick=0.005&seed={k}"
                for k, p in enumerate(("left_foot", "right_foot"))]
        sensors = [await BumbleSimSensor(u, radio, t0_s=t0).start() for u in urls]
        sent: dict[bytes, float] = {}
        for s in sensors:  # log each notification's send time
            orig = s.ble.notify

            async def logged(data: bytes, _orig=orig) -> None:
                sent[bytes(data)] = loop.time()
                await _orig(data)

            s.ble.notify = logged
        stamp, done = [], []

        def on_received(session, got) -> None:
            now = loop.time()
            for key in list(session.transport._last_units):
                t_sent = sent.pop(key[1], None)
                if t_sent is not None:
                    stamp.append(key[0] - t_sent)
                    done.append(now - t_sent)
            session.transport._last_units.clear()

        class Tap(BleTransport):
            async def read(self):
                u = await super().read()
                self._last_units.append((u.t_host_s, u.data))
                return u

        taps = []
        for s in sensors:
            t = Tap(f"ble://{s.name}?scan_timeout=5", scanner_backend=scanner,
                    client_backend=client)
            t._last_units = []
            taps.append(t)
        with tempfile.TemporaryDirectory() as tmp:
            t_start = time.perf_counter()
            run = await record_transports(taps, ["left_foot", "right_foot"],
                                          Path(tmp) / "ble.mcap", duration_s=seconds,
                                          on_received=on_received)
            wall = time.perf_counter() - t_start
        for s in sensors:
            await s.stop()
    samples = sum(len(s.stream.all_samples()[0]) for s in run.sessions)
    return {"wall_s": wall, "errors": run.errors, "samples": samples,
            "stamp_ms": np.array(stamp) * 1e3, "done_ms": np.array(done) * 1e3}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=20000, help="notifications per host in (a)")
    ap.add_argument("--seconds", type=float, default=10.0, help="real seconds of (b)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)
    print("ble_path: the ble:// transport (bleak) over bumble's virtual GATT stack")
    print("machine:")
    for k, v in machine().items():
        print(f"  {k:<7} {v}")
    print(f"  code    {code_version()}")
    print("\nCAVEAT: bumble does not model radio timing (no connection intervals, air time or "
          "losses): these are host-software costs, not radio-link figures")
    rows = []
    for n in (1, 2):
        r = asyncio.run(saturate(n, a.count))
        rows.append([f"{n} sensor{'s' if n > 1 else ''} → {n} host{'s' if n > 1 else ''}",
                     f"{r['notifications']:,}", f"{r['wall_s']:.2f}", f"{r['per_s']:,.0f}",
                     f"{r['bytes_per_s'] / 1e6:.2f}", *pct(r["lat_ms"])[1:]])
    table(f"(a) saturation: {FRAME_B}-B notifications sent as fast as notify() returns; "
          "latency = notify call → host receive stamp (queueing included), ms",
          ["case", "notifications", "wall s", "notifications/s", "MB/s", "p50", "p99", "max"],
          rows, a.markdown)
    r = asyncio.run(two_feet(a.seconds))
    need = 2 * 833 / 18
    table(f"(b) two simulated feet at 833 Hz (~{need:.0f} notifications/s in all) for "
          f"{a.seconds:g} s of real time through device sessions (recording, pipeline on); "
          f"{r['samples']:,} samples; ms",
          ["interval", "n", "p50", "p99", "max"],
          [["notify call → host receive stamp", *pct(r["stamp_ms"])],
           ["notify call → on_rx done (decoded, on the host clock, pipeline)",
            *pct(r["done_ms"])]], a.markdown)
    if r["errors"]:
        print(f"errors: {r['errors']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
