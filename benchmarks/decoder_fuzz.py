"""Mutation fuzz of firmware_protocol.StreamDecoder on the serial (COBS) path.

Run: ``uv run python benchmarks/decoder_fuzz.py`` (10⁶ cases, 2 worker processes, several
minutes); ``--quick`` runs 20 000 cases (smoke test); ``--n``, ``--seed``, ``--workers`` change
the run; ``--case I`` regenerates case ``I`` of ``--seed`` alone and prints it in detail.

Each case is a window of a valid device→host serial stream: a GET_CONFIG reply (so the scales
are known), then 4–8 consecutive IMU6 frames (416 Hz ±2 %, n = 13 or 18, realistic counts, random
``seq`` / ``sample_idx`` / ``t_us`` starts so the u16 / u32 wraps are exercised). Exactly one data
frame's ``COBS(frame) + 0x00`` bytes are mutated (kind = case number modulo the kinds below),
the result is fed to a fresh decoder in random chunks, then ``flush()``; it is checked that:

* ``feed`` / ``flush`` never raise;
* ``decoder._pending`` never exceeds ``MAX_ENCODED_LEN`` (memory bounded) after any feed;
* every untouched data frame is delivered exactly (each of its samples once, same SI values);
  allowance: the mutated frame, plus the following frame when the mutation removed the
  mutated frame's delimiter (the two frames are joined);
* the problem counters are not all zero (every case changes the stream), except when the mutated
  frame is the last one and nothing of it remained (unobservable) or when it was falsely accepted;
* "falsely accepted": the decoder delivered a data frame (header or samples) or a message that is
  not one of the original frames, i.e. a corrupted frame passed CRC + length + type +
  plausibility. As a comparison, every 0x00-delimited block of the mutated stream is COBS-decoded
  with the scalar decoder and its CRC-16 checked ("CRC-only pass": a block of ≥ 6 B that is not
  an original frame but whose CRC matches).

Losses the decoder's rules make unavoidable are counted in their own columns, not hidden:
"start rule": frames behind the first frame the decoder accepted (after a swap with the first
frame, the frames that arrive after it but belong before it are counted ``duplicate``: no gap can
exist before the start of the line); "after FA": losses in a case where a corrupted frame had
been falsely accepted. Exit status 1 on any exception, unexpected loss, uncounted loss,
double delivery or unbounded buffer.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from firmware_protocol import (
    Batch,
    CobsError,
    StreamDecoder,
    cobs_decode,
    cobs_encode,
    crc16,
    encode_frame,
    encode_imu6,
)
from firmware_protocol.decoder import MAX_ENCODED_LEN, PROBLEM_KINDS
from firmware_protocol.messages import Config, Reply

KINDS = (
    "bitflip",  # flip 1-8 random bits of COBS(frame)+0x00 (the delimiter included)
    "overwrite",  # overwrite 1-8 random bytes with different values (delimiter included)
    "insert",  # insert 1-8 random bytes at one position before the delimiter
    "delete",  # delete 1-8 consecutive bytes (may take the delimiter)
    "delim_destroy",  # the frame's delimiter becomes a random non-zero byte
    "delim_inject",  # a 0x00 overwritten into / inserted in the frame's COBS bytes
    "truncate",  # keep only a prefix (possibly empty) of the COBS bytes, then the delimiter
    "duplicate",  # the (valid) frame is sent twice, the copy later in the window
    "swap",  # the frame trades places with another data frame of the window
    "random_replace",  # COBS bytes replaced by 1-5000 random bytes (half: no 0x00 in them)
)
# Not in the default mix (``--kinds``): corruptions the CRC missed. 1-8 bits of the frame are
# flipped and the CRC is recomputed, so every case is a "CRC-only pass" by construction and the
# table shows what the decoder's remaining checks (length, type, plausibility) catch.
EXTRA_KINDS = (
    "crc_escape",  # bits flipped anywhere in header + payload, CRC recomputed
    "crc_escape_hdr",  # bits flipped in the 18-byte IMU6 header only, CRC recomputed
)
ODR_HZ = 416
POOL_SAMPLES = 1 << 16
IDX_MOD = 1 << 32
MAX_EXAMPLES = 5  # failure examples kept per kind and category


# --------------------------------------------------------------------------- machine
from _machine import code_version, machine  # noqa: E402
from _signals import foot_counts  # noqa: E402  (benchmarks/ is on sys.path)


# --------------------------------------------------------------------------- case generation
def make_pool(seed: int) -> np.ndarray:
    """Realistic int16 counts (16 g / 2000 dps, running foot): gravity on z, ±2000-count swings
    on the accelerometer, gyro within tens of counts (many 0x00 / 0xFF high bytes)."""
    rng = np.random.default_rng([seed, 0x9001])
    n = POOL_SAMPLES
    ph = 2 * np.pi * 1.45 * np.arange(n) / ODR_HZ
    return foot_counts(ph, rng)


@dataclass
class Case:
    index: int
    kind: str
    n: int  # samples per frame
    k: int  # data frames in the window
    m: int  # the mutated data frame
    cfg: Config
    config_frame: bytes
    frames: list[bytes]  # original data frames
    seqs: list[int]
    t_us: list[int]
    idx0: int  # sample_idx of data frame 0 (u32 on the wire)
    raw: np.ndarray  # (k * n, 6) int16
    stream: bytes
    chunks: list[int]
    allowed: set[int] = field(default_factory=set)  # data frames that may be lost
    erased: bool = False  # the mutated frame left no byte at all
    note: str = ""


def build_case(seed: int, i: int, pool: np.ndarray, kinds: tuple[str, ...] = KINDS) -> Case:
    rng = np.random.default_rng([seed, i])
    kind = kinds[i % len(kinds)]
    n = 18 if rng.random() < 0.7 else 13
    k = int(rng.integers(4, 9))
    odr_true = ODR_HZ * (1 + rng.uniform(-0.02, 0.02))
    cfg_id = int(rng.integers(0, 256))
    # round trip through the wire format so the scales are the f32 values the decoder sees
    cfg = Config.unpack(Config(ODR_HZ, 16, 2000, n, cfg_id, 16 * 9.80665 / 32768,
                               float(np.deg2rad(2000) / 32768)).pack())
    seq0 = int(rng.integers(0, 1 << 16))
    idx0 = int(rng.integers(0, IDX_MOD)) if rng.random() < 0.5 else \
        int(IDX_MOD - rng.integers(1, 8 * n))  # half of the windows cross the u32 wrap soon
    t0 = int(rng.integers(1_000_000, 1 << 36))
    off = int(rng.integers(0, POOL_SAMPLES - k * n))
    raw = pool[off : off + k * n]
    config_frame = encode_frame(0x82, seq0, Reply(2, int(rng.integers(0, 256)), 0, cfg).pack())
    frames, seqs, ts = [], [], []
    for j in range(k):
        seq = (seq0 + 1 + j) & 0xFFFF
        t = t0 + round(j * n * 1e6 / odr_true) + int(rng.integers(-40, 41))
        frames.append(encode_imu6(seq, t, (idx0 + j * n) % IDX_MOD, cfg_id,
                                  raw[j * n : (j + 1) * n]))
        seqs.append(seq)
        ts.append(t)
    segs = [cobs_encode(f) + b"\x00" for f in frames]
    m = int(rng.integers(0, k))
    seg = bytearray(segs[m])
    length = len(seg)
    allowed = {m}
    note = ""
    order = list(range(k))  # data-frame segments in stream order (-1: the mutated one)
    extra: dict[int, bytes] = {}  # position -> segment inserted before order[position]
    if kind == "bitflip":
        nb = int(rng.integers(1, 9))
        bits = rng.choice(length * 8, size=nb, replace=False)
        for b in bits.tolist():
            seg[b // 8] ^= 1 << (b % 8)
        note = f"bits {sorted(bits.tolist())}"
    elif kind == "overwrite":
        nb = int(rng.integers(1, min(9, length + 1)))
        pos = rng.choice(length, size=nb, replace=False)
        for p in pos.tolist():
            seg[p] = (seg[p] + int(rng.integers(1, 256))) % 256
        note = f"bytes at {sorted(pos.tolist())}"
    elif kind == "insert":
        nb = int(rng.integers(1, 9))
        p = int(rng.integers(0, length))
        seg[p:p] = rng.integers(0, 256, nb, dtype=np.uint8).tobytes()
        note = f"{nb} B at {p}"
    elif kind == "delete":
        nb = int(rng.integers(1, 9))
        p = int(rng.integers(0, length))
        del seg[p : p + nb]
        note = f"{nb} B at {p}"
    elif kind == "delim_destroy":
        seg[-1] = int(rng.integers(1, 256))
    elif kind == "delim_inject":
        # strictly inside the block: a 0x00 inserted before the first byte would only be idle
        # fill (an empty block), which is valid and changes nothing
        if rng.random() < 0.5:
            p = int(rng.integers(0, length - 1))
            seg[p] = 0
            note = f"0x00 over byte {p}"
        else:
            p = int(rng.integers(1, length - 1))
            seg[p:p] = b"\x00"
            note = f"0x00 inserted at {p}"
    elif kind == "truncate":
        r = int(rng.integers(0, length - 1))
        seg = bytearray(seg[:r]) + b"\x00"
        note = f"kept {r} of {length - 1} B"
    elif kind == "duplicate":
        allowed = set()
        at = int(rng.integers(m + 1, k + 1))
        extra[at] = bytes(seg)
        note = f"copy before data frame {at}" if at < k else "copy at the end"
    elif kind == "swap":
        allowed = set()
        m2 = int(rng.choice([j for j in range(k) if j != m]))
        order[m], order[m2] = m2, m
        note = f"swapped with data frame {m2}"
    elif kind == "random_replace":
        nb = int(rng.integers(1, 5001))
        if rng.random() < 0.5:
            junk = rng.integers(0, 256, nb, dtype=np.uint8).tobytes()
            note = f"{nb} random B"
        else:
            junk = rng.integers(1, 256, nb, dtype=np.uint8).tobytes()
            note = f"{nb} random non-zero B"
        seg = bytearray(junk) + b"\x00"
    elif kind in ("crc_escape", "crc_escape_hdr"):
        fr = bytearray(frames[m])
        span = 18 if kind == "crc_escape_hdr" else len(fr) - 2
        nb = int(rng.integers(1, 9))
        bits = rng.choice(span * 8, size=nb, replace=False)
        for b in bits.tolist():
            fr[b // 8] ^= 1 << (b % 8)
        fr[-2:] = crc16(fr[:-2]).to_bytes(2, "little")
        seg = bytearray(cobs_encode(fr) + b"\x00")
        note = f"frame bits {sorted(bits.tolist())}, CRC recomputed"
    else:  # pragma: no cover
        raise AssertionError(kind)
    if kind not in ("duplicate", "swap"):
        if not seg.endswith(b"\x00"):  # delimiter gone: frame m+1 is joined to the remains
            allowed.add(m + 1)
        segs[m] = bytes(seg)
    erased = kind == "truncate" and len(seg) == 1
    parts = [cobs_encode(config_frame) + b"\x00"]
    for pos in range(k):
        if pos in extra:
            parts.append(extra[pos])
        parts.append(segs[order[pos]])
    if k in extra:
        parts.append(extra[k])
    stream = b"".join(parts)
    chunks = split_chunks(rng, len(stream))
    return Case(i, kind, n, k, m, cfg, config_frame, frames, seqs, ts, idx0, raw, stream,
                chunks, {a for a in allowed if a < k}, erased, note)


def split_chunks(rng: np.random.Generator, total: int) -> list[int]:
    mode = rng.random()
    if mode < 0.2:
        return [total]
    hi = 8 if mode < 0.25 else 64 if mode < 0.45 else 300 if mode < 0.8 else 2000
    out = []
    left = total
    while left > 0:
        c = min(int(rng.integers(1, hi + 1)), left)
        out.append(c)
        left -= c
    return out


# --------------------------------------------------------------------------- checking
@dataclass
class Outcome:
    exception: str | None = None
    harness_error: str | None = None
    max_pending: int = 0
    lost: list[int] = field(default_factory=list)  # untouched frames not delivered exactly
    lost_unexpected: list[int] = field(default_factory=list)
    lost_start_rule: list[int] = field(default_factory=list)
    lost_after_fa: list[int] = field(default_factory=list)
    uncounted: bool = False
    double: int = 0
    fa_samples: bool = False
    fa_header: bool = False
    fa_message: bool = False
    crc_only: int = 0  # corrupted blocks whose CRC matches
    problems: Counter = field(default_factory=Counter)
    delivered_frames: int = 0

    @property
    def fa(self) -> bool:
        return self.fa_samples or self.fa_header or self.fa_message


def crc_only_passes(case: Case) -> int:
    """Blocks of the mutated stream that are not an original frame but pass the CRC alone."""
    originals = {case.config_frame, *case.frames}
    count = 0
    for block in case.stream.split(b"\x00"):
        if not block:
            continue
        try:
            fr = cobs_decode(block)
        except CobsError:
            continue
        if len(fr) >= 6 and fr not in originals and \
                crc16(fr[:-2]) == int.from_bytes(fr[-2:], "little"):
            count += 1
    return count


def run_case(case: Case) -> tuple[Outcome, Batch | None]:
    out = Outcome()
    out.crc_only = crc_only_passes(case) if case.kind not in ("duplicate", "swap") else 0
    dec = StreamDecoder(framing="cobs")
    batches = []
    try:
        mv = memoryview(case.stream)
        at = 0
        for c in case.chunks:
            fb = dec.feed(mv[at : at + c])
            if len(fb.frames) or fb.messages or fb.gaps or +fb.problems:
                batches.append(fb)
            at += c
            out.max_pending = max(out.max_pending, len(dec._pending))
        batches.append(dec.flush())
        if len(batches) > 1 and not (batches[-1].frames.size or +batches[-1].problems):
            batches.pop()
    except Exception:
        out.exception = traceback.format_exc()
        return out, None
    out.problems = Counter({k: v for k, v in dec.problems.items() if v})
    try:
        b = Batch.concat(batches)
        check(case, b, out)
    except Exception:  # a bug of this script, not of the decoder: still stop the run failing
        out.harness_error = traceback.format_exc()
        return out, None
    return out, b


def check(case: Case, b: Batch, out: Outcome) -> None:
    n, k = case.n, case.k
    acc = case.raw[:, :3] * case.cfg.acc_scale_mps2
    gyr = case.raw[:, 3:] * case.cfg.gyro_scale_radps
    s = b.samples
    pos = (s.sample_idx - case.idx0) % IDX_MOD
    inr = pos < k * n
    p = np.where(inr, pos, 0)
    match = inr & (s.acc_mps2 == acc[p]).all(axis=1) & (s.gyr_radps == gyr[p]).all(axis=1)
    out.fa_samples = bool((~match).any())
    good = pos[match]
    out.double = int(good.size - np.unique(good).size)
    per_frame = np.bincount(np.unique(good) // n, minlength=k)
    # frame headers
    keys = {(int(sq), t, (case.idx0 + j * n) % IDX_MOD, n, case.cfg.cfg_id)
            for j, (sq, t) in enumerate(zip(case.seqs, case.t_us, strict=True))}
    fr = b.frames
    out.delivered_frames = int(fr.size)
    for row in fr.tolist():  # (frame_no, seq, type, t_us, sample_idx, cfg_id, n, period)
        if row[2] != 0x10 or (row[1], row[3], row[4] % IDX_MOD, row[6], row[5]) not in keys:
            out.fa_header = True
    cfg_seq = int.from_bytes(case.config_frame[2:4], "little")
    for msg in b.messages:
        if msg.type != 0x82 or msg.seq != cfg_seq or msg.body.body != case.cfg:
            out.fa_message = True
    lost = [j for j in range(k) if per_frame[j] != n]
    out.lost = [j for j in lost if j not in case.allowed]
    first_delivered = int(pos[match].min()) // n if match.any() else k
    for j in out.lost:
        if out.fa:
            out.lost_after_fa.append(j)
        elif j < first_delivered and case.kind == "swap":
            out.lost_start_rule.append(j)
        else:
            out.lost_unexpected.append(j)
    # every case changes the stream, so some problem must be counted, unless the change is
    # invisible: the last frame erased without a trace, or a corrupted frame that passed all
    # checks (a false accept, counted in its own column)
    unobservable = case.erased and case.m == k - 1 and lost == [case.m]
    out.uncounted = not out.problems and not unobservable and not out.fa


# --------------------------------------------------------------------------- workers
COLS = ("cases", "lost_unexpected", "uncounted", "exceptions", "double", "pending_over",
        "lost_start_rule", "lost_after_fa", "crc_only_cases", "crc_only_blocks", "fa", "fa_samples",
        "fa_header", "fa_message", "lost_m", "lost_m1")


def run_job(job: tuple[int, int, int, tuple[str, ...]]) -> tuple[dict, dict, int]:
    seed, start, stop, kinds = job
    pool = make_pool(seed)
    stats: dict[str, Counter] = {kd: Counter() for kd in kinds}
    examples: dict[str, list] = {}
    max_pending = 0
    for i in range(start, stop):
        case = build_case(seed, i, pool, kinds)
        o, _b = run_case(case)
        st = stats[case.kind]
        st["cases"] += 1
        max_pending = max(max_pending, o.max_pending)
        cats = []
        if o.exception:
            st["exceptions"] += 1
            cats.append(("exception", o.exception.strip().splitlines()[-1]))
        elif o.harness_error:
            st["harness_errors"] += 1
            cats.append(("harness_error", o.harness_error.strip().splitlines()[-1]))
        else:
            for pk, v in o.problems.items():
                st["p:" + pk] += v
            st["lost_unexpected"] += bool(o.lost_unexpected)
            st["uncounted"] += o.uncounted
            st["double"] += bool(o.double)
            st["pending_over"] += o.max_pending > MAX_ENCODED_LEN
            st["lost_start_rule"] += bool(o.lost_start_rule)
            st["lost_after_fa"] += bool(o.lost_after_fa)
            st["crc_only_cases"] += bool(o.crc_only)
            st["crc_only_blocks"] += o.crc_only
            st["fa"] += o.fa
            st["fa_samples"] += o.fa_samples
            st["fa_header"] += o.fa_header
            st["fa_message"] += o.fa_message
            for name in ("lost_unexpected", "uncounted", "double", "lost_start_rule",
                         "lost_after_fa", "fa"):
                v = getattr(o, name) if name != "fa" else o.fa
                if v:
                    cats.append((name, ""))
            if o.max_pending > MAX_ENCODED_LEN:
                cats.append(("pending_over", str(o.max_pending)))
        for cat, msg in cats:
            lst = examples.setdefault(f"{case.kind}/{cat}", [])
            if len(lst) < MAX_EXAMPLES:
                lst.append((i, msg))
    return {kd: dict(c) for kd, c in stats.items()}, examples, max_pending


# --------------------------------------------------------------------------- reporting
def describe(seed: int, i: int, kinds: tuple[str, ...]) -> int:
    pool = make_pool(seed)
    case = build_case(seed, i, pool, kinds)
    o, b = run_case(case)
    print(f"case {i} (seed {seed}): kind {case.kind}, {case.note}; window of {case.k} IMU6 "
          f"frames, n = {case.n}, mutated data frame {case.m}, allowed to lose "
          f"{sorted(case.allowed)}")
    print(f"  seqs {case.seqs}, sample_idx0 {case.idx0}, t_us {case.t_us}")
    print(f"  stream ({len(case.stream)} B): {case.stream.hex()}")
    print(f"  chunks: {case.chunks}")
    if o.exception or o.harness_error:
        print(o.exception or o.harness_error)
        return 1
    assert b is not None
    print(f"  problems: {dict(o.problems)}")
    print(f"  delivered frames: {b.frames.tolist()}")
    print(f"  messages: {[(m.type, m.seq) for m in b.messages]}")
    print(f"  lost untouched {o.lost} (unexpected {o.lost_unexpected}, start rule "
          f"{o.lost_start_rule}, after false accept {o.lost_after_fa}); uncounted "
          f"{o.uncounted}; double {o.double}; false accept samples/header/message "
          f"{o.fa_samples}/{o.fa_header}/{o.fa_message}; CRC-only passes {o.crc_only}; "
          f"max pending {o.max_pending}")
    return 0


def per_million(x: int, n: int) -> str:
    return f"{x / n * 1e6:8.1f}" if n else f"{'-':>8s}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="cases (default 1 000 000)")
    ap.add_argument("--quick", action="store_true", help="20 000 cases")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--job", type=int, default=2000, help="cases per work unit")
    ap.add_argument("--case", type=int, default=None, help="print one case in detail")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"comma-separated mutation kinds to cycle through (default: the "
                         f"{len(KINDS)} above; also available: {', '.join(EXTRA_KINDS)})")
    args = ap.parse_args()
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS + EXTRA_KINDS]
    if unknown or not kinds:
        ap.error(f"unknown kinds {unknown}")
    if args.case is not None:
        return describe(args.seed, args.case, kinds)
    n = 20_000 if args.quick else args.n
    print("decoder_fuzz: mutation fuzz of firmware_protocol.StreamDecoder (serial / COBS path)")
    print("machine:")
    for key, v in machine().items():
        print(f"  {key:7s} {v}")
    print(f"  code    {code_version()}")
    print(f"cases: {n}, seed {args.seed}, {args.workers} worker processes, kinds cycle "
          f"{len(kinds)} ways (case i has kind i mod {len(kinds)})")
    jobs = [(args.seed, a, min(a + args.job, n), kinds) for a in range(0, n, args.job)]
    totals: dict[str, Counter] = {kd: Counter() for kd in kinds}
    examples: dict[str, list] = {}
    max_pending = 0
    t0 = time.perf_counter()
    done = 0
    next_report = 0.1
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers) as pool:
        for stats, ex, mp_ in pool.imap_unordered(run_job, jobs):
            for kd, c in stats.items():
                totals[kd].update(c)
            for key, lst in ex.items():
                examples.setdefault(key, []).extend(lst)
            max_pending = max(max_pending, mp_)
            done += sum(c.get("cases", 0) for c in stats.values())
            if done / n >= next_report:
                el = time.perf_counter() - t0
                print(f"  {done:>9d} cases  {el:7.0f} s  ({done / el:6.0f} cases/s)", flush=True)
                next_report += 0.1
    elapsed = time.perf_counter() - t0
    print(f"done: {n} cases in {elapsed:.0f} s ({n / elapsed:.0f} cases/s); largest pending "
          f"buffer seen {max_pending} B (bound MAX_ENCODED_LEN = {MAX_ENCODED_LEN} B)")
    print()
    head = (f"  {'kind':15s} {'cases':>8s} {'lost>allow':>10s} {'uncounted':>9s} {'exc':>4s} "
            f"{'double':>6s} {'pend>max':>8s} {'start rule':>10s} {'CRC-only':>8s} "
            f"{'/M':>8s} {'dec FA':>6s} {'/M':>8s} {'after FA':>8s}")
    print(head)
    grand: Counter = Counter()
    for kd in kinds:
        c = totals[kd]
        grand.update(c)
        print(fmt_line(kd, c))
    print(fmt_line("all", grand))
    print()
    print("  lost>allow: cases where an untouched frame was not delivered exactly (must be 0);")
    print("  uncounted: every problem counter stayed 0 although the stream was changed and no")
    print("    corrupted frame was accepted (must be 0; the last frame erased without a trace")
    print("    is exempt: unobservable);")
    print("  exc: feed/flush raised (must be 0); double: a sample delivered twice (must be 0);")
    print("  pend>max: decoder._pending exceeded MAX_ENCODED_LEN after a feed (must be 0);")
    print("  start rule: frames lost only because they belong before the first frame the")
    print("    decoder accepted (swap with the first frame; counted 'duplicate' by the decoder);")
    print("  CRC-only: cases with a corrupted block (>= 6 B, not an original frame) whose CRC-16")
    print("    matches (/M: per million cases of that kind); dec FA: cases where the decoder")
    print("    delivered a frame/message that is not an original (CRC + length + type +")
    print("    plausibility all passed). Duplicate and swap corrupt nothing (CRC-only n/a);")
    print("  after FA: cases where an untouched frame was lost after a false accept (a corrupted")
    print("    header that passed moved the line); not counted as failures, shown here.")
    if grand["fa"] or grand["crc_only_cases"]:
        print(f"  CRC-only blocks in total: {grand['crc_only_blocks']}; decoder false accepts by "
              f"what differed: samples {grand['fa_samples']}, frame header "
              f"{grand['fa_header']}, message {grand['fa_message']}; losses after a false "
              f"accept: {grand['lost_after_fa']}")
    pkinds = [k for k in PROBLEM_KINDS if grand["p:" + k]]
    if pkinds:
        print()
        print("problem counts reported by the decoder, summed over the cases of each kind:")
        short = {k: k.replace("lost_", "l_").replace("out_of_order", "ooo")
                 .replace("implausible", "implaus").replace("reanchored", "reanch")
                 .replace("unknown_", "unk_") for k in pkinds}
        print(f"  {'kind':15s} " + " ".join(f"{short[k]:>9s}" for k in pkinds))
        for kd in (*kinds, "all"):
            c = grand if kd == "all" else totals[kd]
            print(f"  {kd:15s} " + " ".join(f"{c['p:' + k]:9d}" for k in pkinds))
        if grand["p:bad_crc"]:
            print(f"  bad_crc = corrupted blocks that were valid COBS and >= 6 B, i.e. reached "
                  f"the CRC: at 2^-16 per block at most about {grand['p:bad_crc'] / 65536:.1f} "
                  f"CRC-only passes were to be expected in this run (fewer: CRC-16/CCITT "
                  f"detects every burst <= 16 bits and every 1-3 bit error outright)")
    if grand["harness_errors"]:
        print(f"  HARNESS ERRORS (bugs of this script): {grand['harness_errors']}")
    bad = sum(grand[x] for x in ("lost_unexpected", "uncounted", "exceptions", "double",
                                 "pending_over", "harness_errors"))
    if examples:
        print()
        print("examples (case numbers; rerun one with --case I --seed "
              f"{args.seed} to see it in detail):")
        for key in sorted(examples):
            lst = sorted(examples[key])[:MAX_EXAMPLES]
            print(f"  {key:32s} " + ", ".join(f"{i}{' ' + m if m else ''}" for i, m in lst))
    print()
    print(f"verdict: {'PASS' if not bad else 'FAIL'} ({bad} failing cases)")
    return 0 if not bad else 1


def fmt_line(name: str, c: Counter) -> str:
    cases = c["cases"]
    return (f"  {name:15s} {cases:8d} {c['lost_unexpected']:10d} {c['uncounted']:9d} "
            f"{c['exceptions']:4d} {c['double']:6d} {c['pending_over']:8d} "
            f"{c['lost_start_rule']:10d} {c['crc_only_cases']:8d} "
            f"{per_million(c['crc_only_cases'], cases)} {c['fa']:6d} "
            f"{per_million(c['fa'], cases)} {c['lost_after_fa']:8d}")


if __name__ == "__main__":
    sys.exit(main())
