"""numba set-up: a read-only install falls back to a user cache directory; kernels agree with
their numpy/stdlib references."""

import os
import subprocess
import sys
from binascii import crc_hqx

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol import cobs_encode
from firmware_protocol.cobs import cobs_decode_many


def test_read_only_install_uses_a_user_cache_dir(tmp_path):
    code = (
        "import os\n"
        "real = os.access\n"
        "os.access = lambda p, m: False if m == os.W_OK else real(p, m)\n"
        "import firmware_protocol._jit as j\n"
        "print(os.environ['NUMBA_CACHE_DIR'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "stridecore" / "numba")


@given(st.lists(st.binary(max_size=400), min_size=1, max_size=8), st.data())
def test_cobs_kernel_agrees_with_the_numpy_reference(frames, data):
    from firmware_protocol import kernels as k

    # give each payload a CRC; corrupt some encoded blocks at random
    payloads = [f + crc_hqx(f, 0xFFFF).to_bytes(2, "little") for f in frames]
    blocks = [bytearray(cobs_encode(p)) for p in payloads]
    for b in blocks:
        if data.draw(st.booleans()):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(1, 255))
    buf = np.frombuffer(b"".join(bytes(b) + b"\x00" for b in blocks), np.uint8)
    out = np.empty(buf.size, np.uint8)
    n = len(blocks)
    starts, lens = np.empty(n, np.int64), np.empty(n, np.int64)
    status = np.empty(n, np.uint8)
    enc_end = np.empty(n, np.int64)
    nb = k.cobs_frames(buf, 3093, k.CRC_TABLE, out, starts, lens, status, enc_end)
    assert nb == n
    ends = np.flatnonzero(buf == 0)
    assert np.array_equal(enc_end, ends + 1)
    ref_out, ref_s, ref_l, ref_ok = cobs_decode_many(buf, np.r_[0, ends[:-1] + 1], ends)
    for i in range(n):
        if not ref_ok[i]:
            assert status[i] == k.BAD_COBS
            continue
        dec = bytes(ref_out[ref_s[i] : ref_s[i] + ref_l[i]])
        assert bytes(out[starts[i] : starts[i] + lens[i]]) == dec
        if len(dec) < 6:
            assert status[i] == k.TRUNCATED
        else:
            good = crc_hqx(dec[:-2], 0xFFFF) == int.from_bytes(dec[-2:], "little")
            assert status[i] == (k.OK if good else k.BAD_CRC)
    packed = np.frombuffer(b"".join(payloads), np.uint8)
    lens_p = np.array([len(p) for p in payloads])
    starts_p = np.r_[0, np.cumsum(lens_p)[:-1]]
    assert k.crc_ok_many(packed, starts_p, lens_p, k.CRC_TABLE).all()
