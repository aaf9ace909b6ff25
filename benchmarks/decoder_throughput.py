"""Throughput of firmware_protocol.StreamDecoder on a realistic one-hour stream of one sensor.

Run: ``uv run python benchmarks/decoder_throughput.py`` (``--quick``: one minute of data, for the
smoke test). Prints the machine, then a table per transport path:

* serial / COBS: ``feed`` in chunks of 4 KiB, 64 KiB and one chunk of the whole stream;
* BLE / packet: ``feed_packet`` one notification at a time and ``feed_packets`` in lists of 1000;
* a plain-Python reference decoder (byte-by-byte COBS, ``binascii.crc_hqx``, ``struct.unpack`` per
  frame and per sample, Python-float scaling, a list of per-sample tuples) on the same bytes.

The machine is shared and noisy: every timing is repeated, median and min are printed, and the
speed-up against the reference (measured in the same run) is the number to compare across runs.
The fast decoder's samples must equal the reference's exactly (exit status 1 otherwise).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import struct
import sys
import time
from binascii import crc_hqx
from collections import Counter

import numpy as np

from firmware_protocol import Batch, StreamDecoder, cobs_encode, encode_frame, encode_imu6
from firmware_protocol.messages import Config, DeviceStatus, Reply

ODR_HZ = 416
N_PER_FRAME = 18
ODR_TRUE_HZ = ODR_HZ * 1.013  # the IMU's real output data rate strays from nominal
T0_US = 12_345_678
TARGET_MBPS = 50.0
TARGET_SPS = 1e6
CONFIG = Config(odr_hz=ODR_HZ, acc_range_g=16, gyro_range_dps=2000, n_max=N_PER_FRAME, cfg_id=1,
                acc_scale_mps2=16 * 9.80665 / 32768,
                gyro_scale_radps=float(np.deg2rad(2000) / 32768))


# --------------------------------------------------------------------------- machine
from _machine import code_version, machine  # noqa: E402
from _signals import foot_counts  # noqa: E402  (benchmarks/ is on sys.path)


def print_machine() -> None:
    print("machine:")
    for k, v in machine().items():
        print(f"  {k:7s} {v}")
    print(f"  code    {code_version()}")


# --------------------------------------------------------------------------- stream
def make_raw(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """(n, 6) int16 counts of a running foot sensor at 16 g / 2000 dps.

    Accelerometer: gravity (2048 counts) on z plus a stride-periodic swing of up to ~±2000
    counts; gyroscope: small values (tens of counts), so most high bytes are 0x00 or 0xFF,
    which is the COBS-heavy case (every 0x00 byte is a COBS code position).
    """
    t = np.arange(n_samples) / ODR_TRUE_HZ
    stride = 1.45 + 0.05 * np.sin(2 * np.pi * t / 97.0)  # strides per second, slowly varying
    ph = 2 * np.pi * np.cumsum(stride) / ODR_TRUE_HZ
    return foot_counts(ph, rng)


def make_frames(seconds: float, seed: int = 1) -> tuple[list[bytes], int]:
    """Frames of one sensor's device→host stream: a GET_CONFIG reply, then IMU6 frames
    (416 Hz, n = 18) with a STATUS frame once per device second. Returns (frames, n_samples)."""
    rng = np.random.default_rng(seed)
    n_frames = int(seconds * ODR_HZ) // N_PER_FRAME
    n_samples = n_frames * N_PER_FRAME
    raw = make_raw(rng, n_samples)
    frames = [encode_frame(0x82, 0, Reply(2, 7, 0, CONFIG).pack())]
    seq = 1
    next_status_us = T0_US + 1_000_000
    jitter = rng.integers(-40, 41, n_frames)
    for k in range(n_frames):
        idx = k * N_PER_FRAME
        t_us = T0_US + round(idx * 1e6 / ODR_TRUE_HZ) + int(jitter[k])
        if t_us >= next_status_us:
            st = DeviceStatus(t_us=t_us, battery_mv=3900 - k // 2000, soc_pct=87, flags=8,
                              fifo_overruns=0, tx_drops=0, mtu=0, temp_centi_c=3150)
            frames.append(encode_frame(0x20, seq, st.pack()))
            seq += 1
            next_status_us += 1_000_000
        frames.append(encode_imu6(seq, t_us, idx, CONFIG.cfg_id,
                                  raw[idx : idx + N_PER_FRAME]))
        seq += 1
    return frames, n_samples


def serial_stream(frames: list[bytes]) -> bytes:
    return b"".join(cobs_encode(f) + b"\x00" for f in frames)


# --------------------------------------------------------------------------- reference
_HDR = struct.Struct("<BBH")
_IMU = struct.Struct("<QIBB")
_SMP = struct.Struct("<6h")
_CFG = Config.FMT


def ref_cobs_frames(stream: bytes) -> list[bytes]:
    """Byte-by-byte COBS decoder: the frames between 0x00 delimiters (invalid blocks skipped)."""
    frames = []
    buf = bytearray()
    left = 0  # data bytes still to copy in the current code block
    code = 0
    started = False
    for byte in stream:
        if byte == 0:
            if started and left == 0:
                frames.append(bytes(buf))
            buf = bytearray()
            left = 0
            started = False
        elif left == 0:  # a code byte
            if started and code != 0xFF:
                buf.append(0)
            code = byte
            left = byte - 1
            started = True
        else:
            buf.append(byte)
            left -= 1
    return frames


class RefDecoder:
    """Plain-Python frame decoder: CRC, header, scales from the GET_CONFIG reply, per-sample
    ``struct.unpack`` and float scaling. The sample period P follows PROTOCOL.md rule 5 (slope
    from the anchor, the first data frame, to the frame itself; the configured rate within 32
    samples of the anchor; up to 256 samples that slope clipped to ±5 % of it), so
    ``t_device_us`` = ``t_us + i·P`` is comparable exactly with the fast decoder's."""

    def __init__(self) -> None:
        self.scales: dict[int, tuple[float, float, float]] = {}
        self.out: list[tuple] = []
        self.bad = 0
        self.anchor: tuple[int, float] | None = None

    def frame(self, fr: bytes) -> None:
        n_b = len(fr)
        if n_b < 6 or crc_hqx(fr[:-2], 0xFFFF) != struct.unpack_from("<H", fr, n_b - 2)[0]:
            self.bad += 1
            return
        version, ftype, _seq = _HDR.unpack_from(fr)
        if version != 1:
            self.bad += 1
            return
        if ftype == 0x82:  # GET_CONFIG reply: req_id, status, Config
            if fr[5] == 0:
                odr, _ag, _gd, _nm, cfg_id, acc_s, gyr_s, _x, _y, _z = _CFG.unpack_from(fr, 6)
                self.scales[cfg_id] = (acc_s, gyr_s, 1e6 / odr)
        elif ftype == 0x10:
            t_us, idx, cfg_id, n = _IMU.unpack_from(fr, 4)
            if n_b != 20 + 12 * n or cfg_id not in self.scales:
                self.bad += 1
                return
            sa, sg, nominal = self.scales[cfg_id]
            t = float(t_us)
            if self.anchor is None:
                self.anchor = (idx, t)
            a_idx, a_t = self.anchor
            span = idx - a_idx
            if abs(span) >= 256:
                period = (t - a_t) / span
            elif abs(span) >= 32:
                period = min(max((t - a_t) / span, 0.95 * nominal), 1.05 * nominal)
            else:
                period = nominal
            out = self.out
            for i in range(n):
                ax, ay, az, gx, gy, gz = _SMP.unpack_from(fr, 18 + 12 * i)
                out.append((idx + i, t + i * period, ax * sa, ay * sa, az * sa,
                            gx * sg, gy * sg, gz * sg))
        # STATUS and anything else: checked (CRC) and skipped


