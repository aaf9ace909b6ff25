"""Serial links through pyserial: USB-CDC, UART bridges, ptys and pyserial's URL handlers.

``serial:///dev/ttyACM0?baud=921600&rtscts=1``, a bare path (``/dev/ttyUSB0``, ``COM3``, the
same options after ``?``), or any pyserial URL passed to ``serial.serial_for_url`` unchanged
(``loop://``, ``socket://HOST:PORT``, ``rfc2217://HOST:PORT``, ``spy:///dev/ttyUSB0``, ...;
their options are pyserial's, the line runs at 921600 baud).

=============  ======================================================================
``baud``       line rate (baud, default 921600; a USB-CDC port ignores it)
``rtscts``     hardware flow control, 0 or 1 (default 0)
``exclusive``  lock the port (advisory ``flock``, POSIX): a second opener that locks too is
               refused as busy; 0 or 1 (default 1)
=============  ======================================================================

Reads are event driven. A port with a file descriptor (a tty, a pty, ``socket://``) is watched
with ``loop.add_reader`` and read and written directly, non-blocking: no thread runs, each unit's
``t_host_s`` is the loop time the bytes were seen (and ``spy://`` logs no data). Handlers without
one (``loop://``, ``rfc2217://``) are read by a thread with a 20 ms timeout and written in the
loop's executor. Received units queue without limit until :meth:`SerialTransport.read` takes
them. This is the only module that imports pyserial.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections import deque
from urllib.parse import parse_qsl, urlsplit

import serial

from stridecore.transport.base import LinkLost, Transport, TransportError, Unit

DEFAULT_BAUD = 921600
OPTIONS = ("baud", "exclusive", "rtscts")
_POLL_S = 0.02  # read timeout of the reader thread (handlers without a file descriptor)
_READ_MAX = 65536  # B per read
_NO_PORT = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_DENIED = {errno.EACCES, errno.EPERM}
_BUSY = {errno.EBUSY, errno.EAGAIN}


def _one_line(e: BaseException) -> str:
    text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _flag(url: str, key: str, v: str) -> bool:
    if v.lower() in ("1", "true", "yes"):
        return True
    if v.lower() in ("0", "false", "no"):
        return False
    raise TransportError(f"{url}: option {key}={v!r} must be 0 or 1")


def parse_serial_url(url: str) -> tuple[str, dict]:
    """``(port for serial_for_url, pyserial keyword arguments)`` of a serial URL or bare path;
    :class:`TransportError` (one line) for an unknown option or a bad value."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else "serial"
    kw: dict = {"baudrate": DEFAULT_BAUD, "exclusive": True}
    if scheme != "serial":
        return url, kw  # a pyserial URL handler: its options are its own
    path, _, query = url.partition("?")
    if "://" in path:
        parts = urlsplit(path)
        path = parts.netloc + parts.path
    if not path:
        raise TransportError(f"{url}: no port given (serial:///dev/ttyACM0, serial://COM3)")
    for key, v in parse_qsl(query, keep_blank_values=True):
        if key == "baud":
            if not v.isdigit() or int(v) <= 0:
                raise TransportError(f"{url}: option baud={v!r} must be a positive integer")
            kw["baudrate"] = int(v)
        elif key in ("rtscts", "exclusive"):
            kw[key] = _flag(url, key, v)
        else:
            raise TransportError(f"{url}: unknown serial option {key!r} "
                                 f"(known: {', '.join(OPTIONS)})")
    return path, kw


