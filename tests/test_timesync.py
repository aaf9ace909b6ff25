"""ClockMap against a synthetic link: two drifting sensors over an hour, serial and BLE."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridecore.timesync import ClockMap, TimeSyncParams

FRAME_PERIOD_S = 0.0156
FRAME_PROCESSING_S = 0.002  # a frame leaves the device ≥ 2 ms after its first sample
BLE_INTERVAL_S = 0.030
BLE_STALL_S = 0.200
JITTER_US = 19.0  # + rounding to whole µs stays within TimeSyncParams.timestamp_jitter_us
SLACK_MS = 1e-3  # float rounding allowance for the honest-bound checks


@dataclass
class Sim:
    """One sensor's inputs to ClockMap plus the truth (host clock = true time)."""

    t_send_s: np.ndarray
    t_dev_rx_us: np.ndarray
    t_dev_tx_us: np.ndarray
    t_recv_s: np.ndarray
    frame_dev_us: np.ndarray
    frame_recv_s: np.ndarray
    frame_true_s: np.ndarray


def probe_schedule_s(duration_s: float, every_s: float = 5.0) -> np.ndarray:
    """A burst of 8 probes within 0.5 s at START, then one every ``every_s``."""
    return np.concatenate([0.05 + 0.0625 * np.arange(8), np.arange(every_s, duration_s, every_s)])


def simulate(
    link: str,
    drift_ppm: float,
    duration_s: float,
    seed: int,
    probe_send_s: np.ndarray | None = None,
    stalls_per_min: float = 1.0,
    dither_s: float = BLE_INTERVAL_S,
) -> Sim:
    """Device clock = offset + (1 + drift)·t + jitter (whole µs); host clock = t.

    serial: each direction 0.5–3 ms uniform, turnaround 20–200 µs. BLE: a 30 ms connection
    interval (random phase); the command waits 0.5 ms + Exp(1 ms) in the host stack, then for
    the next connection event; the reply waits for the next event after it is ready (30 % of
    the time one more, queued behind data) and 0.5 ms + Exp(2 ms) in the host stack; 200 ms
    stalls (no events) at random. Frames: every 15.6 ms, ready 2 ms after their first sample,
    then the same downlink. Probes: one in flight at a time, each send delayed by a random
    0…``dither_s`` (so that commands do not lock onto the connection-event phase).
    """
    rng = np.random.default_rng(seed)
    t_send = probe_schedule_s(duration_s) if probe_send_s is None else probe_send_s
    t_sample = rng.uniform(0, FRAME_PERIOD_S) + np.arange(0, duration_s, FRAME_PERIOD_S)
    offset_us = rng.uniform(1e8, 1e10)

    def dev_us(t: np.ndarray) -> np.ndarray:
        jitter = rng.uniform(-JITTER_US, JITTER_US, t.shape)
        return np.round(offset_us + (1 + drift_ppm * 1e-6) * t * 1e6 + jitter).astype(np.int64)

    if link == "serial":

        def round_trip(t: float) -> tuple[float, float, float]:
            t_rx = t + rng.uniform(0.5e-3, 3e-3)
            t_tx = t_rx + rng.uniform(20e-6, 200e-6)
            return t_rx, t_tx, t_tx + rng.uniform(0.5e-3, 3e-3)

        f_recv = t_sample + FRAME_PROCESSING_S + rng.uniform(0.5e-3, 3e-3, t_sample.size)
    else:
        phase = rng.uniform(0, BLE_INTERVAL_S)
        n_stalls = rng.poisson(stalls_per_min * duration_s / 60.0)
        stalls = np.concatenate([[-np.inf], np.sort(rng.uniform(0, duration_s, n_stalls))])

        def next_event(t: np.ndarray) -> np.ndarray:
            e = phase + BLE_INTERVAL_S * np.ceil((t - phase) / BLE_INTERVAL_S)
            end = stalls[np.searchsorted(stalls, e, side="right") - 1] + BLE_STALL_S
            late = phase + BLE_INTERVAL_S * np.ceil((end - phase) / BLE_INTERVAL_S)
            return np.where(e < end, late, e)

        def host_down(m: int) -> np.ndarray:
            return 0.5e-3 + rng.exponential(2e-3, m)

        def round_trip(t: float) -> tuple[float, float, float]:
            t_rx = float(next_event(np.array(t + 0.5e-3 + rng.exponential(1e-3))))
            t_rx += rng.uniform(0.2e-3, 0.5e-3)
            t_tx = t_rx + rng.uniform(0.1e-3, 1e-3)
            e2 = float(next_event(np.array(t_tx))) + BLE_INTERVAL_S * (rng.uniform() < 0.3)
            return t_rx, t_tx, e2 + float(host_down(1)[0])

        f_recv = next_event(t_sample + FRAME_PROCESSING_S) + host_down(t_sample.size)
    rows: list[tuple[float, ...]] = []
    for t in (t_send + rng.uniform(0, dither_s, t_send.size)).tolist():
        t = max(t, rows[-1][3] + rng.uniform(0, dither_s)) if rows else t
        rows.append((t, *round_trip(t)))
    t_send, t_rx, t_tx, t_recv = np.array(rows).T
    return Sim(t_send, dev_us(t_rx), dev_us(t_tx), t_recv, dev_us(t_sample), f_recv, t_sample)


