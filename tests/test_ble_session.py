"""End to end over Bluetooth LE: device sessions on the ``ble://`` transport (bleak's real API)
talking to simulated sensors served by bumble's GATT stack, in virtual time — two sensors, a
disconnect schedule and dropped notifications; every notification received is recorded,
streaming resumes within 2 s of the sensor advertising again, and replay equals live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_device_session import _assert_replay_equals_live

from stridecore.clock import run_virtual
from stridecore.discover import find_sensors
from stridecore.record import record_transports
from stridecore.recording import open_recording
from stridecore.testing.ble_bumble import VirtualRadio
from stridecore.testing.ble_sim import BumbleSimSensor
from stridecore.transport.ble import BleTransport

CUTS = [(20.0 + 28.0 * k, 0.5 + 0.5 * (k % 3)) for k in range(20)]  # 20 drops in 10 min


class _Tap(BleTransport):
    """The BLE link, keeping every unit handed to the host."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.seen: list[tuple[float, bytes]] = []

    async def read(self):
        u = await super().read()
        self.seen.append((u.t_host_s, u.data))
        return u


def test_two_ble_sensors_ten_minutes_with_faults(tmp_path: Path) -> None:
    cuts = ",".join(f"{a:g}:{d:g}" for a, d in CUTS)
    urls = [f"sim://?placement=left_foot&motion=still&odr=104&tick=0.05&drop=0.02"
            f"&disconnect={cuts}&seed=3",
            "sim://?placement=right_foot&motion=still&odr=104&tick=0.05&drop=0.02&seed=4"]
    out = tmp_path / "ble.mcap"

    async def main():
        loop = asyncio.get_running_loop()
        async with VirtualRadio() as radio:
            scanner, client = radio.bleak_backends()
            t0 = loop.time()
            sensors = [await BumbleSimSensor(u, radio, t0_s=t0).start() for u in urls]
            taps = [_Tap(f"ble://{s.name}?scan_timeout=5", scanner_backend=scanner,
                         client_backend=client) for s in sensors]
            run = await record_transports(taps, ["left_foot", "right_foot"], out,
                                          duration_s=600.0)
            for s in sensors:
                await s.stop()
            return run, sensors, taps

    run, sensors, taps = run_virtual(main())
    assert not run.errors, run.errors
    left, right = run.sessions
    # the schedule's 20 drops were seen and each resumed within 2 s of the sensor advertising
    assert len(left.link.disconnects) == 20 and len(left.link.resumed) == 20
    back = [sensors[0].t0_s + a + d for a, d in CUTS]
    lag = [r["t_resumed_s"] - b for r, b in zip(left.link.resumed, back, strict=True)]
    assert max(lag) < 2.0, lag
    assert all(r["gap_samples"] > 0 for r in left.link.resumed)
    assert not right.link.disconnects
    # every notification the host received is in the recording, in order, with its time
    rec = open_recording(out)
    for key, tap in zip(("left_foot", "right_foot"), taps, strict=True):
        assert [(t, d) for _, _, t, d in rec.units(key, "rx")] == tap.seen
        assert len(tap.seen) > 0.9 * 600 * 104 / 18
    # live samples cover the session but the dropped notifications (reported as gaps)
    for s in run.sessions:
        smp, _ = s.stream.all_samples()
        assert s.stream.decoder.problems["lost_samples"] > 0
        assert len(smp) > 0.9 * 104 * 600
        assert s.stream.clock.ready
    # replay equals live, bit for bit
    _assert_replay_equals_live(run, out)


def test_devices_finds_ble_sensors_with_their_placement() -> None:
    async def main():
        loop = asyncio.get_running_loop()
        async with VirtualRadio() as radio:
            scanner, client = radio.bleak_backends()
            t0 = loop.time()
            a = await BumbleSimSensor("sim://?placement=left_shin&motion=still&uid=SHIN0007",
                                      radio, t0_s=t0).start()
            b = await BumbleSimSensor("sim://?placement=right_foot&motion=still", radio,
                                      t0_s=t0).start()
            found, notes = await find_sensors(serial=False, scan_timeout_s=2.0,
                                              scanner_backend=scanner, client_backend=client)
            await a.stop()
            await b.stop()
            return found, notes, a, b

    found, notes, a, b = run_virtual(main())
    assert notes == []
    got = {f.name: f for f in found}
    assert set(got) == {a.name, b.name}
    assert got[a.name].placement == "left_shin" and got[a.name].uid == "SHIN0007"
    assert got[b.name].placement == "right_foot"
    assert all(f.kind == "ble" and f.rssi_dbm is not None and f.url == f"ble://{f.name}"
               for f in found)


def test_another_sensor_of_the_same_name_after_a_reconnect_is_refused() -> None:
    """The link drops; while it is down another sensor advertises under the same name: the
    session refuses it (uid check) with one line, and keeps what came before."""
    from stridecore.device import DeviceError, DeviceSession

    async def main():
        loop = asyncio.get_running_loop()
        async with VirtualRadio() as radio:
            scanner, client = radio.bleak_backends()
            t0 = loop.time()
            first = await BumbleSimSensor(
                "sim://?placement=left_foot&motion=still&odr=104&uid=FIRST001"
                "&disconnect=3:30", radio, t0_s=t0, name="SCFOOT").start()
            tr = BleTransport("ble://SCFOOT?scan_timeout=2", scanner_backend=scanner,
                              client_backend=client)
            session = DeviceSession(tr, key="left_foot")

            impostor = BumbleSimSensor("sim://?placement=left_foot&motion=still&odr=104"
                                       "&uid=OTHER002", radio, t0_s=t0, name="SCFOOT")

            async def swap():
                await asyncio.sleep(4.0)  # the first one is gone; an impostor takes the name
                await first.stop()
                await impostor.start()

            swapping = loop.create_task(swap())
            with pytest.raises(DeviceError, match="a different sensor answered"):
                await session.run(20.0)
            await swapping
            await impostor.stop()
            return session

    s = run_virtual(main())
    smp, _ = s.stream.all_samples()
    assert len(smp) > 0.8 * 104 * 3  # the first three seconds are kept
