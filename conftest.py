"""pytest configuration shared by the unit tests and nbval's notebook runs.

- Notebook cells tagged ``requires-gpu`` are skipped when torch sees no CUDA device.
- Notebooks run with the repository root on ``sys.path`` and in quick mode when the test command
  says so (``AIENG_QUICK=1`` is set by ``make test``).
- A notebook that leaves a process or a listening port behind fails (``scripts/nbval_leftovers.py``).
"""

from __future__ import annotations

import functools

import pytest

from scripts.nbval_leftovers import LeftoverCheck


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(LeftoverCheck(), "aieng-leftovers")


@functools.cache
def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="cell tagged requires-gpu and no CUDA device is present")
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's IPyNbCell items carry the notebook cell
        if cell is None:
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if "requires-gpu" in tags and not _has_cuda():
            item.add_marker(skip_gpu)
