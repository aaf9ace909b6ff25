"""Serial transport over a real pseudo-terminal with the simulated sensor at the far end, over
pyserial's ``loop://`` and ``socket://`` handlers, and its one-line errors."""

import asyncio
import errno
import os

import numpy as np
import pytest
import serial

from firmware_protocol import Batch, StreamDecoder, encode_command, frame_len
from firmware_protocol.frame import FrameType
from firmware_protocol.messages import (
    Config,
    DevicePlacement,
    Info,
    Reply,
    StartReply,
    StartStop,
    Status,
    StreamMask,
)
from stridecore.testing.pty_sensor import PtySensor, SineMotion
from stridecore.transport import LinkLost, TransportError, Unit, open_url
from stridecore.transport.serial import DEFAULT_BAUD, SerialTransport, parse_serial_url

N_MAX = 18  # samples per frame of the simulated sensor
STREAM = StartStop(int(StreamMask.IMU6 | StreamMask.STATUS), 0)


async def hello(tr: SerialTransport) -> None:
    """GET_INFO, GET_CONFIG, START, as a host would."""
    cmds = ((FrameType.GET_INFO, None), (FrameType.GET_CONFIG, None), (FrameType.START, STREAM))
    for i, (ftype, body) in enumerate(cmds):
        await tr.write(encode_command(ftype, i, i, body))


