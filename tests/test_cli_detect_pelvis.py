"""`stridecore detect --placement pelvis`: a sacral sensor's CSV in, one row per step of either
leg out (its side from the pelvis roll, pelvic drop, sway, push-off), gyro optional."""

import json

import numpy as np
import pytest

from stridecore.bench.score import score
from stridecore.cli import main
from stridecore.schema import STEPS, Placement
from stridecore.simulate.session import simulate
from stridecore.tables import read_csv


@pytest.mark.parametrize("gyro", [True, False])
def test_detect_pelvis_with_and_without_gyro(tmp_path, capsys, gyro):
    ses = simulate(60, seed=1005, placements=["pelvis"])
    s = ses.recording.sensors[Placement.PELVIS]
    # t_s on the recording's time base (the simulated sensor's rate is off by up to 0.5 %)
    cols = [s.samples.t_device_us[:, None] * 1e-6, s.samples.acc_mps2] + (
        [np.degrees(s.samples.gyr_radps)] if gyro else [])
    head = "t_s,acc_x,acc_y,acc_z" + (",gyr_x,gyr_y,gyr_z" if gyro else "")
    p = tmp_path / "pelvis.csv"
    np.savetxt(p, np.column_stack(cols), delimiter=",", header=head, comments="", fmt="%.7f")
    out = tmp_path / "steps.csv"
    assert main(["detect", str(p), "--placement", "pelvis", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    steps = read_csv(out, STEPS)
    assert summary["contacts"] == len(steps["t_ic_s"]) > 100  # both legs: ~150 steps
    assert set(steps["placement"]) == {"pelvis"}
    assert 140 < summary["median_cadence_spm"] < 200  # steps, not strides
    truth = {k: v[ses.recording.truth["placement"] == "pelvis"]
             for k, v in ses.recording.truth.items()}
    truth["ic_sample_idx"] = np.full(len(truth["t_ic_s"]), -1)
    truth["to_sample_idx"] = np.full(len(truth["t_ic_s"]), -1)
    steps["recording_id"] = truth["recording_id"][:1].repeat(len(steps["t_ic_s"]))
    assert score(steps, truth, tol_ms=50).overall.f1 > 0.9  # plumbing; accuracy: benchmarks
    if gyro:
        assert set(steps["side"]) >= {"left", "right"}
        assert np.isfinite(steps["pelvic_drop_deg"]).mean() > 0.9
    else:
        assert set(steps["side"]) == {""}
        assert np.isnan(steps["pelvic_drop_deg"]).all() and np.isnan(steps["pelvis_sway_m"]).all()
    assert np.isnan(steps["push_off_mps"][:20]).all()  # the forward axis is still young
    assert np.isfinite(steps["push_off_mps"][30:]).mean() > 0.8


def test_detect_pelvis_ignores_side_and_rejects_unknown_placements(tmp_path, capsys):
    p = tmp_path / "x.csv"
    p.write_text("acc_x,acc_y,acc_z\n0,0,9.81\n")
    assert main(["detect", str(p), "--placement", "hip", "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "foot, shin or pelvis" in err[0]
