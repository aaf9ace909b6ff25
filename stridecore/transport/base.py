"""The transport seam: bytes in and out of one sensor link, nothing else.

A transport is opened by URL (:func:`stridecore.transport.open_url`, like pyserial's
``serial_for_url``) and knows nothing of frames, commands or time sync; those live in
:mod:`stridecore.device`. Two kinds of links exist:

- ``framing = "cobs"``: a byte stream (serial, USB-CDC, a pty, ``loop://``, ``socket://``);
  :meth:`Transport.read` returns whatever bytes arrived, cut anywhere.
- ``framing = "packet"``: one protocol frame per unit (BLE notifications, the simulated BLE
  sensor); :meth:`Transport.read` returns exactly one unit.

Every unit read carries its host receive time in seconds on the running event loop's clock
(``loop.time()``), so a virtual-time loop (:mod:`stridecore.clock`) drives fault tests without
sleeping. A lost link raises :class:`LinkLost` from :meth:`~Transport.read` or
:meth:`~Transport.write` after every unit that arrived before it has been returned; the device
session then closes the transport and calls :meth:`~Transport.open` again with backoff.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass


class TransportError(Exception):
    """A link that cannot be opened or used: the message is one line for the user."""


class LinkLost(TransportError):
    """The link went away (sensor out of range, cable pulled, device reset)."""


@dataclass(frozen=True, slots=True)
class Unit:
    """Bytes that arrived together: a serial read chunk or one BLE notification.

    ``t_host_s`` is the receive time on the event loop's clock (s).
    """

    t_host_s: float
    data: bytes


class Transport(abc.ABC):
    """One sensor link. Not thread-safe: use it from one asyncio task at a time per direction
    (one reader, one writer)."""

    #: "cobs" (byte stream, frames COBS-encoded and 0x00-delimited) or "packet" (one frame per
    #: unit, no COBS)
    framing: str = "cobs"

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def name(self) -> str:
        """Short label for messages and recordings (the URL without options)."""
        return self.url.split("?", 1)[0]

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect. Raises :class:`TransportError` (one line) when the device cannot be
        reached; may be called again after :meth:`close` to reconnect."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; idempotent. Units already received stay readable until exhausted."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send bytes (one frame per call on packet links). Raises :class:`LinkLost`."""

    @abc.abstractmethod
    async def read(self) -> Unit:
        """The next unit received. Raises :class:`LinkLost` once the link is down and every
        unit received before has been returned."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """True between a successful :meth:`open` and :meth:`close` or a lost link."""

    async def __aenter__(self) -> Transport:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def loop_time() -> float:
    """The running event loop's clock (s): the host time base of every unit."""
    return asyncio.get_running_loop().time()