def ref_decode_serial(stream: bytes) -> list[tuple]:
    dec = RefDecoder()
    for fr in ref_cobs_frames(stream):
        dec.frame(fr)
    return dec.out


def ref_decode_packets(frames: list[bytes]) -> list[tuple]:
    dec = RefDecoder()
    for fr in frames:
        dec.frame(fr)
    return dec.out


# --------------------------------------------------------------------------- runners
def run_feed(stream: bytes, chunk: int) -> list[Batch]:
    dec = StreamDecoder(framing="cobs")
    mv = memoryview(stream)
    return [dec.feed(mv[k : k + chunk]) for k in range(0, len(stream), chunk)]


def run_packet(frames: list[bytes]) -> list[Batch]:
    dec = StreamDecoder(framing="packet")
    return [dec.feed_packet(f) for f in frames]


def run_packets(frames: list[bytes], per: int) -> list[Batch]:
    dec = StreamDecoder(framing="packet")
    return [dec.feed_packets(frames[k : k + per]) for k in range(0, len(frames), per)]


def timed(fn, reps: int, budget_s: float = 90.0):
    """(times, last result). Stops early (after at least 3 repetitions) once the repetitions
    took ``budget_s`` in total, so the slow cases do not take forever."""
    times = []
    res = None
    for _ in range(reps):
        res = None
        gc.collect()
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and sum(times) > budget_s:
            break
    return times, res


