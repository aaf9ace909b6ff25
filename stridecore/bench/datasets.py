"""Where the labelled datasets live, and the registry of loaders.

The root is ``$STRIDECORE_DATASETS`` or ``<project>/../shared/datasets``. It is read-only:
anything derived (truth tables, caches) goes under :func:`cache_dir`, never beside the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from stridecore.bench.recording import Recording

ENV_ROOT = "STRIDECORE_DATASETS"
ENV_CACHE = "STRIDECORE_CACHE"
_PROJECT = Path(__file__).resolve().parents[2]


class DatasetMissing(FileNotFoundError):
    """The dataset folder is absent (a fresh machine outside the team)."""


def datasets_root() -> Path:
    env = os.environ.get(ENV_ROOT)
    return Path(env) if env else (_PROJECT.parent / "shared" / "datasets")


def dataset_dir(folder: str) -> Path:
    """The folder of one dataset; raises :class:`DatasetMissing` with a one-line reason."""
    d = datasets_root() / folder
    if not d.is_dir():
        raise DatasetMissing(f"dataset folder {d} not found (set ${ENV_ROOT} to the folder "
                             "holding the shared datasets)")
    return d


def cache_dir() -> Path:
    """User cache for derived data: ``$STRIDECORE_CACHE`` or ``$XDG_CACHE_HOME/stridecore``."""
    env = os.environ.get(ENV_CACHE)
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME",
                                                     Path.home() / ".cache")) / "stridecore"
    base.mkdir(parents=True, exist_ok=True)
    return base


Loader = Callable[[], Iterator[Recording]]
LOADERS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn
    return deco
