"""The wrapper a single-stage sensor pipeline (shin, pelvis) shares with the foot
:class:`~stridecore.pipeline.Pipeline`'s interface: ``process`` one
:class:`~firmware_protocol.batch.Samples` block into an :class:`~stridecore.pipeline.Output`,
``run`` / ``flush`` / ``reset`` / ``snapshot`` / ``restore`` / ``report``.

A subclass sets ``self.stage`` (a stage with ``step(sample_idx, t_us, acc, gyr, flags) ->
(steps, ics)``, ``flush() -> steps`` and ``reset`` / ``snapshot`` / ``restore`` / ``report``),
``STAGE`` (its key in snapshots and reports), ``N_S`` / ``N_E`` (record widths), ``IC_KINDS``
and ``_steps`` (records → STEPS columns), then calls :meth:`_ready`.
"""

from __future__ import annotations

import numpy as np

from firmware_protocol.batch import Samples
from stridecore.pipeline import Output, iter_blocks
from stridecore.tables import Columns


class StagePipeline:
    """Base of :class:`~stridecore.shin_pipeline.ShinPipeline` and
    :class:`~stridecore.pelvis_pipeline.PelvisPipeline`."""

    STAGE = "stage"
    N_S = 0
    N_E = 5
    IC_KINDS: tuple[str, ...] = ()
    stage: object
    time_offset_s: float

    def _ready(self) -> None:
        self._kinds = np.array(self.IC_KINDS, object)
        self._no_steps = self._steps(np.empty((0, self.N_S)))
        self._no_ics = self._ics(np.empty((0, self.N_E)))
        self._builders = (self._steps_or_empty, self._ics_or_empty)

    def reset(self) -> None:
        """Forget everything: afterwards the pipeline behaves exactly like a new one."""
        self.stage.reset()

    def snapshot(self) -> dict[str, dict[str, np.ndarray]]:
        return {self.STAGE: self.stage.snapshot()}

    def restore(self, snap: dict[str, dict[str, np.ndarray]]) -> None:
        self.stage.restore(snap[self.STAGE])

    def report(self) -> dict[str, object]:
        return {self.STAGE: self.stage.report()}

    def process(self, block: Samples) -> Output:
        """Feed one block (any length, including 0); returns what it completed."""
        steps, ics = self.stage.step(block.sample_idx, block.t_device_us, block.acc_mps2,
                                     block.gyr_radps, block.flags)
        return Output(raw=(steps, ics), build=self._builders)

    def run(self, samples: Samples, block: int = 4096) -> Output:
        """Process a whole array in blocks of ``block`` samples (as :meth:`Pipeline.run`)."""
        return Output.concat(self.process(b) for b in iter_blocks(samples, block))

    def flush(self) -> Output:
        """End of the stream: the open step's record (the stage's ``flush``)."""
        return Output(raw=(self.stage.flush(), np.empty((0, self.N_E))), build=self._builders)

    def _t(self, t_us: np.ndarray) -> np.ndarray:
        return t_us * 1e-6 + self.time_offset_s

    def _steps(self, s: np.ndarray) -> Columns:
        raise NotImplementedError

    def _steps_or_empty(self, s: np.ndarray) -> Columns:
        return self._steps(s) if len(s) else dict(self._no_steps)

    def _ics_or_empty(self, e: np.ndarray) -> Columns:
        return self._ics(e) if len(e) else dict(self._no_ics)

    def _ics(self, e: np.ndarray) -> Columns:
        return {"ic_sample_idx": e[:, 0].astype(np.int64), "t_ic_s": self._t(e[:, 1]),
                "emit_sample_idx": e[:, 2].astype(np.int64), "t_emit_s": self._t(e[:, 4]),
                "ic_kind": self._kinds[e[:, 3].astype(np.int64)]}
