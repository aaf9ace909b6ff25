"""numba kernel of the decoder's common case: a run of frames that continue the stream cleanly.

:func:`clean_run` walks frames in stream order from ``i`` while each one is a live data frame
or telemetry with the next ``seq`` and, for data, the next ``sample_idx``, the current
``cfg_id``, ``n <= n_max`` and a ``t_us`` on the timing line — the rules of
:class:`firmware_protocol.tracker.LineState` (``plausible`` / ``period_us``), evaluated with the
same floating-point operations in the same order, so that it decides exactly as they do.
"""

from __future__ import annotations

import math

import numpy as np

from firmware_protocol._jit import njit
from firmware_protocol.tracker import (
    ABS_TOL_US,
    MAX_FORWARD_SAMPLES,
    MIN_SLOPE_SPAN,
    MIN_SPAN_SAMPLES,
    REL_TOL,
    SEQ_MOD,
)

IDX_MASK = (1 << 32) - 1


@njit
def _period(idx, t_us, anchor_idx, anchor_t_us, nominal):  # pragma: no cover - compiled
    span = float(idx) - float(anchor_idx)
    dt = t_us - anchor_t_us
    slope = dt / span if span != 0 else math.nan
    far = abs(span) >= MIN_SLOPE_SPAN
    if math.isnan(nominal):
        return slope if far else math.nan
    if abs(span) >= MIN_SPAN_SAMPLES:
        return slope
    if far:
        return min(max(slope, 0.95 * nominal), 1.05 * nominal)
    return nominal


@njit
def clean_run(seq, live, easy, n_arr, t_us, idx_raw, cfg, i, state, out_idx,
              out_period):  # pragma: no cover - compiled
    """End (exclusive) of the clean run from frame ``i``.

    ``state`` (float64[8], updated in place to the run's end): last_seq, next_idx, last_idx,
    last_t_us, cfg_id, n_max, anchor_idx, anchor_t_us; the nominal period is ``state[8]``.
    Data frames of the run get their unwrapped index in ``out_idx`` and the period of their
    samples in ``out_period``.
    """
    last_seq = np.int64(state[0])
    next_idx = np.int64(state[1])
    last_idx = np.int64(state[2])
    last_t = state[3]
    cfg_id = np.int64(state[4])
    n_max = np.int64(state[5])
    anchor_idx = np.int64(state[6])
    anchor_t = state[7]
    nominal = state[8]
    k = i
    nf = seq.size
    while k < nf and easy[k]:
        if (seq[k] - last_seq) % SEQ_MOD != 1:
            break
        if live[k]:
            u = next_idx
            t = t_us[k]
            if idx_raw[k] != (u & IDX_MASK) or cfg[k] != cfg_id or n_arr[k] > n_max:
                break
            p = _period(last_idx, last_t, anchor_idx, anchor_t, nominal)
            d_idx = float(u) - float(last_idx)
            d_t = t - last_t
            pred = d_idx * p
            if math.isnan(pred):
                ok = d_t >= 0
            else:
                ok = abs(d_t - pred) <= ABS_TOL_US + 2.0 * p + REL_TOL * abs(pred)
            if not ok or d_idx > MAX_FORWARD_SAMPLES:
                break
            out_idx[k] = u
            out_period[k] = _period(u, t, anchor_idx, anchor_t, nominal)
            last_idx = u
            last_t = t
            next_idx = u + n_arr[k]
        last_seq = seq[k]
        k += 1
    state[0] = last_seq
    state[1] = next_idx
    state[2] = last_idx
    state[3] = last_t
    return k
