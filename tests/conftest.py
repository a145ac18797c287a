"""pytest configuration of ``tests/``: the browser test runs only when asked for by path.

``make test-unit`` (``pytest tests``) leaves ``tests/browser`` out: it needs the built site and Chromium,
and ``make test-browser`` runs it (``pytest tests/browser``) after ``make test-site``.
"""

from __future__ import annotations

import os
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


_SHARED_DATA = os.environ.get("AIENG_DATA")


@pytest.fixture
def shared() -> Path:
    """The shared data copies (``AIENG_DATA`` as the run started, before any test changes it). A test that
    needs them fails, never skips, without them."""
    from aieng.data import REGISTRY

    value = _SHARED_DATA
    missing = [name for name in REGISTRY if not value or not (Path(value) / name).is_dir()]
    if missing:
        pytest.fail(f"AIENG_DATA must point at the shared data copies, with {', '.join(missing)} "
                    "(`make test` sets it to ../shared/data)")
    return Path(value)