class SerialTransport(Transport):
    """A serial byte stream (``framing = "cobs"``); see the module docstring for URLs."""

    framing = "cobs"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._port_name, self._kw = parse_serial_url(url)
        self._port: serial.SerialBase | None = None
        self._fd: int | None = None  # watched by the loop; None: a reader thread polls
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._units: deque[Unit] = deque()
        self._waiter: asyncio.Future | None = None  # read() waiting for data
        self._wwaiter: asyncio.Future | None = None  # write() waiting for room
        self._down = f"{self.name}: not open"  # why read() and write() fail; "" while open

    @property
    def is_open(self) -> bool:
        return self._port is not None and not self._down

    async def open(self) -> None:
        if self._port is not None:
            raise TransportError(f"{self.name}: already open")
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self._open_port)  # socket://, rfc2217:// connect
        try:
            port = await asyncio.shield(fut)
        except asyncio.CancelledError:
            fut.add_done_callback(_close_opened)
            raise
        self._port, self._loop, self._down = port, loop, ""
        try:
            fd = port.fileno()
            loop.add_reader(fd, self._on_readable)
        except (OSError, NotImplementedError):  # no fd (loop://), or Windows' proactor loop
            pass
        else:
            self._fd = fd
            return
        port.timeout = _POLL_S
        self._stop.clear()
        self._thread = threading.Thread(target=self._pump, args=(port, loop),
                                        name=f"serial reader {self.name}", daemon=True)
        self._thread.start()

    def _open_port(self) -> serial.SerialBase:
        try:
            return serial.serial_for_url(self._port_name, timeout=0, **self._kw)
        except serial.SerialException as e:
            if e.errno in _NO_PORT:
                msg = "no such port"
            elif e.errno in _DENIED:
                msg = ("permission denied (add your user to the dialout group: "
                       "sudo usermod -aG dialout $USER, then log in again)")
            elif e.errno in _BUSY:
                msg = "busy (another program has the port open)"
            else:
                msg = _one_line(e)
            raise TransportError(f"{self.name}: {msg}") from None
        except KeyError:  # pyserial 3.5 fails to format its own bad-option message
            raise TransportError(f"{self.url}: bad option for pyserial's URL handler") from None
        except (ValueError, OSError) as e:  # bad pyserial URL or option, refused connection
            raise TransportError(f"{self.name}: {_one_line(e)}") from None

    async def close(self) -> None:
        port = self._port
        if port is None:
            return
        self._lose(f"{self.name}: closed")
        self._down = f"{self.name}: closed"
        if self._thread is not None:
            self._stop.set()
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        self._port = self._fd = None
        port.close()

    async def write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise TransportError(self._down)
        try:
            if self._fd is None:
                if self._down:
                    raise LinkLost(self._down)
                await asyncio.get_running_loop().run_in_executor(None, port.write, data)
                return
            view = memoryview(data)
            while view:
                if self._down:
                    raise LinkLost(self._down)
                try:
                    view = view[os.write(self._fd, view):]
                except BlockingIOError:
                    await self._writable()
        except OSError as e:  # pyserial's SerialException is one too
            self._lose(f"{self.name}: link lost ({_one_line(e)})")
            raise LinkLost(self._down) from None

    async def _writable(self) -> None:
        """Until the port can take bytes (or the link is down)."""
        if self._down:
            return
        self._wwaiter = fut = self._loop.create_future()
        self._loop.add_writer(self._fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            self._wwaiter = None
            if not self._down:
                self._loop.remove_writer(self._fd)

    async def read(self) -> Unit:
        while not self._units:
            if self._down:
                raise LinkLost(self._down)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._units.popleft()

    # ------------------------------------------------------------------ arrivals
    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lose(f"{self.name}: link lost ({_one_line(e)})")
            return
        if not data:  # end of file: a hung-up tty (unplugged), a closed socket
            self._lose(f"{self.name}: link lost (device disconnected)")
            return
        self._on_data(data)

    def _on_data(self, data: bytes) -> None:
        self._units.append(Unit(self._loop.time(), data))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _lose(self, why: str) -> None:
        """The link is down: stop watching the port, wake a waiting reader and writer."""
        if self._down:
            return
        self._down = why
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        for w in (self._waiter, self._wwaiter):
            if w is not None and not w.done():
                w.set_result(None)

    def _pump(self, port: serial.SerialBase, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread for handlers without a file descriptor."""
        while not self._stop.is_set():
            try:
                data = port.read(1)
                if data and port.in_waiting:
                    data += port.read(port.in_waiting)
            except OSError as e:
                if not self._stop.is_set():
                    loop.call_soon_threadsafe(self._lose,
                                              f"{self.name}: link lost ({_one_line(e)})")
                return
            if data:
                loop.call_soon_threadsafe(self._on_data, data)


def _close_opened(fut: asyncio.Future) -> None:
    """Close a port whose open finished after the caller was cancelled."""
    if not fut.cancelled() and fut.exception() is None:
        fut.result().close()


def list_ports() -> list[str]:
    """Device paths of the serial ports the OS lists (USB-CDC, UARTs), sorted."""
    from serial.tools import list_ports as lp

    return sorted(p.device for p in lp.comports())
