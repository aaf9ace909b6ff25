"""The knee across two sensors (stridecore/knee_join.py): thigh + shin joined on host time.

Real simulated sensors (the running simulator, two devices with their own sample instants);
the join must not depend on how the two streams interleave, must leave a thigh gap empty
(never invent a knee across it) and must decide the same whichever device it sees first.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridecore.knee_join import KneeJoinParams, LegKnee
from stridecore.simulate.profiles import steady_runner
from stridecore.simulate.session import simulate
from stridecore.tables import Columns

RUN_S = 30.0


@pytest.fixture(scope="module")
def leg():
    """Right thigh and shin of a simulated run: samples, true times, arrival times (a unit
    every 20 ms, 5 ms late), and the truth's shin steps."""
    runner = steady_runner("trail", -8.0, seed=1)  # a steady descent, no scheduled faults
    s = simulate(RUN_S, seed=1, placements=["right_thigh", "right_shin"], fs_hz=208.0,
                 runner=runner)
    spec = {sp.placement.value: sp for sp in s.specs}
    out = {}
    for p, stream in s.recording.sensors.items():
        sm = stream.samples
        t = np.asarray(spec[p.value].t_true_s(sm.sample_idx), float)
        recv = np.floor(t / 0.02) * 0.02 + 0.02 + 0.005
        out[p.value] = (sm, t, recv)
    tr = s.truth
    m = tr["placement"] == "right_shin"
    steps = {k: np.asarray(v)[m] for k, v in tr.items()}
    # the shin pipeline's records arrive after toe-off
    steps["t_recv_s"] = steps["t_to_s"] + 0.1
    return out, steps


def run(leg_data, steps: Columns, order: list[tuple[str, int, int]],
        params: KneeJoinParams | None = None) -> list[Columns]:
    """Feed the join in the given (sensor, start, stop) slices; steps of the shin are given
    once the shin data up to their arrival are in."""
    j = LegKnee(208.0, params)
    pending = list(range(len(steps["t_ic_s"])))
    out = []
    shin_recv = leg_data["right_shin"][2]
    for name, a, b in order:
        sm, t, recv = leg_data[name]
        (j.add_thigh if name == "right_thigh" else j.add_shin)(sm[a:b], t[a:b], recv[a:b])
        if name == "right_shin" and b > 0:
            upto = shin_recv[b - 1]
            while pending and steps["t_recv_s"][pending[0]] <= upto:
                i = pending.pop(0)
                j.add_steps({k: v[i:i + 1] for k, v in steps.items()})
        out += j.ready()
    for i in pending:
        j.add_steps({k: v[i:i + 1] for k, v in steps.items()})
    out += j.ready() + j.finish()
    return out


def by_time(leg_data, block: int) -> list[tuple[str, int, int]]:
    """Both sensors' blocks of ``block`` samples in arrival order."""
    ev = []
    for name in ("right_thigh", "right_shin"):
        recv = leg_data[name][2]
        for a in range(0, len(recv), block):
            b = min(a + block, len(recv))
            ev.append((float(recv[b - 1]), name, a, b))
    ev.sort()
    return [(n, a, b) for _, n, a, b in ev]


def as_array(rows: list[Columns]) -> np.ndarray:
    return np.array([[r["t_ic_s"][0], r["knee_ic_deg"][0], r["knee_peak_deg"][0],
                      r["t_recv_s"][0]] for r in rows])


def test_knee_per_step_matches_the_simulated_truth(leg) -> None:
    data, steps = leg
    rows = run(data, steps, by_time(data, 4))
    got = as_array(rows)
    assert len(got) == len(steps["t_ic_s"])
    run_ = (steps["gait_mode"] == "run") & (steps["t_ic_s"] > 4.0)  # axes settled
    ok = run_ & np.isfinite(got[:, 2])
    assert ok.sum() > 0.9 * run_.sum()
    err_peak = got[ok, 2] - steps["knee_peak_deg"][ok]
    err_ic = got[ok, 1] - steps["knee_ic_deg"][ok]
    assert np.sqrt(np.mean(err_peak ** 2)) < 4.0, err_peak
    assert np.sqrt(np.mean(err_ic ** 2)) < 4.0, err_ic
    # a record is released only after its data arrived
    assert np.all(got[:, 3] >= steps["t_recv_s"][: len(got)] - 1e-12)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_any_interleaving_gives_the_same_knees(leg, block: int, seed: int) -> None:
    data, steps = leg
    ref = as_array(run(data, steps, by_time(data, 4)))
    # random block sizes per sensor, merged by arrival; which device goes first at one
    # arrival instant is random, each device's own blocks stay in order
    rng = np.random.default_rng(seed)
    first: dict[float, float] = {}
    ev = []
    for k, name in enumerate(("right_thigh", "right_shin")):
        recv = data[name][2]
        a = 0
        while a < len(recv):
            b = min(len(recv), a + int(rng.integers(1, 2 * block + 1)))
            r = float(recv[b - 1])
            tie = first.setdefault(r, float(rng.random()))
            ev.append((r, tie if k else 1.0 - tie, a, name, b))
            a = b
    ev.sort()
    got = as_array(run(data, steps, [(n, a, b) for _, _, a, n, b in ev]))
    np.testing.assert_array_equal(got, ref)


def test_thigh_first_equals_live_order_with_a_thigh_gap(leg) -> None:
    """Thigh lost for 3 s: the steps in the gap get no knee, released at the timeout; replay
    (which sees the whole thigh first) decides exactly as the live arrival order."""
    data, steps = leg
    sm, t, recv = data["right_thigh"]
    gap = (t > 12.0) & (t < 15.0)
    cut = {**data, "right_thigh": (sm[~gap], t[~gap], recv[~gap])}
    live = as_array(run(cut, steps, by_time(cut, 4)))
    n_th, n_sh = len(cut["right_thigh"][1]), len(cut["right_shin"][1])
    replay = as_array(run(cut, steps, [("right_thigh", 0, n_th), ("right_shin", 0, n_sh)]))
    np.testing.assert_array_equal(live, replay)
    in_gap = (live[:, 0] > 12.0) & (live[:, 0] < 14.7)
    assert in_gap.sum() >= 3
    assert np.isnan(live[in_gap, 2]).all()  # nothing invented across the gap
    # held until shin data 2 s past its loading half arrived (the timeout) or the thigh came
    # back (at 15 s), whichever first
    back = cut["right_thigh"][2][np.searchsorted(cut["right_thigh"][1], 15.0)]
    assert np.all(live[in_gap, 3] >= np.minimum(live[in_gap, 0] + 2.0, back) - 1e-9)
    after = live[:, 0] > 17.0
    assert np.isfinite(live[after, 2]).mean() > 0.8  # the knee comes back
