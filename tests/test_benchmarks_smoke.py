"""The benchmark scripts still run (tiny sizes); their numbers live in benchmarks/RESULTS.md."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_throughput_script_runs_and_matches_the_reference():
    r = subprocess.run([sys.executable, str(BENCH / "decoder_throughput.py"), "--seconds", "20",
                        "--reps", "1", "--ref-reps", "1"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "samples identical to the reference (all 5 cases): yes" in r.stdout


@pytest.mark.slow
def test_fuzz_script_runs_clean():
    r = subprocess.run([sys.executable, str(BENCH / "decoder_fuzz.py"), "--n", "400",
                        "--workers", "1", "--seed", "7"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "verdict: PASS" in r.stdout


@pytest.mark.slow
def test_foot_accuracy_script_runs():
    r = subprocess.run([sys.executable, str(BENCH / "foot_accuracy.py"), "--skip-real",
                        "--sim-seeds", "1000", "--sim-s", "60", "--configs", "laces,laces@104"],
                       capture_output=True, text=True, timeout=600, cwd=BENCH)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "| sim laces |" in r.stdout and "IC emission latency" in r.stdout


@pytest.mark.slow
def test_foot_speed_script_runs():
    r = subprocess.run([sys.executable, str(BENCH / "foot_speed.py"), "--seconds", "60",
                        "--reps", "1", "--one-s", "2"],
                       capture_output=True, text=True, timeout=600, cwd=BENCH)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@pytest.mark.slow
def test_ble_path_script_runs():
    r = subprocess.run([sys.executable, str(BENCH / "ble_path.py"), "--count", "300",
                        "--seconds", "2"], capture_output=True, text=True, timeout=600,
                       cwd=BENCH)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "CAVEAT" in r.stdout and "2 sensors → 2 hosts" in r.stdout
    assert "notify call → on_rx done" in r.stdout


@pytest.mark.slow
def test_pelvis_accuracy_script_runs():
    r = subprocess.run([sys.executable, str(BENCH / "pelvis_accuracy.py"), "--sim-seeds",
                        "1000", "--sim-s", "60"],
                       capture_output=True, text=True, timeout=600, cwd=BENCH)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "| sim |" in r.stdout and "pelvic drop RMSE" in r.stdout
    assert "| alcantara test |" in r.stdout or "dataset" in r.stdout
