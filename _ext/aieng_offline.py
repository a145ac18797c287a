"""Sphinx extension of the book: the site loads nothing from the network.

- **MathJax is vendored.** The npm package ``mathjax`` (version and sha512 pinned below) is fetched once
  into the virtual environment (``make setup`` runs ``python _ext/aieng_offline.py``) and copied into the
  site's ``_static/vendor/mathjax/``; ``mathjax_path`` in ``_config.yml`` points there, so every page,
  in any folder, loads it by a relative path, over ``file://`` too. A ``mathjax_path`` that is a URL
  is a build warning (an error under ``-W``).
- **Each inline script once.** Sphinx 7.4 writes an inline ``<script>`` twice when an extension adds it
  after the builder started (``Sphinx.add_js_file(None, body=...)`` hands the builder ``None``, and the
  builder adds the same script again with ``''`` before writing: sphinx-doc/sphinx#13402, fixed in
  Sphinx 8.2, which jupyter-book 1 cannot use). sphinx-thebe's ``const THEBE_JS_URL = ...`` was
  declared twice on every page: "Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been
  declared". The builder here gets ``''`` for ``None``, as in the upstream fix.
- **Search over file://.** Sphinx's search page fetches each hit's page to show a summary; a browser
  refuses ``fetch`` of ``file://`` URLs, so an offline reader saw the hits and an error a hit. Opened
  from files, the page lists the hits without summaries (served over http it keeps them).
- **A first visit without errors.** pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first
  page when no colour mode is stored yet; the default mode is ``auto`` (``html_context.default_mode``).

Run ``python _ext/aieng_offline.py`` to fetch MathJax (a no-op when it is there already).
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

MATHJAX_VERSION = "3.2.2"
# From the npm registry's metadata of mathjax@3.2.2 (dist.integrity): the tarball must match it.
MATHJAX_INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
MATHJAX_TARBALL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
# What the site needs from the package's es5/ folder: the combined TeX+MathML->HTML component, the TeX
# extensions it autoloads (\boldsymbol, ...), the CHTML web fonts, and the menu's accessibility parts
# (assistive MathML, the explorer and its speech rules), which load on demand. About 8 MB.
MATHJAX_FILES = ("tex-mml-chtml.js", "input/", "output/chtml/", "ui/", "a11y/", "sre/")
MATHJAX_ENTRY = "vendor/mathjax/tex-mml-chtml.js"  # the value of mathjax_path in _config.yml


def mathjax_root() -> Path:
    """Where the vendored MathJax lives: inside the virtual environment that builds the book."""
    return Path(sys.prefix) / "share" / "aieng-vendor" / f"mathjax-{MATHJAX_VERSION}"


def _verify(blob: bytes) -> None:
    algo, _, expected = MATHJAX_INTEGRITY.partition("-")
    got = base64.b64encode(hashlib.new(algo, blob).digest()).decode()
    if got != expected:
        raise RuntimeError(f"mathjax-{MATHJAX_VERSION}.tgz does not match its pinned {algo}: "
                           f"expected {expected}, got {got}")


def fetch_mathjax(root: Path | None = None, *, timeout: float = 120) -> Path:
    """Download, verify and unpack MathJax into ``root/static/vendor/mathjax``; return ``root/static``.

    Idempotent: a finished copy (marked by ``root/.complete``) is used as it is.
    """
    root = root or mathjax_root()
    static = root / "static"
    if (root / ".complete").exists():
        return static
    with urllib.request.urlopen(MATHJAX_TARBALL, timeout=timeout) as response:
        blob = response.read()
    _verify(blob)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        dest = tmp / "static" / "vendor" / "mathjax"
        dest.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for member in tar.getmembers():
                path = PurePosixPath(member.name)
                if not member.isfile() or ".." in path.parts or len(path.parts) < 2:
                    continue
                if path.parts[1] == "LICENSE":
                    rel = PurePosixPath("LICENSE")
                elif path.parts[1] == "es5":
                    rel = PurePosixPath(*path.parts[2:])
                    if not any(str(rel) == f or (f.endswith("/") and str(rel).startswith(f))
                               for f in MATHJAX_FILES):
                        continue
                else:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
        (tmp / ".complete").write_text(MATHJAX_INTEGRITY + "\n", encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return static


# -- Sphinx -------------------------------------------------------------------------------------------
def _vendor_mathjax(app: Any, config: Any) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    path = config.mathjax_path or ""
    if "://" in path or path.startswith("//"):
        logger.warning(f"[aieng_offline] mathjax_path={path!r} loads MathJax from the network; "
                       f"set it to {MATHJAX_ENTRY!r} in _config.yml (sphinx.config)")
        return
    try:
        static = fetch_mathjax()
    except Exception as err:  # no network and no copy yet
        from sphinx.errors import ExtensionError

        raise ExtensionError(f"MathJax {MATHJAX_VERSION} is not vendored yet and could not be fetched "
                             f"({err!r}); run `make setup` (or `python _ext/aieng_offline.py`) once "
                             "with access to the npm registry") from err
    config.html_static_path.append(str(static))


def _one_inline_script_each(app: Any) -> None:
    """Backport of sphinx-doc/sphinx#13402 (see the module docstring)."""
    builder = app.builder
    add = getattr(builder, "add_js_file", None)
    if add is None or getattr(add, "_aieng_none_is_empty", False):
        return

    def add_js_file(filename: str | None, **kwargs: Any) -> None:
        add(filename or "", **kwargs)

    add_js_file._aieng_none_is_empty = True  # type: ignore[attr-defined]
    builder.add_js_file = add_js_file


def _theme_mode(app: Any, config: Any) -> None:
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}


_NO_SUMMARY_FROM_FILES = "if (location.protocol === 'file:') DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;"


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _vendor_mathjax)
    app.connect("config-inited", _theme_mode)
    # After documentation_options.js (priority 200), before the search runs (on DOMContentLoaded).
    app.add_js_file(None, body=_NO_SUMMARY_FROM_FILES, priority=210)
    # Before every other extension's builder-inited handler (sphinx-togglebutton adds inline scripts there).
    app.connect("builder-inited", _one_inline_script_each, priority=0)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    print(f"MathJax {MATHJAX_VERSION} vendored in {fetch_mathjax()}")
