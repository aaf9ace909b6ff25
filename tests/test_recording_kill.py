"""A recorder killed with SIGKILL at a random moment leaves a file that opens and holds every
unit it was handed more than ``flush_s`` (1 s) before its last report."""

import os
import random
import signal
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stridecore.recording import open_recording

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")]

CHILD = Path(__file__).with_name("_recording_child.py")
ROOT = CHILD.parent.parent
N_CHILDREN, AT_ONCE = 20, 10
LOSS_S = 1.05  # flush_s plus a margin for the tick period


def payload(device: int, round_i: int) -> bytes:
    return struct.pack("<II", device, round_i) * 22  # as in _recording_child.py


def run_and_kill(path: Path, delay_s: float) -> list[tuple[int, float]]:
    """Start the child, SIGKILL it ``delay_s`` after it started; its reported rounds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        if first != "started\n":
            proc.wait(10)
            pytest.fail(f"child did not start: {first!r} {proc.stderr.read()}")
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    lines = out.split("\n")[:-1]  # the last one may be cut
    return [(int(i), float(t)) for i, t in (line.split() for line in lines)]


def test_sigkill_loses_at_most_the_last_second(tmp_path):
    rng = random.Random(20240611)
    # one kill at a random moment in each of N equal slices of 1.5..4 s after the start, so
    # the kills cover every phase of the 1 s flush cycle
    width = 2.5 / N_CHILDREN
    delays = [1.5 + width * (i + rng.random()) for i in range(N_CHILDREN)]
    rng.shuffle(delays)
    jobs = [(tmp_path / f"kill{i:02d}.mcap", d) for i, d in enumerate(delays)]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        reports = list(pool.map(lambda job: run_and_kill(*job), jobs))
    for (path, delay_s), rounds in zip(jobs, reports, strict=True):
        assert rounds, path.name
        t_last = rounds[-1][1]
        r = open_recording(path)
        assert r.truncated and "ends early" in r.note
        assert sorted(r.devices) == ["left", "right"]
        must = sum(t <= t_last - LOSS_S for _, t in rounds)
        assert must > 0
        for k, key in enumerate(["left", "right"]):
            got = list(r.units(key))
            assert len(got) >= must, (path.name, delay_s, len(got), must, r.note)
            for i, (_, _, t, data) in enumerate(got):
                assert data == payload(k, i)
                if i < len(rounds):
                    assert struct.pack("<d", t) == struct.pack("<d", rounds[i][1])
        list(r.link_events("left"))
        list(r.time_sync("left"))
        assert r.summary()["truncated"]
