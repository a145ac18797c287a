"""Lets the book build as one HTML page (`singlehtml`, the source of `make pdf`).

sphinx-exercise registers its nodes for the `singlehtml` builder by name; Sphinx then no longer falls
back to the `html` handlers for that builder, so the nodes of sphinx-design (the cards on the front
page) and of the book's own extensions have no visitor there and the build stops with
"departing unknown node type". This copies every `html` handler a one-page builder lacks. Loaded
only by scripts/pdf.py's configuration; the site's own build does not need it.
"""

from __future__ import annotations


def _inherit_html_handlers(app) -> None:
    handlers = app.registry.translation_handlers
    if app.builder.format == "html" and app.builder.name != "html" and app.builder.name in handlers:
        for node, pair in handlers.get("html", {}).items():
            handlers[app.builder.name].setdefault(node, pair)


def setup(app):
    app.connect("builder-inited", _inherit_html_handlers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
