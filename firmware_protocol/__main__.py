"""``python -m firmware_protocol decode CAPTURE [--transport serial|ble]``.

Prints every frame of a capture as one JSON object per line (type, seq, fields, samples in SI
units), then one line with the problem counts. Exit 0 for a clean capture, 2 if the file is
unreadable or any problem was found (the frames before and after it are still printed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

from firmware_protocol.batch import Batch, SampleFlag
from firmware_protocol.capture import CaptureError, read_ble_capture
from firmware_protocol.decoder import StreamDecoder
from firmware_protocol.frame import type_name
from firmware_protocol.messages import Command, Config, Reply, Status, body_fields

CHUNK = 1 << 16
BENIGN = {"reanchored"}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def frame_records(batch: Batch) -> list[tuple[int, dict]]:
    """(frame_no, JSON-able dict) for every data frame and message of a batch."""
    out: list[tuple[int, dict]] = []
    s = batch.samples
    pos = 0
    for fr in batch.frames:
        first, n = int(fr["sample_idx"]), int(fr["n"])
        k = pos
        while k < len(s) and first <= s.sample_idx[k] < first + n and k - pos < n:
            k += 1
        flags = sorted({f.name for f in SampleFlag for v in s.flags[pos:k].tolist() if v & f})
        samples = [[_num(v) for v in (*a, *g)] for a, g in zip(
            s.acc_mps2[pos:k].tolist(), s.gyr_radps[pos:k].tolist(), strict=True)]
        out.append((int(fr["frame_no"]), {
            "frame_no": int(fr["frame_no"]), "seq": int(fr["seq"]),
            "type": type_name(int(fr["type"])), "t_us": int(fr["t_us"]),
            "sample_idx": first, "cfg_id": int(fr["cfg_id"]), "n": n,
            "first_sample_idx": int(s.sample_idx[pos]) if k > pos else None,
            "flags": flags, "samples": samples}))
        pos = k
    for m in batch.messages:
        rec: dict = {"frame_no": m.frame_no, "seq": m.seq, "type": type_name(m.type)}
        body = m.body
        if isinstance(body, Reply):
            rec["req_id"] = body.req_id
            rec["status"] = Status(body.status).name if body.status in iter(Status) else \
                body.status
            rec["fields"] = body_fields(body.body)
        elif isinstance(body, Command):
            rec["req_id"] = body.req_id
            rec["fields"] = body_fields(body.body)
        else:
            rec["fields"] = body_fields(body)
        out.append((m.frame_no, rec))
    for g in batch.gaps:
        out.append((g.frame_no, {"frame_no": g.frame_no, "type": "GAP",
                                 "first_sample_idx": g.first_idx, "count": g.count}))
    out.sort(key=lambda r: (r[0], r[1]["type"] != "GAP"))
    return out


def decode_capture(path: Path, transport: str, direction: str, configs: dict,
                   write=print) -> Counter:
    dec = StreamDecoder(framing="cobs" if transport == "serial" else "packet",
                        direction=direction, configs=configs)
    data = path.read_bytes()
    error = None

    def emit(b: Batch) -> None:
        for _, rec in frame_records(b):
            write(json.dumps(rec, separators=(",", ":")))

    if transport == "serial":
        for off in range(0, len(data), CHUNK):
            emit(dec.feed(data[off : off + CHUNK]))
    else:
        recs = []
        try:
            for r in read_ble_capture(data):
                recs.append(r.data)
                if len(recs) >= 4096:
                    emit(dec.feed_packets(recs))
                    recs = []
        except CaptureError as e:
            error = e
        emit(dec.feed_packets(recs))
    emit(dec.flush())
    problems = Counter({k: v for k, v in dec.problems.items() if v})
    if error is not None:
        problems["truncated"] += 1
    write(json.dumps({"type": "SUMMARY", "frames": dec.frames_ok, "samples": dec.samples_out,
                      "bytes": len(data), "problems": dict(problems)}))
    if error is not None:
        print(f"firmware_protocol: {path}: {error}", file=sys.stderr)
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m firmware_protocol",
                                 description="stridecore sensor protocol v1 tools")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("decode", help="print every frame of a capture as JSON lines")
    d.add_argument("capture", type=Path)
    d.add_argument("--transport", choices=("serial", "ble"), default="serial",
                   help="serial: raw COBS byte stream; ble: u64 host_ns, u16 len, bytes records")
    d.add_argument("--direction", choices=("device", "host"), default="device")
    d.add_argument("--odr-hz", type=int, help="scales to use if the capture has no config reply")
    d.add_argument("--acc-range-g", type=int)
    d.add_argument("--gyro-range-dps", type=int)
    d.add_argument("--cfg-id", type=int, default=1)
    a = ap.parse_args(argv)
    configs = {}
    given = [a.odr_hz, a.acc_range_g, a.gyro_range_dps]
    if any(v is not None for v in given):
        if not all(v is not None for v in given):
            print("firmware_protocol: --odr-hz, --acc-range-g and --gyro-range-dps go together",
                  file=sys.stderr)
            return 2
        configs[a.cfg_id] = Config(a.odr_hz, a.acc_range_g, a.gyro_range_dps, 255, a.cfg_id,
                                   a.acc_range_g * 9.80665 / 32768,
                                   math.radians(a.gyro_range_dps) / 32768)
    if not a.capture.is_file():
        print(f"firmware_protocol: {a.capture}: no such file", file=sys.stderr)
        return 2
    try:
        problems = decode_capture(a.capture, a.transport, a.direction, configs)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    bad = {k: v for k, v in problems.items() if k not in BENIGN}
    if bad:
        desc = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        print(f"firmware_protocol: {a.capture}: problems found: {desc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
