"""Skip markers for tests that need ../shared/datasets/."""

import pytest

from stridecore.bench.datasets import datasets_root


def requires_dataset(folder: str):
    d = datasets_root() / folder
    return pytest.mark.skipif(not d.is_dir(),
                              reason=f"dataset {folder} not found at {d} (set "
                                     "STRIDECORE_DATASETS to the shared datasets folder)")
