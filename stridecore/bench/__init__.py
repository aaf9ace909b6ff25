"""Labelled data and scoring: dataset loaders with frozen truth rules, matching, metrics.

Loaders live one per dataset (``gaitmap``, ``alcantara``, ``bach``, ``marpino``, ``tan``,
``grouvel``) and are imported on demand by :func:`load`, so ``import stridecore.bench`` stays
light and a missing optional dependency (h5py for Tan) only affects its set.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from stridecore.bench.datasets import LOADERS, DatasetMissing, datasets_root
from stridecore.bench.recording import Recording, SensorStream

DATASETS = ("gaitmap", "alcantara", "bach", "marpino", "tan", "grouvel")


def module(name: str):
    """The loader module of dataset ``name`` (its FOLDER, RULE, RULE_VERSION, SPLIT_RULE)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return importlib.import_module(f"stridecore.bench.{name}")


def load(name: str) -> Iterator[Recording]:
    """Recordings of dataset ``name``; raises :class:`DatasetMissing` if its folder is absent."""
    module(name)
    return LOADERS[name]()


__all__ = ["DATASETS", "DatasetMissing", "Recording", "SensorStream", "datasets_root", "load",
           "module"]
