"""docs/datasets/README.md's counts table is what the loaders produce today."""

from pathlib import Path

from datasets_helper import requires_dataset

from stridecore.bench.__main__ import summary

DOC = Path(__file__).parents[1] / "docs" / "datasets" / "README.md"


@requires_dataset("")
def test_counts_table_matches_the_loaders():
    text = DOC.read_text()
    for r in summary(["gaitmap", "alcantara", "bach", "marpino", "tan", "grouvel"]):
        line = (f"| {r['dataset']} | {r['split']} | {r['recordings']} | {r['sensor_streams']} | "
                f"{r['contacts']} | {r['truth_rows']} | {r['with_to']} | {r['gait']} | "
                f"{r['rule_version']} | {r['hash']} |")
        assert line in text, f"docs/datasets/README.md is stale for {r['dataset']} {r['split']}"
