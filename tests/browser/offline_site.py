"""Load the built site in headless Chromium with the network cut off, and record what each page does.

Used by ``tests/browser/test_site.py`` (``make test-browser``) and ``tests/browser/screenshots.py``.
Chromium is Debian's (``apt-get install -y chromium``), driven by Playwright through
``executable_path``: nothing is downloaded, ``playwright install`` is never run.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the browser fixture fails with what to install
    PlaywrightError = RuntimeError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SITE = ROOT / "_build" / "site-check" / "_build" / "html"
INSTALL = "apt-get install -y chromium"
PAGE_TIMEOUT_MS = 20_000
"""Budget for one page to load and typeset its math (a page takes well under a second)."""


def site_dir() -> Path:
    """The built site: ``AIENG_SITE`` (``make test-browser SITE_HTML=...``) or the strict test build."""
    return Path(os.environ.get("AIENG_SITE") or DEFAULT_SITE).resolve()


def chromium_path() -> str:
    """Debian's Chromium (or the binary ``AIENG_CHROMIUM`` names); missing, an error that names the install."""
    wanted = os.environ.get("AIENG_CHROMIUM")
    candidates = [wanted] if wanted else ["/usr/bin/chromium", shutil.which("chromium"),
                                          shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f"AIENG_CHROMIUM={wanted} is not an executable file" if wanted else "no /usr/bin/chromium"
    raise RuntimeError(f"Chromium is missing ({where}): the browser test needs Debian's chromium. Install it "
                       f"with `sudo {INSTALL}` (.ci/run does this when it is missing).")


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path(),
                                      args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])


def pages(site: Path) -> list[Path]:
    """Every HTML page of the site (``_static``, ``_sources`` and ``_images`` left out)."""
    skip = {"_static", "_sources", "_images"}
    return sorted(p for p in site.rglob("*.html") if not skip & set(p.relative_to(site).parts[:-1]))


@dataclass
class PageReport:
    """What one page did while it loaded over file:// with every other request refused."""

    name: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    images_without_alt: list[str] = field(default_factory=list)
    explorers_without_label: list[str] = field(default_factory=list)
    explorers: list[str] = field(default_factory=list)
    has_math: bool = False
    math_rendered: int = 0
    raw_tex: list[str] = field(default_factory=list)
    load_error: str = ""


def block_network(context: Any, blocked: list[str]) -> None:
    """Serve file:// (and data:, blob:) only; record every other request and refuse it."""
    local = ("file:", "data:", "blob:", "about:")

    def handle(route: Any) -> None:
        if route.request.url.startswith(local):
            route.continue_()
        else:
            route.abort("internetdisconnected")

    context.route("**/*", handle)
    context.on("request", lambda r: None if r.url.startswith(local) else blocked.append(r.url))
    context.on("websocket", lambda ws: blocked.append(ws.url))


_INSPECT = """() => {
  const imgs = [...document.querySelectorAll('img')]
    .filter(i => !(i.getAttribute('alt') || '').trim())
    .map(i => i.getAttribute('src') || i.outerHTML.slice(0, 120));
  const ex = [...document.querySelectorAll('.aieng-explorer')];
  const unlabelled = ex.filter(e => !(e.getAttribute('aria-label') || '').trim())
    .map(e => e.dataset.explorer || e.id || '(no name)');
  const math = document.querySelectorAll('.math, div.math, span.math').length;
  const rendered = document.querySelectorAll('mjx-container').length;
  // TeX that MathJax left as text: a delimiter still visible in a math element.
  const raw = [...document.querySelectorAll('.math')]
    .filter(m => !m.querySelector('mjx-container') && /\\\\[(\\[]|\\$\\$/.test(m.textContent))
    .map(m => m.textContent.trim().slice(0, 60));
  return {imgs, unlabelled, explorers: ex.map(e => e.dataset.explorer || ''), math, rendered, raw};
}"""


def _settle(page: Any) -> None:
    """Wait for MathJax to typeset (when the page loads it) and for explorers to draw."""
    page.evaluate("""() => new Promise(done => {
      const t0 = Date.now();
      (function wait() {
        const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
        const needsMath = document.querySelector('.math') !== null;
        const plots = [...document.querySelectorAll('.aieng-explorer .plotly-graph-div')];
        const drawn = plots.every(p => p.querySelector('.main-svg'));
        if ((!needsMath || mj || Date.now() - t0 > 5000) && (drawn || Date.now() - t0 > 8000)) {
          (mj ? mj : Promise.resolve()).then(() => done(), () => done());
        } else { setTimeout(wait, 50); }
      })();
    })""")
    page.wait_for_timeout(100)  # late async scripts and their errors


