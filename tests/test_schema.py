"""The data dictionary: enums, cut-offs and the in-memory layouts agree."""

import pytest

from firmware_protocol import FRAME_DTYPE
from firmware_protocol.messages import DevicePlacement
from stridecore.schema import (
    LANDING_CUTOFFS,
    LANDING_CUTOFFS_MO2023,
    SAMPLES,
    TABLES,
    Landing,
    Placement,
    Side,
)


@pytest.mark.parametrize(
    ("angle", "landing"),
    [(20.0, Landing.HEEL), (8.01, Landing.HEEL), (8.0, Landing.MIDFOOT), (0.0, Landing.MIDFOOT),
     (-1.6, Landing.MIDFOOT), (-1.61, Landing.FOREFOOT), (-15.0, Landing.FOREFOOT)],
)
def test_landing_cutoffs(angle, landing):
    assert LANDING_CUTOFFS.classify(angle) == landing


def test_alternative_cutoffs_differ_by_under_a_degree():
    assert abs(LANDING_CUTOFFS.heel_above_deg - LANDING_CUTOFFS_MO2023.heel_above_deg) < 1
    assert LANDING_CUTOFFS_MO2023.classify(7.5) == Landing.HEEL
    assert LANDING_CUTOFFS.classify(7.5) == Landing.MIDFOOT


def test_placements_map_to_the_wire_codes_and_sides():
    assert [p.value for p in Placement] == ["left_foot", "right_foot", "left_shin", "right_shin",
                                            "left_thigh", "right_thigh", "pelvis"]
    for p in Placement:
        assert Placement.from_device_code(p.device_code) is p
    assert Placement.from_device_code(DevicePlacement.UNKNOWN) is None
    assert Placement.LEFT_SHIN.side is Side.LEFT and Placement.PELVIS.side is None


def test_every_column_name_carries_its_unit_and_is_unique_per_table():
    suffixes = ("_mps2", "_radps", "_deg", "_ms", "_us", "_s", "_g", "_spm", "_m", "_mps", "_hz")
    for t in TABLES:
        assert len(set(t.names)) == len(t.names)
        for c in t.columns:
            if c.unit and c.unit not in ("samples", ""):
                assert c.name.endswith(suffixes), f"{t.name}.{c.name} lacks a unit suffix"
    assert SAMPLES["acc_x_mps2"].unit == "m/s²"
    assert FRAME_DTYPE.names == tuple(TABLES[1].names)
