"""Read a user's raw IMU CSV for ``stridecore detect``.

The file has a header line, then one row per sample of one sensor:

- ``acc_x, acc_y, acc_z``: specific force, m/s² (``acc_unit="ms2"``, default) or g;
- ``gyr_x, gyr_y, gyr_z``: angular rate, deg/s (``gyr_unit="dps"``, default) or rad/s; all three
  may be left out for an accelerometer-only (shin) sensor, and then the gyro is NaN;
- ``t_s`` (optional): sample time, s, strictly increasing, any origin.

Header names are matched after stripping whitespace, case-insensitively; any other column is
rejected (a typo must not silently drop an axis). A UTF-8 BOM, CRLF line ends and ``.csv.gz`` are
accepted. Every problem a user can cause raises :class:`ImuCsvError` with one line naming the
file (and the line, where there is one). Loading uses ``np.loadtxt``; only a file it refuses is
read again row by row, to name the offending line; a million rows load in a few seconds.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_protocol.batch import SampleFlag, Samples
from stridecore.bench.recording import make_samples
from stridecore.bench.user import G
from stridecore.tables import TableError

ACC_COLUMNS = ("acc_x", "acc_y", "acc_z")
GYR_COLUMNS = ("gyr_x", "gyr_y", "gyr_z")
TIME_COLUMN = "t_s"
ALLOWED_COLUMNS = (*ACC_COLUMNS, *GYR_COLUMNS, TIME_COLUMN)

ACC_UNITS = {"ms2": 1.0, "g": G}  # unit name -> m/s² per unit
GYR_UNITS = {"dps": math.pi / 180.0, "rads": 1.0}  # unit name -> rad/s per unit
_ACC_UNIT_TEXT = {"ms2": "m/s²", "g": "g"}
_GYR_UNIT_TEXT = {"dps": "deg/s", "rads": "rad/s"}

RATE_RANGE_HZ = (40.0, 2000.0)  # usable sample rates
RATE_TOLERANCE = 0.05  # --rate may differ from the median rate of t_s by this fraction
MIN_DURATION_S = 3.0
GAP_FACTOR = 1.5  # a t_s step longer than this many periods flags GAP_BEFORE
# Median |acc| of a body-worn sensor, in g. Not 1.3 g at the top: running foot and shin
# sensors reach a median of 2.2 g (Grouvel feet, Bach shins); 0.7–3 g still leaves the
# factor 9.81 between g and m/s² unambiguous.
GRAVITY_RANGE_G = (0.7, 3.0)
GYR_MAX_P99_RADPS = 50.0  # faster than any foot or shin turns (real data: p99 ≤ 19 rad/s)
GYR_MIN_P99_DPS_MOVING = 30.0  # ... and slower than any moving foot or shin (p99 ≥ 145 deg/s)
MOVING_ACC_P99_G = 1.5  # "moving": 99th percentile of |acc| above this
ACC_RAIL_MIN_G = 2.0  # no accelerometer range is below ±2 g
GYR_RAIL_MIN_RADPS = math.radians(250.0)  # nor gyro range below ±250 deg/s


class ImuCsvError(TableError):
    """An IMU CSV that cannot be used; the message is one line for the user (a ValueError)."""


@dataclass(frozen=True)
class ImuCsv:
    """A user's IMU CSV in SI units.

    ``samples``: ``acc_mps2`` (N, 3) m/s², ``gyr_radps`` (N, 3) rad/s (all NaN without gyro),
    ``sample_idx`` 0..N-1, ``t_device_us`` µs since the first row (from ``t_s``, else
    i / ``fs_hz``), ``flags`` :class:`SampleFlag` bits (see :func:`read_imu_csv`).
    ``fs_hz``: the rate given, else the median rate of ``t_s`` (Hz). ``t0_s``: ``t_s`` of the
    first row (0 without ``t_s``); a sample's time in the input's time base is
    ``t0_s + t_device_us / 1e6``. ``has_gyro``: the file has gyro columns.
    """

    samples: Samples
    fs_hz: float
    t0_s: float
    has_gyro: bool
    path: str
    note: str = ""  # a one-line warning for the user (e.g. a cut-short last line left out)


def read_imu_csv(path: str | Path, *, rate_hz: float | None = None, acc_unit: str = "ms2",
                 gyr_unit: str = "dps", require_gyro: bool = True) -> ImuCsv:
    """Read and check a raw IMU CSV (module docstring: columns); raises :class:`ImuCsvError`.

    ``rate_hz`` (Hz) is needed without a ``t_s`` column; with one, the median rate of ``t_s``
    must agree with it within 5 %. Rates outside 40–2000 Hz and files under 3 s are refused.
    ``acc_unit`` is ``"ms2"`` or ``"g"``, ``gyr_unit`` ``"dps"`` or ``"rads"``;
    ``require_gyro=False`` lets the gyro columns be absent (accelerometer-only shin sensor).

    Unit checks, after conversion to SI: |acc| where the sensor is quietest
    (:func:`gravity_estimate`) must be 0.7–3 g, else the message says which unit
    would fit. The gyro is judged wrong only when the evidence is strong, because a quiet
    recording proves nothing: read as rad/s, a 99th percentile of |gyr| above 50 rad/s (no
    foot or shin turns that fast; real data stay under 19) means deg/s; read as deg/s, a 99th
    percentile under 30 deg/s while |acc| shows motion (99th percentile above 1.5 g) means
    rad/s (moving feet and shins turn at 145 deg/s or more at that percentile).

    Flags: ``GAP_BEFORE`` where a ``t_s`` step exceeds 1.5 sample periods. ``CLIPPED_ACC`` /
    ``CLIPPED_GYR`` on samples at a rail: an axis's largest (or smallest) value, at least 2 g
    (250 deg/s) in size, reached by 3 or more samples, two of them consecutive — a clamped
    sensor repeats its limit exactly, a free signal rarely repeats its extreme (no false rail
    in the Tan, Grouvel, Marpino or gaitmap data; the ±8 g Bach shins are found).
    """
    p = Path(path)
    if acc_unit not in ACC_UNITS:
        raise ImuCsvError(f"unknown accelerometer unit {acc_unit!r}; use ms2 or g")
    if gyr_unit not in GYR_UNITS:
        raise ImuCsvError(f"unknown gyro unit {gyr_unit!r}; use dps or rads")
    if rate_hz is not None and not (math.isfinite(rate_hz)
                                    and RATE_RANGE_HZ[0] <= rate_hz <= RATE_RANGE_HZ[1]):
        raise ImuCsvError(f"{p}: unusable rate --rate {rate_hz:g} Hz; the sample rate must be "
                          f"{RATE_RANGE_HZ[0]:g}–{RATE_RANGE_HZ[1]:g} Hz")
    names, data, note = _read_table(p)
    has_gyro = _check_columns(p, names, require_gyro)
    col = {name: data[:, j] for j, name in enumerate(names)}
    n = data.shape[0]
    if n == 0:
        raise ImuCsvError(f"{p}: no data rows after the header")

    flags = np.zeros(n, np.uint8)
    t = col.get(TIME_COLUMN)
    if t is not None:
        fs = _rate_from_times(p, t, rate_hz)
        duration = float(t[-1] - t[0]) + 1.0 / fs
        gaps = np.flatnonzero(np.diff(t) > GAP_FACTOR / fs) + 1
        flags[gaps] |= np.uint8(SampleFlag.GAP_BEFORE)
    elif rate_hz is None:
        raise ImuCsvError(f"{p}: no sample times: give --rate HZ or a t_s column")
    else:
        fs = float(rate_hz)
        duration = n / fs
    if duration < MIN_DURATION_S:
        raise ImuCsvError(f"{p}: too short: {duration:.2f} s of data ({n} rows at {fs:.4g} Hz); "
                          f"need at least {MIN_DURATION_S:g} s")

    acc = np.column_stack([col[c] for c in ACC_COLUMNS]) * ACC_UNITS[acc_unit]
    acc_norm = np.linalg.norm(acc, axis=1)
    gyr = None
    if has_gyro:
        gyr = np.column_stack([col[c] for c in GYR_COLUMNS]) * GYR_UNITS[gyr_unit]
    _check_acc_unit(p, acc_norm, acc_unit, gyr)
    if gyr is not None:
        _check_gyr_unit(p, gyr, gyr_unit, acc_norm)
    flags[_at_rail(acc, ACC_RAIL_MIN_G * G)] |= np.uint8(SampleFlag.CLIPPED_ACC)
    if gyr is not None:
        flags[_at_rail(gyr, GYR_RAIL_MIN_RADPS)] |= np.uint8(SampleFlag.CLIPPED_GYR)

    t0 = float(t[0]) if t is not None else 0.0
    samples = make_samples(acc, gyr, fs, t_s=None if t is None else t - t0)
    samples.flags = flags
    return ImuCsv(samples=samples, fs_hz=fs, t0_s=t0, has_gyro=has_gyro, path=str(path),
                  note=note)


# --- reading ------------------------------------------------------------------------------


def _open(p: Path) -> io.TextIOBase:
    raw = gzip.open(p, "rb") if p.suffix == ".gz" else p.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=None)  # BOM, CRLF


def _unreadable(p: Path, e: Exception) -> ImuCsvError:
    why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e) or type(e).__name__
    return ImuCsvError(f"{p}: not a readable CSV file ({why})")


_READ_ERRORS = (OSError, UnicodeDecodeError, EOFError, csv.Error)


def _read_table(p: Path) -> tuple[list[str], np.ndarray, str]:
    """Header names (stripped, lower case), the numbers as an (N, columns) float array, and a
    note when a cut-short last line was left out."""
    if not p.exists():
        raise ImuCsvError(f"{p}: no such file")
    if not p.is_file():
        raise ImuCsvError(f"{p}: not a file")
    try:
        with _open(p) as fh:
            header = fh.readline()
            names = _parse_header(p, header)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "input contained no data"
                    data = np.loadtxt(fh, delimiter=",", dtype=np.float64, comments=None,
                                      ndmin=2)
            except ValueError:
                data = None  # quoted cells, blank-ish lines, or a bad value: read row by row
    except _READ_ERRORS as e:
        raise _unreadable(p, e) from None
    if data is not None and data.size == 0:
        data = np.zeros((0, len(names)))
    if data is None or data.shape[1] != len(names) or not np.isfinite(data).all():
        return (names, *_read_rows(p, names))
    return names, data, ""


def _parse_header(p: Path, header: str) -> list[str]:
    allowed = ", ".join(ALLOWED_COLUMNS)
    if header == "":
        raise ImuCsvError(f"{p}: empty file, expected a header line with columns {allowed}")
    if "\x00" in header:
        raise ImuCsvError(f"{p}: not a CSV file (binary data)")
    if not header.strip():
        raise ImuCsvError(f"{p}: the first line is blank, expected a header line with "
                          f"columns {allowed}")
    names = [h.strip().lower() for h in next(csv.reader([header.rstrip("\n")]))]
    if len(names) == 1 and names[0] not in ALLOWED_COLUMNS:
        sep = next((f" (separated by {s!r}? use commas)" for s in (";", "\t") if s in header), "")
        raise ImuCsvError(f"{p}: not a CSV file with a header line{sep}: first line is "
                          f"{_short(header.strip())}; expected columns {allowed}")
    empty = [j + 1 for j, h in enumerate(names) if not h]
    if empty:
        raise ImuCsvError(f"{p}: the header has an empty column name (column {empty[0]}); "
                          f"expected columns {allowed}")
    dup = sorted({h for h in names if names.count(h) > 1})
    if dup:
        raise ImuCsvError(f"{p}: duplicate column(s) {', '.join(dup)} in the header")
    unknown = [h for h in names if h not in ALLOWED_COLUMNS]
    if unknown:
        raise ImuCsvError(f"{p}: unknown column(s) {', '.join(_short(u) for u in unknown)}; "
                          f"allowed: {allowed} (t_s optional; gyr_* optional for --placement shin)")
    return names


def _short(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "…")


def _read_rows(p: Path, names: list[str]) -> tuple[np.ndarray, str]:
    """The slow, exact reader: the numbers, or an error naming the first bad line. A bad last
    line without its newline is a write cut short (a recording stopped mid-line): it is left
    out, with a note, so every complete row is kept."""
    out: list[list[float]] = []
    note = ""
    try:
        with _open(p) as fh:
            text = fh.read()
        cut_short = bool(text) and not text.endswith("\n")
        rows = list(csv.reader(io.StringIO(text)))
        last = max((i for i, r in enumerate(rows) if any(x.strip() for x in r)), default=-1)
        for i, row in enumerate(rows[1:], start=1):
            if not any(x.strip() for x in row):
                continue
            line = i + 1
            try:
                out.append(_parse_row(p, line, names, row))
            except ImuCsvError:
                if not (cut_short and i == last):
                    raise
                note = (f"{p}:{line}: the last line is incomplete (file cut short?) and was "
                        "left out")
    except _READ_ERRORS as e:
        raise _unreadable(p, e) from None
    return np.array(out, np.float64).reshape(len(out), len(names)), note


def _parse_row(p: Path, line: int, names: list[str], row: list[str]) -> list[float]:
    """One data row's numbers, or an error naming its line and the bad cell."""
    if len(row) != len(names):
        raise ImuCsvError(f"{p}:{line}: {len(row)} fields, the header has {len(names)}")
    vals = []
    for name, x in zip(names, row, strict=True):
        try:
            v = float(x)
        except ValueError:
            what = "is empty" if not x.strip() else f"is not a number: {_short(x)}"
            raise ImuCsvError(f"{p}:{line}: {name} {what}") from None
        if not math.isfinite(v):
            raise ImuCsvError(f"{p}:{line}: {name} is {x.strip()}; every value must be a "
                              "finite number")
        vals.append(v)
    return vals