class Offline:
    """One browser context with the network cut off and one tab reused for every page (a new tab a
    page costs a second on a busy 2-core machine). ``blocked`` lists every refused request."""

    def __init__(self, browser: Any, viewport: tuple[int, int] = (1280, 900)) -> None:
        self.blocked: list[str] = []
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                           service_workers="block")
        block_network(self.context, self.blocked)
        self.page = self.context.new_page()
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        self.report: PageReport | None = None
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.report and self.report.page_errors.append(str(e)))

    def _console(self, message: Any) -> None:
        if message.type == "error" and self.report is not None:
            self.report.console_errors.append(_console(message))

    def goto(self, path: Path) -> Any:
        """Open a page of the site in the tab and wait until its math and explorers are drawn."""
        page = self.page
        page.goto(path.as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        for _ in range(3):  # a page that redirects (the site's index.html) destroys the first context
            try:
                _settle(page)
                break
            except PlaywrightError as err:
                if "context was destroyed" not in str(err) and "navigat" not in str(err):
                    raise
                page.wait_for_load_state("load")
        return page

    def close(self) -> None:
        self.context.close()


def visit(offline: Offline, site: Path, path: Path) -> PageReport:
    """Load one page and record its requests, errors, images, explorers and math."""
    report = offline.report = PageReport(str(path.relative_to(site)))
    seen = len(offline.blocked)
    try:
        page = offline.goto(path)
        found = page.evaluate(_INSPECT)
        report.images_without_alt = found["imgs"]
        report.explorers_without_label = found["unlabelled"]
        report.explorers = found["explorers"]
        report.has_math = found["math"] > 0
        report.math_rendered = found["rendered"]
        report.raw_tex = found["raw"]
    except PlaywrightError as err:  # a timeout or a crash: the page fails with the reason
        report.load_error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    offline.page.goto("about:blank")  # errors of the page stay with it
    offline.report = None
    report.blocked = list(dict.fromkeys(offline.blocked[seen:]))
    return report


def _console(message: Any) -> str:
    where = message.location or {}
    url = where.get("url") or ""
    return f"{message.text} ({Path(url).name or url}:{where.get('lineNumber', '?')})" if url else message.text


# -- explorers ----------------------------------------------------------------------------------------
_DRAWN = """(root) => {
  // What the figure draws: the plot's SVG (and heatmap images), without the controls themselves.
  const gd = root.querySelector('.plotly-graph-div');
  if (!gd) return null;
  return [...gd.querySelectorAll('svg.main-svg')].map(svg => {
    const copy = svg.cloneNode(true);
    copy.querySelectorAll('.slider-container, .updatemenu-container, .menulayer, .hoverlayer, .modebar')
        .forEach(n => n.remove());
    return copy.innerHTML;
  }).join('\\n');
}"""


def explorer_control(page: Any, name: str) -> str:
    """Which control the explorer has: ``slider``, ``dropdown``, ``buttons`` or ``''`` (none drawn)."""
    root = page.locator(f'.aieng-explorer[data-explorer="{name}"]')
    if root.locator("g.slider-container").count():
        return "slider"
    if root.locator("g.updatemenu-header-group").count():
        return "dropdown"
    if root.locator("g.updatemenu-button").count():
        return "buttons"
    return ""


def move_control(page: Any, name: str, position: float) -> None:
    """Move the explorer's first control as a reader would, to ``position`` in [0, 1] of its range.

    A slider: a click on its rail at that fraction of its length. A dropdown: open it, pick the entry
    at that fraction of the list. Buttons: click the one at that fraction.
    """
    root = page.locator(f'.aieng-explorer[data-explorer="{name}"]')
    root.scroll_into_view_if_needed()
    kind = explorer_control(page, name)
    if kind == "slider":
        rail = root.locator("g.slider-container rect.slider-rail-rect").first
        box = rail.bounding_box()
        if box is None:
            raise AssertionError(f"explorer {name!r}: its slider rail is not visible")
        x = box["x"] + 4 + position * (box["width"] - 8)
        y = box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.up()
    elif kind == "dropdown":
        root.locator("g.updatemenu-header-group").first.click()
        buttons = root.locator("g.updatemenu-dropdown-button")
        buttons.first.wait_for(state="visible")
        n = buttons.count()
        buttons.nth(min(n - 1, round(position * (n - 1)))).click()
    elif kind == "buttons":
        buttons = root.locator("g.updatemenu-button")
        n = buttons.count()
        buttons.nth(min(n - 1, round(position * (n - 1)))).click()
    else:
        raise AssertionError(f"explorer {name!r} draws no slider or dropdown (is plotly.min.js loaded?)")


def drawn(page: Any, name: str) -> str | None:
    return page.locator(f'.aieng-explorer[data-explorer="{name}"]').evaluate(_DRAWN)


def wait_redrawn(page: Any, name: str, before: str | None, timeout_ms: int = 3000) -> str | None:
    """What the explorer draws once it differs from ``before`` (or after ``timeout_ms``)."""
    now = drawn(page, name)
    waited = 0
    while now == before and waited < timeout_ms:
        page.wait_for_timeout(100)
        waited += 100
        now = drawn(page, name)
    return now


def chapter_of(page_name: str) -> str:
    """``chapters/07-transformers-and-llms/01-attention.html`` -> ``chapters/07-transformers-and-llms``."""
    parts = re.split(r"[/\\]", page_name)
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]
