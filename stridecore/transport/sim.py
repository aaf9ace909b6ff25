"""``sim://`` URLs: a simulated sensor described in one string, like pyserial's URL handlers.

``sim://?transport=ble&placement=left_foot&odr=833&drop=0.01&disconnect=4:1.5,20:3&seed=7``

Every option has a default (the ones of :class:`SimSensorParams`); unknown options and bad
values raise :class:`SimUrlError` with one line saying which and why.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

from firmware_protocol.messages import DevicePlacement
from stridecore.schema import Placement
from stridecore.transport.sim_device import SimSensorParams


class SimUrlError(ValueError):
    """A ``sim://`` URL that cannot be understood."""


def _float(key: str, v: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(v)
    except ValueError:
        raise SimUrlError(f"sim:// option {key}={v!r} is not a number") from None
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise SimUrlError(f"sim:// option {key}={v} is outside [{lo}, {hi}]")
    return x


def _int(key: str, v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise SimUrlError(f"sim:// option {key}={v!r} is not an integer") from None


def _disconnects(v: str) -> tuple[tuple[float, float], ...]:
    out = []
    for part in filter(None, v.split(",")):
        a, sep, d = part.partition(":")
        if not sep:
            raise SimUrlError(f"sim:// disconnect={part!r}: expected START_S:DURATION_S")
        out.append((_float("disconnect", a, 0), _float("disconnect", d, 0)))
    return tuple(out)


_PARAMS = {  # url key -> (params field, parser)
    "odr": ("odr_hz", _int),
    "acc_range_g": ("acc_range_g", _int),
    "gyro_range_dps": ("gyro_range_dps", _int),
    "n_max": ("n_max", _int),
    "mtu": ("mtu", _int),
    "seed": ("seed", _int),
    "odr_error_ppm": ("odr_error_ppm", _float),
    "drift_ppm": ("clock_drift_ppm", _float),
    "offset_s": ("clock_offset_s", _float),
    "jitter_us": ("timestamp_jitter_us", _float),
}
_FAULTS = {
    "drop": "drop_prob",
    "corrupt": "corrupt_prob",
    "duplicate": "duplicate_prob",
    "reorder": "reorder_prob",
    "overrun": "fifo_overrun_prob",
}
KNOWN = sorted([*_PARAMS, *_FAULTS, "disconnect", "transport", "placement", "uid"])


def parse_sim_url(url: str, base: SimSensorParams | None = None) -> SimSensorParams:
    """Params of a ``sim://`` URL (``sim://`` alone gives the defaults or ``base``)."""
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise SimUrlError(f"not a sim:// URL: {url!r}")
    params = base or SimSensorParams()
    kw: dict = {}
    faults: dict = {}
    for key, v in parse_qsl(parts.query, keep_blank_values=True):
        if key in _PARAMS:
            field, parse = _PARAMS[key]
            kw[field] = parse(key, v)
        elif key in _FAULTS:
            faults[_FAULTS[key]] = _float(key, v, 0.0, 1.0)
        elif key == "disconnect":
            faults["disconnects_s"] = _disconnects(v)
        elif key == "transport":
            if v not in ("serial", "ble"):
                raise SimUrlError(f"sim:// transport={v!r}: expected serial or ble")
            kw["framing"] = "cobs" if v == "serial" else "packet"
        elif key == "placement":
            try:
                kw["placement"] = DevicePlacement(Placement(v).device_code)
            except ValueError:
                raise SimUrlError(f"sim:// placement={v!r}: expected one of "
                                  f"{', '.join(p.value for p in Placement)}") from None
        elif key == "uid":
            if len(v) != 8:
                raise SimUrlError("sim:// uid must be 8 characters")
            kw["uid"] = v.encode("ascii", "replace")
        else:
            raise SimUrlError(f"unknown sim:// option {key!r} (known: {', '.join(KNOWN)})")
    if faults:
        kw["faults"] = replace(params.faults, **faults)
    try:
        return replace(params, **kw)
    except ValueError as e:
        raise SimUrlError(f"sim:// {e}") from None
