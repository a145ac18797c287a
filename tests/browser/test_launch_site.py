"""The built site's launch buttons are the URLs that tests/test_launch.py derives and checks against the layout.

It runs with the browser test, after `make test-site`, so it never depends on an old build.
"""

from __future__ import annotations

import html
import re

import pytest

from test_launch import PAGES, launch_urls


@pytest.mark.parametrize("page", PAGES)
def test_the_built_site_carries_the_checked_launch_urls(site, page):
    path = site / f"{page}.html"
    assert path.is_file(), f"{page}.ipynb has no page in the built site ({path})"
    hrefs = {html.unescape(h) for h in re.findall(r'href="([^"]+)"', path.read_text(encoding="utf-8"))}
    urls = launch_urls(page)
    assert urls, f"no launch URLs derived for {page}"
    for provider, url in urls.items():
        assert url in hrefs, f"{path.name} lacks the {provider} link {url}"
