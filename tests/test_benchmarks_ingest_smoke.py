"""benchmarks/ingest_speed.py still runs (tiny sizes, no cache); its numbers live in
benchmarks/RESULTS.md."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_ingest_speed_script_runs_and_replay_matches_the_live_path(tmp_path):
    r = subprocess.run([sys.executable, str(BENCH / "ingest_speed.py"), "--duration", "6",
                        "--unit-s", "2", "--reps", "1", "--pty-s", "1", "--pty-motion", "sine",
                        "--no-cache", "--profile", "always", "--profile-top", "3",
                        "--markdown"],
                       capture_output=True, text=True, timeout=300, cwd=BENCH,
                       env={**os.environ, "STRIDECORE_CACHE": str(tmp_path)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "replay, per-unit path and the replays agree: yes" in out
    for framing in ("serial", "ble"):
        assert f"| {framing} | read units only (replay's blocks) |" in out
        assert f"where replay's time goes, {framing}" in out
    assert "write → on_rx done (per frame)" in out
    assert "failed" not in out and "errors:" not in out
