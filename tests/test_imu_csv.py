"""stridecore.imu_csv: a user's raw IMU CSV, read into SI units, or one clear error line."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from firmware_protocol.batch import SampleFlag
from stridecore.imu_csv import ImuCsvError, read_imu_csv
from stridecore.tables import TableError

G = 9.80665
FS = 200.0


def signals(n: int = 1000, fs: float = FS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A moving foot: acc (N, 3) in g around 1 g, gyro (N, 3) in deg/s (p99 ≈ 400)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    ph = 2 * np.pi * 1.4 * t
    acc = np.column_stack([0.8 * np.sin(ph), 0.3 * np.cos(ph), 1.0 + 1.2 * np.sin(2 * ph)])
    gyr = np.column_stack([40 * np.sin(ph), 400 * np.cos(ph), 25 * np.sin(3 * ph)])
    return acc + rng.normal(0, 0.01, acc.shape), gyr + rng.normal(0, 1.0, gyr.shape)


def write(path: Path, cols: dict[str, np.ndarray], *, header: str | None = None,
          newline: str = "\n", bom: bool = False) -> Path:
    names = list(cols)
    lines = [header if header is not None else ",".join(names)]
    n = len(next(iter(cols.values())))
    lines += [",".join(repr(float(cols[k][i])) for k in names) for i in range(n)]
    text = newline.join(lines) + newline
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def imu_cols(acc: np.ndarray, gyr: np.ndarray | None = None,
             t: np.ndarray | None = None) -> dict[str, np.ndarray]:
    cols = {f"acc_{a}": acc[:, i] for i, a in enumerate("xyz")}
    if gyr is not None:
        cols |= {f"gyr_{a}": gyr[:, i] for i, a in enumerate("xyz")}
    if t is not None:
        cols["t_s"] = t
    return cols


def good_file(tmp_path: Path, n: int = 1000, **kw) -> Path:
    acc, gyr = signals(n)
    return write(tmp_path / "in.csv", imu_cols(acc * G, gyr, np.arange(n) / FS), **kw)


# --- happy paths --------------------------------------------------------------------------


def test_g_and_dps_with_t_s_read_back_in_si(tmp_path):
    acc_g, gyr_dps = signals()
    t = 100.0 + np.arange(len(acc_g)) / FS  # input time base starts at 100 s
    p = write(tmp_path / "in.csv", imu_cols(acc_g, gyr_dps, t))
    r = read_imu_csv(p, acc_unit="g", gyr_unit="dps")
    s = r.samples
    assert r.has_gyro and r.path == str(p)
    assert r.fs_hz == pytest.approx(FS)
    assert r.t0_s == 100.0
    np.testing.assert_allclose(s.acc_mps2, acc_g * G, rtol=1e-12)
    np.testing.assert_allclose(s.gyr_radps, np.radians(gyr_dps), rtol=1e-12)
    np.testing.assert_array_equal(s.sample_idx, np.arange(len(t)))
    np.testing.assert_allclose(s.t_device_us, (t - 100.0) * 1e6, atol=1e-3)
    np.testing.assert_allclose(r.t0_s + s.t_device_us / 1e6, t, atol=1e-9)
    assert s.flags.dtype == np.uint8 and not s.flags.any()
    assert s.acc_mps2.shape == s.gyr_radps.shape == (len(t), 3)


def test_without_t_s_uses_rate_and_starts_at_zero(tmp_path):
    acc_g, gyr_dps = signals(n=800)
    p = write(tmp_path / "in.csv", imu_cols(acc_g * G, np.radians(gyr_dps)))
    r = read_imu_csv(p, rate_hz=FS, gyr_unit="rads")
    assert r.fs_hz == FS and r.t0_s == 0.0
    np.testing.assert_allclose(r.samples.t_device_us, np.arange(800) / FS * 1e6)
    np.testing.assert_allclose(r.samples.gyr_radps, np.radians(gyr_dps), rtol=1e-12)


def test_gyro_less_shin_file(tmp_path):
    acc_g, _ = signals()
    p = write(tmp_path / "shin.csv", imu_cols(acc_g, t=np.arange(len(acc_g)) / FS))
    r = read_imu_csv(p, acc_unit="g", require_gyro=False)
    assert not r.has_gyro
    assert np.isnan(r.samples.gyr_radps).all() and r.samples.gyr_radps.shape == (1000, 3)
    np.testing.assert_allclose(r.samples.acc_mps2, acc_g * G, rtol=1e-12)


def test_rate_given_with_t_s_keeps_the_file_times(tmp_path):
    acc, gyr = signals()
    t = np.arange(1000) / FS * 1.03  # 194 Hz: within 5 % of --rate 200
    p = write(tmp_path / "in.csv", imu_cols(acc * G, gyr, t))
    r = read_imu_csv(p, rate_hz=FS)
    assert r.fs_hz == FS
    np.testing.assert_allclose(r.samples.t_device_us, t * 1e6, atol=1e-3)


def test_bom_crlf_whitespace_case_column_order_and_gzip(tmp_path):
    acc, gyr = signals()
    t = np.arange(1000) / FS
    cols = {"t_s": t, **imu_cols(acc * G, gyr)}
    header = " t_s , ACC_X,acc_y ,acc_z,gyr_x,gyr_y,  gyr_z "
    p = write(tmp_path / "in.csv", cols, header=header, newline="\r\n", bom=True)
    r = read_imu_csv(p)
    np.testing.assert_allclose(r.samples.acc_mps2, acc * G, rtol=1e-12)
    gz = tmp_path / "in.csv.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert read_imu_csv(gz).samples.equals(r.samples)


def test_quoted_cells_and_blank_lines_take_the_slow_path(tmp_path):
    p = good_file(tmp_path)
    lines = p.read_text().splitlines()
    lines[5] = ",".join(f'"{x}"' for x in lines[5].split(","))
    lines.insert(7, "")
    lines.insert(9, "   ")
    q = tmp_path / "quoted.csv"
    q.write_text("\n".join(lines) + "\n")
    assert read_imu_csv(q).samples.equals(read_imu_csv(p).samples)


def test_gaps_are_flagged(tmp_path):
    acc, gyr = signals()
    t = np.arange(1000) / FS
    t[500:] += 0.1  # 20 samples missing before row 500
    r = read_imu_csv(write(tmp_path / "in.csv", imu_cols(acc * G, gyr, t)))
    gap = (r.samples.flags & SampleFlag.GAP_BEFORE) != 0
    assert np.flatnonzero(gap).tolist() == [500]
    assert r.fs_hz == pytest.approx(FS)


def test_rail_flags_clipped_acc_and_gyro(tmp_path):
    acc, gyr = signals()
    impacts = np.arange(50, 1000, 71)
    acc[impacts, 2] = 12.0  # impacts of 12 g, 1 to 3 samples long ...
    acc[impacts[::2] + 1, 2] = 10.0
    acc[impacts[::3] + 2, 2] = 9.0
    acc[:, 2] = np.minimum(acc[:, 2], 8.0)  # ... clamped at an 8 g rail
    gyr[:, 1] = np.clip(gyr[:, 1], -300.0, 300.0)
    r = read_imu_csv(write(tmp_path / "in.csv", imu_cols(acc, gyr, np.arange(1000) / FS)),
                     acc_unit="g")
    f = r.samples.flags
    clipped_acc = (f & SampleFlag.CLIPPED_ACC) != 0
    clipped_gyr = (f & SampleFlag.CLIPPED_GYR) != 0
    np.testing.assert_array_equal(clipped_acc, acc[:, 2] == 8.0)
    np.testing.assert_array_equal(clipped_gyr, np.abs(gyr[:, 1]) == 300.0)
    assert clipped_acc.sum() > 10 and clipped_gyr.sum() > 10


def test_a_single_repeated_peak_is_not_a_rail(tmp_path):
    acc, gyr = signals()
    acc[::97, 2] += np.linspace(3.0, 9.0, len(acc[::97]))  # impacts of different sizes
    k = int(np.argmax(acc[:, 2]))
    acc[k + 1, 2] = acc[k, 2]  # two equal samples at the maximum, nowhere else
    r = read_imu_csv(write(tmp_path / "in.csv", imu_cols(acc, gyr, np.arange(1000) / FS)),
                     acc_unit="g")
    assert not r.samples.flags.any()


@pytest.mark.slow
def test_a_million_rows_load_fast(tmp_path):
    import time

    n = 1_000_000
    acc, gyr = signals(n=n, fs=1000.0)
    t = np.arange(n) / 1000.0
    p = tmp_path / "big.csv"
    np.savetxt(p, np.column_stack([t, acc * G, gyr]), delimiter=",", fmt="%.6f",
               header="t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments="")
    t0 = time.perf_counter()
    r = read_imu_csv(p)
    elapsed = time.perf_counter() - t0
    assert len(r.samples) == n and r.fs_hz == pytest.approx(1000.0)
    assert elapsed < 10.0, f"{elapsed:.1f} s"


# --- errors: one line, naming the file ----------------------------------------------------


def check_error(path: Path, match: str, **kw) -> str:
    with pytest.raises(ImuCsvError) as ei:
        read_imu_csv(path, **kw)
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg, msg
    assert match in msg, msg
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, TableError)
    return msg


def test_missing_file(tmp_path):
    check_error(tmp_path / "nope.csv", "no such file")


def test_directory(tmp_path):
    check_error(tmp_path, "not a file")


def test_empty_file(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("")
    check_error(p, "empty file")


def test_blank_first_line(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("\nacc_x,acc_y,acc_z\n")
    check_error(p, "first line is blank")


def test_header_only(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n")
    check_error(p, "no data rows", rate_hz=100)


def test_binary_file(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00binary")
    check_error(p, "not a readable CSV file")


def test_nul_bytes(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(b"acc_x\x00\x00\x01,acc_y\n")
    check_error(p, "binary")


def test_not_a_csv_text(tmp_path):
    p = tmp_path / "notes.csv"
    p.write_text("Dear diary, today I ran\n")
    check_error(p, "unknown column")
    p.write_text("just some text\n")
    check_error(p, "not a CSV file with a header line")


def test_semicolon_separated(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_text("acc_x;acc_y;acc_z\n1;2;3\n")
    check_error(p, "separated by ';'")


def test_bad_gzip(tmp_path):
    p = tmp_path / "x.csv.gz"
    p.write_bytes(b"acc_x,acc_y\n")
    check_error(p, "not a readable CSV file")


def test_unknown_columns_are_named_with_the_allowed_ones(tmp_path):
    acc, gyr = signals()
    cols = imu_cols(acc * G, gyr, np.arange(1000) / FS) | {"temp_c": np.zeros(1000)}
    msg = check_error(write(tmp_path / "u.csv", cols), "unknown column(s) 'temp_c'")
    assert "allowed: acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z, t_s" in msg


def test_schema_style_names_are_unknown(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("acc_x_mps2,acc_y_mps2,acc_z_mps2\n0,0,9.8\n")
    check_error(p, "'acc_x_mps2', 'acc_y_mps2', 'acc_z_mps2'")


def test_empty_and_duplicate_column_names(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("acc_x,acc_y,acc_z,\n0,0,9.8,\n")
    check_error(p, "empty column name (column 4)")
    p.write_text("acc_x,acc_y,acc_z,acc_x\n0,0,9.8,0\n")
    check_error(p, "duplicate column(s) acc_x")


def test_missing_required_columns(tmp_path):
    acc, gyr = signals()
    cols = imu_cols(acc * G, gyr, np.arange(1000) / FS)
    del cols["acc_y"]
    check_error(write(tmp_path / "m.csv", cols), "missing required column(s) acc_y")
    cols = imu_cols(acc * G, gyr, np.arange(1000) / FS)
    del cols["gyr_z"]  # a partial gyro is never allowed
    check_error(write(tmp_path / "m.csv", cols), "missing required column(s) gyr_z",
                require_gyro=False)


def test_gyro_required_for_a_foot(tmp_path):
    acc, _ = signals()
    p = write(tmp_path / "a.csv", imu_cols(acc * G, t=np.arange(1000) / FS))
    check_error(p, "no gyro columns (gyr_x, gyr_y, gyr_z)")


@pytest.mark.parametrize(("cell", "match"), [
    ("abc", "gyr_y is not a number: 'abc'"),
    ("", "gyr_y is empty"),
    ("nan", "gyr_y is nan; every value must be a finite number"),
    ("-inf", "gyr_y is -inf"),
])
def test_bad_values_name_the_line(tmp_path, cell, match):
    p = good_file(tmp_path)
    lines = p.read_text().splitlines()
    cells = lines[41].split(",")  # line 42 of the file (header is line 1)
    cells[4] = cell
    lines[41] = ",".join(cells)
    lines.insert(10, "")  # a blank line before it must not shift the count
    p.write_text("\n".join(lines) + "\n")
    check_error(p, f"{p}:43: {match}")


def test_wrong_field_count_names_the_line(tmp_path):
    p = good_file(tmp_path)
    lines = p.read_text().splitlines()
    lines[99] += ",1.0"
    p.write_text("\n".join(lines) + "\n")
    check_error(p, f"{p}:100: 8 fields, the header has 7")


def test_acc_in_g_read_as_ms2(tmp_path):
    acc, gyr = signals()
    p = write(tmp_path / "g.csv", imu_cols(acc, gyr, np.arange(1000) / FS))
    msg = check_error(p, "looks like g, use --acc-unit g")
    assert "|acc| at rest is 1." in msg


def test_acc_in_ms2_read_as_g(tmp_path):
    check_error(good_file(tmp_path), "looks like m/s², use --acc-unit ms2", acc_unit="g")


@pytest.mark.parametrize("scale", [1000.0, 2048.0, 0.1])  # milli-g, counts at ±16 g, ?
def test_acc_in_neither_unit(tmp_path, scale):
    acc, gyr = signals()
    p = write(tmp_path / "c.csv", imu_cols(acc * scale, gyr, np.arange(1000) / FS))
    check_error(p, "fits neither m/s² nor g")


def test_gyro_in_dps_read_as_rads(tmp_path):
    check_error(good_file(tmp_path), "looks like deg/s, use --gyr-unit dps", gyr_unit="rads")


def test_gyro_in_rads_read_as_dps(tmp_path):
    acc, gyr = signals()
    p = write(tmp_path / "r.csv", imu_cols(acc * G, np.radians(gyr), np.arange(1000) / FS))
    check_error(p, "looks like rad/s, use --gyr-unit rads")


def test_slow_gyro_of_a_still_sensor_is_accepted(tmp_path):
    """Conservative: a sensor lying still turns slowly in any unit, so no unit is blamed."""
    rng = np.random.default_rng(1)
    acc = np.tile([0.0, 0.0, G], (1000, 1)) + rng.normal(0, 0.05, (1000, 3))
    gyr = rng.normal(0, 0.01, (1000, 3))
    p = write(tmp_path / "still.csv", imu_cols(acc, gyr, np.arange(1000) / FS))
    assert read_imu_csv(p).has_gyro
    assert read_imu_csv(p, gyr_unit="rads").has_gyro


def test_t_s_not_increasing(tmp_path):
    acc, gyr = signals()
    t = np.arange(1000) / FS
    t[300] = t[299]
    p = write(tmp_path / "t.csv", imu_cols(acc * G, gyr, t))
    check_error(p, f"{p}:302: t_s goes from 1.495 to 1.495; sample times must be strictly")


def test_t_s_disagrees_with_rate(tmp_path):
    acc, gyr = signals()
    t = np.arange(1000) / FS
    p = write(tmp_path / "t.csv", imu_cols(acc * G, gyr, t))
    check_error(p, "median rate of 200 Hz but --rate is 100 Hz", rate_hz=100.0)
    t = np.arange(1000) / 180.0  # 10 % off
    p = write(tmp_path / "t.csv", imu_cols(acc * G, gyr, t))
    check_error(p, "more than 5% apart", rate_hz=FS)


def test_no_times_and_no_rate(tmp_path):
    acc, gyr = signals()
    p = write(tmp_path / "n.csv", imu_cols(acc * G, gyr))
    check_error(p, "give --rate HZ or a t_s column")


@pytest.mark.parametrize("rate", [10.0, 5000.0, 0.0, -1.0, math.nan])
def test_unusable_rate_option(tmp_path, rate):
    acc, gyr = signals()
    p = write(tmp_path / "n.csv", imu_cols(acc * G, gyr))
    check_error(p, "unusable rate", rate_hz=rate)


def test_unusable_rate_from_t_s_in_milliseconds(tmp_path):
    acc, gyr = signals()
    p = write(tmp_path / "ms.csv", imu_cols(acc * G, gyr, np.arange(1000) * 5.0))
    check_error(p, "unusable rate 0.2 Hz (median of t_s)")
    check_error(p, "is t_s in milliseconds?")


def test_unusable_rate_from_t_s(tmp_path):
    acc, gyr = signals()
    p = write(tmp_path / "lo.csv", imu_cols(acc * G, gyr, np.arange(1000) / 20.0))
    check_error(p, "unusable rate 20 Hz")


def test_too_short(tmp_path):
    acc, gyr = signals(n=400)
    p = write(tmp_path / "s.csv", imu_cols(acc * G, gyr, np.arange(400) / FS))
    check_error(p, "too short: 2.00 s of data (400 rows at 200 Hz); need at least 3 s")
    p = write(tmp_path / "s.csv", imu_cols(acc * G, gyr))
    check_error(p, "too short: 2.00 s", rate_hz=FS)
    p = write(tmp_path / "one.csv", imu_cols(acc[:1] * G, gyr[:1], np.zeros(1)))
    check_error(p, "too short: 1 row")


def test_bad_unit_names():
    with pytest.raises(ImuCsvError, match="use ms2 or g"):
        read_imu_csv("x.csv", acc_unit="mps2")
    with pytest.raises(ImuCsvError, match="use dps or rads"):
        read_imu_csv("x.csv", gyr_unit="deg")


def test_cut_short_last_line_is_left_out_and_every_complete_row_kept(tmp_path):
    acc, gyr = signals()
    p = write(tmp_path / "cut.csv", imu_cols(acc * G, gyr, t=np.arange(len(acc)) / FS))
    text = p.read_text()
    p.write_text(text[: len(text) - 20])  # a recording stopped mid-line: no final newline
    r = read_imu_csv(p)
    assert len(r.samples) == len(acc) - 1
    np.testing.assert_allclose(r.samples.acc_mps2, acc[:-1] * G, rtol=1e-6)
    assert "incomplete" in r.note and "left out" in r.note and r.note.count("\n") == 0
    # the same bad line with its newline is an error, not a cut: nothing is guessed
    p.write_text(text[: len(text) - 20] + "\n")
    with pytest.raises(ImuCsvError):
        read_imu_csv(p)
