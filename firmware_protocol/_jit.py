"""The one place numba is configured: cache directory fallback and the ``njit`` options.

numba caches compiled kernels next to their source file. When that directory is read-only (a
system-wide install), point ``NUMBA_CACHE_DIR`` at the user's cache directory before numba is
imported, so the package still imports and caches.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "stridecore" / "numba"


def ensure_cache_dir() -> None:
    """Set ``NUMBA_CACHE_DIR`` to a writable place if the source tree is not writable."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    src = Path(__file__).resolve().parent
    if os.access(src, os.W_OK):
        return
    cache = _user_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        cache = Path(tempfile.gettempdir()) / "stridecore-numba"
        cache.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache)


ensure_cache_dir()

import numba  # noqa: E402  (after the cache directory is settled)

#: Options of every kernel: compiled once and cached, no GIL, IEEE semantics (no fastmath).
JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}


def njit(fn):
    """``numba.njit`` with the project's options."""
    return numba.njit(**JIT_OPTIONS)(fn)