@dataclass
class Run:
    """Every frame after the initial burst, mapped online (see :func:`run`)."""

    recv_s: np.ndarray
    error_ms: np.ndarray
    bound_ms: np.ndarray
    cm: ClockMap

    def stats(self, after_s: float = 0.0) -> tuple[float, float]:
        a = np.abs(self.error_ms[self.recv_s > after_s])
        return float(a.max()), float(np.percentile(a, 99))

    def summary(self) -> str:
        (mx, p99), (mx60, p99_60) = self.stats(), self.stats(60.0)
        over = int(np.count_nonzero(np.abs(self.error_ms) > self.bound_ms + SLACK_MS))
        return (f"max {mx:.3f} ms, p99 {p99:.3f} ms (after 60 s: max {mx60:.3f}, p99 "
                f"{p99_60:.3f}); frames over the uncertainty bound: {over}")


def events(sim: Sim, use_frames: bool = True) -> Iterator[tuple[float, bool, tuple]]:
    """(host time, is_probe, arguments) of every input in host-time order."""
    args = list(zip(sim.t_send_s.tolist(), sim.t_dev_rx_us.tolist(), sim.t_dev_tx_us.tolist(),
                    sim.t_recv_s.tolist(), strict=True))
    t = sim.t_recv_s
    if use_frames:
        args += zip(sim.frame_dev_us.tolist(), sim.frame_recv_s.tolist(), strict=True)
        t = np.concatenate([t, sim.frame_recv_s])
    n_probes, t_list = sim.t_recv_s.size, t.tolist()
    for i in np.argsort(t, kind="stable").tolist():
        yield t_list[i], i < n_probes, args[i]


def feed(cm: ClockMap, ev: tuple[float, bool, tuple]) -> None:
    if ev[1]:
        cm.add_probe(*ev[2])
    else:
        cm.add_frame(*ev[2])


def run(sim: Sim, use_frames: bool = True, params: TimeSyncParams | None = None,
        batch_s: float = 0.5) -> Run:
    """Feed a ClockMap in host-time order and map each frame online.

    Frames are mapped in blocks of ``batch_s`` of host receive time, with the mapping as it
    stands at the end of their block (a pipeline timestamping a decoder batch), from the end
    of the initial burst (8th reply) on.
    """
    cm = ClockMap(params)
    start_s = float(np.sort(sim.t_recv_s)[7])
    f_order = np.argsort(sim.frame_recv_s, kind="stable")
    f_recv = sim.frame_recv_s[f_order]
    block_end = np.flatnonzero(np.diff(np.floor(f_recv / batch_s))) + 1
    blocks = np.split(f_order, block_end)
    ends = (np.floor(f_recv[np.r_[0, block_end]] / batch_s) + 1) * batch_s
    ev = list(events(sim, use_frames))
    fed_to = np.searchsorted([e[0] for e in ev], ends).tolist()  # inputs before each block end
    errs, bounds, recvs = [], [], []
    k = 0
    for block, n in zip(blocks, fed_to, strict=True):
        for _, is_probe, args in ev[k:n]:
            (cm.add_probe if is_probe else cm.add_frame)(*args)
        k = n
        block = block[sim.frame_recv_s[block] > start_s]
        if block.size:
            dev = sim.frame_dev_us[block]
            errs.append(1e3 * (cm.to_host_s(dev) - sim.frame_true_s[block]))
            bounds.append(cm.uncertainty_ms_at(dev))
            recvs.append(sim.frame_recv_s[block])
    return Run(np.concatenate(recvs), np.concatenate(errs), np.concatenate(bounds), cm)


# ------------------------------------------------------------------ an hour, two sensors


@pytest.fixture(scope="module")
def hour() -> dict[tuple[str, float], Run]:
    """Two sensors 200 ppm apart, each on its own link, one simulated hour, frames used."""
    return {(link, drift): run(simulate(link, drift, 3600.0, seed=1 if drift > 0 else 2))
            for link in ("serial", "ble") for drift in (100.0, -100.0)}


def test_serial_hour_within_1ms(hour: dict[tuple[str, float], Run]) -> None:
    """Met here (max 0.7 ms). Over 10 simulated sensors one exceeded 1 ms (1.46 ms, 10-15 s
    after START, before the drift is known); from 60 s on all stayed within 0.61 ms."""
    for drift in (100.0, -100.0):
        r = hour["serial", drift]
        print(f"\nserial {drift:+.0f} ppm: {r.summary()}")
        assert r.stats()[0] <= 1.0, r.summary()
        assert np.all(np.abs(r.error_ms) <= r.bound_ms + SLACK_MS), r.summary()
        assert abs(r.cm.drift_ppm - drift) < 1.0


