"""The built site in a real browser, offline: every page of ``make test-site``'s build in headless Chromium.

Every page is loaded over file:// with every other request refused. Each test names the pages that fail
and what failed on them. Run with ``make test-browser`` (after ``make test-site``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import offline_site as _site
from offline_site import PlaywrightError

SEARCH_WORD = "attention"
"""A word the book is sure to use (Month 7's first notebook is about it)."""
SEARCH_PAGE = "01-attention"


def _failures(reports, attribute: str) -> list[str]:
    lines = []
    for name, r in sorted(reports.items()):
        found = getattr(r, attribute)
        if found:
            lines.append(f"{name}: " + "; ".join(found[:8]) + (f" (+{len(found) - 8} more)" if len(found) > 8 else ""))
    return lines


def test_site_has_pages(reports):
    assert len(reports) >= 5, f"only {len(reports)} pages found in the site: {sorted(reports)}"
    broken = [f"{n}: {r.load_error}" for n, r in sorted(reports.items()) if r.load_error]
    assert not broken, "pages that did not load:\n" + "\n".join(broken)


def test_no_request_leaves_the_site(reports):
    bad = _failures(reports, "blocked")
    assert not bad, ("pages that asked for something off the site (a CDN, a font, a tracker; vendor it under "
                     "_static instead):\n" + "\n".join(bad))


def test_no_console_errors(reports):
    bad = _failures(reports, "console_errors")
    assert not bad, "console errors:\n" + "\n".join(bad)


def test_no_page_errors(reports):
    bad = _failures(reports, "page_errors")
    assert not bad, "uncaught errors in the pages' scripts:\n" + "\n".join(bad)


def test_every_image_has_alt_text(reports):
    bad = _failures(reports, "images_without_alt")
    assert not bad, "images without alt text (write ![what it shows](images/NAME.svg)):\n" + "\n".join(bad)


def test_every_explorer_has_a_label(reports):
    bad = _failures(reports, "explorers_without_label")
    assert not bad, "explorers without aria-label (give explorer(..., alt=...)):\n" + "\n".join(bad)


def test_math_is_typeset_offline(reports):
    math = {n: r for n, r in reports.items() if r.has_math}
    assert math, "no page has math: the test cannot see whether MathJax renders"
    bad = [f"{n}: " + (f"TeX left as text: {r.raw_tex[:3]}" if r.raw_tex else "MathJax drew nothing")
           for n, r in sorted(math.items()) if r.raw_tex or not r.math_rendered]
    assert not bad, "pages whose equations MathJax did not typeset (is it vendored?):\n" + "\n".join(bad)


def test_search_works_offline(site, offline):
    report = offline.report = _site.PageReport("search.html")
    page = offline.page
    try:
        page.goto((site / "search.html").as_uri() + f"?q={quote(SEARCH_WORD)}", wait_until="load")
        try:
            page.wait_for_selector("#search-results ul.search li", timeout=_site.PAGE_TIMEOUT_MS)
        except PlaywrightError:
            status = page.locator("#search-results").inner_text() if page.locator("#search-results").count() else ""
            pytest.fail(f"search.html?q={SEARCH_WORD}: no results offline ({status.strip()[:200]!r}; "
                        f"errors: {report.page_errors + report.console_errors})", pytrace=False)
        hits = page.locator("#search-results ul.search li a").evaluate_all("as => as.map(a => a.href)")
    finally:
        offline.report = None
    assert any(SEARCH_PAGE in h for h in hits), f"search for {SEARCH_WORD!r} missed {SEARCH_PAGE}: {hits}"
    assert not report.page_errors, f"search.html: {report.page_errors}"


def test_one_explorer_a_chapter_responds(site, offline, reports):
    """For one explorer a chapter: moving its control as a reader would changes what is drawn."""
    first: dict[str, tuple[str, str]] = {}
    for name, r in sorted(reports.items()):
        for ex in r.explorers:
            first.setdefault(_site.chapter_of(name), (name, ex))
    if not first:
        pytest.fail("no explorer on the site (no .aieng-explorer): the chapters' explorers are missing from "
                    "the build; build it with outputs (make test-site)", pytrace=False)
    bad = []
    for _chapter, (name, ex) in sorted(first.items()):
        report = offline.report = _site.PageReport(name)
        try:
            page = offline.goto(site / name)
            page.locator(f'.aieng-explorer[data-explorer="{ex}"] .main-svg').first.wait_for()
            before = _site.drawn(page, ex)
            changed = False
            for position in (1.0, 0.0, 0.5):  # the far end first; the start may be where it is already
                _site.move_control(page, ex, position)
                if _site.wait_redrawn(page, ex, before) != before:
                    changed = True
                    break
            if not changed:
                bad.append(f"{name} [{ex}]: moving its {_site.explorer_control(page, ex) or 'control'} "
                           "changed nothing drawn")
        except (PlaywrightError, AssertionError) as err:
            bad.append(f"{name} [{ex}]: {type(err).__name__}: {str(err).splitlines()[0]}")
        finally:
            offline.report = None
        if report.page_errors:
            bad.append(f"{name} [{ex}]: errors while moving the control: {report.page_errors}")
    assert not bad, "explorers that do not respond:\n" + "\n".join(bad)
