"""A simulated session end to end: runner → plan → body → sensors → a labelled :class:`Recording`.

This is what tests, benchmarks, the demo and ``stridecore simulate`` use. Sensor imperfections
(rate error, clock drift and offset, biases, bias drift, scale errors) are drawn per sensor from
the seed, so every seed is a different set of devices as well as a different run.

Split (fixed before any detector is tuned on the simulator, like the real sets' splits):
:data:`SPLIT_RULE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stridecore.bench.recording import Recording
from stridecore.bench.recording import SensorStream as BenchStream
from stridecore.schema import Cue, Fault, Placement
from stridecore.simulate.body import LOOKAHEAD_S, BodyParams
from stridecore.simulate.imu import SensorSpec
from stridecore.simulate.plan import TERRAINS, fault_names
from stridecore.simulate.profiles import make_runner
from stridecore.simulate.render import (
    Renderer,
    SimulatedMotion,
    n_samples,
    render,
    step_truth,
)
from stridecore.simulate.render import SensorStream as RenderedStream
from stridecore.simulate.runner import CueRecord, Runner
from stridecore.tables import Columns

DEV_SEEDS = range(0, 1000)
TUNING_MOUNT = "laces"
SPLIT_RULE = ("seeds 0–999 are dev (tuning allowed); seeds ≥ 1000 are test. Foot detectors are "
              "tuned on the 'laces' mount only and also reported on 'heel', 'lateral' and "
              "rotated mounts they were not tuned on.")
DEFAULT_PLACEMENTS = (Placement.LEFT_FOOT, Placement.RIGHT_FOOT)


def split_of(seed: int) -> str:
    return "dev" if seed in DEV_SEEDS else "test"


@dataclass(frozen=True)
class DeviceErrors:
    """Ranges the per-sensor imperfections are drawn from (uniform, symmetric)."""

    odr_error_ppm: float = 5000.0
    clock_drift_ppm: float = 40.0
    clock_offset_s: float = 100.0  # device clock reading at true time 0: 0 … this
    acc_bias_mps2: float = 0.15
    gyr_bias_radps: float = 0.01
    acc_bias_walk_mps2_rts: float = 0.002
    gyr_bias_walk_radps_rts: float = 0.0002
    scale_error: float = 0.01


def sensor_specs(placements: Sequence[Placement | str], seed: int, *, fs_hz: float = 833.0,
                 mount: str = TUNING_MOUNT, errors: DeviceErrors | None = DeviceErrors(),
                 t0_s: float = 0.0, **spec_kw: object) -> list[SensorSpec]:
    """One :class:`SensorSpec` per placement with imperfections drawn from ``seed``
    (``errors=None``: ideal sensors). ``mount`` applies to foot sensors."""
    out = []
    for i, p in enumerate(placements):
        p = Placement(p)
        kw: dict = {"fs_hz": fs_hz, "t0_s": t0_s,
                    "mount": mount if p.value.endswith("foot") else "default"}
        if errors is not None:
            rng = np.random.default_rng([seed, 7919, i])
            e = errors

            def u(x: float, n: int | None = None, rng=rng) -> object:
                v = rng.uniform(-x, x, n)
                return tuple(float(a) for a in v) if n else float(v)

            kw.update(odr_error_ppm=u(e.odr_error_ppm), clock_drift_ppm=u(e.clock_drift_ppm),
                      clock_offset_s=float(rng.uniform(0, e.clock_offset_s)),
                      acc_bias_mps2=u(e.acc_bias_mps2, 3), gyr_bias_radps=u(e.gyr_bias_radps, 3),
                      acc_bias_walk_mps2_rts=e.acc_bias_walk_mps2_rts,
                      gyr_bias_walk_radps_rts=e.gyr_bias_walk_radps_rts,
                      acc_scale_error=u(e.scale_error, 3), gyr_scale_error=u(e.scale_error, 3))
        kw.update(spec_kw)
        out.append(SensorSpec(p, **kw))
    return out


@dataclass(frozen=True)
class SimulatedSession:
    """A rendered session: the recording (samples + truth), the plan and the runner."""

    recording: Recording
    plan: np.ndarray
    runner: Runner
    specs: tuple[SensorSpec, ...]

    @property
    def truth(self) -> Columns:
        return self.recording.truth


def simulate(duration_s: float = 600.0, seed: int = 0, profile: str = "trail",
             placements: Sequence[Placement | str] = DEFAULT_PLACEMENTS, *,
             specs: Sequence[SensorSpec] | None = None, body: BodyParams | None = None,
             runner: Runner | None = None, **spec_kw: object) -> SimulatedSession:
    """Simulate ``duration_s`` of the named runner profile's default session.

    ``specs`` overrides the sensors (else :func:`sensor_specs` of ``placements`` with
    ``spec_kw``); ``runner`` overrides the runner (e.g. a closed-loop one already cued).
    """
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    runner = runner or make_runner(profile, duration_s, seed)
    plan = runner.plan_until(duration_s + 5.0)
    plan = plan[plan["t_ic_s"] < duration_s]
    specs = tuple(specs) if specs is not None else tuple(sensor_specs(placements, seed,
                                                                      **spec_kw))
    body = body or BodyParams()
    streams = render(plan, specs, duration_s, seed=seed, body=body)
    rid = f"sim/{profile}/seed{seed}"
    split = split_of(seed)
    truth = step_truth(plan, specs, body, recording_id=rid, split=split,
                       condition=f"profile={profile}")
    truth["dataset"] = np.full(len(truth["recording_id"]), "sim", object)
    sensors = {}
    for spec in specs:
        s = streams[spec.placement].to_samples()
        # a recording's time base runs from the recording start (bench.recording): the
        # device clock minus its reading at true time 0 (its drift stays in)
        s.t_device_us = s.t_device_us - float(spec.t_device_us(np.zeros(1))[0])
        sensors[spec.placement] = BenchStream(spec.placement, spec.fs_hz, s,
                                              acc_range_g=spec.acc_range_g,
                                              note=f"simulated, mount={spec.mount}")
    terrains = sorted({TERRAINS[t].value for t in plan["terrain"]})
    faults = sorted({f for m in plan["faults"] for f in fault_names(int(m)).split("+") if f})
    meta = {"profile": profile, "seed": seed, "steps": int(plan.size), "terrains": terrains,
            "faults": faults}
    rec = Recording("sim", rid, split, f"profile={profile}", sensors, truth, meta)
    return SimulatedSession(rec, plan, runner, specs)


def sim_device(session: SimulatedSession, placement: Placement | str, *,
               transport: str = "serial"):
    """The simulated device (:class:`~stridecore.transport.sim_device.SimDevice`) of one
    sensor of ``session``: its body motion, rate, ranges, clock and noise; true time 0 is the
    session's start."""
    from stridecore.transport.sim_device import SUPPORTED_ODR_HZ, SimDevice, SimSensorParams

    placement = Placement(placement)
    spec = next((s for s in session.specs if s.placement is placement), None)
    if spec is None:
        raise ValueError(f"the session has no {placement.value} sensor")
    odr = round(spec.fs_hz)
    if odr not in SUPPORTED_ODR_HZ or spec.t0_s != 0.0:
        raise ValueError(f"a device stream needs fs_hz in {SUPPORTED_ODR_HZ} and t0_s = 0")
    params = SimSensorParams(
        placement=placement.device_code, framing="cobs" if transport == "serial" else "packet",
        odr_hz=odr, acc_range_g=int(spec.acc_range_g), gyro_range_dps=int(spec.gyro_range_dps),
        odr_error_ppm=spec.odr_error_ppm, clock_offset_s=spec.clock_offset_s,
        clock_drift_ppm=spec.clock_drift_ppm, noise_acc_mps2=spec.acc_sigma_mps2,
        noise_gyr_radps=spec.gyr_sigma_radps, seed=int(session.recording.meta["seed"]),
        uid=f"SIM{placement.device_code:05d}".encode())
    return SimDevice(params, motion=SimulatedMotion(session.plan, spec))