def samples_matrix(batches: list[Batch]) -> tuple[np.ndarray, np.ndarray]:
    s = Batch.concat(batches).samples
    m = np.column_stack([s.sample_idx.astype(np.float64), s.t_device_us, s.acc_mps2,
                         s.gyr_radps])
    return m, s.flags


def check_equal(name: str, got: tuple[np.ndarray, np.ndarray], ref: np.ndarray) -> bool:
    m, flags = got
    if m.shape != ref.shape:
        print(f"  MISMATCH {name}: shape {m.shape} vs reference {ref.shape}")
        return False
    cols = ["sample_idx", "t_device_us", "ax", "ay", "az", "gx", "gy", "gz"]
    ok = True
    for c, col in enumerate(cols):
        diff = np.flatnonzero(m[:, c] != ref[:, c])
        if diff.size:
            k = int(diff[0])
            print(f"  MISMATCH {name}: column {col} differs in {diff.size} samples, first at "
                  f"row {k}: {m[k, c]!r} vs reference {ref[k, c]!r}")
            ok = False
    if flags.any():
        print(f"  MISMATCH {name}: {int((flags != 0).sum())} samples carry flags")
        ok = False
    return ok


# --------------------------------------------------------------------------- variants
def data_only(frames: list[bytes]) -> list[bytes]:
    """The IMU6 frames alone, ``seq`` renumbered so that no frame is missing."""
    data = [f for f in frames if f[1] == 0x10]
    return [frames[0]] + [encode_frame(0x10, k + 1, f[4:-2]) for k, f in enumerate(data)]


def drop_data(frames: list[bytes], every: int | None = None, frac: float = 0.0,
              seed: int = 2) -> list[bytes]:
    """Lose data frames (seq gaps, as lost BLE notifications): every ``every``-th or a random
    fraction ``frac``."""
    rng = np.random.default_rng(seed)
    out, k = [], 0
    for f in frames:
        if f[1] == 0x10:
            k += 1
            if (every and k % every == 0) or (frac and rng.random() < frac):
                continue
        out.append(f)
    return out


def with_stray(frames: list[bytes], at: int = 10, shift_us: int = 10_000_000) -> list[bytes]:
    """Data frame number ``at`` replaced by a CRC-valid copy whose ``t_us`` is ``shift_us``
    late: a frame off the sample_idx / t_us line (a corrupted header that passed the CRC)."""
    out = list(frames)
    k = 0
    for j, f in enumerate(out):
        if f[1] == 0x10:
            if k == at:
                t = int.from_bytes(f[4:12], "little") + shift_us
                out[j] = encode_frame(0x10, int.from_bytes(f[2:4], "little"),
                                      t.to_bytes(8, "little") + f[12:-2])
                break
            k += 1
    return out


# --------------------------------------------------------------------------- main
HEAD = (f"  {'case':34s} {'reps':>4s} {'med ms':>9s} {'min ms':>9s} {'MB/s med':>8s} "
        f"{'MB/s max':>8s} {'kfr/s':>7s} {'MS/s med':>8s} {'MS/s max':>8s} {'vs ref':>7s}")


def fmt_row(name: str, times: list[float], n_bytes: int, n_frames: int, n_samples: int,
            ref_med: float | None) -> tuple[str, float, float]:
    med, mn = statistics.median(times), min(times)
    speedup = f"{ref_med / med:6.2f}x" if ref_med else f"{'1x':>7s}"
    row = (f"  {name:34s} {len(times):4d} {med * 1e3:9.1f} {mn * 1e3:9.1f} "
           f"{n_bytes / med / 1e6:8.1f} {n_bytes / mn / 1e6:8.1f} {n_frames / med / 1e3:7.1f} "
           f"{n_samples / med / 1e6:8.2f} {n_samples / mn / 1e6:8.2f} {speedup}")
    return row, n_bytes / med / 1e6, n_samples / med


