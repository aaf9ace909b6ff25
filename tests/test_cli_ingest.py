"""`stridecore record`, `replay` and `export`: the commands, their output and their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from stridecore.cli import main
from stridecore.recording import open_recording
from stridecore.transport import TransportError, open_url
from stridecore.transport.serial import SerialTransport
from stridecore.transport.sim import SimTransport

URLS = ["sim://?placement=left_foot&disconnect=3:1&seed=1",
        "sim://?placement=right_foot&drop=0.02&seed=2"]


@pytest.fixture(scope="module")
def session_file(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cli") / "run.mcap"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["record", *URLS, "--out", str(out), "--duration", "8", "--speed", "0",
                   "--athlete", "A. Runner", "--json"])
    assert rc == 0
    return out, json.loads(buf.getvalue())


def test_record_writes_one_session_with_both_sensors(session_file) -> None:
    out, info = session_file
    assert info["errors"] == [] and set(info["devices"]) == {"left_foot", "right_foot"}
    left = info["devices"]["left_foot"]
    assert left["link"]["disconnects"] == 1 and left["link"]["resumed"][0]["gap_samples"] > 300
    assert left["clock"]["uncertainty_ms"] < 1.0
    rec = open_recording(out)
    assert rec.session["athlete"] == "A. Runner"
    assert {k: v["framing"] for k, v in rec.devices.items()} == {"left_foot": "cobs",
                                                                 "right_foot": "cobs"}
    # the two simulated sensors are different devices
    uids = {c["uid"] for k in rec.devices for _, c in rec.configs(k)}
    assert len(uids) == 2


def test_replay_prints_what_live_saw(session_file, capsys) -> None:
    out, info = session_file
    assert main(["replay", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("left_foot", "right_foot"):
        live, again = info["devices"][key], rep["devices"][key]
        for field in ("samples", "backlog_samples", "gaps_reported", "gait", "clock"):
            assert live[field] == again[field], (key, field)
    assert main(["replay", str(out)]) == 0
    text = capsys.readouterr().out
    assert "left_foot (uid SIMLFOOT)" in text and "steps:" in text


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_samples(session_file, tmp_path, suffix, capsys) -> None:
    out, info = session_file
    dest = tmp_path / f"samples{suffix}"
    assert main(["export", str(out), "--samples", str(dest), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    table = pq.read_table(dest) if suffix == ".parquet" else pcsv.read_csv(dest)
    n = sum(d["samples"] for d in info["devices"].values())
    assert table.num_rows == summary["rows"] == n
    cols = table.column_names
    assert cols[:4] == ["sample_idx", "t_device_us", "t_host_s", "t_s"]
    assert {"acc_x_mps2", "gyr_z_radps", "backfilled", "device", "placement"} <= set(cols)
    back = np.asarray(table.column("backfilled"))
    assert back.sum() == summary["backfilled"] == info["devices"]["left_foot"]["backlog_samples"]
    dev = np.asarray(table.column("device"))
    idx = np.asarray(table.column("sample_idx"))
    for key in ("left_foot", "right_foot"):
        assert np.all(np.diff(idx[dev == key]) > 0)  # ordered, no duplicates
    # gravity in SI units, host times within the session
    acc = np.column_stack([np.asarray(table.column(f"acc_{a}_mps2")) for a in "xyz"])
    assert 9.0 < np.median(np.linalg.norm(acc, axis=1)) < 40.0
    t = np.asarray(table.column("t_s"))
    assert 0.0 <= t.min() and t.max() < 8.5


@pytest.mark.parametrize(("args", "msg"), [
    (["record", "bogus://x", "--out", "{tmp}/a.mcap"], "unknown URL scheme 'bogus'"),
    (["record", "sim://?odr=999", "--out", "{tmp}/a.mcap"], "odr"),
    (["record", "file://x.mcap", "--out", "{tmp}/a.mcap"], "not a live link"),
    (["record", "serial:///dev/does-not-exist", "--out", "{tmp}/a.mcap", "--duration", "1"],
     "no such port"),
    (["record", "serial:///dev/ttyS99?speed=9600", "--out", "{tmp}/a.mcap"],
     "unknown serial option"),
    (["record", "/dev/null", "--out", "{tmp}/a.mcap", "--speed", "0"], "sim:// sensors only"),
    (["replay", "{tmp}/missing.mcap"], "does not exist"),
    (["replay", "{tmp}/not.mcap"], "not an MCAP file"),
    (["export", "{tmp}/not.mcap", "--samples", "{tmp}/x.csv"], "not an MCAP file"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, msg) -> None:
    (tmp_path / "not.mcap").write_bytes(b"this is not a recording at all\n" * 10)
    if args[0] == "record" and "--duration" not in args:
        args = [*args, "--duration", "1"]  # never hang on a case that wrongly starts
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stridecore: error: ") and err.count("\n") == 1
    assert msg in err


def test_export_unknown_format(session_file, tmp_path, capsys) -> None:
    assert main(["export", str(session_file[0]), "--samples", str(tmp_path / "x.xlsx")]) == 2
    assert "unknown export format '.xlsx'" in capsys.readouterr().err


def test_sensor_that_never_answers_exits_1_and_keeps_the_file(tmp_path, capsys) -> None:
    out = tmp_path / "silent.mcap"
    assert main(["record", "sim://?motion=still&corrupt=1", "--out", str(out),
                 "--duration", "3", "--speed", "0"]) == 1
    err = capsys.readouterr().err
    assert "no answer to GET_INFO" in err and err.count("\n") == 1
    assert not open_recording(out).truncated


def test_a_cut_recording_is_replayed_and_exported_then_exit_2(session_file, tmp_path,
                                                               capsys) -> None:
    """What a truncated file holds is used; the damage is one line and a non-zero exit."""
    data = session_file[0].read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert main(["replay", str(cut), "--json"]) == 2
    out = capsys.readouterr()
    rep = json.loads(out.out)
    assert "ends early" in rep["note"] and 0 < rep["devices"]["left_foot"]["samples"]
    assert out.err.count("\n") == 1 and "ends early" in out.err
    dest = tmp_path / "cut.csv"
    assert main(["export", str(cut), "--samples", str(dest)]) == 2
    out = capsys.readouterr()
    assert out.out.startswith("wrote ") and "ends early" in out.err
    assert pcsv.read_csv(dest).num_rows > 1000


def test_record_stops_cleanly_on_sigint(tmp_path) -> None:
    """Ctrl-C ends a real-time recording with a complete file and exit 0."""
    out = tmp_path / "int.mcap"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "stridecore.cli", "record",
                          "sim://?motion=still", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and out.stat().st_size > 20_000:
                break
            time.sleep(0.1)
        p.send_signal(2)
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    rec = open_recording(out)
    assert not rec.truncated and rec.summary()["per_device"]["right_foot"]["rx_units"] > 10


def test_open_url_dispatch() -> None:
    assert isinstance(open_url("sim://?placement=left_shin"), SimTransport)
    assert isinstance(open_url("loop://"), SerialTransport)
    assert isinstance(open_url("/dev/ttyUSB0"), SerialTransport)
    from stridecore.transport.ble import BleTransport

    assert isinstance(open_url("ble://SC-LEFT"), BleTransport)
    with pytest.raises(TransportError, match="unknown URL scheme 'http'"):
        open_url("http://example.org")
