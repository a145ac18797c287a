"""Screenshots of explorers on the built site, network cut off, each control at two positions.

Run by hand (not by ``make test``):

    .venv/bin/python tests/browser/screenshots.py OUT_DIR [--site _build/site-check/_build/html] [--count 3]

For each of ``--count`` explorers (one a chapter first, then more from any chapter), writes
``OUT_DIR/<chapter>-<explorer>-a.png`` (the control at its start) and ``...-b.png`` (moved to the far
end), and prints what it wrote and every request it refused (there should be none).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import offline_site as _site


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--site", type=Path, default=_site.site_dir(), help="the built site's html folder")
    parser.add_argument("--count", type=int, default=3, help="how many explorers (default 3)")
    args = parser.parse_args()
    site = args.site.resolve()
    if not (site / "index.html").is_file():
        sys.exit(f"no site at {site}: build it with `make test-site` (or give --site)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = _site.launch(p)
        offline = _site.Offline(browser, viewport=(1100, 900))
        found: list[tuple[str, str]] = []
        for path in _site.pages(site):
            report = _site.visit(offline, site, path)
            found += [(report.name, ex) for ex in report.explorers]
        chapters: dict[str, tuple[str, str]] = {}
        for name, ex in found:
            chapters.setdefault(_site.chapter_of(name), (name, ex))
        chosen = list(chapters.values())
        chosen += [f for f in found if f not in chosen]
        chosen = chosen[: args.count]
        if not chosen:
            sys.exit(f"no explorer (.aieng-explorer) on the site at {site}")
        for name, ex in chosen:
            page = offline.goto(site / name)
            box = page.locator(f'.aieng-explorer[data-explorer="{ex}"]')
            box.locator(".main-svg").first.wait_for()
            box.scroll_into_view_if_needed()
            stem = f"{Path(_site.chapter_of(name)).name}-{ex}"
            before = _site.drawn(page, ex)
            box.screenshot(path=str(args.out / f"{stem}-a.png"))
            _site.move_control(page, ex, 1.0)
            after = _site.wait_redrawn(page, ex, before)
            if after == before:  # already at the far end: go to the start instead
                _site.move_control(page, ex, 0.0)
                after = _site.wait_redrawn(page, ex, before)
            page.mouse.move(0, 0)  # no hover label in the picture
            page.wait_for_timeout(300)
            box.screenshot(path=str(args.out / f"{stem}-b.png"))
            print(f"{name} [{ex}] ({_site.explorer_control(page, ex)}): {stem}-a.png, {stem}-b.png"
                  + ("" if after != before else "  WARNING: the drawing did not change"))
        offline.close()
        browser.close()
    print(f"requests refused: {len(offline.blocked)}" + (f" {offline.blocked[:5]}" if offline.blocked else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
