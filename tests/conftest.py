"""pytest configuration of ``tests/``: the browser test runs only when asked for by path.

``make test-unit`` (``pytest tests``) leaves ``tests/browser`` out: it needs the built site and Chromium,
and ``make test-browser`` runs it (``pytest tests/browser``) after ``make test-site``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BROWSER = Path(__file__).resolve().parent / "browser"


def _asked_for(config: pytest.Config, folder: Path) -> bool:
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path == folder or folder in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == BROWSER and not _asked_for(config, BROWSER):
        return True
    return None
