"""The real-time pipeline: ordered stages over sample blocks of any size.

Live streaming, replay of a recording and the benchmarks build the same :class:`Pipeline` and
feed it :class:`~firmware_protocol.batch.Samples` blocks; every stage works sample by sample
on explicit state, so the output does not depend on how the stream is cut into blocks.

A foot pipeline is ``MountStage`` (pitch axis) -> ``FootStage`` (contacts and metrics). Each
:meth:`Pipeline.process` returns the contacts detected in the block (:attr:`Output.ics`, as soon
as the impact is seen, for cues) and the step records completed in it (:attr:`Output.steps`, a
:data:`~stridecore.schema.STEPS` table, emitted at toe-off).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from firmware_protocol.batch import Samples
from stridecore.dsp.kernels import foot as fk
from stridecore.dsp.records import contact_columns, steps_table
from stridecore.dsp.stages import FootParams, FootStage, MountParams, MountStage
from stridecore.schema import LANDING_CUTOFFS, GaitMode, Placement, Side
from stridecore.tables import Columns

IC_COLUMNS = ("ic_sample_idx", "t_ic_s", "emit_sample_idx", "t_emit_s", "ic_kind")
_IC_KINDS = np.array(["impact", "gyro", "late impact"], object)
_MODES = np.array(["", GaitMode.WALK.value, GaitMode.RUN.value], object)
_NO_STEPS = np.empty((0, fk.N_S))
_NO_ICS = np.empty((0, fk.N_E))


class Output:
    """What one block produced: step records (STEPS columns) and contact events.

    The tables are built on first access of :attr:`steps` / :attr:`ics` from the kernel's raw
    records, so a live loop that only looks at :attr:`n_steps` / :attr:`n_ics` pays nothing for
    them (a one-row STEPS table costs ~60 µs in Python).
    """

    __slots__ = ("_build", "_ics", "_raw", "_steps")

    def __init__(self, steps: Columns | None = None, ics: Columns | None = None, *,
                 raw: tuple[np.ndarray, np.ndarray] | None = None, build=None) -> None:
        self._steps = steps
        self._ics = ics
        self._raw = raw
        self._build = build

    @property
    def n_steps(self) -> int:
        return len(self._raw[0]) if self._steps is None else len(self._steps["t_ic_s"])

    @property
    def n_ics(self) -> int:
        return len(self._raw[1]) if self._ics is None else len(self._ics["t_ic_s"])

    @property
    def steps(self) -> Columns:
        if self._steps is None:
            self._steps = self._build[0](self._raw[0])
        return self._steps

    @property
    def ics(self) -> Columns:
        if self._ics is None:
            self._ics = self._build[1](self._raw[1])
        return self._ics

    @staticmethod
    def concat(parts: Iterable[Output]) -> Output:
        ps = list(parts)
        steps = {k: np.concatenate([p.steps[k] for p in ps]) for k in ps[0].steps} if ps else {}
        ics = {k: np.concatenate([p.ics[k] for p in ps]) for k in ps[0].ics} if ps else {}
        return Output(steps, ics)


def _contiguous(x: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=dtype)


class Pipeline:
    """A foot-sensor pipeline for one sensor at ``fs_hz`` (100–1600 Hz, same defaults).

    ``time_offset_s`` is added to device time (``t_device_us`` × 1e-6) in every reported time.
    """

    def __init__(self, fs_hz: float, placement: Placement | str = Placement.RIGHT_FOOT, *,
                 mount: MountParams | None = None, foot: FootParams | None = None,
                 time_offset_s: float = 0.0) -> None:
        if not 20.0 <= fs_hz <= 4000.0:
            raise ValueError(f"sample rate {fs_hz:g} Hz is outside 20–4000 Hz")
        self.placement = Placement(placement)
        if "foot" not in self.placement.value:
            raise ValueError(f"the foot pipeline needs a foot sensor, not {self.placement}")
        self.side = Side.LEFT if self.placement.value.startswith("left") else Side.RIGHT
        self.fs_hz = float(fs_hz)
        self.time_offset_s = float(time_offset_s)
        self.mount = MountStage(fs_hz, mount)
        self.foot = FootStage(fs_hz, foot)
        # most blocks complete nothing: their (empty) tables are built once; process() hands
        # out a new dict of these zero-length arrays (nothing can be written into them)
        self._no_steps = self._steps(_NO_STEPS)
        self._no_ics = self._ics(_NO_ICS)
        self._builders = (self._steps_or_empty, self._ics_or_empty)

    def reset(self) -> None:
        """Forget everything: afterwards the pipeline behaves exactly like a new one."""
        self.mount.reset()
        self.foot.reset()

    def snapshot(self) -> dict[str, dict[str, np.ndarray]]:
        return {"mount": self.mount.snapshot(), "foot": self.foot.snapshot()}

    def restore(self, snap: dict[str, dict[str, np.ndarray]]) -> None:
        self.mount.restore(snap["mount"])
        self.foot.restore(snap["foot"])

    def report(self) -> dict[str, object]:
        return {"mount": self.mount.report(), "foot": self.foot.report()}

    def process(self, block: Samples) -> Output:
        """Feed one block (any length, including 0); returns what it completed."""
        acc = _contiguous(block.acc_mps2, np.float64)
        gyr = _contiguous(block.gyr_radps, np.float64)
        idx = _contiguous(block.sample_idx, np.int64)
        t_us = _contiguous(block.t_device_us, np.float64)
        flags = _contiguous(block.flags, np.uint8)
        axis, mflags = self.mount.step(gyr, acc)
        steps, ics = self.foot.step(idx, t_us, acc, gyr, flags, axis, mflags)
        return Output(raw=(steps, ics), build=self._builders)

    def flush(self) -> Output:
        """End of the stream: the contact in progress (its IC already in :attr:`Output.ics`)
        as a step record without toe-off, as a stance into standing is. A replay that ends
        mid-stance keeps its last step this way; live streams need not call it."""
        steps = self.foot.flush(self.mount.axis())
        return Output(raw=(steps, _NO_ICS), build=self._builders)

    def run(self, samples: Samples, block: int = 4096) -> Output:
        """Process a whole array in blocks of ``block`` samples (a convenience for replay)."""
        return Output.concat(self.process(b) for b in iter_blocks(samples, block))

    def _steps_or_empty(self, s: np.ndarray) -> Columns:
        return self._steps(s) if len(s) else dict(self._no_steps)

    def _ics_or_empty(self, e: np.ndarray) -> Columns:
        return self._ics(e) if len(e) else dict(self._no_ics)

    def _t(self, t_us: np.ndarray) -> np.ndarray:
        return t_us * 1e-6 + self.time_offset_s

    def _ics(self, e: np.ndarray) -> Columns:
        emit = e[:, 2].astype(np.int64)
        return {"ic_sample_idx": e[:, 0].astype(np.int64), "t_ic_s": self._t(e[:, 1]),
                "emit_sample_idx": emit, "t_emit_s": self._t(e[:, 4]),
                "ic_kind": _IC_KINDS[e[:, 3].astype(np.int64)]}

    def _steps(self, s: np.ndarray) -> Columns:
        cols = contact_columns(s, fk, self.placement.value, self.side.value, self._t)
        t_ic = cols["t_ic_s"]
        fsa = s[:, fk.S_FSA_DEG]
        cols.update({
            "gait_mode": _MODES[s[:, fk.S_MODE].astype(np.int64)],
            "landing": np.array([LANDING_CUTOFFS.classify(x).value if np.isfinite(x) else ""
                                 for x in fsa], object),
            "strike_angle_deg": fsa,
            "strike_angle_world_deg": s[:, fk.S_FSA_WORLD_DEG],
            "roll_through_ms": (self._t(s[:, fk.S_FLAT_TUS]) - t_ic) * 1e3,
            "grade_deg": s[:, fk.S_GRADE_DEG],
            "stride_length_m": s[:, fk.S_STRIDE_M],
            "toe_off_speed_mps": s[:, fk.S_PUSH_MPS],
            "mount_changed": s[:, fk.S_MOUNT_CHANGED] > 0,
        })
        return steps_table(cols, len(s))


def iter_blocks(samples: Samples, block: int | Iterable[int]) -> Iterator[Samples]:
    """Cut ``samples`` into blocks of ``block`` samples, or of the given successive sizes."""
    n = len(samples)
    if isinstance(block, int):
        for i in range(0, n, max(1, block)):
            yield samples[i:i + block]
        return
    i = 0
    for b in block:
        if i >= n:
            return
        yield samples[i:i + b]
        i += b
    if i < n:
        yield samples[i:]
