"""`stridecore score`, table CSV I/O and the loader for users' own labelled data."""

import json
import math

import numpy as np
import pytest

from stridecore.bench.user import load_user
from stridecore.cli import main
from stridecore.schema import STEPS, TRUTH
from stridecore.tables import TableError, concat, read_csv, write_csv


def _write(path, text):
    path.write_text(text)
    return path


def test_tables_round_trip(tmp_path):
    cols = {"recording_id": ["a", "b"], "placement": ["left_foot", "right_shin"],
            "ic_sample_idx": [10, -1], "t_ic_s": [0.5, math.nan], "landing": ["heel", ""],
            "my_condition": ["x", "y"]}
    write_csv(tmp_path / "t.csv", cols, TRUTH)
    text = (tmp_path / "t.csv").read_text().splitlines()
    assert text[0].startswith("recording_id,placement") and text[0].endswith("my_condition")
    assert text[2].split(",")[2] == ""  # missing sample index written empty
    back = read_csv(tmp_path / "t.csv", TRUTH)
    assert back["ic_sample_idx"].tolist() == [10, -1]
    assert back["t_ic_s"][0] == 0.5 and math.isnan(back["t_ic_s"][1])
    assert back["my_condition"].tolist() == ["x", "y"]
    assert np.isnan(back["knee_ic_deg"]).all()  # schema columns absent from the file: empty
    both = concat([back, {"recording_id": ["c"]}], TRUTH)
    assert both["recording_id"].tolist() == ["a", "b", "c"]
    assert both["my_condition"].tolist() == ["x", "y", ""]


@pytest.mark.parametrize(("text", "msg"), [
    ("", "empty file"),
    ("t_ic_s,landing\n0.5,heal\n", "landing 'heal' is not one of: heel, midfoot, forefoot"),
    ("t_ic_s\nabc\n", "t_ic_s must be a number"),
    ("ic_sample_idx\n1.5\n", "whole number"),
    ("a,b\n1\n", "1 fields, header has 2"),
])
def test_bad_tables_fail_with_one_line(tmp_path, text, msg):
    p = _write(tmp_path / "x.csv", text)
    with pytest.raises(TableError, match=msg.replace("[", r"\[")):
        read_csv(p, STEPS)


def test_score_cli_text_and_json(tmp_path, capsys):
    ic = np.arange(20) * 0.36 + 1.0
    truth = {"recording_id": ["r"] * 20, "placement": ["left_foot", "right_foot"] * 10,
             "t_ic_s": ic, "t_to_s": ic + 0.24, "contact_ms": np.full(20, 240.0),
             "landing": ["heel"] * 20, "split": ["dev"] * 20, "dataset": ["sim"] * 20}
    write_csv(tmp_path / "truth.csv", truth, TRUTH)
    keep = np.arange(20) != 7
    steps = {"placement": np.array(truth["placement"])[keep], "t_ic_s": ic[keep] + 0.012,
             "t_to_s": ic[keep] + 0.25, "contact_ms": np.full(19, 238.0),
             "landing": ["heel"] * 19}
    write_csv(tmp_path / "steps.csv", steps, STEPS)
    assert main(["score", str(tmp_path / "steps.csv"), str(tmp_path / "truth.csv")]) == 0
    out = capsys.readouterr().out
    assert "±50 ms" in out and "placement=left_foot" in out
    assert main(["score", str(tmp_path / "steps.csv"), str(tmp_path / "truth.csv"),
                 "--json", "--tol-ms", "20"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["tol_ms"] == 20 and d["overall"]["tp"] == 19 and d["overall"]["fn"] == 1
    assert d["overall"]["ic_ms"]["bias"] == pytest.approx(12.0)
    assert d["by"]["placement"]["right_foot"]["fn"] == 1
    # tolerance below the offset: nothing matches
    assert main(["score", str(tmp_path / "steps.csv"), str(tmp_path / "truth.csv"),
                 "--json", "--tol-ms", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["tp"] == 0


def test_score_cli_bad_input_is_one_line(tmp_path, capsys):
    _write(tmp_path / "t.csv", "t_ic_s\n1.0\n")
    assert main(["score", str(tmp_path / "missing.csv"), str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err and "Traceback" not in err
    _write(tmp_path / "s.csv", "placement,t_ic_s\nleft_fot,1.0\n")
    assert main(["score", str(tmp_path / "s.csv"), str(tmp_path / "t.csv")]) == 2
    assert "left_fot" in capsys.readouterr().err


def _samples_csv(path, scale=1.0, gyr_scale=1.0):
    n = 500
    t = np.arange(n) / 100
    lines = ["t_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_radps,gyr_y_radps,gyr_z_radps"]
    for i in range(n):
        lines.append(f"{t[i]},0.1,0.2,{9.81 * scale},0,{np.sin(t[i] * 6) * 8 * gyr_scale},0")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_user_loader(tmp_path):
    s = _samples_csv(tmp_path / "s.csv")
    lab = _write(tmp_path / "l.csv", "t_ic_s,landing\n1.0,heel\n1.7,midfoot\n")
    rec = load_user(s, lab, "right_foot")
    stream = rec.sensors["right_foot"]
    assert stream.fs_hz == pytest.approx(100.0) and stream.has_gyro
    assert rec.truth["placement"].tolist() == ["right_foot"] * 2
    assert rec.truth["side"].tolist() == ["right"] * 2
    assert rec.truth["landing"].tolist() == ["heel", "midfoot"]
    with pytest.raises(TableError, match="looks like g"):
        load_user(_samples_csv(tmp_path / "g.csv", scale=1 / 9.81), lab, "right_foot")
    with pytest.raises(TableError, match="rad/s"):
        load_user(_samples_csv(tmp_path / "d.csv", gyr_scale=57.3), lab, "right_foot")
    with pytest.raises(TableError, match="t_ic_s or ic_sample_idx"):
        load_user(s, _write(tmp_path / "x.csv", "landing\nheel\n"), "right_foot")
