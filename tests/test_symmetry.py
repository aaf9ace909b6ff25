"""Left/right symmetry (stridecore/symmetry.py) on a simulated runner with a known asymmetry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stridecore.simulate.profiles import steady_runner
from stridecore.simulate.runner import RunnerProfile
from stridecore.simulate.session import simulate
from stridecore.symmetry import Symmetry


def _truth(prof: RunnerProfile):
    s = simulate(60.0, seed=2, placements=["left_foot", "right_foot"],
                 runner=steady_runner(prof, 0.0, seed=2))
    return s.truth


@pytest.fixture(scope="module")
def truth():
    """A runner whose contact differs by 6 % and strike angle by 3° between the legs."""
    # runner.py: × (1 + asym_contact_frac × sgn), + asym_strike_deg × sgn, sgn = ±½ by leg
    return _truth(RunnerProfile(name="asym", asym_contact_frac=0.06, asym_strike_deg=3.0))


def test_symmetry_index_finds_the_asymmetric_leg(truth) -> None:
    even = Symmetry(window=40)
    even.add(_truth(RunnerProfile(name="even")))
    sym = Symmetry(window=40)
    sym.add(truth)
    rows = {(r.segment, r.metric): r for r in sym.table()}
    ref = {(r.segment, r.metric): r for r in even.table()}
    c, c0 = rows["foot", "contact_ms"], ref["foot", "contact_ms"]
    assert c.n_left == c.n_right == 40
    assert abs(c0.si_pct) < 1.5  # a symmetric runner reads symmetric
    assert 4.0 < abs(c.si_pct - c0.si_pct) < 8.0, (c, c0)  # 6 % apart
    s, s0 = rows["foot", "strike_angle_deg"], ref["foot", "strike_angle_deg"]
    assert abs(s0.left - s0.right) < 1.5  # step-to-step scatter of the median
    assert 2.0 < abs((s.left - s.right) - (s0.left - s0.right)) < 4.0, (s, s0)  # 3° apart
    # the leg with the longer contact is the one with the higher strike (same sign, sgn)
    assert np.sign(c.left - c.right) == np.sign(s.left - s.right)


def test_order_of_the_legs_does_not_matter(truth) -> None:
    t = truth
    a = Symmetry()
    a.add(t)  # rows as the truth lists them (one sensor after the other)
    b = Symmetry()
    o = np.argsort(t["t_ic_s"], kind="stable")
    for i in o:  # one row at a time, in time order
        b.add({k: v[i:i + 1] for k, v in t.items()})
    assert a.as_dict() == b.as_dict()


def test_one_leg_only_gives_no_index() -> None:
    sym = Symmetry()
    sym.add({"placement": np.array(["left_shin"], object), "side": np.array(["left"], object),
             "t_ic_s": np.array([1.0]), "peak_tibial_acc_g": np.array([8.0])})
    (row,) = [r for r in sym.table() if r.metric == "peak_tibial_acc_g"]
    assert row.left == 8.0 and math.isnan(row.right) and math.isnan(row.si_pct)