def device_stream(session: SimulatedSession, placement: Placement | str, *,
                  transport: str = "serial", tick_s: float = 0.05,
                  duration_s: float | None = None) -> list[tuple[float, bytes]]:
    """What the simulated device of one sensor sends over a whole session (wire units with
    their send times): the body motion of ``session`` through the firmware model, started at
    true time 0 so its sample index is the truth's ``ic_sample_idx``. The device adds its own
    white noise, quantisation and range clipping (biases and scale errors are the array path's
    only)."""
    from firmware_protocol.frame import FrameType
    from stridecore.demo import ScriptedHost

    placement = Placement(placement)
    device = sim_device(session, placement, transport=transport)
    host = ScriptedHost(device)
    end = duration_s if duration_s is not None else session.recording.sensors[
        placement].duration_s
    units: list[tuple[float, bytes]] = []
    host.send(FrameType.GET_INFO, 0.0)
    host.send(FrameType.GET_CONFIG, 0.0)
    host.send(FrameType.START, 0.0)
    t = 0.0
    while t < end:
        t = min(end, t + tick_s)
        units += device.poll(t)
    host.send(FrameType.STOP, t)
    units += device.poll(t + 0.1)
    return units


def live_motion(placement: Placement | str | None, *, profile: str = "trail", seed: int = 0,
                duration_s: float = 600.0, mount: str = TUNING_MOUNT):
    """The simulated device's default motion: one sensor on the default session's runner,
    planned lazily as the device samples (every device built with the same profile and seed
    sees the same runner, so two feet stay in step). After ``duration_s`` the runner stands."""

    p = Placement(placement) if placement is not None else Placement.RIGHT_FOOT
    spec = SensorSpec(p, mount=mount if p.value.endswith("foot") else "default")
    return SimulatedMotion(make_runner(profile, duration_s, seed), spec)