async def read_for(tr: SerialTransport, duration_s: float) -> list[Unit]:
    """Units read for ``duration_s`` (decoded later, so the loop only reads)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration_s
    units = []
    while (left := end - loop.time()) > 0:
        try:
            units.append(await asyncio.wait_for(tr.read(), left))
        except TimeoutError:
            break
    return units


async def read_until_lost(tr: SerialTransport, units: list[Unit]) -> LinkLost:
    while True:
        try:
            units.append(await asyncio.wait_for(tr.read(), 5.0))
        except LinkLost as e:
            return e


def replies(batch: Batch) -> dict[type, Reply]:
    """Replies of a batch by body type."""
    return {type(m.body.body): m.body for m in batch.messages if isinstance(m.body, Reply)}


def sensor(url: str = "sim://?odr=416&placement=left_foot&uid=PTYTEST1",
           baud: int = 921600) -> PtySensor:
    return PtySensor(url, baud=baud, motion=SineMotion())


async def test_pty_stream_at_921600() -> None:
    loop = asyncio.get_running_loop()
    with sensor() as sim:
        tr = SerialTransport(f"serial://{sim.port}?baud=921600")
        await tr.open()
        assert tr.is_open and tr.framing == "cobs"
        t_open = loop.time()
        await hello(tr)
        units = await read_for(tr, 1.1)
        await tr.close()
        assert not tr.is_open
    dec = StreamDecoder(framing="cobs")
    batches = [dec.feed(u.data) for u in units]
    batch = Batch.concat(batches)
    rep = replies(batch)
    assert {r.status for r in rep.values()} == {Status.OK}
    assert rep[Info].body.uid == b"PTYTEST1"
    assert rep[Info].body.placement == DevicePlacement.LEFT_FOOT
    assert rep[Config].body.odr_hz == 416
    t = np.array([u.t_host_s for u in units])
    assert t_open <= t[0] and np.all(np.diff(t) > 0)
    t_start = next(u.t_host_s for u, b in zip(units, batches, strict=True)
                   if StartReply in replies(b))
    s = batch.samples
    expected = sim.device.true_odr_hz * (t[-1] - t_start)  # ≈ 416 in the ~1 s window
    assert 0.9 < t[-1] - t_start < 1.1
    assert abs(len(s) - expected) <= 2 * N_MAX, (len(s), expected)
    np.testing.assert_array_equal(s.sample_idx, np.arange(len(s)))  # no gaps, in order
    assert not batch.gaps and sum(dec.problems.values()) == 0
    assert np.all(np.abs(s.acc_mps2[:, 2] - 9.80665) < 3.2)  # SineMotion: g ± 3 m/s²
    assert any(m.name == "STATUS" for m in batch.messages)
    assert not sim.overflowed


async def test_pty_paced_at_115200_by_url() -> None:
    """1666 Hz needs ~22 kB/s; a 115200 baud line carries 11.52 kB/s: the sensor queues."""
    with sensor("sim://?odr=1666", baud=115200) as sim:
        tr = open_url(f"serial://{sim.port}?baud=115200")
        assert isinstance(tr, SerialTransport)
        await tr.open()
        await tr.write(bytes(1 << 20))  # more than the pty buffers: write() waits for room
        await hello(tr)
        units = await read_for(tr, 1.0)
        await tr.close()
    t = np.array([u.t_host_s for u in units])
    size = np.array([len(u.data) for u in units])
    late = t >= t[0] + 0.2  # the line is saturated from here on
    rate = size[late][1:].sum() / (t[late][-1] - t[late][0])
    assert 0.9 * 11520 < rate <= 1.05 * 11520, rate
    assert sim.overflowed and sim.queued_bytes > 0
    assert "UART overflow" in sim.device.log[0]
    samples = StreamDecoder().feed(b"".join(u.data for u in units)).samples
    assert len(samples) > 0.5 * 11520 / (frame_len(N_MAX) + 2) * N_MAX  # the line's worth
    np.testing.assert_array_equal(samples.sample_idx, np.arange(len(samples)))


async def test_unplug_mid_stream_loses_only_unread_bytes() -> None:
    with sensor() as sim:
        tr = SerialTransport(sim.port)  # a bare path
        await tr.open()
        await hello(tr)
        units = await read_for(tr, 0.5)
        lost_read = asyncio.create_task(read_until_lost(tr, units))
        await asyncio.to_thread(sim.unplug)  # the host reads on meanwhile
        lost = await lost_read
        assert "link lost" in str(lost) and "\n" not in str(lost)
        assert not tr.is_open
        with pytest.raises(LinkLost):
            await tr.write(b"\x00")
        with pytest.raises(LinkLost):
            await tr.read()
        await tr.close()
        await tr.close()  # idempotent

        # every byte on the line arrived, except what sat unread in the tty at the unplug
        data = b"".join(u.data for u in units)
        assert sim.bytes_written - sim.unread_at_unplug <= len(data) <= sim.bytes_written
        dec = StreamDecoder()
        batch = dec.feed(data)
        s = batch.samples
        np.testing.assert_array_equal(s.sample_idx, np.arange(len(s)))
        assert not batch.gaps and sum(dec.problems.values()) == 0
        tail = len(data) - data.rindex(b"\x00") - 1  # a frame cut by the unplug
        assert tail <= frame_len(N_MAX) + 1
        undelivered_b = sim.bytes_discarded + sim.unread_at_unplug + tail
        assert 0 <= sim.device.next_sample_idx - len(s) <= undelivered_b // 12 + 2 * N_MAX

        # plugged back in: the device streamed on meanwhile, so the decoder sees a gap
        await asyncio.sleep(0.1)
        port = sim.replug()
        async with SerialTransport(port) as tr2:
            more = await read_for(tr2, 0.2)
        later = dec.feed(b"".join(u.data for u in more))
        assert later.gaps and later.gaps[0].first_idx == len(s)
        assert sim.bytes_discarded > 0


async def test_loop_url_echo() -> None:
    tr = open_url("loop://")
    assert isinstance(tr, SerialTransport)
    payload = encode_command(FrameType.GET_INFO, 1, 1) + bytes(range(256)) * 40
    async with tr:
        await tr.write(payload)
        got = b""
        while len(got) < len(payload):
            unit = await asyncio.wait_for(tr.read(), 2.0)
            got += unit.data
        waiting = asyncio.create_task(tr.read())  # nothing more comes: close() wakes it
        await asyncio.sleep(0.05)
    assert got == payload
    assert not tr.is_open
    with pytest.raises(LinkLost, match="loop://: closed"):
        await waiting
    with pytest.raises(LinkLost, match="closed"):
        await tr.read()


async def test_socket_url_peer_close_is_link_lost() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(5))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, SerialTransport(f"socket://127.0.0.1:{port}") as tr:
        await tr.write(b"hello")
        units: list[Unit] = []
        lost = await read_until_lost(tr, units)
        assert b"".join(u.data for u in units) == b"hello"
        assert str(lost).endswith("link lost (device disconnected)")


def test_urls() -> None:
    assert parse_serial_url("serial:///dev/ttyACM0?baud=115200&rtscts=1") == (
        "/dev/ttyACM0", {"baudrate": 115200, "exclusive": True, "rtscts": True})
    assert parse_serial_url("serial://COM3") == ("COM3", {"baudrate": DEFAULT_BAUD,
                                                          "exclusive": True})
    assert parse_serial_url("/dev/ttyUSB0?exclusive=0")[1]["exclusive"] is False
    assert parse_serial_url("socket://h:1?logging=debug")[0] == "socket://h:1?logging=debug"
    assert SerialTransport("serial:///dev/ttyACM0?baud=9600").name == "serial:///dev/ttyACM0"


@pytest.mark.parametrize(("url", "words"), [
    ("serial:///dev/ttyACM0?parity=E", "unknown serial option 'parity'"),
    ("serial:///dev/ttyACM0?baud=fast", "baud='fast'"),
    ("serial:///dev/ttyACM0?rtscts=maybe", "rtscts='maybe'"),
    ("serial://?baud=9600", "no port given"),
])
def test_bad_options(url: str, words: str) -> None:
    with pytest.raises(TransportError, match=words) as e:
        open_url(url)
    assert "\n" not in str(e.value)


async def test_open_errors_are_one_line() -> None:
    with pytest.raises(TransportError) as e:
        await SerialTransport("serial:///dev/does-not-exist").open()
    assert str(e.value) == "serial:///dev/does-not-exist: no such port"
    with pytest.raises(TransportError, match=r"loop://\?bogus=1: bad option") as e:
        await SerialTransport("loop://?bogus=1").open()
    assert "\n" not in str(e.value)
    tr = SerialTransport("loop://")
    with pytest.raises(TransportError, match="not open"):
        await tr.write(b"x")


async def test_busy_port() -> None:
    with sensor() as sim:
        async with SerialTransport(sim.port) as first:
            with pytest.raises(TransportError) as e:
                await SerialTransport(sim.port).open()
            assert str(e.value) == f"{sim.port}: busy (another program has the port open)"
            assert first.is_open


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens a chmod 000 file anyway")
async def test_permission_denied(tmp_path) -> None:
    path = tmp_path / "ttyNOPE"
    path.touch(mode=0)
    with pytest.raises(TransportError, match=r"permission denied .*dialout") as e:
        await SerialTransport(f"serial://{path}").open()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, "permission denied (add your user to the dialout group"),
    (errno.EBUSY, "busy"),
    (errno.EIO, "could not open port /dev/ttyX: [Errno 5] Input/output error"),
])
async def test_open_error_mapping(monkeypatch, code: int, words: str) -> None:
    """pyserial's errno decides the message (whoever runs the tests)."""
    def fail(port, **kw):
        raise serial.SerialException(code, f"could not open port {port}: "
                                           f"[Errno {code}] {os.strerror(code)}")

    monkeypatch.setattr(serial, "serial_for_url", fail)
    with pytest.raises(TransportError) as e:
        await SerialTransport("serial:///dev/ttyX").open()
    assert str(e.value).startswith(f"serial:///dev/ttyX: {words}")
    assert "\n" not in str(e.value)


