"""The C reference encoder (``firmware_protocol/c``) against the Python encoder and decoder.

Compiles ``stridecore_proto.c`` with the system C compiler (strict C99, warnings are errors)
into the example program and a small test harness, then checks: every frame byte-identical to
the Python encoder, the serial stream decoded by :class:`StreamDecoder` in random chunks with
no problems, the worked example of the protocol brief, the CRC check value, the COBS vectors of
``../shared/vectors/cobs.json`` and the COBS / capacity edge cases.
"""

from __future__ import annotations

import binascii
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_protocol import StreamDecoder, cobs_encode, crc16, encode_frame, encode_imu6
from firmware_protocol.batch import Batch, SampleFlag
from firmware_protocol.cobs import cobs_max_encoded_len
from firmware_protocol.frame import REPLY_BIT, FrameType, decode_frame
from firmware_protocol.messages import (
    BacklogReply,
    Config,
    DeviceStatus,
    Event,
    Info,
    Log,
    Reply,
    StartReply,
    Status,
    TimeSyncReply,
    decode_reply,
    decode_telemetry,
)

C_DIR = Path(__file__).resolve().parents[1] / "firmware_protocol" / "c"
SHARED = Path(__file__).resolve().parents[2] / "shared"
COBS_VECTORS = SHARED / "vectors" / "cobs.json"
CRC_VECTORS = SHARED / "vectors" / "crc.json"
DESIGN_DOC = SHARED / "design" / "protocol-v1.md"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
RUN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}

# Worked example of protocol-v1.md, copied byte for byte (checked against the doc below).
WORKED_FRAME = bytes.fromhex(
    "01 10 02 01 40 42 0f 00 00 00 00 00 a0 01 00 00 01 02 00 00 00 00 00 08 00 00 00 00 00 00"
    " 01 00 ff ff 01 08 0a 00 f6 ff 00 00 0c d8"
)
WORKED_SERIAL = bytes.fromhex(
    "08 01 10 02 01 40 42 0f 01 01 01 01 03 a0 01 01 03 01 02 01 01 01 01 02 08 01 01 01 01 01"
    " 02 01 06 ff ff 01 08 0a 03 f6 ff 01 03 0c d8 00"
)
WORKED_SAMPLES = np.array([[0, 0, 2048, 0, 0, 0], [1, -1, 2049, 10, -10, 0]], np.int16)

# What example_main.c emits (see its header comment).
ODR_HZ = 416
N_PER_FRAME = 18
CFG_ID = 1
ACC_SCALE = float(np.float32(16 * 9.80665 / 32768))
GYR_SCALE = float(np.float32(2000 * math.pi / 180 / 32768))
EXAMPLE_CONFIG = Config(ODR_HZ, 16, 2000, N_PER_FRAME, CFG_ID, ACC_SCALE, GYR_SCALE, 1, 2, 3)
N_FRAMES = 250


def lcg_values(count: int, seed: int = 12345) -> np.ndarray:
    """The LCG of example_main.c: s = s·1664525 + 1013904223 mod 2³², value (s >> 16) − 32768."""
    out = np.empty(count, np.int16)
    s = seed
    for i in range(count):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = (s >> 16) - 32768
    return out


def t_us_of(sample_idx: int) -> int:
    return sample_idx * 1_000_000 // ODR_HZ


def example_raw(n_frames: int) -> np.ndarray:
    return lcg_values(n_frames * N_PER_FRAME * 6).reshape(n_frames, N_PER_FRAME, 6)


def expected_frames(n_frames: int) -> list[bytes]:
    """The Python encoder's frames for the same inputs as ``example_main.c``."""
    reply = Reply(FrameType.GET_CONFIG, 1, Status.OK, EXAMPLE_CONFIG)
    frames = [encode_frame(FrameType.GET_CONFIG | REPLY_BIT, 0x0101, reply.pack())]
    frames.append(encode_imu6(0x0102, 1_000_000, 416, CFG_ID, WORKED_SAMPLES))
    raw = example_raw(n_frames)
    idx = 418
    for k in range(n_frames):
        frames.append(encode_imu6(0x0103 + k, t_us_of(idx), idx, CFG_ID, raw[k]))
        idx += N_PER_FRAME
    status = DeviceStatus(t_us_of(idx), 3987, 87, 8, 0, 0, 0, -523)
    frames.append(encode_frame(FrameType.STATUS, 0x0103 + n_frames, status.pack()))
    return frames


# ---------------------------------------------------------------------------- C test harness
# Reads commands from stdin, one per line, and prints one line per command (the "bodies" and
# "edge" commands print several "name value" lines). Hex arguments are "-" when empty.
# Capacity-limited calls write into a buffer followed by guard bytes that must stay intact.
HARNESS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stridecore_proto.h"

#define GUARD 64
static uint8_t in[16384];
static uint8_t out[16384];
static uint8_t gbuf[16384 + GUARD];
static char line[65536];
static int16_t samp[255][6];

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
}

