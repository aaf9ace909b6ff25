"""The pelvis sensor's real-time pipeline: :class:`~stridecore.dsp.pelvis.PelvisStage` behind
the same interface as the foot :class:`~stridecore.pipeline.Pipeline`.

Live sessions, replay and the benchmarks feed it the same :class:`~firmware_protocol.batch.
Samples` blocks; :meth:`PelvisPipeline.process` returns an :class:`~stridecore.pipeline.Output`
whose steps are a :data:`~stridecore.schema.STEPS` table with one row per step of either leg
(placement ``pelvis``, ``side`` = the leg in stance; contact, toe-off and gait mode in running,
cadence, pelvic drop, push-off; NaN where the sensor cannot measure it) and whose contacts
have the foot pipeline's IC columns. A step's row is emitted at the next contact.
"""

from __future__ import annotations

import numpy as np

from stridecore.dsp.kernels import pelvis as pk
from stridecore.dsp.pelvis import PelvisParams, PelvisStage, pelvis_steps_table
from stridecore.schema import Placement
from stridecore.stage_pipeline import StagePipeline
from stridecore.tables import Columns


class PelvisPipeline(StagePipeline):
    """A pelvis-sensor pipeline at ``fs_hz`` (100–1600 Hz, same defaults).

    ``time_offset_s`` is added to device time (``t_device_us`` × 1e-6) in every reported time.
    """

    STAGE = "pelvis"
    N_S = pk.N_S
    N_E = pk.N_E
    IC_KINDS = ("rise",)

    def __init__(self, fs_hz: float, placement: Placement | str = Placement.PELVIS, *,
                 pelvis: PelvisParams | None = None, time_offset_s: float = 0.0) -> None:
        if not 20.0 <= fs_hz <= 4000.0:
            raise ValueError(f"sample rate {fs_hz:g} Hz is outside 20–4000 Hz")
        self.placement = Placement(placement)
        if self.placement is not Placement.PELVIS:
            raise ValueError(f"the pelvis pipeline needs a pelvis sensor, not {self.placement}")
        self.side = None
        self.fs_hz = float(fs_hz)
        self.time_offset_s = float(time_offset_s)
        self.stage = self.pelvis = PelvisStage(fs_hz, pelvis)
        self._ready()

    def _steps(self, s: np.ndarray) -> Columns:
        return pelvis_steps_table(s, self.time_offset_s)