async def test_device_session_over_a_real_pty_survives_an_unplug(tmp_path) -> None:
    """The whole live host over a real tty: handshake, streaming, time sync; the cable is
    pulled and put back; the session reconnects on the same path, resumes and refills the
    gap from the device's backlog; the recording replays to the same samples."""
    from stridecore.record import record_session
    from stridecore.replay import replay

    out = tmp_path / "pty.mcap"
    with PtySensor("sim://?placement=left_foot&odr=416", motion=SineMotion()) as sensor:
        port = sensor.port

        async def cable() -> None:
            await asyncio.sleep(1.5)
            sensor.unplug()
            await asyncio.sleep(0.5)
            if sensor.replug() != port:
                pytest.skip("the kernel gave the new pty another path")

        task = asyncio.get_running_loop().create_task(cable())
        run = await record_session([f"serial://{port}"], out, duration_s=4.0)
        await task
    assert not run.errors, run.errors
    (s,) = run.sessions
    assert s.info is not None and s.info.uid == b"SIMLFOOT"
    assert len(s.link.disconnects) == 1 and len(s.link.resumed) == 1
    res = s.link.resumed[0]
    assert res["t_resumed_s"] - s.link.disconnects[0] < 2.0
    assert res["gap_samples"] > 0.4 * 416 and res["backlog_samples"] == res["gap_samples"]
    smp, _ = s.stream.all_samples()
    assert len(smp) > 3.0 * 416 and s.stream.clock.ready
    again, _ = replay(out).streams[s.key].all_samples()
    assert smp.equals(again)