static size_t unhex(const char *s, uint8_t *dst)
{
    size_t n = 0;
    if (s == NULL || strcmp(s, "-") == 0) return 0;
    while (s[0] && s[1] && n < sizeof in) {
        dst[n++] = (uint8_t)(hexval(s[0]) * 16 + hexval(s[1]));
        s += 2;
    }
    return n;
}

static void puthex(const uint8_t *p, size_t n)
{
    size_t i;
    if (n == 0) fputs("ERR", stdout);
    for (i = 0; i < n; i++) printf("%02x", p[i]);
    putchar('\n');
}

/* a buffer of `cap` bytes followed by guard bytes */
static uint8_t *guarded(size_t cap)
{
    memset(gbuf, 0xA5, cap + GUARD);
    return gbuf;
}

static int guard_ok(size_t cap)
{
    size_t i;
    for (i = cap; i < cap + GUARD; i++) {
        if (gbuf[i] != 0xA5) return 0;
    }
    return 1;
}

static void put_guarded(size_t m, size_t cap)
{
    if (!guard_ok(cap)) printf("GUARD_OVERWRITTEN\n");
    else printf("%lu\n", (unsigned long)m);
}

static unsigned long num(const char *s) { return s ? strtoul(s, NULL, 0) : 0; }

static void bodies(void)
{
    struct scp_info info;
    struct scp_config cfg;
    struct scp_status st;
    size_t n;
    static const char text[] = "IMU FIFO overrun: 3 samples at -5.2 \xc2\xb0" "C";

    memset(&info, 0, sizeof info);
    info.proto_minor = SCP_PROTOCOL_MINOR;
    info.fw_major = 1;
    info.fw_minor = 2;
    info.fw_patch = 345;
    info.hw_rev = 3;
    memcpy(info.uid, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
    info.placement = SCP_PLACEMENT_RIGHT_SHIN;
    memcpy(info.imu_part, "LSM6DSO32", 9);
    info.capabilities = SCP_CAP_BACKLOG | SCP_CAP_TIME_SYNC | SCP_CAP_IDENTIFY | SCP_CAP_BATTERY;
    info.max_frame_len = 236;
    n = scp_info_body(&info, out, sizeof out);
    printf("info ");
    puthex(out, n);
    n = scp_reply_encode(SCP_TYPE_GET_INFO, 7, 9, SCP_STATUS_OK, out, n, gbuf, sizeof gbuf);
    printf("info_reply ");
    puthex(gbuf, n);

    cfg.odr_hz = 833;
    cfg.acc_range_g = 8;
    cfg.gyro_range_dps = 1000;
    cfg.n_max = 13;
    cfg.cfg_id = 200;
    cfg.acc_scale_mps2 = (float)(8.0 * 9.80665 / 32768.0);
    cfg.gyro_scale_radps = (float)(1000.0 * 3.14159265358979323846 / 180.0 / 32768.0);
    cfg.axis_map[0] = -2;
    cfg.axis_map[1] = 1;
    cfg.axis_map[2] = -3;
    n = scp_config_body(&cfg, out, sizeof out);
    printf("config ");
    puthex(out, n);

    st.t_us = 0x0123456789ABCDEFull;
    st.battery_mv = 4200;
    st.soc_pct = 100;
    st.flags = SCP_STATUS_FLAG_CHARGING | SCP_STATUS_FLAG_CLIPPED
               | SCP_STATUS_FLAG_BACKLOG_AVAILABLE;
    st.fifo_overruns = 0xDEADBEEFu;
    st.tx_drops = 7;
    st.mtu = 247;
    st.temp_centi_c = -32768;
    n = scp_status_body(&st, out, sizeof out);
    printf("status ");
    puthex(out, n);
    n = scp_status_encode(0xFFFF, &st, out, sizeof out);
    printf("status_frame ");
    puthex(out, n);

    n = scp_start_reply_body(0xFFFFFFFFu, 0x8000000000000005ull, 255, out, sizeof out);
    printf("start_reply ");
    puthex(out, n);
    n = scp_reply_encode(SCP_TYPE_START, 0x1234, 3, SCP_STATUS_OK, out, n, gbuf, sizeof gbuf);
    printf("start_reply_frame ");
    puthex(gbuf, n);
    n = scp_time_sync_reply_body(0xCAFEBABEu, 1234567890123ull, 1234567890456ull, out,
                                 sizeof out);
    printf("time_sync_reply ");
    puthex(out, n);
    n = scp_backlog_reply_body(1000, 4096, out, sizeof out);
    printf("backlog_reply ");
    puthex(out, n);
    n = scp_event_encode(42, 5000000u, 2080, SCP_EVENT_BUTTON, -7, out, sizeof out);
    printf("event_frame ");
    puthex(out, n);
    n = scp_log_encode(43, 6000000u, SCP_LOG_WARNING, text, strlen(text), out, sizeof out);
    printf("log_frame ");
    puthex(out, n);
    n = scp_reply_encode(SCP_TYPE_SET_CONFIG, 9, 4, SCP_STATUS_BAD_PARAMETER, NULL, 0, out,
                         sizeof out);
    printf("error_reply ");
    puthex(out, n);
}

static void edge(void)
{
    uint8_t a[SCP_MAX_FRAME_LEN + 8], b[SCP_MAX_FRAME_LEN + 8];
    uint8_t body[64];
    struct scp_config cfg;
    struct scp_status st;
    struct scp_info info;
    size_t i, n1, n2;
    memset(samp, 0, sizeof samp);
    memset(&cfg, 0, sizeof cfg);
    memset(&st, 0, sizeof st);
    memset(&info, 0, sizeof info);
    for (i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7u + 1u);
#define SHOW(name, expr) printf("%s %lu\n", name, (unsigned long)(expr))
    SHOW("imu6_n0", scp_imu6_encode(1, 2, 3, 4, SCP_SAMPLES(samp), 0, 0, a, sizeof a));
    SHOW("imu6_null", scp_imu6_encode(1, 2, 3, 4, NULL, 1, 0, a, sizeof a));
    SHOW("imu6_n255", scp_imu6_encode(1, 2, 3, 4, SCP_SAMPLES(samp), 255, 0, a, sizeof a));
    SHOW("frame_max", scp_frame_encode(0x22, 1, in, 3074, a, sizeof a));
    SHOW("frame_over", scp_frame_encode(0x22, 1, in, 3075, a, sizeof a));
    SHOW("frame_empty", scp_frame_encode(0x22, 1, NULL, 0, a, sizeof a));
    SHOW("frame_null_payload", scp_frame_encode(0x22, 1, NULL, 5, a, sizeof a));
    SHOW("frame_null_out", scp_frame_encode(0x22, 1, in, 5, NULL, 100));
    SHOW("reply_max", scp_reply_encode(0x02, 1, 1, 0, in, 3072, a, sizeof a));
    SHOW("reply_over", scp_reply_encode(0x02, 1, 1, 0, in, 3073, a, sizeof a));
    SHOW("log_max", scp_log_encode(1, 2, 20, (const char *)in, 3065, a, sizeof a));
    SHOW("log_over", scp_log_encode(1, 2, 20, (const char *)in, 3066, a, sizeof a));
    SHOW("cobs_null_in", scp_cobs_encode(NULL, 3, a, sizeof a));
    SHOW("cobs_cap0", scp_cobs_encode(in, 0, a, 0));
    SHOW("serial_cap1", scp_serial_encode(in, 0, a, 1));
    SHOW("serial_empty", scp_serial_encode(in, 0, a, 2));
    SHOW("crc_empty", scp_crc16(NULL, 0));
    SHOW("max_encoded_254", SCP_COBS_MAX_ENCODED(254));
    SHOW("max_encoded_3080", SCP_COBS_MAX_ENCODED(3080));
    SHOW("serial_max_236", SCP_SERIAL_MAX_LEN(SCP_IMU6_FRAME_LEN(18)));

    /* capacity: exact fits, one byte less returns 0; nothing written past the capacity */
    n1 = scp_imu6_encode(1, 2, 3, 4, SCP_SAMPLES(samp), 18, 1, guarded(236), 236);
    printf("imu6_cap_exact ");
    put_guarded(n1, 236);
    n1 = scp_imu6_encode(1, 2, 3, 4, SCP_SAMPLES(samp), 18, 1, guarded(235), 235);
    printf("imu6_cap_short ");
    put_guarded(n1, 235);
    n1 = scp_frame_encode(0x21, 1, in, 10, guarded(16), 16);
    printf("frame_cap_exact ");
    put_guarded(n1, 16);
    n1 = scp_frame_encode(0x21, 1, in, 10, guarded(15), 15);
    printf("frame_cap_short ");
    put_guarded(n1, 15);
    n1 = scp_reply_encode(0x02, 1, 1, 0, in, 18, guarded(26), 26);
    printf("reply_cap_exact ");
    put_guarded(n1, 26);
    n1 = scp_reply_encode(0x02, 1, 1, 0, in, 18, guarded(25), 25);
    printf("reply_cap_short ");
    put_guarded(n1, 25);
    n1 = scp_status_encode(1, &st, guarded(30), 30);
    printf("status_cap_exact ");
    put_guarded(n1, 30);
    n1 = scp_status_encode(1, &st, guarded(29), 29);
    printf("status_cap_short ");
    put_guarded(n1, 29);
    n1 = scp_event_encode(1, 2, 3, 1, -1, guarded(23), 23);
    printf("event_cap_exact ");
    put_guarded(n1, 23);
    n1 = scp_event_encode(1, 2, 3, 1, -1, guarded(22), 22);
    printf("event_cap_short ");
    put_guarded(n1, 22);
    n1 = scp_log_encode(1, 2, 20, "abc", 3, guarded(18), 18);
    printf("log_cap_exact ");
    put_guarded(n1, 18);
    n1 = scp_log_encode(1, 2, 20, "abc", 3, guarded(17), 17);
    printf("log_cap_short ");
    put_guarded(n1, 17);
    SHOW("info_cap_short", scp_info_body(&info, body, 32));
    SHOW("config_cap_short", scp_config_body(&cfg, body, 17));
    SHOW("status_body_cap_short", scp_status_body(&st, body, 23));
    SHOW("start_reply_cap_short", scp_start_reply_body(1, 2, 3, body, 12));
    SHOW("time_sync_cap_short", scp_time_sync_reply_body(1, 2, 3, body, 19));
    SHOW("backlog_cap_short", scp_backlog_reply_body(1, 2, body, 7));

    /* zero copy: payload / body / text already in place give the same frame as a copy */
    memcpy(a + SCP_HEADER_LEN, in, 100);
    n1 = scp_frame_encode(0x22, 77, a + SCP_HEADER_LEN, 100, a, sizeof a);
    n2 = scp_frame_encode(0x22, 77, in, 100, b, sizeof b);
    SHOW("frame_inplace_same", n1 == n2 && memcmp(a, b, n1) == 0);
    memcpy(a + SCP_REPLY_BODY_OFFSET, in, 100);
    n1 = scp_reply_encode(0x06, 78, 5, 0, a + SCP_REPLY_BODY_OFFSET, 100, a, sizeof a);
    n2 = scp_reply_encode(0x06, 78, 5, 0, in, 100, b, sizeof b);
    SHOW("reply_inplace_same", n1 == n2 && memcmp(a, b, n1) == 0);
    memcpy(a + SCP_HEADER_LEN + SCP_LOG_HEADER_LEN, in, 100);
    n1 = scp_log_encode(79, 123, 40, (const char *)a + SCP_HEADER_LEN + SCP_LOG_HEADER_LEN,
                        100, a, sizeof a);
    n2 = scp_log_encode(79, 123, 40, (const char *)in, 100, b, sizeof b);
    SHOW("log_inplace_same", n1 == n2 && memcmp(a, b, n1) == 0);
    /* a payload that overlaps the header area (moved before the header is written) */
    memcpy(a + 1, in, 50);
    n1 = scp_frame_encode(0x22, 80, a + 1, 50, a, sizeof a);
    n2 = scp_frame_encode(0x22, 80, in, 50, b, sizeof b);
    SHOW("frame_overlap_same", n1 == n2 && memcmp(a, b, n1) == 0);
#undef SHOW
}

int main(void)
{
    while (fgets(line, sizeof line, stdin)) {
        char *cmd = strtok(line, " \r\n");
        size_t n, m, cap;
        if (cmd == NULL) continue;
        if (strcmp(cmd, "crc") == 0) {
            n = unhex(strtok(NULL, " \r\n"), in);
            printf("%04x\n", scp_crc16(in, n));
        } else if (strcmp(cmd, "crcsplit") == 0) {
            size_t k = num(strtok(NULL, " \r\n"));
            n = unhex(strtok(NULL, " \r\n"), in);
            printf("%04x\n", scp_crc16_update(scp_crc16(in, k), in + k, n - k));
        } else if (strcmp(cmd, "cobs") == 0) {
            n = unhex(strtok(NULL, " \r\n"), in);
            puthex(out, scp_cobs_encode(in, n, out, sizeof out));
        } else if (strcmp(cmd, "cobscap") == 0 || strcmp(cmd, "serialcap") == 0) {
            int serial = cmd[0] == 's';
            cap = num(strtok(NULL, " \r\n"));
            n = unhex(strtok(NULL, " \r\n"), in);
            m = serial ? scp_serial_encode(in, n, guarded(cap), cap)
                       : scp_cobs_encode(in, n, guarded(cap), cap);
            put_guarded(m, cap);
        } else if (strcmp(cmd, "serial") == 0) {
            n = unhex(strtok(NULL, " \r\n"), in);
            puthex(out, scp_serial_encode(in, n, out, sizeof out));
        } else if (strcmp(cmd, "frame") == 0) {
            uint8_t type = (uint8_t)num(strtok(NULL, " \r\n"));
            uint16_t seq = (uint16_t)num(strtok(NULL, " \r\n"));
            n = unhex(strtok(NULL, " \r\n"), in);
            puthex(out, scp_frame_encode(type, seq, in, n, out, sizeof out));
        } else if (strcmp(cmd, "imu6") == 0) {
            uint16_t seq = (uint16_t)num(strtok(NULL, " \r\n"));
            unsigned long long t = strtoull(strtok(NULL, " \r\n"), NULL, 0);
            uint32_t idx = (uint32_t)num(strtok(NULL, " \r\n"));
            uint8_t cfg = (uint8_t)num(strtok(NULL, " \r\n"));
            int backlog = (int)num(strtok(NULL, " \r\n"));
            size_t i;
            n = unhex(strtok(NULL, " \r\n"), in) / 2;
            for (i = 0; i < n; i++) {
                long v = (long)in[2 * i] | ((long)in[2 * i + 1] << 8);
                samp[i / 6][i % 6] = (int16_t)(v >= 32768 ? v - 65536 : v);
            }
            puthex(out, scp_imu6_encode(seq, (uint64_t)t, idx, cfg, SCP_SAMPLES(samp),
                                        (uint8_t)(n / 6), backlog, out, sizeof out));
        } else if (strcmp(cmd, "mtu") == 0) {
            printf("%u\n", (unsigned)scp_imu6_n_for_mtu((uint16_t)num(strtok(NULL, " \r\n"))));
        } else if (strcmp(cmd, "bodies") == 0) {
            bodies();
        } else if (strcmp(cmd, "edge") == 0) {
            edge();
        } else {
            printf("UNKNOWN %s\n", cmd);
        }
    }
    return fflush(stdout) != 0;
}
"""


# ---------------------------------------------------------------------------- build fixtures
def _compile(out_dir: Path, name: str, sources: list[Path], extra: list[str]) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    exe = out_dir / name
    cmd = [cc, *CFLAGS, *extra, f"-I{C_DIR}", *map(str, sources), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stderr}"
    assert res.stderr == "", f"compiler output:\n{res.stderr}"
    return exe


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> dict[str, Path]:
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no C compiler (cc, gcc or clang) on PATH")
    d = tmp_path_factory.mktemp("c_encoder")
    harness = d / "harness.c"
    harness.write_text(HARNESS_C)
    lib = C_DIR / "stridecore_proto.c"
    return {
        "example": _compile(d, "scp_example", [lib, C_DIR / "example_main.c"], []),
        "harness": _compile(d, "scp_harness", [lib, harness], []),
    }


def run_example(exe: Path, *args: str) -> bytes:
    res = subprocess.run([str(exe), *args], capture_output=True, timeout=30, env=RUN_ENV)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout


def run_harness(exe: Path, commands: list[str]) -> list[str]:
    res = subprocess.run([str(exe)], input="\n".join(commands) + "\n", capture_output=True,
                         text=True, timeout=30, env=RUN_ENV)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def split_raw(data: bytes) -> list[bytes]:
    """Frames of the ``raw`` mode: each preceded by its length, u16 little-endian."""
    frames, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i : i + 2], "little")
        frames.append(data[i + 2 : i + 2 + n])
        assert len(frames[-1]) == n, "truncated raw output"
        i += 2 + n
    return frames


def hx(b: bytes) -> str:
    return b.hex() if b else "-"


# ---------------------------------------------------------------------------- (a) frames
def test_frames_byte_identical_to_python(build):
    frames = split_raw(run_example(build["example"], str(N_FRAMES), "raw"))
    expected = expected_frames(N_FRAMES)
    assert len(frames) == len(expected) == N_FRAMES + 3
    for k, (got, exp) in enumerate(zip(frames, expected, strict=True)):
        assert got == exp, f"frame {k}: C {got.hex()} != Python {exp.hex()}"


def test_serial_stream_is_cobs_of_each_frame(build):
    serial = run_example(build["example"], str(N_FRAMES))
    expected = b"".join(cobs_encode(f) + b"\x00" for f in expected_frames(N_FRAMES))
    assert serial == expected


def test_default_frame_count(build):
    assert len(split_raw(run_example(build["example"], "100", "raw"))) == 103
    serial = run_example(build["example"])
    assert serial.count(b"\x00") == 103
    assert serial == b"".join(cobs_encode(f) + b"\x00" for f in expected_frames(100))


def test_example_rejects_bad_arguments(build):
    for args in (["x"], ["10", "cobs"], ["-1"]):
        res = subprocess.run([str(build["example"]), *args], capture_output=True, timeout=10)
        assert res.returncode == 2, args


# ---------------------------------------------------------------------------- (b) decoding
def _decode_chunked(serial: bytes, seed: int) -> tuple[Batch, StreamDecoder]:
    dec = StreamDecoder(framing="cobs")
    rng = np.random.default_rng(seed)
    batches, i = [], 0
    while i < len(serial):
        n = int(rng.integers(1, 600))
        batches.append(dec.feed(serial[i : i + n]))
        i += n
    batches.append(dec.flush())
    return Batch.concat(batches), dec


def test_serial_stream_decodes_cleanly(build):
    serial = run_example(build["example"], str(N_FRAMES))
    batch, dec = _decode_chunked(serial, seed=1)
    assert dict(+batch.problems) == {}
    assert dict(+dec.problems) == {}
    assert dec.frames_ok == N_FRAMES + 3
    assert dec.scales == {CFG_ID: (ACC_SCALE, GYR_SCALE)}

    # messages: the GET_CONFIG reply first, the STATUS last
    assert [m.type for m in batch.messages] == [FrameType.GET_CONFIG | REPLY_BIT,
                                                FrameType.STATUS]
    reply = batch.messages[0].body
    assert (reply.command, reply.req_id, reply.status) == (FrameType.GET_CONFIG, 1, 0)
    assert reply.body == EXAMPLE_CONFIG
    end_idx = 418 + N_PER_FRAME * N_FRAMES
    assert batch.messages[1].body == DeviceStatus(t_us_of(end_idx), 3987, 87, 8, 0, 0, 0, -523)
    assert batch.messages[1].seq == (0x0103 + N_FRAMES) & 0xFFFF

    # data frames: the worked example, then N frames of 18
    fr = batch.frames
    assert fr.size == N_FRAMES + 1
    first_idx = np.concatenate(([416], 418 + N_PER_FRAME * np.arange(N_FRAMES)))
    np.testing.assert_array_equal(fr["sample_idx"], first_idx)
    np.testing.assert_array_equal(fr["seq"], (0x0102 + np.arange(N_FRAMES + 1)) & 0xFFFF)
    np.testing.assert_array_equal(fr["t_us"], first_idx * 1_000_000 // ODR_HZ)
    np.testing.assert_array_equal(fr["n"], [2] + [N_PER_FRAME] * N_FRAMES)
    assert (fr["cfg_id"] == CFG_ID).all()
    assert (fr["type"] == FrameType.IMU6).all()

    # samples: raw counts × the scales learnt from the reply, consecutive sample_idx
    raw = np.concatenate([WORKED_SAMPLES, example_raw(N_FRAMES).reshape(-1, 6)])
    s = batch.samples
    assert len(s) == 2 + N_PER_FRAME * N_FRAMES
    np.testing.assert_array_equal(s.sample_idx, 416 + np.arange(len(s)))
    np.testing.assert_array_equal(s.acc_mps2, raw[:, :3].astype(np.float64) * ACC_SCALE)
    np.testing.assert_array_equal(s.gyr_radps, raw[:, 3:].astype(np.float64) * GYR_SCALE)
    lim = (raw >= 32767) | (raw <= -32768)
    flags = (np.where(lim[:, :3].any(axis=1), int(SampleFlag.CLIPPED_ACC), 0)
             | np.where(lim[:, 3:].any(axis=1), int(SampleFlag.CLIPPED_GYR), 0))
    np.testing.assert_array_equal(s.flags, flags)
    offsets = np.concatenate(([0], 2 + N_PER_FRAME * np.arange(N_FRAMES)))
    np.testing.assert_array_equal(s.t_device_us[offsets], fr["t_us"].astype(np.float64))
    # t_us is truncated to whole µs by the example, so the period measured over short spans
    # carries up to ~1/32 µs per sample of that rounding
    nominal = s.sample_idx * 1e6 / ODR_HZ
    assert np.abs(s.t_device_us - nominal).max() < 2.0

    # chunking does not matter
    for seed in (2, 3):
        other, _ = _decode_chunked(serial, seed=seed)
        assert other.samples.equals(s)
        assert dict(+other.problems) == {}
    whole = StreamDecoder(framing="cobs").feed(serial)
    assert whole.samples.equals(s)


def test_packet_framing_decodes_cleanly(build):
    """The raw frames as BLE notifications (one frame per packet)."""
    frames = split_raw(run_example(build["example"], "40", "raw"))
    dec = StreamDecoder(framing="packet")
    batch = Batch.concat([dec.feed_packet(f) for f in frames] + [dec.flush()])
    assert dict(+batch.problems) == {}
    assert len(batch.samples) == 2 + N_PER_FRAME * 40


# ---------------------------------------------------------------------------- (c) worked example
def test_worked_example_in_output(build):
    raw = run_example(build["example"], "3", "raw")
    frames = split_raw(raw)
    assert frames[1] == WORKED_FRAME
    assert len(WORKED_FRAME).to_bytes(2, "little") + WORKED_FRAME in raw
    serial = run_example(build["example"], "3")
    assert b"\x00" + WORKED_SERIAL in serial  # preceded by the GET_CONFIG reply's delimiter
    # and the Python side agrees with the brief
    assert encode_imu6(0x0102, 1_000_000, 416, 1, WORKED_SAMPLES) == WORKED_FRAME
    assert cobs_encode(WORKED_FRAME) + b"\x00" == WORKED_SERIAL
    assert crc16(WORKED_FRAME[:-2]) == 0xD80C


def _doc_hex(block: str, label: str) -> bytes:
    m = re.search(rf"{label}:(.*?)(?=\n\w+:|\Z)", block, re.S)
    assert m, label
    return bytes.fromhex(re.sub(r"\(.*?\)", "", m.group(1)))


def test_worked_example_matches_design_doc():
    if not DESIGN_DOC.is_file():
        pytest.skip(f"{DESIGN_DOC} not present")
    text = DESIGN_DOC.read_text(encoding="utf-8")
    m = re.search(r"```\n(frame:.*?)```", text, re.S)
    assert m, "worked example block not found in protocol-v1.md"
    assert _doc_hex(m.group(1), "frame") == WORKED_FRAME
    assert _doc_hex(m.group(1), "serial") == WORKED_SERIAL


# ---------------------------------------------------------------------------- (d) CRC
def test_crc_check_value(build):
    out = run_harness(build["harness"], ["crc " + b"123456789".hex(), "crc -"])
    assert out == ["29b1", "ffff"]
    if CRC_VECTORS.is_file():
        vec = json.loads(CRC_VECTORS.read_text())["vectors"][0]
        assert "CCITT-FALSE" in vec["algo"]
        assert int(out[0], 16) == int(vec["check"], 16)


def test_crc_matches_python_and_is_incremental(build):
    rng = np.random.default_rng(7)
    datas = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes()
             for n in (1, 2, 3, 17, 236, 1000, 3078)]
    cmds = [f"crc {d.hex()}" for d in datas]
    splits = [(d, int(rng.integers(0, len(d) + 1))) for d in datas]
    cmds += [f"crcsplit {k} {d.hex()}" for d, k in splits]
    out = run_harness(build["harness"], cmds)
    expected = [f"{binascii.crc_hqx(d, 0xFFFF):04x}" for d in datas] * 2
    assert out == expected


# ---------------------------------------------------------------------------- (e) COBS
def _cobs_inputs() -> list[bytes]:
    """Zeros, 253/254/255-byte runs at the start, middle and end, and random mixes."""
    rng = np.random.default_rng(11)

    def run(n: int) -> bytes:
        return bytes((i % 255) + 1 for i in range(n))

    cases = [b"", b"\x00", b"\x00" * 3, b"\x01", bytes(range(256)), bytes(range(1, 256)) * 2]
    for n in (252, 253, 254, 255, 256, 507, 508, 509, 762):
        cases += [run(n), run(n) + b"\x00", b"\x00" + run(n), b"\x00" + run(n) + b"\x00",
                  run(n) + b"\x00" + run(3), run(n) + b"\x00\x00"]
    for n in (1, 5, 50, 300, 1000, 3080):
        for p_zero in (0.0, 0.01, 0.3, 0.9):
            data = rng.integers(1, 256, n, dtype=np.uint8)
            data[rng.random(n) < p_zero] = 0
            cases.append(data.tobytes())
    return cases


def test_cobs_vectors(build):
    if not COBS_VECTORS.is_file():
        pytest.skip(f"COBS vectors not present at {COBS_VECTORS}")
    vectors = json.loads(COBS_VECTORS.read_text())["vectors"]
    assert vectors
    out = run_harness(build["harness"],
                      [f"cobs {hx(bytes.fromhex(v['decoded']))}" for v in vectors])
    for v, got in zip(vectors, out, strict=True):
        assert got == bytes.fromhex(v["encoded"]).hex(), v["decoded"][:40]


def test_cobs_matches_python(build):
    cases = _cobs_inputs()
    out = run_harness(build["harness"], [f"cobs {hx(c)}" for c in cases]
                      + [f"serial {hx(c)}" for c in cases])
    enc = [cobs_encode(c) for c in cases]
    assert out[: len(cases)] == [e.hex() for e in enc]
    assert out[len(cases) :] == [(e + b"\x00").hex() for e in enc]
    assert all(len(e) <= cobs_max_encoded_len(len(c)) for c, e in zip(cases, enc, strict=True))


def test_cobs_capacity_is_exact(build):
    cases = _cobs_inputs()
    cmds = []
    for c in cases:
        n = len(cobs_encode(c))
        cmds += [f"cobscap {n} {hx(c)}", f"cobscap {n - 1} {hx(c)}",
                 f"cobscap {cobs_max_encoded_len(len(c))} {hx(c)}",
                 f"serialcap {n + 1} {hx(c)}", f"serialcap {n} {hx(c)}"]
    out = run_harness(build["harness"], cmds)
    expected = []
    for c in cases:
        n = len(cobs_encode(c))
        expected += [str(n), "0", str(n), str(n + 1), "0"]
    assert out == expected


# ---------------------------------------------------------------------------- more encoders
def test_imu6_matches_python(build):
    rng = np.random.default_rng(5)
    cases = []
    for n in (1, 2, 13, 18, 41, 255):
        for backlog in (0, 1):
            raw = rng.integers(-32768, 32768, (n, 6)).astype(np.int16)
            raw[0, :2] = (-32768, 32767)
            cases.append((int(rng.integers(0, 1 << 16)), int(rng.integers(0, 1 << 63)) * 2 + 1,
                          int(rng.integers(0, 1 << 32)), int(rng.integers(0, 256)), backlog,
                          raw))
    cases.append((0xFFFF, (1 << 64) - 1, 0xFFFFFFFF, 255, 0, WORKED_SAMPLES))
    cmds = [f"imu6 {s} {t} {i} {c} {b} {raw.astype('<i2').tobytes().hex()}"
            for s, t, i, c, b, raw in cases]
    out = run_harness(build["harness"], cmds)
    for (s, t, i, c, b, raw), got in zip(cases, out, strict=True):
        assert got == encode_imu6(s, t, i, c, raw, backlog=bool(b)).hex()


def test_generic_frames_match_python(build):
    rng = np.random.default_rng(9)
    cases = [(0x22, 0, b""), (0x01, 0xFFFF, b"\x05"), (0x7F, 1234, bytes(range(256)))]
    cases += [(int(rng.integers(0, 256)), int(rng.integers(0, 1 << 16)),
               rng.integers(0, 256, int(rng.integers(0, 3075)), dtype=np.uint8).tobytes())
              for _ in range(10)]
    out = run_harness(build["harness"], [f"frame {t} {s} {hx(p)}" for t, s, p in cases])
    for (t, s, p), got in zip(cases, out, strict=True):
        assert got == encode_frame(t, s, p).hex()


def test_bodies_match_python(build):
    out = dict(line.split(" ", 1) for line in run_harness(build["harness"], ["bodies"]))
    info = Info(0, 1, 2, 345, 3, bytes.fromhex("1122334455667788"), 4,
                b"LSM6DSO32\x00\x00\x00", 15, 236)
    cfg = Config(833, 8, 1000, 13, 200, float(np.float32(8 * 9.80665 / 32768)),
                 float(np.float32(1000 * math.pi / 180 / 32768)), -2, 1, -3)
    st = DeviceStatus(0x0123456789ABCDEF, 4200, 100, 0x15, 0xDEADBEEF, 7, 247, -32768)
    start = StartReply(0xFFFFFFFF, (1 << 63) + 5, 255)
    log = Log(6_000_000, 30, "IMU FIFO overrun: 3 samples at -5.2 °C")
    expected = {
        "info": info.pack(),
        "info_reply": encode_frame(0x81, 7, Reply(0x01, 9, 0, info).pack()),
        "config": cfg.pack(),
        "status": st.pack(),
        "status_frame": encode_frame(FrameType.STATUS, 0xFFFF, st.pack()),
        "start_reply": start.pack(),
        "start_reply_frame": encode_frame(0x84, 0x1234, Reply(0x04, 3, 0, start).pack()),
        "time_sync_reply": TimeSyncReply(0xCAFEBABE, 1234567890123, 1234567890456).pack(),
        "backlog_reply": BacklogReply(1000, 4096).pack(),
        "event_frame": encode_frame(FrameType.EVENT, 42, Event(5_000_000, 2080, 1, -7).pack()),
        "log_frame": encode_frame(FrameType.LOG, 43, log.pack()),
        "error_reply": encode_frame(0x83, 9, Reply(0x03, 4, Status.BAD_PARAMETER, None).pack()),
    }
    assert out == {k: v.hex() for k, v in expected.items()}
    # and the Python decoder reads them back
    f = decode_frame(bytes.fromhex(out["info_reply"]))
    assert decode_reply(f.type, f.payload).body == info
    f = decode_frame(bytes.fromhex(out["log_frame"]))
    assert decode_telemetry(f.type, f.payload) == log
    f = decode_frame(bytes.fromhex(out["error_reply"]))
    assert decode_reply(f.type, f.payload) == Reply(0x03, 4, 3, None)


def test_edge_cases(build):
    out = dict(line.split() for line in run_harness(build["harness"], ["edge"]))
    expected = {
        "imu6_n0": 0, "imu6_null": 0, "imu6_n255": 3080,
        "frame_max": 3080, "frame_over": 0, "frame_empty": 6, "frame_null_payload": 0,
        "frame_null_out": 0, "reply_max": 3080, "reply_over": 0, "log_max": 3080,
        "log_over": 0, "cobs_null_in": 0, "cobs_cap0": 0, "serial_cap1": 0,
        "serial_empty": 2, "crc_empty": 0xFFFF, "max_encoded_254": 256,
        "max_encoded_3080": cobs_max_encoded_len(3080), "serial_max_236": 238,
        "imu6_cap_exact": 236, "imu6_cap_short": 0, "frame_cap_exact": 16,
        "frame_cap_short": 0, "reply_cap_exact": 26, "reply_cap_short": 0,
        "status_cap_exact": 30, "status_cap_short": 0, "event_cap_exact": 23,
        "event_cap_short": 0, "log_cap_exact": 18, "log_cap_short": 0,
        "info_cap_short": 0, "config_cap_short": 0, "status_body_cap_short": 0,
        "start_reply_cap_short": 0, "time_sync_cap_short": 0, "backlog_cap_short": 0,
        "frame_inplace_same": 1, "reply_inplace_same": 1, "log_inplace_same": 1,
        "frame_overlap_same": 1,
    }
    assert out == {k: str(v) for k, v in expected.items()}


def test_n_for_mtu(build):
    mtus = [0, 23, 34, 35, 36, 65, 158, 185, 247, 251, 512, 517, 3082, 3083, 65535]
    out = run_harness(build["harness"], [f"mtu {m}" for m in mtus])
    expected = [0 if m < 35 else min((m - 3 - 20) // 12, 255) for m in mtus]
    assert [int(x) for x in out] == expected
    assert dict(zip(mtus, expected, strict=True))[185] == 13
    assert dict(zip(mtus, expected, strict=True))[247] == 18


# ---------------------------------------------------------------------------- sanitizers
@pytest.mark.slow
def test_sanitized_build_agrees(build, tmp_path):
    """The same programs under AddressSanitizer + UBSan: no report, identical output."""
    lib = C_DIR / "stridecore_proto.c"
    try:
        example = _compile(tmp_path, "ex_san", [lib, C_DIR / "example_main.c"], SANITIZE)
        harness_src = tmp_path / "harness.c"
        harness_src.write_text(HARNESS_C)
        harness = _compile(tmp_path, "h_san", [lib, harness_src], SANITIZE)
    except AssertionError as e:
        pytest.skip(f"sanitizers unavailable with this compiler: {str(e)[:200]}")
    assert run_example(example, "30", "raw") == run_example(build["example"], "30", "raw")
    cases = _cobs_inputs()[:40]
    cmds = ["edge", "bodies", *(f"cobs {hx(c)}" for c in cases),
            *(f"cobscap {len(cobs_encode(c)) - 1} {hx(c)}" for c in cases)]
    assert run_harness(harness, cmds) == run_harness(build["harness"], cmds)