def profile(stream: bytes, chunk: int, top: int = 15) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_feed(stream, chunk)
    prof.disable()
    print(f"cProfile of feed in {chunk} B chunks (top {top} by own time):")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one minute of data, fewer repetitions")
    ap.add_argument("--seconds", type=float, default=None, help="stream length (default 3600)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 7, quick 3)")
    ap.add_argument("--ref-reps", type=int, default=None,
                    help="repetitions of the slow reference (default 3, quick 2)")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile of the 64 KiB and one-chunk feeds")
    args = ap.parse_args()
    seconds = args.seconds or (60.0 if args.quick else 3600.0)
    reps = args.reps or (3 if args.quick else 7)
    ref_reps = args.ref_reps or (2 if args.quick else 3)

    print("decoder_throughput: firmware_protocol.StreamDecoder vs a plain-Python reference")
    print_machine()
    t0 = time.perf_counter()
    frames, n_samples = make_frames(seconds)
    stream = serial_stream(frames)
    n_frames = len(frames)
    n_status = sum(f[1] == 0x20 for f in frames)
    n_pkt_bytes = sum(map(len, frames))
    raw_zero = sum(f.count(0) for f in frames) / n_pkt_bytes
    print(f"stream: {seconds:g} s of one sensor at {ODR_HZ} Hz (true ODR {ODR_TRUE_HZ:.1f} Hz), "
          f"n = {N_PER_FRAME}/frame, 1 STATUS/s, GET_CONFIG reply first")
    print(f"  {n_frames} frames ({n_status} STATUS), {n_samples} samples, "
          f"{n_pkt_bytes / 1e6:.2f} MB of frames, serial {len(stream) / 1e6:.2f} MB (COBS + "
          f"delimiters: {len(stream) / n_pkt_bytes - 1:.2%} overhead), {raw_zero:.1%} of frame "
          f"bytes are 0x00 (built in {time.perf_counter() - t0:.1f} s)")
    print(f"  repetitions: up to {reps} (reference {ref_reps}; a case stops after 3 once it has "
          f"used 90 s); times are per whole stream")

    # ----- warm-up: the first decoder call may compile (numba) or load cached kernels; a
    # long-running host pays that once, so it is timed separately and kept out of the table
    head = frames[: 5 * (ODR_HZ // N_PER_FRAME + 1)]
    t0 = time.perf_counter()
    run_feed(serial_stream(head), 4096)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_packet(head)
    run_packets(head, 1000)
    t_first_pkt = time.perf_counter() - t0
    print(f"  warm-up on the first 5 s (first call: kernel compile / cache load, not in the "
          f"tables): feed {t_first:.2f} s, feed_packet(s) {t_first_pkt:.2f} s")

    ok = True
    # ----- the reference first: its samples are the yardstick
    ref_s_times, ref_s = timed(lambda: ref_decode_serial(stream), ref_reps)
    ref_p_times, ref_p = timed(lambda: ref_decode_packets(frames), ref_reps)
    ref = np.array(ref_s, dtype=np.float64)
    if ref.shape != (n_samples, 8):
        print(f"reference decoded {ref.shape[0]} samples, expected {n_samples}")
        ok = False
    if not np.array_equal(ref, np.array(ref_p, dtype=np.float64)):
        print("reference serial and packet outputs differ")
        ok = False
    del ref_s, ref_p
    ref_s_med = statistics.median(ref_s_times)
    ref_p_med = statistics.median(ref_p_times)

    cases = [
        ("serial", "feed, 4 KiB chunks", lambda: run_feed(stream, 4096)),
        ("serial", "feed, 64 KiB chunks", lambda: run_feed(stream, 65536)),
        ("serial", "feed, one chunk (whole stream)", lambda: run_feed(stream, len(stream))),
        ("ble", "feed_packet, one at a time", lambda: run_packet(frames)),
        ("ble", "feed_packets, lists of 1000", lambda: run_packets(frames, 1000)),
    ]
    results: dict[str, tuple[float, float]] = {}
    rows: dict[str, list[str]] = {"serial": [], "ble": []}
    for path, name, fn in cases:
        times, batches = timed(fn, reps)
        got = samples_matrix(batches)
        del batches
        if not check_equal(name, got, ref):
            ok = False
        nb = len(stream) if path == "serial" else n_pkt_bytes
        rm = ref_s_med if path == "serial" else ref_p_med
        row, mbps, sps = fmt_row(name, times, nb, n_frames, n_samples, rm)
        rows[path].append(row)
        results[name] = (mbps, sps)

    print()
    print(f"(a) serial / COBS path: {len(stream) / 1e6:.2f} MB; MB/s of serial bytes")
    print(HEAD)
    print(fmt_row("reference (plain Python)", ref_s_times, len(stream), n_frames, n_samples,
                  None)[0])
    for r in rows["serial"]:
        print(r)
    print()
    print(f"(b) BLE / packet path: {n_pkt_bytes / 1e6:.2f} MB; MB/s of frame bytes")
    print(HEAD)
    print(fmt_row("reference (plain Python)", ref_p_times, n_pkt_bytes, n_frames, n_samples,
                  None)[0])
    for r in rows["ble"]:
        print(r)
    print("  kfr/s: thousand frames/s; MS/s: million samples/s decoded to SI float64; vs ref: "
          "reference median / case median (> 1: faster than the plain-Python reference)")

    # ----- (c) sensitivity: the same decoder on variants of the first 10 minutes
    sub_s = min(seconds, 600.0)
    sub = frames[: 1 + int(sub_s * (ODR_HZ / N_PER_FRAME + 1))]
    variants = [
        ("as above (1 STATUS/s)", sub),
        ("data only (no STATUS)", data_only(sub)),
        ("data only, every 24th frame lost", drop_data(data_only(sub), every=24)),
        ("as above, 1 % of frames lost", drop_data(sub, frac=0.01)),
        ("as above, 1 off-line frame early", with_stray(sub)),
    ]
    print()
    print(f"(c) sensitivity: serial feed of variants of the first {sub_s:g} s, one chunk and "
          f"64 KiB chunks (no reference; vs 1st = speed relative to the first row)")
    print(f"  {'variant':34s} {'chunk':>6s} {'reps':>4s} {'med ms':>9s} {'MB/s med':>8s} "
          f"{'MS/s med':>8s} {'vs 1st':>7s}  problems")
    base: dict[int, float] = {}
    for name, fr in variants:
        st = serial_stream(fr)
        for chunk in (len(st), 65536):
            times, batches = timed(lambda st=st, chunk=chunk: run_feed(st, chunk),
                                   min(reps, 3), budget_s=30.0)
            b = Batch.concat(batches)
            probs = Counter()
            for x in batches:
                probs.update(x.problems)
            med = statistics.median(times)
            key = 0 if chunk == len(st) else chunk
            base.setdefault(key, med / len(st))
            rel = (base[key] * len(st)) / med
            label = "one" if key == 0 else "64Ki"
            print(f"  {name:34s} {label:>6s} {len(times):4d} {med * 1e3:9.1f} "
                  f"{len(st) / med / 1e6:8.1f} {len(b.samples) / med / 1e6:8.2f} {rel:6.2f}x  "
                  f"{dict(+probs)}")
    print("  (quarantined frames are counted 'implausible' only when released or at flush();")
    print("   these runs do not flush)")

    print()
    print("targets (medians of the full stream):")
    for name in ("feed, 64 KiB chunks", "feed, one chunk (whole stream)", "feed, 4 KiB chunks"):
        mbps, _ = results[name]
        print(f"  COBS path >= {TARGET_MBPS:.0f} MB/s        {name:32s} {mbps:8.1f} MB/s  "
              f"{'PASS' if mbps >= TARGET_MBPS else 'FAIL'}")
    for _path, name, _fn in cases:
        _, sps = results[name]
        print(f"  >= 1 M samples/s to SI    {name:32s} {sps / 1e6:8.2f} MS/s  "
              f"{'PASS' if sps >= TARGET_SPS else 'FAIL'}")
    print()
    two_sensors = 2 * 3600 * 1000
    for name in ("feed, 64 KiB chunks", "feed, one chunk (whole stream)",
                 "feed_packet, one at a time", "feed_packets, lists of 1000"):
        _, sps = results[name]
        print(f"one hour of two 1 kHz sensors ({two_sensors / 1e6:.1f} M samples) decodes in "
              f"{two_sensors / sps:6.1f} s  [{name}]")
    if args.profile:
        print()
        profile(stream, 65536)
        profile(stream, len(stream))
    print()
    print(f"samples identical to the reference (all 5 cases): {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
