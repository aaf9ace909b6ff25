"""Cue engine on simulated truth: silence on fault-free running, every detectable injected
fault cued within the persistence, identical logs for any grouping of the stream."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridecore.coaching import CoachConfig, CueEngine, Kit
from stridecore.coaching.simtools import (
    episode_timing,
    fault_free_runner,
    rows_of,
    single_fault_runner,
    truth_stream,
)
from stridecore.schema import Cue, Fault

ALL = ("left_foot", "right_foot", "left_shin", "right_shin", "left_thigh", "right_thigh",
       "pelvis")
KITS = {
    "foot": ("left_foot", "right_foot"),
    "foot+shin": ("left_foot", "right_foot", "left_shin", "right_shin"),
    "all": ALL,
}
DETECTABLE = (Fault.HEEL_STRIKE, Fault.LOCKED_KNEE, Fault.HIP_DROP, Fault.NO_PUSH_OFF)
FORM = {Cue.SOFTEN_KNEES, Cue.LAND_MIDFOOT, Cue.HIPS_LEVEL, Cue.SHORTEN_STRIDE,
        Cue.QUICKER_STEPS, Cue.PUSH_OFF, Cue.SOFTER_LANDING, Cue.PRAISE}


@pytest.fixture(scope="session")
def free_truth():
    return truth_stream(fault_free_runner(600.0, 0), ALL, 600.0)


@pytest.fixture(scope="session")
def fault_truth():
    runner, eps, dur = single_fault_runner(DETECTABLE, seed=0)
    return truth_stream(runner, ALL, dur), eps, dur


def feed(t: dict, placements, cfg=None) -> CueEngine:
    e = CueEngine(Kit.from_placements(placements), cfg)
    e.on_steps(rows_of(t, placements), float(np.nanmax(t["t_to_s"])))
    return e


@pytest.mark.parametrize("kit", list(KITS))
def test_fault_free_truth_is_silent(free_truth, kit):
    assert (free_truth["fault"] == "").all()
    e = feed(free_truth, KITS[kit])
    assert [d for d in e.decisions if d.cue in FORM] == []


def test_every_injected_fault_cued_within_persistence(fault_truth):
    t, eps, _ = fault_truth
    cfg = CoachConfig()
    e = feed(t, ALL, cfg)
    foot = rows_of(t, ("left_foot", "right_foot"))
    for ep in eps:
        tm = episode_timing(e.decisions, foot, ep, cfg)
        assert tm.decision is not None, ep
        assert tm.steps <= tm.window_steps + 2, (ep.fault, tm.steps, tm.window_steps)
    # nothing else was said between the episodes but praise
    others = {d.cue for d in e.decisions if d.spoken} - {Cue.PRAISE}
    assert others == {Cue.LAND_MIDFOOT, Cue.SOFTEN_KNEES, Cue.HIPS_LEVEL, Cue.PUSH_OFF}


@settings(max_examples=8, deadline=None)
@given(cuts=st.lists(st.integers(0, 10**6), max_size=12))
def test_grouping_does_not_change_the_log(fault_truth, cuts):
    t, _, _ = fault_truth
    s = rows_of(t, KITS["foot+shin"])
    n = len(s["t_ic_s"])
    n = min(n, 1000)  # the first ~100 s: the heel-strike episode and its praise
    s = {k: v[:n] for k, v in s.items()}
    whole = CueEngine(Kit.from_placements(KITS["foot+shin"]))
    whole.on_steps(s, float(s["t_to_s"][n - 1]))
    parts = CueEngine(Kit.from_placements(KITS["foot+shin"]))
    bounds = sorted({0, n, *(c % (n + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        if b > a:
            parts.on_steps({k: v[a:b] for k, v in s.items()}, float(s["t_to_s"][b - 1]))
    assert whole.decisions == parts.decisions
    assert len(whole.decisions) >= 2
    la, lb = whole.log_table(), parts.log_table()
    for k in la:
        assert la[k].tobytes() == lb[k].tobytes() if la[k].dtype != object else \
            list(la[k]) == list(lb[k])