def test_ble_hour(hour: dict[tuple[str, float], Run]) -> None:
    """Target p99 ≤ 2 ms per sensor: missed by the -100 ppm sensor of this pair.

    The lower side of the band comes only from the commands' one-way trip, which waits a
    random share of the 30 ms connection interval: until a probe happens to be fast, the band
    is lopsided and the estimate errs by up to half of it. Here the first ~30 commands all
    waited ≥ 7 ms (error ~3-4 ms for two minutes, p99 over the hour 3.6 ms). Over 50 simulated
    sensors 16 % stay above 2 ms for more than 1 % of the hour; see the next test for the cure.
    """
    for drift in (100.0, -100.0):
        r = hour["ble", drift]
        print(f"\nBLE {drift:+.0f} ppm: {r.summary()}")
        assert r.stats()[1] <= 4.0, r.summary()
        assert r.stats(180.0)[0] <= 2.0, r.summary()
        assert np.all(np.abs(r.error_ms) <= r.bound_ms + SLACK_MS), r.summary()
        assert abs(r.cm.drift_ppm - drift) < 1.0


def test_ble_probing_every_second_at_start_meets_2ms_p99() -> None:
    """Probes every 1 s for the first 30 s find a fast command early (fail rate 16 % → 4 %)."""
    schedule = np.concatenate([probe_schedule_s(30.0, 1.0), np.arange(30.0, 600.0, 5.0)])
    for drift, seed in ((100.0, 1), (-100.0, 2)):
        r = run(simulate("ble", drift, 600.0, seed, schedule))
        print(f"\nBLE {drift:+.0f} ppm, dense start, 600 s: {r.summary()}")
        assert r.stats()[1] <= 2.0, r.summary()


def test_ble_frames_remove_the_reply_asymmetry() -> None:
    """Probes alone are biased by half the link asymmetry (~half a connection interval)."""
    sim = simulate("ble", 100.0, 600.0, seed=3)
    with_frames, probes_only = run(sim), run(sim, use_frames=False)
    print(f"\nBLE 600 s with frames: {with_frames.summary()}"
          f"\nBLE 600 s probes only: {probes_only.summary()}")
    assert probes_only.stats(60.0)[1] > 5.0 > 2.0 > with_frames.stats(60.0)[1]
    assert np.all(np.abs(probes_only.error_ms) <= probes_only.bound_ms + SLACK_MS)


def test_history_is_capped_by_fit_span() -> None:
    r = run(simulate("ble", 50.0, 1200.0, seed=4), params=TimeSyncParams(fit_span_s=300.0))
    snap = r.cm.snapshot()
    assert len(snap["probes"]) <= 300 / 5 + 1
    assert len(snap["frames"]) < 300
    assert r.stats(60.0)[1] <= 2.0, r.summary()


# ------------------------------------------------------------------ contract


def ble_events(seconds: float = 90.0, seed: int = 5) -> list[tuple[float, bool, tuple]]:
    return list(events(simulate("ble", 150.0, seconds, seed=seed)))


def outputs(cm: ClockMap) -> tuple:
    """Everything a caller sees, on a grid of device times around the newest one."""
    t_us = cm.snapshot()["ref_dev_us"] + np.linspace(-10e6, 100e6, 7)
    return (cm.ready, cm.drift_ppm, cm.offset_s, cm.uncertainty_ms,
            cm.to_host_s(t_us).tolist(), cm.uncertainty_ms_at(t_us).tolist())


def test_causal_and_deterministic() -> None:
    ev = ble_events()
    checkpoints = {9, 40, 700, 2500, len(ev) - 1}
    seen = {}
    cm = ClockMap()
    for k, e in enumerate(ev):
        feed(cm, e)
        if k in checkpoints:
            seen[k] = outputs(cm)
    for k in sorted(checkpoints):  # a fresh map fed only the first k inputs says the same
        fresh = ClockMap()
        for e in ev[: k + 1]:
            feed(fresh, e)
        assert outputs(fresh) == seen[k]
    assert fresh.snapshot() == cm.snapshot()


def test_snapshot_restore_round_trip() -> None:
    ev = ble_events()
    params = TimeSyncParams(fit_span_s=20.0)  # old probes expire: restore rebuilds their hulls
    a = ClockMap(params)
    for e in ev[:4000]:
        feed(a, e)
    b = ClockMap(params)
    b.restore(json.loads(json.dumps(a.snapshot())))  # plain numbers: survives JSON
    assert outputs(b) == outputs(a)
    for e in ev[4000:]:
        feed(a, e)
        feed(b, e)
        t_dev_us = e[2][1] if e[1] else e[2][0]
        assert b.to_host_s(t_dev_us) == a.to_host_s(t_dev_us)
    assert outputs(b) == outputs(a) and b.snapshot() == a.snapshot()
    with pytest.raises(ValueError, match="other TimeSyncParams"):
        ClockMap(TimeSyncParams(fit_span_s=60.0)).restore(a.snapshot())


def test_not_ready_without_probes() -> None:
    cm = ClockMap()
    cm.add_frame(1_000_000, 5.0)  # frames alone give no lower bound: ignored
    assert not cm.ready
    assert math.isnan(cm.to_host_s(1_000_000)) and math.isnan(cm.drift_ppm)
    assert np.isnan(cm.to_host_s(np.array([1, 2]))).all()
    assert cm.uncertainty_ms == math.inf
    assert not ClockMap(TimeSyncParams(min_probes=3)).ready


