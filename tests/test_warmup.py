"""The warm-up before a real-time session compiles and loads every kernel the session runs."""

from __future__ import annotations

import sys

from numba.core.registry import CPUDispatcher

from stridecore.live import DEFAULT_URLS, run_live_blocking
from stridecore.warmup import warm_kernels


def _dispatchers() -> dict[str, CPUDispatcher]:
    found = {}
    for name, mod in list(sys.modules.items()):
        if not name.startswith(("stridecore", "firmware_protocol")):
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, CPUDispatcher):
                found[f"{obj.__module__}.{obj.__name__}"] = obj
    return found


def test_a_session_after_the_warm_up_compiles_nothing(tmp_path) -> None:
    assert warm_kernels() > 0.0
    before = {k: len(d.overloads) for k, d in _dispatchers().items()}
    assert len(before) > 20  # the decoder's, the stages', the knee's, the timesync's ...
    urls = [*DEFAULT_URLS, DEFAULT_URLS[0].replace("left_foot", "pelvis").replace("seed=0",
                                                                                   "seed=9")]
    run, _ = run_live_blocking(urls, duration_s=8.0, speed=0, out=tmp_path / "s.mcap")
    assert not run.errors
    assert all(len(s.stream.steps_table()["t_ic_s"]) > 0 for s in run.sessions
               if "thigh" not in s.key)
    after = _dispatchers()
    new = {k: len(d.overloads) - before.get(k, 0) for k, d in after.items()
           if len(d.overloads) != before.get(k, 0)}
    assert new == {}, f"compiled after the warm-up: {new}"


def test_a_warm_up_that_cannot_write_says_why(monkeypatch) -> None:
    import tempfile

    from stridecore import warmup

    def no_tmp(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_tmp)
    t, why = warmup.try_warm_kernels()
    assert t != t and "kernel warm-up skipped (Permission denied)" in why
