"""The machine and the versions a figure was measured with: one home for results files and the status page.

Serves the book itself (``aieng.bench``'s results files, the status page's execution reports and the
nbval cache), not a chapter.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

__all__ = ["cpu_model", "gpu_name", "versions"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def gpu_name(*, import_torch: bool = True) -> str | None:
    """The first CUDA device's name when torch sees one, else ``None``.

    With ``import_torch=False`` torch is only consulted when it is already imported (cheap).
    """
    torch = sys.modules.get("torch")
    if torch is None and import_torch:
        try:
            import torch
        except Exception:  # torch missing or broken: no GPU to report
            return None
    if torch is None:
        return None
    try:
        return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None
    except Exception:  # a broken CUDA set-up: report none rather than fail a build
        return None


def versions(names: Sequence[str]) -> dict[str, str | None]:
    """``python``'s version plus each installed distribution's in ``names`` (``None`` when missing)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        if name == "python":
            continue
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
