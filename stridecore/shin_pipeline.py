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
from stridecore.pipeline import Output, iter_blocks
from stridecore.schema import Placement, Side
from stridecore.tables import Columns

_KINDS = np.array(IC_KINDS, object)


class ShinPipeline:
    """A shin-sensor pipeline for one sensor at ``fs_hz`` (100–1600 Hz, same defaults).

    ``time_offset_s`` is added to device time (``t_device_us`` × 1e-6) in every reported time.
    """

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
        self.shin = ShinStage(fs_hz, shin)
        self._no_steps = self._steps(np.empty((0, sk.N_S)))
        self._no_ics = self._ics(np.empty((0, sk.N_E)))
        self._builders = (self._steps_or_empty, self._ics_or_empty)

    def reset(self) -> None:
        """Forget everything: afterwards the pipeline behaves exactly like a new one."""
        self.shin.reset()

    def snapshot(self) -> dict[str, dict[str, np.ndarray]]:
        return {"shin": self.shin.snapshot()}

    def restore(self, snap: dict[str, dict[str, np.ndarray]]) -> None:
        self.shin.restore(snap["shin"])

    def report(self) -> dict[str, object]:
        return {"shin": self.shin.report()}

    def process(self, block: Samples) -> Output:
        """Feed one block (any length, including 0); returns what it completed."""
        steps, ics = self.shin.step(block.sample_idx, block.t_device_us, block.acc_mps2,
                                    block.gyr_radps, block.flags)
        return Output(raw=(steps, ics), build=self._builders)

    def run(self, samples: Samples, block: int = 4096) -> Output:
        """Process a whole array in blocks of ``block`` samples (as :meth:`Pipeline.run`)."""
        return Output.concat(self.process(b) for b in iter_blocks(samples, block))

    def flush(self) -> Output:
        """End of the stream: the open step (toe-off unknown), as :meth:`ShinStage.flush`."""
        return Output(raw=(self.shin.flush(), np.empty((0, sk.N_E))), build=self._builders)

    def _t(self, t_us: np.ndarray) -> np.ndarray:
        return t_us * 1e-6 + self.time_offset_s

    def _steps_or_empty(self, s: np.ndarray) -> Columns:
        return self._steps(s) if len(s) else dict(self._no_steps)

    def _ics_or_empty(self, e: np.ndarray) -> Columns:
        return self._ics(e) if len(e) else dict(self._no_ics)

    def _steps(self, s: np.ndarray) -> Columns:
        return shin_steps_table(s, self.placement, self.time_offset_s)

    def _ics(self, e: np.ndarray) -> Columns:
        return {"ic_sample_idx": e[:, 0].astype(np.int64), "t_ic_s": self._t(e[:, 1]),
                "emit_sample_idx": e[:, 2].astype(np.int64), "t_emit_s": self._t(e[:, 4]),
                "ic_kind": _KINDS[e[:, 3].astype(np.int64)]}


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
    """The real-time pipeline of a sensor placement: foot or shin stages; thigh and pelvis
    sensors get :class:`SamplesOnly` (joined with others: the knee)."""
    from stridecore.pipeline import Pipeline

    p = Placement(placement)
    if p.value.endswith("foot"):
        return Pipeline(fs_hz, p)
    if p.value.endswith("shin"):
        return ShinPipeline(fs_hz, p)
    return SamplesOnly(fs_hz, p)