def test_one_probe_gives_ntp_offset_and_slope_1() -> None:
    cm = ClockMap()
    cm.add_probe(10.0, 5_000_000, 5_000_200, 10.004)
    assert cm.ready and cm.drift_ppm == 0.0
    # host midpoint 10.002 s ↔ device midpoint 5.0001 s
    assert cm.to_host_s(5_000_100) == pytest.approx(10.002, abs=1e-9)
    assert cm.to_host_s(65_000_100) - cm.to_host_s(5_000_100) == pytest.approx(60.0, abs=1e-9)
    # half the round trip (turnaround removed) + jitter, growing with max_drift_ppm away
    assert cm.uncertainty_ms_at(5_000_100) == pytest.approx(1.9 + 0.02, abs=1e-3)
    assert cm.uncertainty_ms_at(65_000_100) == pytest.approx(1.92 + 60 * 0.5 / 1.0005, abs=1e-3)


def test_vectorised_equals_scalar() -> None:
    cm = ClockMap()
    for e in ble_events(30.0):
        feed(cm, e)
    t_us = cm.snapshot()["ref_dev_us"] + np.arange(0, 40_000_000, 3_900_000)
    assert cm.to_host_s(t_us).tolist() == [cm.to_host_s(int(t)) for t in t_us]
    assert cm.uncertainty_ms_at(t_us).tolist() == [cm.uncertainty_ms_at(int(t)) for t in t_us]


def test_reset_and_reboot() -> None:
    sim = simulate("serial", 80.0, 60.0, seed=6)
    cm = ClockMap()
    for e in events(sim):
        feed(cm, e)
    assert cm.ready
    cm.reset()
    assert not cm.ready and cm.snapshot()["probes"] == []
    for e in events(sim):
        feed(cm, e)
    assert abs(cm.drift_ppm - 80.0) < 30
    # the device reboots: its clock restarts near 0 and its next probe runs backwards
    after = simulate("serial", 80.0, 60.0, seed=7)
    shift_us = int(after.t_dev_rx_us[0]) - 3_000_000
    after.t_dev_rx_us -= shift_us
    after.t_dev_tx_us -= shift_us
    after.frame_dev_us -= shift_us
    after.t_send_s += 100.0
    after.t_recv_s += 100.0
    after.frame_recv_s += 100.0
    after.frame_true_s += 100.0
    for e in events(after):
        feed(cm, e)
    assert cm.reboots_detected == 1 and cm.history_cuts == 0
    err_ms = 1e3 * (cm.to_host_s(after.frame_dev_us[-100:]) - after.frame_true_s[-100:])
    assert np.abs(err_ms).max() < 1.0


def test_drift_beyond_max_is_rejected() -> None:
    """A 2000 ppm clock fits no line within ±500 ppm: old history is dropped, never fitted."""
    cm = ClockMap()
    drifts = []
    for e in events(simulate("serial", 2000.0, 120.0, seed=8)):
        feed(cm, e)
        drifts.append(cm.drift_ppm)
    assert cm.history_cuts > 0
    assert np.nanmax(np.abs(drifts)) <= 500.0 + 1e-6


def test_contradicting_frame_is_rejected_and_bad_probe_raises() -> None:
    cm = ClockMap()
    cm.add_probe(10.0, 5_000_000, 5_000_200, 10.004)
    cm.add_frame(5_010_000, 9.0)  # received before the host even sent the probe
    assert cm.frames_rejected == 1
    with pytest.raises(ValueError, match="inconsistent"):
        cm.add_probe(11.0, 6_000_000, 6_100_000, 11.004)  # turnaround 100 ms, round trip 4 ms
    with pytest.raises(ValueError):
        TimeSyncParams(drift_prior_ppm=0.0)


def test_large_backward_correction_is_slewed() -> None:
    """A slow reply leaves the first estimate ~50 ms late; a fast frame then proves it wrong."""
    slewed, stepped = ClockMap(), ClockMap(TimeSyncParams(max_slew_ppm=1e6))
    for cm in (slewed, stepped):
        cm.add_probe(0.0, 1_000, 1_100, 0.101)  # device clock = host clock + 1 ms
    before = slewed.to_host_s(2_000)
    for cm in (slewed, stepped):
        cm.add_frame(2_000, 0.004)  # sampled at host 1 ms, received 3 ms later
    after, unc_ms = slewed.to_host_s(2_000), slewed.uncertainty_ms_at(2_000)
    surplus_s = slewed.snapshot()["slew_s"]
    assert surplus_s > 0.04
    # it steps back by the new band's half-width, then works off the surplus at 1 %
    assert before - after == pytest.approx(unc_ms * 1e-3 - surplus_s, abs=1e-12)
    assert abs(after - 0.001) * 1e3 <= unc_ms
    t_us = np.arange(2_000, 6_000_000, 1000)
    assert np.all(np.diff(slewed.to_host_s(t_us)) > 0)  # host times keep increasing
    assert np.all(np.abs(slewed.to_host_s(t_us) - (t_us - 1000) * 1e-6)
                  <= slewed.uncertainty_ms_at(t_us) * 1e-3)
    done_us = 2_000 + int(surplus_s / 0.01 * 1e6) + 1
    assert slewed.to_host_s(done_us) == stepped.to_host_s(done_us)
    assert slewed.uncertainty_ms_at(done_us) == stepped.uncertainty_ms_at(done_us)