class LiveSession:
    """A closed-loop simulated session rendered as time advances, for coaching tests.

    ``advance(t_s)`` returns each sensor's new samples with true time up to ``t_s`` (the same
    samples :func:`simulate` gives for the same runner, seed and sensors, however the time is
    split); ``cue(cue, t_s)`` reaches the runner, who may correct the fault a few steps later
    (:class:`~stridecore.simulate.runner.CueResponse`); ``truth()`` is the truth of every step
    planned so far whose IC has been rendered.
    """

    def __init__(self, runner: Runner, specs: Sequence[SensorSpec], seed: int = 0,
                 body: BodyParams | None = None, recording_id: str = "sim/live") -> None:
        self.runner = runner
        self.specs = tuple(specs)
        self.seed = seed
        self.body = body or BodyParams()
        self.recording_id = recording_id
        self.t_s = 0.0
        self._next = {s.placement: 0 for s in self.specs}

    def cue(self, cue: Cue | Fault, t_s: float) -> CueRecord:
        return self.runner.cue(cue, t_s)

    def advance(self, t_s: float) -> dict[Placement, RenderedStream]:
        """New samples of every sensor up to true time ``t_s``."""
        if t_s < self.t_s:
            raise ValueError("time only moves forward")
        plan = self.runner.plan_until(t_s + LOOKAHEAD_S)
        lo = max(int(np.searchsorted(plan["t_ic_s"], self.t_s - LOOKAHEAD_S)) - 6, 0)
        rnd = Renderer(plan[lo:], self.body)
        out = {}
        for spec in self.specs:
            k1 = n_samples(spec, t_s)
            out[spec.placement] = rnd.samples(spec, self._next[spec.placement], k1, self.seed)
            self._next[spec.placement] = k1
        self.t_s = t_s
        return out

    def truth(self) -> Columns:
        plan = self.runner.plan
        plan = plan[plan["t_ic_s"] < self.t_s]
        return step_truth(plan, self.specs, self.body, recording_id=self.recording_id,
                          split=split_of(self.seed))
