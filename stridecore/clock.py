"""Virtual time for asyncio: fault tests and simulated hours without sleeping.

:class:`VirtualTimeLoop` is a normal selector event loop whose clock (``loop.time()``) jumps
straight to the next scheduled timer whenever nothing else is ready, instead of waiting for it.
``asyncio.sleep``, ``wait_for`` timeouts, ``call_later`` and everything built on them then run
in virtual time, in the same order as they would in real time. Real file descriptors still
work (they are polled without blocking), but a test that waits on real I/O should use a real
loop. The host time base of stridecore is always ``loop.time()``, so the device session, the
simulated sensor and the recorder need no separate clock argument.

:func:`run_virtual` is the entry point: ``run_virtual(main(), start_s=0.0)``;
:func:`run_at_speed` picks virtual time (speed 0) or a clock running ``speed`` × real time.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """Polls without blocking; a blocking wait advances the loop's virtual clock instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._vloop = loop

    def select(self, timeout: float | None = None):
        events = super().select(0)
        if events or timeout is None or timeout <= 0:
            if not events and timeout is None:
                # nothing scheduled and nothing ready: only real I/O can wake us
                return super().select(None)
            return events
        self._vloop._now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual seconds starting at ``start_s``."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = float(start_s)
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self._now


class ScaledTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock runs ``speed`` times faster than the wall clock (a simulated
    sensor shown at 5× real time). ``speed = 1`` is a normal loop with a clock from 0."""

    def __init__(self, speed: float, start_s: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0 (use VirtualTimeLoop for as fast as possible)")
        self._speed = float(speed)
        self._start = float(start_s)
        self._wall0 = time.monotonic()
        super().__init__(_ScaledSelector(self._speed))

    def time(self) -> float:
        return self._start + (time.monotonic() - self._wall0) * self._speed


class _ScaledSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    def __init__(self, speed: float) -> None:
        super().__init__()
        self._speed = speed

    def select(self, timeout: float | None = None):
        return super().select(None if timeout is None else timeout / self._speed)


def run_at_speed(main: Coroutine[Any, Any, T], speed: float) -> T:
    """Run ``main`` in virtual time (``speed == 0``: as fast as possible) or at ``speed`` × the
    wall clock."""
    if speed == 0:
        return run_virtual(main)
    return _run(ScaledTimeLoop(speed), main)


def run_virtual(main: Coroutine[Any, Any, T], start_s: float = 0.0) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop`."""
    return _run(VirtualTimeLoop(start_s), main)


def _run(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
