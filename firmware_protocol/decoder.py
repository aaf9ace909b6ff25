"""Sans-I/O stream decoder: bytes in, batches of checked frames and SI samples out.

``feed(data)`` takes any chunk of a serial (COBS + 0x00) stream; ``feed_packet(pkt)`` takes one
BLE notification (one frame, no COBS). Neither ever raises on bad input: every problem is counted
by kind, and decoding resynchronises at the next delimiter (serial) or packet (BLE).

The output of a feed is a :class:`Batch`: samples in SI units as column arrays (no Python
object per sample), a structured array of data-frame metadata, the decoded non-data messages,
the sample gaps found and the problem counts. The same frames in the same order give the same
batches' concatenation however the bytes were chunked.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from firmware_protocol.batch import FRAME_DTYPE, Batch, Gap, Message, SampleFlag, Samples
from firmware_protocol.cobs import cobs_max_encoded_len
from firmware_protocol.frame import (
    COMMANDS,
    DATA_TYPES,
    IMU6_BYTES_PER_SAMPLE,
    IMU6_HEADER_LEN,
    IMU6_OVERHEAD,
    KNOWN_TYPES,
    MAX_FRAME_LEN,
    MIN_FRAME_LEN,
    PROTOCOL_VERSION,
    FrameType,
    is_reply,
)
from firmware_protocol.imu6 import HEADER_DTYPE, RAW_MAX, RAW_MIN
from firmware_protocol.messages import (
    Config,
    PayloadError,
    StartReply,
    Status,
    decode_command,
    decode_reply,
    decode_telemetry,
)
from firmware_protocol.tracker import (
    QUARANTINE_CHAIN,
    SEQ_MOD,
    Tracker,
    unwrap_idx,
)

MAX_ENCODED_LEN = cobs_max_encoded_len(MAX_FRAME_LEN)
_HEAD_BYTES = np.arange(IMU6_HEADER_LEN)
_IMU6_HEAD = struct.Struct("<HQIBB")  # seq, t_us, sample_idx, cfg_id, n (from offset 2)


def _lut(types) -> np.ndarray:
    t = np.zeros(256, bool)
    t[[int(x) for x in types]] = True
    return t


_DEVICE_TYPES = _lut(x for x in KNOWN_TYPES if x >= 0x10)
_HOST_TYPES = _lut(x for x in KNOWN_TYPES if x < 0x10)
_DATA_LUT = _lut(DATA_TYPES)
_TELEMETRY_LUT = _lut((FrameType.STATUS, FrameType.EVENT, FrameType.LOG))

#: Problem kinds, each counted in :attr:`StreamDecoder.problems`.
PROBLEM_KINDS = (
    "bad_cobs",  # a COBS code ran past its block
    "truncated",  # shorter than a frame / an IMU6 header
    "oversize",  # longer than 3080 B (frame) or its COBS encoding
    "bad_crc",
    "bad_version",
    "unknown_type",
    "bad_length",  # IMU6 length != 20 + 12·n, or n == 0
    "bad_payload",  # command/reply/telemetry body shorter than its layout
    "implausible",  # CRC-valid data frame off the sample_idx/t_us line (and no re-anchor)
    "duplicate",  # a frame whose samples (or seq, for other frames) were already delivered
    "out_of_order",  # a live frame arriving after later ones; its samples are delivered, LATE
    "lost_frames",  # frames missing from seq
    "lost_samples",  # samples missing from sample_idx (gaps still open when they were found)
    "unknown_cfg",  # data frame with a cfg_id whose scales are unknown (samples are NaN)
    "reanchored",  # the timing line was re-anchored on a chain of frames
    "unplaced",  # backlog frame before any live frame: no line to place it on (dropped)
)


@dataclass
class _Scale:
    acc: float
    gyr: float
    period_us: float
    n_max: int


class StreamDecoder:
    """Decode one direction of one device's byte stream.

    ``framing``: ``"cobs"`` (serial: ``COBS(frame) + 0x00``) or ``"packet"`` (BLE: one frame per
    notification). ``direction``: ``"device"`` (device→host: data, replies, telemetry) or
    ``"host"`` (host→device: commands). ``configs`` pre-loads scale factors by ``cfg_id``;
    GET_CONFIG/SET_CONFIG replies seen in the stream add to them.
    """

    def __init__(self, framing: str = "cobs", direction: str = "device",
                 configs: dict[int, Config] | None = None) -> None:
        if framing not in ("cobs", "packet"):
            raise ValueError(f"framing must be 'cobs' or 'packet', not {framing!r}")
        if direction not in ("device", "host"):
            raise ValueError(f"direction must be 'device' or 'host', not {direction!r}")
        self.framing = framing
        self.direction = direction
        self.problems: Counter = Counter({k: 0 for k in PROBLEM_KINDS})
        self.frames_ok = 0
        self.samples_out = 0
        self.bytes_in = 0
        self.recovered_samples = 0  # samples of reported gaps that arrived later
        self._pending = b""
        self._skipping = False  # inside an oversize run: drop until the next delimiter
        from firmware_protocol import kernels, runs, si  # numba: imported with a decoder

        self._kernels = kernels
        self._runs = runs
        self._si = si
        self._frame_no = 0
        self._tracker = Tracker()
        self._scales: dict[int, _Scale] = {}
        for cfg in (configs or {}).values():
            self._register_config(cfg)

    def __getstate__(self) -> dict:
        """Picklable (a replay in another process hands its decoders back): without the
        kernel modules, which :meth:`__setstate__` imports again."""
        state = self.__dict__.copy()
        for name in ("_kernels", "_runs", "_si"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        from firmware_protocol import kernels, runs, si

        self.__dict__.update(state)
        self._kernels, self._runs, self._si = kernels, runs, si

    # ------------------------------------------------------------------ public API
    def feed(self, data: bytes | bytearray | memoryview) -> Batch:
        """Feed any chunk of a COBS-framed stream; returns what completed in it."""
        if self.framing != "cobs":
            raise RuntimeError("feed() is for framing='cobs'; use feed_packet()")
        data = bytes(data)
        self.bytes_in += len(data)
        batch = Batch()
        buf = self._pending + data if self._pending else data
        last_zero = buf.rfind(b"\x00")
        if last_zero < 0:
            self._keep_pending(buf, batch)
            return self._finish(batch)
        complete, rest = buf[: last_zero + 1], buf[last_zero + 1 :]
        base = self.bytes_in - len(buf)  # stream position of buf[0]
        if self._skipping:  # tail of an oversize run, already counted
            cut = complete.find(b"\x00") + 1
            complete = complete[cut:]
            base += cut
            self._skipping = False
        self._pending = b""
        self._keep_pending(rest, batch)
        if complete:
            k = self._kernels
            arr = np.frombuffer(complete, dtype=np.uint8)
            nmax = complete.count(b"\x00")
            out = np.empty(arr.size, np.uint8)
            starts = np.empty(nmax, np.int64)
            lens = np.empty(nmax, np.int64)
            status = np.empty(nmax, np.uint8)
            enc_end = np.empty(nmax, np.int64)
            nb = k.cobs_frames(arr, MAX_ENCODED_LEN, k.CRC_TABLE, out, starts, lens, status,
                               enc_end)
            status = status[:nb]
            ends = base + enc_end[:nb]  # where each frame ends in the stream
            pb = batch.problems
            for code, kind in ((k.BAD_COBS, "bad_cobs"), (k.OVERSIZE, "oversize"),
                               (k.BAD_CRC, "bad_crc"), (k.TRUNCATED, "truncated")):
                pb[kind] += int(np.count_nonzero(status == code))
            good = status == k.OK
            self._process(out, starts[:nb][good], lens[:nb][good], ends[good], batch,
                          crc_checked=True)
        return self._finish(batch)

    def feed_packet(self, packet: bytes | bytearray | memoryview) -> Batch:
        """Feed one BLE notification (exactly one frame)."""
        if self.framing != "packet":
            raise RuntimeError("feed_packet() is for framing='packet'; use feed()")
        pkt = bytes(packet)
        batch = self._continue_line(pkt)
        return batch if batch is not None else self.feed_packets([pkt])

    def _continue_line(self, b: bytes) -> Batch | None:
        """The common live case without array set-up: a valid IMU6 frame that continues the
        line (the same checks as :func:`~firmware_protocol.runs.clean_run`). None: take the general
        path."""
        tr = self._tracker
        ln = tr.line
        n = len(b)
        if (n < IMU6_OVERHEAD or b[0] != PROTOCOL_VERSION or b[1] != FrameType.IMU6
                or not ln.started or tr.quarantine or tr.last_seq < 0):
            return None
        seq, t_us, idx_raw, cfg_id, k = _IMU6_HEAD.unpack_from(b, 2)
        u = ln.next_idx
        if (k == 0 or n != IMU6_OVERHEAD + IMU6_BYTES_PER_SAMPLE * k
                or (seq - tr.last_seq) % SEQ_MOD != 1 or idx_raw != u % (1 << 32)
                or cfg_id != ln.cfg_id or k > ln.n_max
                or crc_hqx(b[:-2], 0xFFFF) != int.from_bytes(b[-2:], "little")
                or not ln.plausible_1(ln.last_idx, ln.last_t_us, u, float(t_us))):
            return None
        self.bytes_in += n
        batch = Batch()
        fr = np.zeros(1, FRAME_DTYPE)
        period = ln.period_us_1(u, float(t_us))
        fr[0] = (self._take_no(), seq, FrameType.IMU6, t_us, u, cfg_id, k, period, self.bytes_in)
        raw = np.frombuffer(b, "<i2", count=6 * k, offset=18).reshape(k, 6)
        tr.advance_seq(seq)
        tr.accept_live(u, float(t_us), k)
        i = np.arange(k)
        sc = self._scales.get(cfg_id)
        if sc is None:
            batch.problems["unknown_cfg"] += 1
            si = np.full((k, 6), np.nan)
            flags = np.full(k, SampleFlag.UNKNOWN_CFG, np.uint8)
        else:
            si = raw * np.array([sc.acc, sc.acc, sc.acc, sc.gyr, sc.gyr, sc.gyr])
            flags = np.zeros(k, np.uint8)
        lim = (raw >= RAW_MAX) | (raw <= RAW_MIN)
        if lim.any():
            flags[lim[:, :3].any(axis=1)] |= np.uint8(SampleFlag.CLIPPED_ACC)
            flags[lim[:, 3:].any(axis=1)] |= np.uint8(SampleFlag.CLIPPED_GYR)
        batch.samples = Samples(u + i, float(t_us) + i * period, si[:, :3], si[:, 3:], flags)
        batch.frames = fr
        batch.sample_start = np.zeros(1, np.int64)
        return self._finish(batch)

    def feed_packets(self, packets: Iterable[bytes | bytearray | memoryview]) -> Batch:
        """Feed many BLE notifications at once (replay); same result as one by one."""
        if self.framing != "packet":
            raise RuntimeError("feed_packet() is for framing='packet'; use feed()")
        pk = [bytes(p) for p in packets]
        ends = np.cumsum(np.fromiter((len(p) for p in pk), dtype=np.int64, count=len(pk)))
        return self.feed_packed(b"".join(pk), ends)

    def feed_packed(self, data: bytes | bytearray | memoryview, ends: np.ndarray) -> Batch:
        """Feed many BLE notifications given as one buffer: packet ``i`` is
        ``data[ends[i-1]:ends[i]]`` (``ends`` ascending, ``ends[-1] == len(data)``)."""
        if self.framing != "packet":
            raise RuntimeError("feed_packed() is for framing='packet'; use feed()")
        ends = np.asarray(ends, dtype=np.int64)
        lens = np.diff(ends, prepend=0) if ends.size else ends
        starts = ends - lens
        arr = np.frombuffer(bytes(data), dtype=np.uint8)
        base = self.bytes_in
        self.bytes_in += int(ends[-1]) if ends.size else 0
        batch = Batch()
        self._process(arr, starts, lens, base + ends, batch)
        return self._finish(batch)

    def flush(self) -> Batch:
        """End of stream: count an unterminated tail and frames still held in quarantine."""
        batch = Batch()
        if self._pending:
            batch.problems["truncated"] += 1
            self._pending = b""
        self._skipping = False
        batch.problems["implausible"] += len(self._tracker.quarantine)
        self._tracker.quarantine = []
        return self._finish(batch)

    @property
    def next_sample_idx(self) -> int:
        """Index of the next live sample expected (-1 before the first data frame)."""
        ln = self._tracker.line
        return ln.next_idx if ln.started else -1

    @property
    def open_gaps(self) -> list[tuple[int, int]]:
        """Sample ranges [first, end) reported missing and not filled since."""
        return [(a, b) for a, b in self._tracker.open_gaps]

    @property
    def scales(self) -> dict[int, tuple[float, float]]:
        """Known ``cfg_id`` → (acc m/s² per count, gyro rad/s per count)."""
        return {k: (v.acc, v.gyr) for k, v in self._scales.items()}

    # ------------------------------------------------------------------ internals
    def _keep_pending(self, rest: bytes, batch: Batch) -> None:
        if self._skipping:
            return
        if len(rest) > MAX_ENCODED_LEN:  # hostile or lost delimiter: bound memory
            batch.problems["oversize"] += 1
            self._skipping = True
            self._pending = b""
        else:
            self._pending = rest

    def _finish(self, batch: Batch) -> Batch:
        self.problems.update(batch.problems)
        self.samples_out += len(batch.samples)
        return batch

    def _register_config(self, cfg: Config) -> None:
        period = 1e6 / cfg.odr_hz if cfg.odr_hz > 0 else float("nan")
        self._scales[cfg.cfg_id] = _Scale(cfg.acc_scale_mps2, cfg.gyro_scale_radps, period,
                                          cfg.n_max or 255)
        self._switch_cfg(cfg.cfg_id)

    def _process(self, buf: np.ndarray, starts: np.ndarray, lens: np.ndarray, ends: np.ndarray,
                 batch: Batch, crc_checked: bool = False) -> None:
        """Check candidate frames ``buf[starts[k]:starts[k]+lens[k]]`` and run them in order
        (``ends[k]``: stream position of the frame's end; ``crc_checked``: the COBS kernel
        already checked length >= 6 and the CRC)."""
        pb = batch.problems
        short = lens < MIN_FRAME_LEN
        long_ = lens > MAX_FRAME_LEN
        pb["truncated"] += int(short.sum())
        pb["oversize"] += int(long_.sum())
        sel = ~(short | long_)
        starts, lens, ends = starts[sel], lens[sel], ends[sel]
        if starts.size == 0:
            return
        if not crc_checked:
            k = self._kernels
            good = k.crc_ok_many(buf, starts, lens, k.CRC_TABLE)
            pb["bad_crc"] += int(np.count_nonzero(~good))
            starts, lens, ends = starts[good], lens[good], ends[good]
        version = buf[starts]
        ftype = buf[starts + 1]
        badv = version != PROTOCOL_VERSION
        pb["bad_version"] += int(badv.sum())
        known = (_HOST_TYPES if self.direction == "host" else _DEVICE_TYPES)[ftype]
        unk = ~badv & ~known
        pb["unknown_type"] += int(unk.sum())
        sel = ~badv & known
        starts, lens, ends, ftype = starts[sel], lens[sel], ends[sel], ftype[sel]
        is_data = _DATA_LUT[ftype]
        # IMU6 length and n checks
        n_arr = np.zeros(starts.size, np.int64)
        trunc = is_data & (lens < IMU6_OVERHEAD)
        has_n = is_data & ~trunc  # byte 17 (n) exists only in frames of >= 20 B
        n_arr[has_n] = buf[starts[has_n] + 17]
        badlen = is_data & ~trunc & ((lens != IMU6_OVERHEAD + IMU6_BYTES_PER_SAMPLE * n_arr)
                                     | (n_arr == 0))
        pb["truncated"] += int(trunc.sum())
        pb["bad_length"] += int(badlen.sum())
        sel = ~(trunc | badlen)
        starts, lens, ends, ftype, is_data, n_arr = (starts[sel], lens[sel], ends[sel],
                                                     ftype[sel], is_data[sel], n_arr[sel])
        seq = (buf[starts + 2].astype(np.int64) | (buf[starts + 3].astype(np.int64) << 8))
        nf = starts.size
        if nf == 0:
            return
        # data frame headers (the samples stay in buf until they are emitted)
        t_us = np.zeros(nf, np.float64)
        t_raw = np.zeros(nf, np.uint64)
        idx_raw = np.zeros(nf, np.int64)
        cfg = np.zeros(nf, np.int64)
        pos = np.flatnonzero(is_data)
        if pos.size:
            heads = buf[starts[pos][:, None] + _HEAD_BYTES].view(HEADER_DTYPE).reshape(-1)
            t_raw[pos] = heads["t_us"]
            t_us[pos] = heads["t_us"].astype(np.float64)
            idx_raw[pos] = heads["sample_idx"]
            cfg[pos] = heads["cfg_id"]
        f = _Frames(buf, starts, lens, ends, ftype, seq, is_data, n_arr, t_us, t_raw, idx_raw,
                    cfg)
        self._run(f, batch)


    # ------------------------------------------------------------------ sequential part
    # One decision per frame, in stream order; runs of clean live frames are decided in bulk
    # (vectorised), which is the common case. Accepted frames are recorded as segments:
    #   ("run", i, j, first_no)              frames i..j-1, no flags
    #   ("one", i, flag, mask, no)           one frame, optional per-sample keep mask
    #   ("held", _HeldFrame, no)             a frame released from quarantine
    def _run(self, f: _Frames, batch: Batch) -> None:
        segs: list[tuple] = []
        live = f.ftype == FrameType.IMU6
        easy = live | _TELEMETRY_LUT[f.ftype]  # frames that cannot change the line state
        nf = f.starts.size
        state = np.empty(9)
        i = 0
        while i < nf:
            tr = self._tracker
            ln = tr.line
            if easy[i] and ln.started and not tr.quarantine and tr.last_seq >= 0:
                state[:] = (tr.last_seq, ln.next_idx, ln.last_idx, ln.last_t_us, ln.cfg_id,
                            ln.n_max, ln.anchor_idx, ln.anchor_t_us, ln.nominal_period_us)
                j = self._runs.clean_run(f.seq, live, easy, f.n_arr, f.t_us, f.idx_raw, f.cfg,
                                         i, state, f.idx, f.period)
                if j > i:
                    self._accept_run(f, i, j, live, segs, batch, state)
                    i = j
                    continue
            self._slow(f, i, batch, segs)
            i += 1
        self._emit(f, segs, batch)

    def _take_no(self, k: int = 1) -> int:
        first = self._frame_no
        self._frame_no += k
        self.frames_ok += k
        return first

    def _accept_run(self, f: _Frames, i: int, j: int, live: np.ndarray, segs: list,
                    batch: Batch, state: np.ndarray) -> None:
        """Accept the clean run [i, j) that :func:`~firmware_protocol.runs.clean_run` found
        (it set the data frames' indices and periods and left the line's end in ``state``):
        data frames in bulk, telemetry one by one, in order."""
        tr = self._tracker
        # split into stretches of data frames separated by telemetry frames
        tel = (i + np.flatnonzero(~live[i:j])).tolist()
        a = i
        for k in [*tel, j]:
            if k > a:
                segs.append(("run", a, k, self._take_no(k - a)))
            if k < j:
                self._message(f, k, int(f.ftype[k]), int(f.seq[k]), batch)
            a = k + 1
        if j - 1 > i:
            tr.recent_seqs.extend(f.seq[max(i, j - 1 - tr.recent_seqs.maxlen) : j - 1].tolist())
        tr.advance_seq(int(f.seq[j - 1]))
        if len(tel) < j - i:
            ln = tr.line
            ln.next_idx, ln.last_idx, ln.last_t_us = int(state[1]), int(state[2]), float(state[3])

    def _accept_one(self, f: _Frames, i: int, u: int, period: float, flag: int,
                    segs: list, mask: np.ndarray | None = None) -> None:
        f.idx[i] = u
        f.period[i] = period
        segs.append(("one", i, int(flag), mask, self._take_no()))

    def _slow(self, f: _Frames, i: int, batch: Batch, segs: list) -> bool:
        """Decide frame ``i`` alone. True if the tracker now sits right after it."""
        tr = self._tracker
        ln = tr.line
        pb = batch.problems
        seq, ftype = int(f.seq[i]), int(f.ftype[i])
        verdict, lost = tr.note_seq(seq)
        if not f.is_data[i]:
            if verdict == "behind":
                if seq in tr.recent_seqs:
                    pb["duplicate"] += 1
                    return False
                pb["out_of_order"] += 1
            else:
                pb["lost_frames"] += lost
                tr.advance_seq(seq)
            self._message(f, i, ftype, seq, batch)
            return False
        n, t, cfg_id = int(f.n_arr[i]), float(f.t_us[i]), int(f.cfg[i])
        if ftype == FrameType.IMU6_BACKLOG:
            if verdict != "behind":
                pb["lost_frames"] += lost
                tr.advance_seq(seq)
            if not ln.started:  # no live line to place it on (a decoder started mid-session)
                pb["unplaced"] += 1
                return False
            u = int(unwrap_idx(int(f.idx_raw[i]), ln.next_idx))
            if not ln.plausible_1(ln.last_idx, ln.last_t_us, u, t) or cfg_id != ln.cfg_id:
                pb["implausible"] += 1
                return False
            mask = tr.take_from_gaps(u, u + n)
            if u + n > ln.next_idx:  # ahead of the live stream: it continues after these
                if u > ln.next_idx:
                    self._gap(ln.next_idx, u, batch)
                mask[max(ln.next_idx - u, 0) :] = True
                tr.accept_live(u, t, n)
            if mask.any():
                self.recovered_samples += int(mask.sum())
                period = ln.period_us_1(u, t)
                self._accept_one(f, i, u, period, SampleFlag.BACKLOG, segs,
                                 None if mask.all() else mask)
            else:
                pb["duplicate"] += 1
            return False
        cfg_known = cfg_id in self._scales or (not self._scales and
                                                (ln.cfg_id < 0 or cfg_id == ln.cfg_id))
        if not ln.started:
            ref = tr.restart_idx if tr.restart_idx >= 0 else int(f.idx_raw[i])
            u = int(unwrap_idx(int(f.idx_raw[i]), ref))
            if not cfg_known or n > ln.n_max:
                return self._hold(f, i, u, batch, segs)
            flag = 0
            if tr.restart_idx >= 0 and u > tr.restart_idx:
                flag = self._gap(tr.restart_idx, u, batch)
            tr.restart_idx = -1
            pb["lost_frames"] += lost if verdict == "gap" else 0
            self._switch_cfg(cfg_id)
            tr.accept_live(u, t, n)
            tr.advance_seq(seq)
            self._accept_one(f, i, u, ln.period_us_1(u, t), flag, segs)
            return True
        u = int(unwrap_idx(int(f.idx_raw[i]), ln.next_idx))
        on_line = ln.plausible_1(ln.last_idx, ln.last_t_us, u, t) and cfg_known \
            and n <= ln.n_max
        if not on_line:
            return self._hold(f, i, u, batch, segs)
        period = ln.period_us_1(u, t)
        if u < ln.next_idx:  # behind the stream: a late frame or a duplicate
            mask = tr.take_from_gaps(u, u + n)
            if not mask.any():
                pb["duplicate"] += 1
                return False
            pb["out_of_order"] += 1
            self.recovered_samples += int(mask.sum())
            self._accept_one(f, i, u, period, SampleFlag.LATE, segs,
                             None if mask.all() else mask)
            return False
        flag = self._gap(ln.next_idx, u, batch) if u > ln.next_idx else 0
        if verdict == "gap":
            pb["lost_frames"] += lost
        if tr.quarantine:  # the line goes on: the frames held off it were corrupt
            pb["implausible"] += len(tr.quarantine)
            tr.quarantine.clear()
        if cfg_id != ln.cfg_id:
            self._switch_cfg(cfg_id)
        tr.accept_live(u, t, n)
        if verdict != "behind":
            tr.advance_seq(seq)
        self._accept_one(f, i, u, period, flag, segs)
        return True

    def _gap(self, first: int, end: int, batch: Batch) -> int:
        """Record samples [first, end) as missing; returns the GAP_BEFORE flag."""
        batch.problems["lost_samples"] += end - first
        self._tracker.open_gap(first, end)
        batch.gaps.append(Gap(first, end - first, self._frame_no))
        return int(SampleFlag.GAP_BEFORE)

    def _switch_cfg(self, cfg_id: int) -> None:
        ln = self._tracker.line
        ln.cfg_id = cfg_id
        sc = self._scales.get(cfg_id)
        if sc is not None:
            ln.nominal_period_us = sc.period_us
            ln.n_max = sc.n_max

    def _hold(self, f: _Frames, i: int, u: int, batch: Batch, segs: list) -> bool:
        """Quarantine an off-line live frame; re-anchor when three chain up."""
        tr = self._tracker
        q = tr.quarantine
        h = _HeldFrame(seq=int(f.seq[i]), idx=u, t_us=float(f.t_us[i]), n=int(f.n_arr[i]),
                       cfg_id=int(f.cfg[i]), t_raw=int(f.t_raw[i]),
                       raw=f.raw_for(i))
        if q:
            last = q[-1]
            u_chain = int(unwrap_idx(int(f.idx_raw[i]), last.idx + last.n))
            period = (h.t_us - last.t_us) / max(u_chain - last.idx, 1)
            nominal = tr.line.nominal_period_us
            if ((h.seq - last.seq) % SEQ_MOD == 1 and u_chain == last.idx + last.n
                    and h.cfg_id == last.cfg_id and period > 0
                    and (np.isnan(nominal) or abs(period / nominal - 1) < 0.2)):
                h.idx = u_chain
            else:
                batch.problems["implausible"] += len(q)
                q.clear()
        q.append(h)
        if len(q) < QUARANTINE_CHAIN:
            return False
        batch.problems["reanchored"] += 1
        ln = tr.line
        first = q[0]
        flag = 0
        if ln.started and 0 < first.idx - ln.next_idx < (1 << 26):
            flag = self._gap(ln.next_idx, first.idx, batch)
        tr.restart_idx = -1
        tr.reanchor(first.idx, first.t_us)
        self._switch_cfg(first.cfg_id)
        for k, hk in enumerate(q):
            hk.period = ln.period_us_1(hk.idx, hk.t_us)
            hk.flag = flag if k == 0 else 0
            segs.append(("held", hk, self._take_no(), int(f.ends[i])))
            tr.accept_live(hk.idx, hk.t_us, hk.n)
        tr.advance_seq(q[-1].seq)
        q.clear()
        return True

    def _message(self, f: _Frames, i: int, ftype: int, seq: int, batch: Batch) -> None:
        s, n = int(f.starts[i]), int(f.lens[i])
        payload = f.buf[s + 4 : s + n - 2].tobytes()
        try:
            if ftype in COMMANDS:
                body = decode_command(ftype, payload)
            elif is_reply(ftype):
                body = decode_reply(ftype, payload)
            else:
                body = decode_telemetry(ftype, payload)
        except PayloadError:
            batch.problems["bad_payload"] += 1
            return
        if is_reply(ftype) and body.status == Status.OK:
            if isinstance(body.body, Config):
                self._register_config(body.body)
            elif isinstance(body.body, StartReply):
                self._on_start(body.body, batch)
        batch.messages.append(Message(self._take_no(), seq, ftype, body, int(f.ends[i])))

    def _on_start(self, rep: StartReply, batch: Batch) -> None:
        tr = self._tracker
        ln = tr.line
        if ln.started:
            u = int(unwrap_idx(rep.sample_idx, ln.next_idx))
            if u >= ln.next_idx:  # resumed: what was sampled meanwhile is missing (backlog)
                if u > ln.next_idx:
                    self._gap(ln.next_idx, u, batch)
                    ln.next_idx = u
                return
        tr.restart(rep.sample_idx)
        if rep.cfg_id in self._scales:
            self._switch_cfg(rep.cfg_id)

    # ------------------------------------------------------------------ output
    def _emit(self, f: _Frames, segs: list, batch: Batch) -> None:
        """Build the frame table and the SI sample array of the accepted frames, in order."""
        if not segs:
            return
        pos_parts, flag_parts, no_parts = [], [], []
        held: list[tuple[int, _HeldFrame, int]] = []
        masks: dict[int, np.ndarray] = {}
        row = 0
        for seg in segs:
            if seg[0] == "run":
                _, i, j, no = seg
                pos_parts.append(np.arange(i, j))
                flag_parts.append(np.zeros(j - i, np.uint8))
                no_parts.append(np.arange(no, no + j - i))
                row += j - i
            elif seg[0] == "one":
                _, i, flag, mask, no = seg
                pos_parts.append(np.array([i]))
                flag_parts.append(np.array([flag], np.uint8))
                no_parts.append(np.array([no]))
                if mask is not None:
                    masks[row] = mask
                row += 1
            else:
                _, h, no, end = seg
                pos_parts.append(np.array([-1]))
                flag_parts.append(np.array([h.flag], np.uint8))
                no_parts.append(np.array([no]))
                held.append((row, h, end))
                row += 1
        pos = np.concatenate(pos_parts)
        nfr = pos.size
        fr = np.zeros(nfr, FRAME_DTYPE)
        fr["frame_no"] = np.concatenate(no_parts)
        p = pos >= 0
        pp = pos[p]
        fr["seq"][p] = f.seq[pp]
        fr["type"][p] = f.ftype[pp]
        fr["t_us"][p] = f.t_raw[pp]
        fr["sample_idx"][p] = f.idx[pp]
        fr["cfg_id"][p] = f.cfg[pp]
        fr["n"][p] = f.n_arr[pp]
        fr["period_us"][p] = f.period[pp]
        fr["end_byte"][p] = f.ends[pp]
        for r, h, end in held:
            fr[r] = (fr["frame_no"][r], h.seq, FrameType.IMU6, h.t_raw, h.idx, h.cfg_id, h.n,
                     h.period, end)
        counts = fr["n"].astype(np.int64)
        raw_at = np.zeros(nfr, np.int64)
        raw_at[p] = f.starts[pp] + IMU6_HEADER_LEN
        buf = f.buf
        if held:  # their samples were copied when they were held: put them after buf
            extra = [h.raw.tobytes() for _r, h, _e in held]
            at = buf.size + np.cumsum([0] + [len(x) for x in extra[:-1]])
            raw_at[[r for r, _h, _e in held]] = at
            buf = np.concatenate([buf, np.frombuffer(b"".join(extra), np.uint8)])
        self._build_samples(fr, buf, raw_at, counts, np.concatenate(flag_parts), masks, batch)

    def _build_samples(self, fr: np.ndarray, buf: np.ndarray, raw_at: np.ndarray,
                       counts: np.ndarray, fflags: np.ndarray, masks: dict[int, np.ndarray],
                       batch: Batch) -> None:
        """SI samples of the accepted frames ``fr`` (raw counts of frame k at ``buf[raw_at[k]:]``),
        in order (:func:`firmware_protocol.si.imu6_si`)."""
        nfr = fr.size
        offsets = np.cumsum(counts) - counts
        total = int(counts.sum())
        cids = np.unique(fr["cfg_id"])
        acc_s = np.full(nfr, np.nan)
        gyr_s = np.full(nfr, np.nan)
        for cid in cids.tolist():
            sel = fr["cfg_id"] == cid if cids.size > 1 else slice(None)
            sc = self._scales.get(cid)
            if sc is None:
                batch.problems["unknown_cfg"] += nfr if cids.size == 1 else int(sel.sum())
            else:
                acc_s[sel] = sc.acc
                gyr_s[sel] = sc.gyr
        idx = np.empty(total, np.int64)
        t_dev = np.empty(total, np.float64)
        acc = np.empty((total, 3), np.float64)
        gyr = np.empty((total, 3), np.float64)
        fl = np.empty(total, np.uint8)
        self._si.imu6_si(buf, raw_at, counts, fr["sample_idx"], fr["t_us"].astype(np.float64),
                         fr["period_us"], fflags, acc_s, gyr_s, idx, t_dev, acc, gyr, fl)
        s = Samples(idx, t_dev, acc, gyr, fl)
        start = offsets
        if masks:
            keep = np.ones(total, bool)
            for r, m in masks.items():
                keep[offsets[r] : offsets[r] + counts[r]] = m
            s = s[keep]
            start = np.cumsum(keep) - keep  # kept samples before each frame's first
            start = start[offsets]
        batch.samples = s
        batch.frames = fr
        batch.sample_start = start


@dataclass
class _HeldFrame:
    seq: int
    idx: int
    t_us: float
    n: int
    cfg_id: int
    t_raw: int
    raw: np.ndarray
    period: float = float("nan")
    flag: int = 0


class _Frames:
    """Column view of the checked frames of one feed (positions in stream order)."""

    def __init__(self, buf, starts, lens, ends, ftype, seq, is_data, n_arr, t_us, t_raw,
                 idx_raw, cfg) -> None:
        self.buf, self.starts, self.lens, self.ftype, self.seq = buf, starts, lens, ftype, seq
        self.ends = ends
        self.is_data, self.n_arr, self.t_us, self.t_raw = is_data, n_arr, t_us, t_raw
        self.idx_raw, self.cfg = idx_raw, cfg
        self.idx = np.zeros(starts.size, np.int64)
        self.period = np.full(starts.size, np.nan)

    def raw_for(self, i: int) -> np.ndarray:
        """Raw counts (n, 6) int16 of data frame ``i`` (a copy)."""
        a = int(self.starts[i]) + IMU6_HEADER_LEN
        n = int(self.n_arr[i])
        return self.buf[a : a + 12 * n].copy().view("<i2").reshape(n, 6)
