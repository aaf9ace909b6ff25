"""Kit matrix: which cues a set of sensors enables, and why."""

from __future__ import annotations

import pytest

from stridecore.coaching import STANDARD_KITS, CueEngine, Kit, kit_table
from stridecore.coaching.phrases import SYSTEM_CUES
from stridecore.schema import Cue, Placement

FORM = {Cue.SOFTEN_KNEES, Cue.LAND_MIDFOOT, Cue.HIPS_LEVEL, Cue.SHORTEN_STRIDE,
        Cue.QUICKER_STEPS, Cue.PUSH_OFF, Cue.SOFTER_LANDING}


def on(kit: Kit) -> set[Cue]:
    return {c for c in FORM if kit.enabled(c)}


def test_foot_only_never_impact_knee_or_hips():
    kit = Kit.from_placements(["left_foot", "right_foot"])
    assert on(kit) == {Cue.LAND_MIDFOOT, Cue.QUICKER_STEPS}
    for c in (Cue.SOFTER_LANDING, Cue.SOFTEN_KNEES, Cue.HIPS_LEVEL, Cue.SHORTEN_STRIDE):
        assert not kit.enabled(c)
        assert "needs" in kit.why(c)


def test_shin_only_and_knee_pair():
    shin = Kit.from_placements([Placement.LEFT_SHIN, Placement.RIGHT_SHIN])
    # the shin-only knee proxy is disabled (false cues on detector output), and says why;
    # quick feet needs the feet's speed (cadence at speed), so not on the shins alone
    assert on(shin) == {Cue.SHORTEN_STRIDE, Cue.SOFTER_LANDING}
    assert "needs a foot sensor" in shin.why(Cue.QUICKER_STEPS)
    assert [r.name for r in shin.rules() if r.cue is Cue.SOFTEN_KNEES] == []
    assert "disabled" in shin.why(Cue.SOFTEN_KNEES)
    knee = Kit.from_placements(["left_shin", "left_thigh"])
    assert [r.name for r in knee.rules() if r.cue is Cue.SOFTEN_KNEES] == ["knee"]
    assert knee.knee_sides() == {"left"}
    # thigh and shin on different legs: no knee angle
    assert Kit.from_placements(["left_shin", "right_thigh"]).knee_sides() == frozenset()


@pytest.mark.parametrize("name", list(STANDARD_KITS))
def test_pelvis_only_adds_hips(name):
    kit = Kit.from_placements(STANDARD_KITS[name])
    assert kit.enabled(Cue.HIPS_LEVEL) == ("pelvis" in name)
    assert all(kit.enabled(c) for c in SYSTEM_CUES)
    assert not kit.enabled(Cue.LAND_FOREFOOT) and not kit.enabled(Cue.QUICK_ROLL)


def test_matrix_lists_every_cue():
    text = Kit.from_placements(["left_foot", "right_foot", "right_shin"]).matrix()
    for c in Cue:
        assert c.value in text
    assert "peak_tibial_acc_g" in text and "needs a pelvis sensor" in text
    table = kit_table()
    assert table.count("\n") == len([c for c in Cue if c not in SYSTEM_CUES]) + 2
    assert "| foot | shin |" in table


def test_disabled_and_experimental_rules():
    foot = Kit.from_placements(["left_foot", "right_foot"])
    # the foot's toe-off speed proxy does not separate: off, and push_off_mps is the body's
    # (pelvis): a foot kit has no push-off cue, and says why
    assert [r.name for r in foot.rules() if r.cue is Cue.PUSH_OFF] == []
    assert "disabled" in foot.why(Cue.PUSH_OFF)
    fp = Kit.from_placements(STANDARD_KITS["foot+pelvis"])
    assert [r.name for r in fp.rules() if r.cue is Cue.PUSH_OFF] == ["push"]
    fs = Kit.from_placements(STANDARD_KITS["foot+shin"])
    names = [r.name for r in fs.rules()]
    assert "impact_abs" in names and "stride_abs" in names and "impact" not in names
    exp = [r.name for r in fs.rules(experimental=True)]
    assert "impact" in exp and "stride" in exp and "impact_abs" not in exp
    # without a foot the grade is unknown: the absolute rules even when asked
    shin = Kit.from_placements(["left_shin", "right_shin"])
    assert "impact_abs" in [r.name for r in shin.rules(experimental=True)]


def test_no_grade_without_a_foot_gross_only():
    shin = Kit.from_placements(STANDARD_KITS["shin+thigh+pelvis"])
    assert not shin.grade_known()
    assert shin.gross_only(Cue.SOFTER_LANDING) and shin.gross_only(Cue.SHORTEN_STRIDE)
    assert not shin.gross_only(Cue.SOFTEN_KNEES)  # its flat setting: not "gross"
    text = shin.matrix()
    assert "grade: unknown" in text and "> 20 g on any slope" in text
    assert "gross faults only: > 13° on any slope" in text
    assert "< 25° on any slope" in text
    fs = Kit.from_placements(STANDARD_KITS["foot+shin"])
    assert fs.grade_known() and not fs.gross_only(Cue.SOFTER_LANDING)
    assert "grade: from the feet" in fs.matrix() and "any slope" not in fs.matrix()
    assert "†" in kit_table() and "needs a pelvis sensor or" not in Kit.from_placements(
        STANDARD_KITS["foot"]).why(Cue.HIPS_LEVEL)


def test_a_shin_range_below_the_setting_turns_light_feet_off():
    """A clipped tibial peak reads the range (a floor): a ±16 g shin never passes the 20 g
    no-grade setting, so without a foot the kit says light feet is off, and why."""
    pls = STANDARD_KITS["shin+thigh+pelvis"]
    at16 = Kit.from_placements(pls, dict.fromkeys(pls, 16))
    assert not at16.enabled(Cue.SOFTER_LANDING)
    assert "±16 g range clips below its 20 g setting" in at16.why(Cue.SOFTER_LANDING)
    assert "impact_abs" not in [r.name for r in CueEngine(at16).rules]
    assert at16.enabled(Cue.SHORTEN_STRIDE)
    assert Kit.from_placements(pls, dict.fromkeys(pls, 32)).enabled(Cue.SOFTER_LANDING)
    assert Kit.from_placements(pls).enabled(Cue.SOFTER_LANDING)  # range unknown
    # with feet the threshold follows the grade: measurable up to ~−15 % at ±16 g
    fs = STANDARD_KITS["foot+shin"]
    k = Kit.from_placements(fs, dict.fromkeys(fs, 16))
    assert k.enabled(Cue.SOFTER_LANDING)
    assert "blind on descents steeper than −15 %" in k.why(Cue.SOFTER_LANDING)
    assert "blind" not in Kit.from_placements(fs, dict.fromkeys(fs, 32)).why(
        Cue.SOFTER_LANDING)
    # a ±8 g shin clips below even the flat threshold (10.4 g): off with feet too
    at8 = Kit.from_placements(fs, dict.fromkeys(fs, 8))
    assert not at8.enabled(Cue.SOFTER_LANDING)
    assert "on the flat" in at8.why(Cue.SOFTER_LANDING)
