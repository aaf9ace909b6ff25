"""The shin sensor's real-time pipeline: :class:`~stridecore.dsp.shin.ShinStage` behind the
same interface as the foot :class:`~stridecore.pipeline.Pipeline`.

Live sessions, replay and the benchmarks feed it the same :class:`~firmware_protocol.batch.
Samples` blocks; :meth:`ShinPipeline.process` returns an :class:`~stridecore.pipeline.Output`
whose steps are a :data:`~stridecore.schema.STEPS` table (contact, toe-off, cadence, peak
tibial acceleration, shank angle at contact, loading rotation; NaN where the sensor cannot
measure it) and whose contacts have the foot pipeline's IC columns.
"""

from __future__ import annotations

import numpy as np

from firmware_protocol.batch import Samples
from stridecore.dsp.kernels import shin as sk
from stridecore.dsp.shin import IC_KINDS, ShinParams, ShinStage, shin_steps_table
from stridecore.pipeline import Output
from stridecore.schema import Placement, Side
from stridecore.stage_pipeline import StagePipeline
from stridecore.tables import Columns


class ShinPipeline(StagePipeline):
    """A shin-sensor pipeline for one sensor at ``fs_hz`` (100–1600 Hz, same defaults).

    ``time_offset_s`` is added to device time (``t_device_us`` × 1e-6) in every reported time.
    """

    STAGE = "shin"
    N_S = sk.N_S
    N_E = sk.N_E
    IC_KINDS = IC_KINDS

    def __init__(self, fs_hz: float, placement: Placement | str = Placement.RIGHT_SHIN, *,
                 shin: ShinParams | None = None, time_offset_s: float = 0.0) -> None:
        if not 20.0 <= fs_hz <= 4000.0:
            raise ValueError(f"sample rate {fs_hz:g} Hz is outside 20–4000 Hz")
        self.placement = Placement(placement)
        if "shin" not in self.placement.value:
            raise ValueError(f"the shin pipeline needs a shin sensor, not {self.placement}")
        self.side = Side.LEFT if self.placement.value.startswith("left") else Side.RIGHT
        self.fs_hz = float(fs_hz)
        self.time_offset_s = float(time_offset_s)
        self.stage = self.shin = ShinStage(fs_hz, shin)
        self._ready()

    def _steps(self, s: np.ndarray) -> Columns:
        return shin_steps_table(s, self.placement, self.time_offset_s)


class SamplesOnly:
    """The "pipeline" of a sensor whose data only count joined with another's (a thigh, for
    the knee): it detects nothing; the stream still selects its in-order live samples and
    hands them to its ``on_fed`` hook."""

    def __init__(self, fs_hz: float, placement: Placement | str) -> None:
        self.placement = Placement(placement)
        self.fs_hz = float(fs_hz)
        self.time_offset_s = 0.0
        self._empty = Output(shin_steps_table(np.empty((0, sk.N_S)), self.placement),
                             {c: np.zeros(0) for c in ("ic_sample_idx", "t_ic_s",
                                                       "emit_sample_idx", "t_emit_s")})

    def reset(self) -> None:
        pass

    def process(self, block: Samples) -> Output:
        return self._empty


def pipeline_for(fs_hz: float, placement: Placement | str):
    """The real-time pipeline of a sensor placement: foot, shin or pelvis stages; a thigh
    gets :class:`SamplesOnly` (joined with the shin: the knee)."""
    from stridecore.pelvis_pipeline import PelvisPipeline
    from stridecore.pipeline import Pipeline

    p = Placement(placement)
    if p.value.endswith("foot"):
        return Pipeline(fs_hz, p)
    if p.value.endswith("shin"):
        return ShinPipeline(fs_hz, p)
    if p is Placement.PELVIS:
        return PelvisPipeline(fs_hz, p)
    return SamplesOnly(fs_hz, p)