def _line_of_row(p: Path, k: int) -> int:
    """File line number (header = 1) of data row ``k`` (0-based; blank lines skipped)."""
    with _open(p) as fh:
        reader = csv.reader(fh)
        next(reader, None)
        i = -1
        for row in reader:
            if any(x.strip() for x in row):
                i += 1
                if i == k:
                    return reader.line_num
    return k + 2


# --- checks -------------------------------------------------------------------------------


def _check_columns(p: Path, names: list[str], require_gyro: bool) -> bool:
    """Raise on missing columns; whether the gyro columns are there."""
    missing = [c for c in ACC_COLUMNS if c not in names]
    gyr_present = [c for c in GYR_COLUMNS if c in names]
    if gyr_present:
        missing += [c for c in GYR_COLUMNS if c not in names]
    if missing:
        raise ImuCsvError(f"{p}: missing required column(s) {', '.join(missing)}")
    if not gyr_present and require_gyro:
        raise ImuCsvError(f"{p}: no gyro columns ({', '.join(GYR_COLUMNS)}); this placement "
                          "needs a gyroscope (only --placement shin works without one)")
    return bool(gyr_present)


def _rate_from_times(p: Path, t: np.ndarray, rate_hz: float | None) -> float:
    """The sample rate (Hz) after checking ``t_s``: ``rate_hz`` if given, else the median."""
    if t.size < 2:
        raise ImuCsvError(f"{p}: too short: 1 row of data; need at least {MIN_DURATION_S:g} s")
    dt = np.diff(t)
    bad = np.flatnonzero(dt <= 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise ImuCsvError(f"{p}:{_line_of_row(p, k)}: t_s goes from {t[k - 1]:.9g} to "
                          f"{t[k]:.9g}; sample times must be strictly increasing")
    fs_t = float(1.0 / np.median(dt))
    if rate_hz is not None:
        if abs(fs_t - rate_hz) > RATE_TOLERANCE * rate_hz:
            raise ImuCsvError(f"{p}: t_s gives a median rate of {fs_t:.4g} Hz but --rate is "
                              f"{rate_hz:g} Hz (more than {RATE_TOLERANCE:.0%} apart); "
                              "fix --rate, or leave it out to use t_s")
        return float(rate_hz)
    lo, hi = RATE_RANGE_HZ
    if not lo <= fs_t <= hi:
        hint = next((f"; is t_s in {u}? it must be seconds" for u, f in
                     (("milliseconds", 1e3), ("microseconds", 1e6)) if lo <= fs_t * f <= hi), "")
        raise ImuCsvError(f"{p}: unusable rate {fs_t:.4g} Hz (median of t_s); the sample rate "
                          f"must be {lo:g}–{hi:g} Hz{hint}")
    return fs_t


def gravity_estimate(acc_norm_mps2: np.ndarray, gyr_radps: np.ndarray | None) -> float:
    """|acc| where the sensor turns least (m/s² in the unit read): the median over the 10 %
    of samples with the smallest |ω| (stance, standing), or the median |acc| without a gyro
    (a shin in flight reads ≈ 0 g, so low percentiles mislead). A shoe in running reads 2–3 g
    on median, but ≈ 1 g at flat-foot."""
    if gyr_radps is not None and np.isfinite(gyr_radps).all() and len(gyr_radps) >= 10:
        w = np.linalg.norm(gyr_radps, axis=1)
        quiet = w <= np.percentile(w, 10)
        return float(np.median(acc_norm_mps2[quiet]))
    return float(np.median(acc_norm_mps2))


def _check_acc_unit(p: Path, acc_norm_mps2: np.ndarray, acc_unit: str,
                    gyr_radps: np.ndarray | None = None) -> None:
    """|acc| where the sensor is quietest must be 0.7–3 g; otherwise name the unit that fits."""
    med_g = gravity_estimate(acc_norm_mps2, gyr_radps) / G
    lo, hi = GRAVITY_RANGE_G
    if lo <= med_g <= hi:
        return
    raw = med_g * G / ACC_UNITS[acc_unit]  # in the file's numbers
    if lo <= raw <= hi:
        hint = "looks like g, use --acc-unit g"
    elif lo <= raw / G <= hi:
        hint = "looks like m/s², use --acc-unit ms2"
    else:
        hint = ("fits neither m/s² nor g (gravity alone is 1 g = 9.81 m/s²); convert milli-g "
                "or raw sensor counts first")
    raise ImuCsvError(f"{p}: |acc| at rest is {raw:.2f} (read as {_ACC_UNIT_TEXT[acc_unit]}) — "
                      f"{hint}")


def _check_gyr_unit(p: Path, gyr_radps: np.ndarray, gyr_unit: str,
                    acc_norm_mps2: np.ndarray) -> None:
    """Refuse a gyro unit only on strong evidence (see :func:`read_imu_csv`)."""
    p99 = float(np.percentile(np.linalg.norm(gyr_radps, axis=1), 99))
    raw = p99 / GYR_UNITS[gyr_unit]
    if gyr_unit == "rads" and p99 > GYR_MAX_P99_RADPS:
        raise ImuCsvError(f"{p}: 99th percentile of |gyr| is {raw:.0f} (read as rad/s), faster "
                          "than a foot or shin turns — looks like deg/s, use --gyr-unit dps")
    moving = float(np.percentile(acc_norm_mps2, 99)) > MOVING_ACC_P99_G * G
    if gyr_unit == "dps" and moving and raw < GYR_MIN_P99_DPS_MOVING:
        raise ImuCsvError(f"{p}: 99th percentile of |gyr| is {raw:.2f} (read as deg/s), too "
                          "slow for a moving foot or shin — looks like rad/s, use --gyr-unit rads")


def _at_rail(x: np.ndarray, min_abs: float) -> np.ndarray:
    """(N,) bool: a column of ``x`` (N, k) sits at its rail (rule in :func:`read_imu_csv`)."""
    out = np.zeros(x.shape[0], bool)
    for c in x.T:
        for e in (c.max(), c.min()):
            if abs(e) < min_abs:
                continue
            at = c == e
            if np.count_nonzero(at) >= 3 and np.any(at[1:] & at[:-1]):
                out |= at
    return out