# ------------------------------------------------------------------ honest uncertainty


@settings(deadline=None, max_examples=50)
@given(
    link=st.sampled_from(["serial", "ble"]),
    drift_ppm=st.floats(-300.0, 300.0),
    every_s=st.floats(0.5, 10.0),
    stalls_per_min=st.floats(0.0, 6.0),
    dither_s=st.floats(0.0, 0.05),
    use_frames=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_uncertainty_is_an_honest_bound(link: str, drift_ppm: float, every_s: float,
                                        stalls_per_min: float, dither_s: float,
                                        use_frames: bool, seed: int) -> None:
    sim = simulate(link, drift_ppm, 40.0, seed, probe_schedule_s(40.0, every_s),
                   stalls_per_min, dither_s)
    r = run(sim, use_frames)
    excess_ms = np.abs(r.error_ms) - r.bound_ms
    assert excess_ms.max() <= SLACK_MS, r.summary()


# ------------------------------------------------------------------ same results as before
# ClockMap.add_probe was made ~10-20× faster (numba hulls and polygon, probes in arrays);
# tests/timesync_reference.py keeps the implementation from before, and these tests drive
# both with the same inputs and compare everything a caller can see.


def link_events(seed: int, duration_s: float = 3600.0, drift_ppm: float = 100.0,
                link: str = "ble", frame_every_s: float | None = FRAME_PERIOD_S,
                slow_probes: float = 0.03, drift_change_ppm: float = 0.0,
                change_at_s: float = math.inf, reboot_at_s: float = math.inf,
                dense_s: float = 30.0) -> list[tuple[float, bool, tuple]]:
    """Inputs in host-time order: probes every 0.5 s for ``dense_s``, then every 2 s ± 25 %.

    Device clock: ``drift_ppm``, plus ``drift_change_ppm`` from ``change_at_s`` on; at
    ``reboot_at_s`` it restarts near 2 s. Links as in :func:`simulate` (BLE: replies wait for
    the next 30 ms connection event, 30 % one more; serial: 0.5-3 ms each way); a share
    ``slow_probes`` of the replies is 50-500 ms late. Frames (every ``frame_every_s``; None:
    none) arrive 2 ms after their first sample plus the downlink delay.
    """
    rng = np.random.default_rng(seed)
    offset_us = rng.uniform(1e8, 1e10)
    phase = rng.uniform(0, BLE_INTERVAL_S)

    def dev_us(t: float) -> int:
        if t >= reboot_at_s:
            x = 2.0 + (t - reboot_at_s) * (1 + drift_ppm * 1e-6)
            return round(x * 1e6 + rng.uniform(-JITTER_US, JITTER_US))
        x = t * (1 + drift_ppm * 1e-6) + max(0.0, t - change_at_s) * drift_change_ppm * 1e-6
        return round(offset_us + x * 1e6 + rng.uniform(-JITTER_US, JITTER_US))

    def event_after(t: float) -> float:
        return phase + BLE_INTERVAL_S * math.ceil((t - phase) / BLE_INTERVAL_S)

    def down(t: float) -> float:  # device → host
        if link == "serial":
            return t + rng.uniform(0.5e-3, 3e-3)
        e = event_after(t) + BLE_INTERVAL_S * (rng.uniform() < 0.3)
        return e + 0.5e-3 + rng.exponential(2e-3)

    def up(t: float) -> float:  # host → device
        if link == "serial":
            return t + rng.uniform(0.5e-3, 3e-3)
        return event_after(t + 0.5e-3 + rng.exponential(1e-3)) + rng.uniform(0.2e-3, 0.5e-3)

    out: list[tuple[float, bool, tuple]] = []
    t = 0.05
    while t < duration_s:
        t_rx = up(t)
        t_tx = t_rx + rng.uniform(20e-6, 1e-3)
        if t_rx < reboot_at_s <= t_tx:  # no probe across the reboot
            t_tx = t_rx
        t_recv = down(t_tx) + (rng.uniform(0.05, 0.5) if rng.uniform() < slow_probes else 0.0)
        out.append((t_recv, True, (t, dev_us(t_rx), dev_us(t_tx), t_recv)))
        gap = 0.5 if t < dense_s else 2.0 * rng.uniform(0.75, 1.25)
        t = max(t + gap, t_recv + 1e-3)  # one probe in flight
    if frame_every_s:
        for t_s in (rng.uniform(0, frame_every_s) + np.arange(0, duration_s, frame_every_s)):
            t_s = float(t_s)
            recv = down(t_s + FRAME_PROCESSING_S)
            out.append((recv, False, (dev_us(t_s), recv)))
    out.sort(key=lambda e: e[0])
    return out


def _diff(a: Any, b: Any, tol: float) -> float:
    """Largest difference between two numbers or equally shaped (nested) lists of them;
    raises if it exceeds ``tol`` or their shapes or NaN/inf patterns differ."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert x.shape == y.shape
    fin = np.isfinite(x)
    assert np.array_equal(fin, np.isfinite(y))
    assert np.array_equal(x[~fin], y[~fin], equal_nan=True)
    diff = float(np.abs(x[fin] - y[fin]).max(initial=0.0))
    assert diff <= tol, (a, b, diff)
    return diff


def seen(cm: Any, t_dev_us: int) -> dict[str, Any]:
    """Every public output, at ``t_dev_us`` and around the newest device time."""
    now_us = cm._ref_dev_us + cm._x_now_s * 1e6
    grid = np.array([t_dev_us, now_us - 600e6, now_us - 10e6, now_us, now_us + 5e6,
                     now_us + 60e6])
    return {"host_s": [*cm.to_host_s(grid).tolist(), cm.to_host_s(t_dev_us), cm.offset_s],
            "unc_ms": [cm.uncertainty_ms, *cm.uncertainty_ms_at(grid).tolist()],
            "drift_ppm": cm.drift_ppm, "ready": cm.ready,
            "counts": [cm.reboots_detected, cm.history_cuts, cm.frames_rejected]}


def snapshot_diff(a: dict, b: dict) -> float:
    """Largest difference between two snapshots (host-time terms, s; slopes ×3600 s)."""
    assert a.keys() == b.keys() and a["params"] == b["params"]
    worst = 0.0
    for k in a.keys() - {"params"}:
        if isinstance(a[k], int):  # device µs, counts
            assert type(b[k]) is int and a[k] == b[k], k
        else:
            scale = 3600.0 if k in ("slope", "polygon_slope") else 1.0
            worst = max(worst, _diff(np.multiply(a[k], scale), np.multiply(b[k], scale),
                                     1e-12))
    return worst


def compare(ev: list[tuple[float, bool, tuple]], params: TimeSyncParams | None = None,
            every_frame: int = 50, restore_at: tuple[int, ...] = ()) -> tuple[dict, Any]:
    """Feed the reference and the current ClockMap; compare after every probe, every
    ``every_frame``-th frame and at the end. At each ``restore_at`` index both continue from
    JSON snapshots (the current one from the reference's: old snapshots still load).

    Returns the largest differences seen and the reference ClockMap."""
    from timesync_reference import ClockMap as ReferenceClockMap

    ref, new = ReferenceClockMap(params), ClockMap(params)
    worst = {"host_s": 0.0, "unc_ms": 0.0, "snapshot": 0.0}
    n_frames = 0
    for k, e in enumerate(ev):
        if k in restore_at:
            snap = json.loads(json.dumps(ref.snapshot()))
            ref, new = ReferenceClockMap(params), ClockMap(params)
            ref.restore(snap)
            new.restore(snap)
        for cm in (ref, new):
            try:
                feed(cm, e)
                err = None
            except ValueError as x:
                err = str(x)
            if cm is ref:
                ref_err = err
        assert err == ref_err
        n_frames += not e[1]
        if e[1] or n_frames % every_frame == 0 or k == len(ev) - 1:
            t_dev_us = e[2][1] if e[1] else e[2][0]
            a, b = seen(ref, t_dev_us), seen(new, t_dev_us)
            worst["host_s"] = max(worst["host_s"], _diff(a["host_s"], b["host_s"], 1e-12))
            worst["unc_ms"] = max(worst["unc_ms"], _diff(a["unc_ms"], b["unc_ms"], 1e-9))
            _diff(a["drift_ppm"], b["drift_ppm"], 1e-6)
            assert (a["ready"], a["counts"]) == (b["ready"], b["counts"])
        if k % 997 == 0 or k == len(ev) - 1:
            worst["snapshot"] = max(worst["snapshot"],
                                    snapshot_diff(ref.snapshot(), new.snapshot()))
    return worst, ref


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    """Compile (or load) the numba kernels before any timed or hypothesis test: probes,
    frames, history cuts and a restore."""
    cm = ClockMap()
    for e in link_events(0, 60.0, frame_every_s=0.1, drift_change_ppm=3000.0, change_at_s=30.0):
        feed(cm, e)
    assert cm.history_cuts
    ClockMap().restore(cm.snapshot())


@pytest.mark.slow
def test_same_as_reference_two_clocks_200ppm_apart_for_an_hour() -> None:
    """BLE (+100 ppm) and serial (-100 ppm), an hour each, frames at 64 Hz."""
    for link, drift, seed in (("ble", 100.0, 11), ("serial", -100.0, 12)):
        worst, ref = compare(link_events(seed, 3600.0, drift, link))
        assert abs(ref.drift_ppm - drift) < 1.0
        print(f"\n{link} {drift:+.0f} ppm, hour: largest differences {worst}")


@pytest.mark.slow
def test_same_as_reference_probes_only_hour() -> None:
    """Replay's case: probes alone (no frames), ~300 probes of history."""
    worst, ref = compare(link_events(13, 3600.0, 150.0, "ble", frame_every_s=None))
    assert len(ref.snapshot()["probes"]) > 250
    print(f"\nprobes only, hour: largest differences {worst}")


def test_same_as_reference_reboot_drift_change_and_restore() -> None:
    """Drift jumps by 700 ppm (history cuts), a reboot (reset), snapshots restored."""
    ev = link_events(14, 1500.0, -200.0, "ble", frame_every_s=0.05, slow_probes=0.1,
                     drift_change_ppm=700.0, change_at_s=500.0, reboot_at_s=1000.0)
    worst, ref = compare(ev, restore_at=(3000, len(ev) // 2, len(ev) - 500))
    print(f"\nreboot, drift change, restores: largest differences {worst}, {ref.history_cuts} "
          f"history cuts, {ref.frames_rejected} frames rejected")
    assert ref.reboots_detected == 1 and ref.history_cuts > 0


def test_same_as_reference_short_span_serial() -> None:
    """A 30 s history (hulls rebuilt often), 3 probes to be ready, serial, drift change."""
    params = TimeSyncParams(fit_span_s=30.0, min_probes=3, timestamp_jitter_us=0.0)
    ev = link_events(15, 900.0, 40.0, "serial", frame_every_s=0.02, drift_change_ppm=-900.0,
                     change_at_s=400.0)
    worst, ref = compare(ev, params, restore_at=(5000,))
    assert ref.history_cuts > 0
    print(f"\nshort span, serial: largest differences {worst}")


@pytest.mark.slow
@settings(deadline=None, max_examples=25)
@given(
    link=st.sampled_from(["serial", "ble"]),
    drift_ppm=st.floats(-450.0, 450.0),
    frame_every_s=st.sampled_from([None, 0.0156, 0.1, 1.0]),
    slow_probes=st.floats(0.0, 0.5),
    drift_change_ppm=st.floats(-1500.0, 1500.0),
    change_at_s=st.floats(0.0, 200.0),
    reboot_at_s=st.sampled_from([math.inf, 50.0, 150.0]),
    fit_span_s=st.sampled_from([5.0, 60.0, 600.0]),
    seed=st.integers(0, 2**31),
)
def test_same_as_reference_random(link: str, drift_ppm: float, frame_every_s: float | None,
                                  slow_probes: float, drift_change_ppm: float,
                                  change_at_s: float, reboot_at_s: float, fit_span_s: float,
                                  seed: int) -> None:
    ev = link_events(seed, 240.0, drift_ppm, link, frame_every_s, slow_probes,
                     drift_change_ppm, change_at_s, reboot_at_s, dense_s=20.0)
    compare(ev, TimeSyncParams(fit_span_s=fit_span_s), every_frame=7,
            restore_at=(len(ev) // 3,))



@settings(deadline=None, max_examples=150)
@given(steps=st.lists(st.tuples(st.integers(-20, 3000), st.integers(0, 300),
                                st.integers(0, 5000), st.integers(0, 3000),
                                st.sampled_from([None, -2000, 0, 500, 4000])),
                      min_size=1, max_size=60),
       fit_span_s=st.sampled_from([0.002, 0.01, 600.0]),
       max_drift_ppm=st.sampled_from([500.0, 5e4]))
def test_same_as_reference_odd_inputs(steps: list, fit_span_s: float,
                                      max_drift_ppm: float) -> None:
    """Device times repeating or running back a little (within the jitter: no reboot), zero
    turnarounds and round trips, frames anywhere: ties, unsorted hulls, expiry out of order,
    history cuts."""
    ev: list[tuple[float, bool, tuple]] = []
    t_s, dev_us = 10.0, 5_000_000
    for d_us, turn_us, rtt_us, gap_us, frame_us in steps:
        rx_us = dev_us + d_us
        t_recv = t_s + (turn_us + rtt_us) * 1e-6
        ev.append((t_recv, True, (t_s, rx_us, rx_us + turn_us, t_recv)))
        if frame_us is not None:
            ev.append((t_recv, False, (rx_us + frame_us, t_recv + gap_us * 1e-6)))
        dev_us, t_s = rx_us + turn_us, t_recv + gap_us * 1e-6
    compare(ev, TimeSyncParams(fit_span_s=fit_span_s, max_drift_ppm=max_drift_ppm),
            every_frame=1, restore_at=(len(ev) // 2,))

# ------------------------------------------------------------------ kernels = reference parts


def _kernel_hull(points: list, previous: list | None, sign: float) -> list:
    from stridecore.timesync import _hull

    cap = len(points) + len(previous or ()) + 2
    px, pc = (np.array([p[i] for p in points], dtype=float) for i in (0, 1))
    hx, hc, wx, wc = (np.empty(cap) for _ in range(4))
    n_prev = len(previous or ())
    if n_prev:
        hx[:n_prev], hc[:n_prev] = zip(*previous, strict=True)
    h = _hull(px, pc, 0, len(points), sign, n_prev, hx, hc, wx, wc)
    return list(zip(hx[:h].tolist(), hc[:h].tolist(), strict=True))


coords = st.one_of(st.integers(-4, 4).map(float),  # ties and collinear points
                   st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))


@settings(deadline=None, max_examples=300)
@given(points=st.lists(st.tuples(coords, coords), min_size=1, max_size=40), cutoff=coords,
       new=st.tuples(coords, coords), upper=st.booleans())
def test_hull_kernel_equals_the_reference(points: list, cutoff: float, new: tuple,
                                          upper: bool) -> None:
    """Fresh, and updated after the points left of ``cutoff`` went and one came (x in any
    order)."""
    import timesync_reference as ref

    hull, sign = (ref._upper_hull, 1.0) if upper else (ref._lower_hull, -1.0)
    previous = hull(points)
    assert _kernel_hull(points, None, sign) == previous
    later = [p for p in points if p[0] >= cutoff] + [new]
    assert _kernel_hull(later, previous, sign) == hull(later, previous)


@settings(deadline=None, max_examples=300)
@given(commands=st.lists(st.tuples(coords, coords), min_size=1, max_size=12),
       replies=st.lists(st.tuples(coords, coords), min_size=1, max_size=12),
       lift=st.floats(0.0, 50.0), max_slope=st.sampled_from([0.5, 5e-4, 1.0, 3.0]))
def test_polygon_kernel_equals_the_reference(commands: list, replies: list, lift: float,
                                             max_slope: float) -> None:
    import timesync_reference as ref

    from stridecore.timesync import _POLY_HI, _POLY_LO, _POLY_V, _ROWS, _polygon

    hl = ref._upper_hull(commands)
    hu = ref._lower_hull([(x, c + lift) for x, c in replies])
    w = np.empty((_ROWS, len(hl) + len(hu) + 4))
    (lx, lc), (ux, uc) = (np.array(h, dtype=float).T.copy() for h in (hl, hu))
    nv = _polygon(lx, lc, len(hl), ux, uc, len(hu), max_slope, w)
    expected = ref._polygon(hl, hu, max_slope)
    if expected is None:
        assert nv == 0
    else:
        assert [w[_POLY_V, :nv].tolist(), w[_POLY_HI, :nv].tolist(),
                w[_POLY_LO, :nv].tolist()] == list(expected)


@settings(deadline=None, max_examples=200)
@given(n=st.integers(1, 3000), lo=st.integers(0, 3), scale=st.floats(-12, 3),
       seed=st.integers(0, 2**32))
def test_pairwise_sum_is_numpys(n: int, lo: int, scale: float, seed: int) -> None:
    """The kernels' sum of |residuals| is numpy's (np.mean's) to the bit."""
    from stridecore.timesync import _pairwise_sum

    a = np.abs(np.random.default_rng(seed).normal(size=n + lo)) * 10.0**scale
    assert 0.0 + _pairwise_sum(a, lo, n) == np.add.reduce(a[lo:])
    assert (0.0 + _pairwise_sum(a, lo, n)) / n == a[lo:].mean()


@settings(deadline=None, max_examples=300)
@given(xp=st.lists(coords, min_size=1, max_size=9), fp=st.lists(coords, min_size=9, max_size=9),
       x=coords)
def test_interp_is_numpys(xp: list, fp: list, x: float) -> None:
    import platform

    from stridecore.timesync import _interp

    xp = sorted(xp)
    fp = fp[: len(xp)]
    got, want = _interp(x, xp, fp), float(np.interp(x, xp, fp))
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert got == want
    else:  # numpy may fuse its multiply-add where the CPU has FMA
        assert abs(got - want) <= 2 * np.spacing(abs(want))


def test_mapping_rows_give_what_to_host_s_gave():
    """Replay converts event times later, with the mapping each had when it was emitted
    (ClockMap.mapping + to_host_s_rows): bit for bit what to_host_s gave then — before the
    first probe (NaN), while a backward correction is slewed, and after."""
    from stridecore.timesync import to_host_s_rows

    rng = np.random.default_rng(7)
    cm = ClockMap()
    maps, want, xs = [], [], []
    t_dev = 1_000_000.0
    for k in range(120):
        x = t_dev + rng.uniform(-5e5, 5e5, size=3)
        maps.append(cm.mapping())
        want.append(np.asarray(cm.to_host_s(x), float) if cm.ready else np.full(3, np.nan))
        xs.append(x)
        # slow replies at first (the estimate sits late), then fast probes pull it back
        host = 50.0 + t_dev * 1e-6 * (1 - 150e-6)
        if k < 40 or k % 2:
            cm.add_probe(host - 0.001, int(t_dev), int(t_dev) + 100, host + 0.059)
        else:
            cm.add_probe(host - 0.0001, int(t_dev), int(t_dev) + 100, host + 0.0002)
        t_dev += 500_000.0
    maps = np.array(maps)
    got = to_host_s_rows(maps, np.array(xs))
    assert np.array_equal(got, np.array(want), equal_nan=True)
    assert np.isnan(got[0]).all() and np.isfinite(got[1:]).all()
    assert (maps[:, 4] != 0).sum() >= 3  # some mappings were slewing
