"""Sphinx extension of the book: the JavaScript of the explorers, vendored, on the pages that show one.

An explorer (:func:`aieng.book.explorer.explorer`) renders on the site as a Plotly figure whose inline
script waits for ``window.Plotly``. This extension

- copies ``plotly.min.js`` from the installed ``plotly`` pip package into the site's
  ``_static/vendor/plotly.min.js`` (never committed to git, never loaded from a CDN), so the
  explorers work offline and over ``file://``;
- adds that script (deferred) only to the pages whose body holds an explorer
  (``<div class="aieng-explorer" ...>``): ``app.add_js_file`` inside ``html-page-context`` adds it to
  that page alone, and the other pages do not download 4.8 MB they do not use;
- warns (an error under ``-W``) when two explorers on one page share a name, since the name is the
  HTML id their script draws into.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

PLOTLY_JS = "vendor/plotly.min.js"  # under _static
_EXPLORER = re.compile(r'<div class="aieng-explorer" data-explorer="([^"]*)"')


def plotly_js_source() -> Path:
    """The ``plotly.min.js`` shipped in the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the pinned plotly (pip install -r requirements.txt)")
    return path


def _add_to_explorer_pages(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                           doctree: Any) -> None:
    names = _EXPLORER.findall(context.get("body") or "")
    if not names:
        return
    twice = sorted(n for n, c in Counter(names).items() if c > 1)
    if twice:
        logger.warning(f"two explorers on page {pagename!r} share the name(s) {twice}: give each its own name",
                       type="aieng", subtype="explorer")
    app.add_js_file(PLOTLY_JS, loading_method="defer")


def _copy_plotly(app: Sphinx, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / PLOTLY_JS
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js_source(), dest)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("html-page-context", _add_to_explorer_pages)
    app.connect("build-finished", _copy_plotly)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
