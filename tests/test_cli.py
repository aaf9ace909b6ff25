"""The command line: exit codes, one-line errors, JSON-only stdout, the decode tool."""

import json
import os
import subprocess
import sys

import pytest

from stridecore.cli import main

PY = sys.executable


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([PY, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env)


def test_help_does_not_import_heavy_modules():
    code = ("import sys\nfrom stridecore.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'numba', 'scipy', 'matplotlib') "
            "if m in sys.modules))")
    r = run("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "sim-capture", "schema"):
        assert cmd in out


def test_demo_json_is_the_only_stdout(capsys):
    assert main(["demo", "--json", "--speed", "0", "--duration", "6"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out)  # exactly one JSON document
    assert d["samples"] > 2000 and d["device"]["placement"] == "right_foot"
    assert d["disconnects"] == 1 and d["samples_recovered"] > 500
    assert 415 < d["measured_odr_hz"] < 425


def test_demo_runs_the_foot_pipeline_on_the_live_stream(capsys):
    """The main job's live samples (faults, a disconnect, backlog) go through the Pipeline:
    contacts are found at the simulated runner's cadence, gaps invent none."""
    assert main(["demo", "--json", "--speed", "0", "--duration", "20"]) == 0
    g = json.loads(capsys.readouterr().out)["gait"]
    # one foot of a ~155-165 steps/min runner: ~13 contacts in 20 s, minus the start-up stride
    # and the steps cut by the 1.5 s disconnect
    assert 9 <= g["contacts"] <= 20 and g["steps"] >= 6
    assert 140 <= g["cadence_spm"] <= 185 and 200 <= g["contact_ms"] <= 350
    assert sum(g["landing"].values()) >= 5


def test_demo_plain_output_ends_by_itself():
    r = run("-m", "stridecore.cli", "demo", "--speed", "0", "--duration", "3")
    assert r.returncode == 0, r.stderr
    assert "measured ODR" in r.stdout and "done" in r.stdout


@pytest.mark.parametrize("url", ["sim://?drop=7", "sim://?nope=1", "http://x"])
def test_bad_input_is_one_line_and_exit_2(url):
    r = run("-m", "stridecore.cli", "demo", "--json", "--url", url)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stridecore: error:")
    assert "Traceback" not in r.stderr


def test_verbose_adds_the_traceback():
    r = run("-m", "stridecore.cli", "--verbose", "demo", "--url", "sim://?drop=7")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_bad_usage_exits_2():
    r = run("-m", "stridecore.cli", "demo", "--duration", "fast")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_unwritable_capture_path_is_a_clear_error(tmp_path):
    r = run("-m", "stridecore.cli", "sim-capture", str(tmp_path / "no" / "such" / "dir.bin"))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("stridecore: error: cannot write")


@pytest.mark.parametrize("transport", ["serial", "ble"])
def test_capture_then_decode(tmp_path, transport):
    cap = tmp_path / f"cap-{transport}.bin"
    r = run("-m", "stridecore.cli", "sim-capture", str(cap), "--json", "--duration", "2",
            "--url", f"sim://?transport={transport}")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["transport"] == transport
    r = run("-m", "firmware_protocol", "decode", str(cap), "--transport", transport)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    summary = recs[-1]
    assert summary["type"] == "SUMMARY" and summary["problems"] == {}
    data = [x for x in recs if x["type"] == "IMU6"]
    assert sum(len(x["samples"]) for x in data) == summary["samples"] > 800
    assert all(len(s) == 6 for x in data for s in x["samples"])
    types = [x["type"] for x in recs]
    assert types[:3] == ["GET_INFO_REPLY", "GET_CONFIG_REPLY", "START_REPLY"]
    assert "STATUS" in types and "STOP_REPLY" in types
    first = data[0]
    assert first["sample_idx"] == 0 and first["cfg_id"] == 1


def test_decode_truncated_ble_capture_keeps_what_came_before(tmp_path):
    cap = tmp_path / "cap.bin"
    assert run("-m", "stridecore.cli", "sim-capture", str(cap), "--duration", "1",
               "--url", "sim://?transport=ble").returncode == 0
    data = cap.read_bytes()
    cap.write_bytes(data[:-7])
    r = run("-m", "firmware_protocol", "decode", str(cap), "--transport", "ble")
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert err and all(e.startswith("firmware_protocol:") for e in err)
    assert any("truncated" in e for e in err)
    assert "Traceback" not in r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert recs[-1]["samples"] > 300


def test_decode_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(5000))
    r = run("-m", "firmware_protocol", "decode", str(junk))
    assert r.returncode == 2 and "problems found" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("-m", "firmware_protocol", "decode", str(tmp_path / "missing.bin"))
    assert r.returncode == 2 and r.stderr.strip() == \
        f"firmware_protocol: {tmp_path / 'missing.bin'}: no such file"


def test_schema_doc_is_generated_from_the_module(capsys):
    from pathlib import Path

    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    doc = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
    assert out.strip() == doc.read_text().strip(), "regenerate: python -m stridecore.schema"
