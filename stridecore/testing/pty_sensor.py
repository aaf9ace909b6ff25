"""The simulated sensor behind a real pseudo-terminal: serial links tested without hardware.

:class:`PtySensor` runs a :class:`~stridecore.transport.sim_device.SimDevice` (serial framing,
``COBS(frame) + 0x00``) on the master side of an ``os.openpty()`` pair, in a background thread
and in real time (true time = ``time.monotonic()`` since :meth:`PtySensor.start`). pyserial
opens the slave, a real tty (:attr:`PtySensor.port`, ``/dev/pts/N``, raw mode).

A pty moves bytes as fast as they are written, so the sensor paces its output like a UART at
``baud`` (8N1: baud/10 B/s). Output the line cannot carry yet waits in the sensor's transmit
queue, as in firmware; past :data:`TX_BUFFER_B` the overflow is noted (:attr:`overflowed`,
one line in ``device.log``) and the bytes still wait. A host that stops reading holds the line
off like hardware flow control.

:meth:`PtySensor.unplug` is a pulled cable: the pty is closed, the host's tty is hung up (reads
fail, pyserial raises, :class:`~stridecore.transport.SerialTransport` raises ``LinkLost``) and
bytes the host had not read yet are lost with it, as with a real USB unplug.
:meth:`PtySensor.replug` opens a new pty: Linux hands out the lowest free ``/dev/pts/N``, often
the same path as before (as a USB-CDC device re-enumerates), but read :attr:`port` again. The
device is battery powered: it keeps sampling and streaming while unplugged, and what it sends
then is lost (the host catches up with READ_BACKLOG).
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty

import numpy as np

from stridecore.simulate.motion import G_MPS2, MotionSource
from stridecore.transport.sim import parse_sim_url
from stridecore.transport.sim_device import SimDevice, SimSensorParams

TX_BUFFER_B = 4096  # a firmware UART transmit buffer: more queued is noted as an overflow
UNPLUG_GRACE_S = 0.05  # the host may read what is on the line this long into an unplug


class SineMotion:
    """A cheap motion source for tests: the sensor upright (1 g on z) rocking about its y axis
    at ``freq_hz``, ±``acc_amp_mps2`` on z and ±``gyr_amp_radps`` about y."""

    def __init__(self, freq_hz: float = 1.5, acc_amp_mps2: float = 3.0,
                 gyr_amp_radps: float = 2.0) -> None:
        self.freq_hz = freq_hz
        self.acc_amp_mps2 = acc_amp_mps2
        self.gyr_amp_radps = gyr_amp_radps

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.sin(2 * np.pi * self.freq_hz * np.asarray(t_s, np.float64))
        acc = np.zeros((s.size, 3))
        gyr = np.zeros((s.size, 3))
        acc[:, 2] = G_MPS2 + self.acc_amp_mps2 * s
        gyr[:, 1] = self.gyr_amp_radps * s
        return acc, gyr


def _unread_settled(fd: int, grace_s: float) -> int:
    """B waiting in a tty's input buffer, after up to ``grace_s`` for its reader to take them.

    The kernel moves bytes written to a pty master into the slave's buffer asynchronously; a
    poll of the slave finding the buffer empty waits for that, so 0 is exact.
    """
    deadline = time.monotonic() + grace_s
    while True:
        select.select([fd], [], [], 0)
        unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        if unread == 0 or time.monotonic() > deadline:
            return unread
        time.sleep(0.001)


class PtySensor:
    """The simulated sensor on a pty, paced at ``baud``; see the module docstring.

    ``sensor`` is a ``sim://`` URL (:func:`~stridecore.transport.sim.parse_sim_url`, no
    ``transport=ble``) or :class:`SimSensorParams`; ``motion`` defaults to the running simulator
    (about a second to build; :class:`SineMotion` is instant); ``tick_s`` is the sensor loop's
    period (s). Counters (B): :attr:`bytes_written` to the line, :attr:`bytes_discarded` sent by
    the device but lost at or after an unplug before reaching the line, :attr:`unread_at_unplug`
    on the line but not read by the host when the cable was last pulled, lost with it (the host
    gets :data:`UNPLUG_GRACE_S` to read; exact when the host keeps reading, else at most the
    tty's 4 KiB buffer is counted).
    """

    def __init__(self, sensor: str | SimSensorParams = "sim://", baud: int = 921600,
                 motion: MotionSource | None = None, tick_s: float = 0.001) -> None:
        params = parse_sim_url(sensor) if isinstance(sensor, str) else sensor
        if params.framing != "cobs":
            raise ValueError("a pty carries the serial framing: drop transport=ble")
        if baud <= 0:
            raise ValueError(f"baud must be positive, not {baud}")
        self.device = SimDevice(params, motion)
        self.baud = baud
        self.tick_s = tick_s
        self.port: str | None = None  # the slave tty while plugged in
        self.bytes_written = 0
        self.bytes_discarded = 0
        self.unread_at_unplug = 0
        self.peak_queued_bytes = 0
        self.overflowed = False
        self._queue = bytearray()  # device output waiting for the line
        self._line_t = 0.0  # true time up to which the line has been used (s)
        self._plug_t = 0.0  # true time of the last plug-in: output sent before it is lost
        self._t0: float | None = None
        self._fds: tuple[int, int] | None = None  # master, slave (kept open for FIONREAD)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    @property
    def queued_bytes(self) -> int:
        """B the device has sent that wait for the line."""
        return len(self._queue)

    def start(self) -> PtySensor:
        """Open the pty and start the device at true time 0."""
        if self._t0 is not None:
            raise RuntimeError("PtySensor already started")
        self._t0 = time.monotonic()
        self._plug()
        return self

    def stop(self) -> None:
        """Stop the device and close the pty; raises what the sensor thread raised, if any."""
        if self._fds is not None:
            self._halt()
            self._close_fds()
        if self._error is not None:
            raise RuntimeError("the PtySensor thread failed") from self._error

    def unplug(self) -> None:
        """Pull the cable: the host's tty hangs up; unread bytes and the queue are lost."""
        if self._fds is None:
            raise RuntimeError("PtySensor is not plugged in")
        self._halt()
        self.unread_at_unplug = _unread_settled(self._fds[1], UNPLUG_GRACE_S)
        self.bytes_discarded += len(self._queue)
        self._queue.clear()
        self._close_fds()

    def replug(self) -> str:
        """Plug the cable back in: a new pty; returns the new :attr:`port`."""
        if self._t0 is None or self._fds is not None:
            raise RuntimeError("PtySensor is not unplugged")
        return self._plug()

    def __enter__(self) -> PtySensor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the sensor thread
    def _plug(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._fds = (master, slave)
        self.port = os.ttyname(slave)
        self._plug_t = time.monotonic() - self._t0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(master,), daemon=True,
                                        name=f"PtySensor {self.port}")
        self._thread.start()
        return self.port

    def _halt(self) -> None:
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _close_fds(self) -> None:
        master, slave = self._fds
        self._fds = self.port = None
        os.close(master)
        os.close(slave)

    def _run(self, master: int) -> None:
        try:
            while not self._stop.is_set():
                if select.select([master], [], [], self.tick_s)[0]:
                    self._from_host(master)
                self._to_host(master, time.monotonic() - self._t0)
        except BaseException as e:  # raised again by stop()
            self._error = e

    def _from_host(self, master: int) -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except BlockingIOError:
                return
            if not data:
                return
            self.device.receive(data, time.monotonic() - self._t0)

    def _to_host(self, master: int, t: float) -> None:
        for t_send, unit in self.device.poll(t):
            if t_send < self._plug_t:  # sent while unplugged
                self.bytes_discarded += len(unit)
                continue
            if not self._queue:  # an idle line starts when the bytes are ready
                self._line_t = max(self._line_t, t_send)
            self._queue += unit
        if len(self._queue) > self.peak_queued_bytes:
            self.peak_queued_bytes = len(self._queue)
            if self.peak_queued_bytes > TX_BUFFER_B and not self.overflowed:
                self.overflowed = True
                self.device.log.append(f"{t:.3f} UART overflow: over {TX_BUFFER_B} B queued, "
                                       f"the stream needs more than {self.baud} baud")
        n = min(len(self._queue), int((t - self._line_t) * self.baud / 10))
        if n <= 0:
            return
        try:
            sent = os.write(master, self._queue[:n])
        except BlockingIOError:
            sent = 0
        del self._queue[:sent]
        self.bytes_written += sent
        # a full host buffer holds the line off (as flow control would): no credit builds up
        self._line_t = t if sent < n else self._line_t + sent * 10 / self.baud
