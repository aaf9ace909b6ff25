"""Machine and code identification printed at the top of every benchmark's output."""

from __future__ import annotations

import os
import platform

import numpy as np


def numba_version() -> str:
    try:
        import numba
    except ImportError:
        return " (numba not installed)"
    return f" (numba {numba.__version__})"


def machine() -> dict[str, str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": model,
        "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__ + numba_version(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def tree_version(files: list, where, label: str, changed: str = ", changed: ",
                 shown=None) -> str:
    """``where`` (git commit of its checkout, files changed since that commit, limited to
    ``where``) and a sha256 digest of ``files`` (name + bytes) under ``label``; the path
    printed is ``shown`` (default ``where``)."""
    import hashlib
    import subprocess

    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + f.read_bytes())
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "."],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
        dirty = [ln[3:] for ln in dirty if ln.strip()]
    except (OSError, subprocess.SubprocessError):
        head, dirty = "", []
    state = f"git {head or '?'}" + (f"{changed}{' '.join(dirty)}" if dirty else ", clean")
    return f"{shown or where} ({state}; {label} {digest.hexdigest()[:12]})"


def code_version() -> str:
    """Which firmware_protocol was measured: its path, the git commit of its checkout, files
    changed since that commit, and a digest of its *.py sources."""
    from pathlib import Path

    import firmware_protocol

    pkg = Path(firmware_protocol.__file__).resolve().parent
    return tree_version(sorted(pkg.glob("*.py")), pkg, "sources sha256")


def table(title: str, head: list[str], rows: list[list[str]], md: bool) -> None:
    """Print a table: markdown (first column left, the rest right aligned) or plain text."""
    print(f"\n{title}")
    if md:
        print("\n| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for r in [head, *rows]:
        print("  " + "  ".join(str(x).ljust(w[0]) if i == 0 else str(x).rjust(w[i])
                               for i, x in enumerate(r)))
