"""Fixtures of the browser test: the built site, one headless Chromium, every page visited once."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import offline_site as _site


@pytest.fixture(scope="session")
def site() -> Path:
    root = _site.site_dir()
    if not (root / "index.html").is_file():
        pytest.fail(f"the built site is missing: no {root}/index.html. Build it first with `make test-site` "
                    "(or point AIENG_SITE / `make test-browser SITE_HTML=...` at a built site's html folder)",
                    pytrace=False)
    return root


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None:
        pytest.fail("Playwright is missing: run `make setup` (it is pinned in requirements.txt)", pytrace=False)
    try:
        path, missing = _site.chromium_path(), ""
    except RuntimeError as err:
        path, missing = "", str(err)
    if missing:
        pytest.fail(missing, pytrace=False)
    with sync_playwright() as p:
        try:
            b, failure = _site.launch(p), ""
        except Error as err:
            b, failure = None, f"Chromium at {path} did not start: {err}. Reinstall it with `sudo {_site.INSTALL}`"
        if b is None:
            pytest.fail(failure, pytrace=False)
        yield b
        b.close()


@pytest.fixture(scope="session")
def offline(browser):
    o = _site.Offline(browser)
    yield o
    o.close()


@pytest.fixture(scope="session")
def reports(site, offline) -> dict[str, _site.PageReport]:
    """Every page of the site, loaded once over file:// with the network cut off."""
    start = time.perf_counter()
    out = {}
    for path in _site.pages(site):
        report = _site.visit(offline, site, path)
        out[report.name] = report
    took = time.perf_counter() - start
    math = [r for r in out.values() if r.has_math]
    print(f"\nbrowser: {len(out)} pages in {took:.1f} s; requests to other hosts: "
          f"{sum(len(r.blocked) for r in out.values())}; console errors: "
          f"{sum(len(r.console_errors) for r in out.values())}; page errors: "
          f"{sum(len(r.page_errors) for r in out.values())}; pages with math: {len(math)}, "
          f"rendered by MathJax: {sum(r.math_rendered > 0 and not r.raw_tex for r in math)}; explorers: "
          f"{sum(len(r.explorers) for r in out.values())}")
    return out
