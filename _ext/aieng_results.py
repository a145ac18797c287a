"""Sphinx extension of the book: benchmark figures rendered from results files, never retyped.

- ``{result}`NAME:KEY` `` renders one figure of ``results/NAME.json`` beside the page (``NAME.gpu:KEY`` for
  the GPU tier), with a tooltip naming the command, date, machine and tier. ``NAME:KEY|SPEC`` formats it
  (``sales:success_rate|.0%``, ``retrieval:methods.hybrid.p50_ms|.1f``); keys are dotted paths into the
  file's ``figures`` (see :mod:`aieng.book.results`).
- ``{results-table} NAME`` renders a table of a results file, one row per entry of ``:rows:``, one column
  per ``header=key`` of ``:columns:`` (separated by ``;``), with a column per tier when a GPU file exists,
  followed by where each tier's figures came from. Options ``:label:`` (a key naming each row),
  ``:index:`` (the first column's header) and ``:formats:`` (``header=spec; ...``; ``code`` shows a
  command as code).

An unknown file, tier or key is a warning, so the strict build (``-W``) fails; a page is rebuilt when a
results file it reads changes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from aieng.book import results  # noqa: E402

logger = logging.getLogger(__name__)


def _chapter_dir(env: Any) -> Path:
    return Path(env.doc2path(env.docname)).parent


def _pairs(text: str, where: str) -> dict[str, str]:
    out = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if "=" not in part:
            raise results.ResultsError(f"{where}: {part!r} is not header=key")
        header, key = part.split("=", 1)
        out[header.strip()] = key.strip()
    return out


def parse_reference(text: str) -> tuple[str, str, str, str]:
    """``"retrieval.gpu:methods.bm25.ndcg@10|.3f"`` -> ``("retrieval", "gpu", "methods.bm25.ndcg@10", ".3f")``."""
    ref, _, spec = text.partition("|")
    name, sep, key = ref.partition(":")
    if not sep or not name.strip() or not key.strip():
        raise results.ResultsError(f"{text!r}: write NAME:KEY, e.g. retrieval:methods.hybrid.ndcg@10")
    name, tier = name.strip(), "cpu"
    for t in results.TIERS:
        if name.endswith("." + t):
            name, tier = name[: -len(t) - 1], t
    return name, tier, key.strip(), spec.strip()


class ResultRole(SphinxRole):
    """``{result}`NAME:KEY|SPEC` ``: one figure from a results file."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        folder = _chapter_dir(self.env)
        try:
            name, tier, key, spec = parse_reference(self.text)
            path = results.file_for(name, tier, folder)
            self.env.note_dependency(str(path))
            res = results.load(name, tier, folder)
            text = results.fmt(res.get_path(key), spec)
        except (results.ResultsError, ValueError, TypeError) as exc:
            logger.warning(f"{{result}}`{self.text}`: {exc}", location=self.get_location(), type="aieng",
                           subtype="results")
            return [nodes.problematic(self.rawtext, self.rawtext)], []
        tip = res.provenance().replace("`", "")
        return [nodes.abbreviation(text, text, explanation=tip, classes=["aieng-result"])], []


class ResultsTable(SphinxDirective):
    """``{results-table} NAME``: a table of one results file, per tier."""

    required_arguments = 1
    option_spec = {
        "rows": directives.unchanged,
        "columns": directives.unchanged_required,
        "label": directives.unchanged,
        "formats": directives.unchanged,
        "index": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        folder = _chapter_dir(self.env)
        name = self.arguments[0].strip()
        try:
            for tier in results.TIERS:
                self.env.note_dependency(str(results.file_for(name, tier, folder)))
            text = results.markdown(name, self.options.get("rows", ""),
                                    _pairs(self.options.get("columns", ""), "columns"),
                                    label=self.options.get("label") or None,
                                    formats=_pairs(self.options.get("formats", ""), "formats"),
                                    index=self.options.get("index") or None, chapter=folder)
        except (results.ResultsError, ValueError, TypeError) as exc:
            logger.warning(f"results-table {name}: {exc}", location=self.get_location(), type="aieng",
                           subtype="results")
            return []
        container = nodes.container(classes=["aieng-results-table"])
        self.state.nested_parse(StringList(text.splitlines(), source=str(results.file_for(name, "cpu", folder))),
                                self.content_offset, container)
        return [container]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_role("result", ResultRole())
    app.add_directive("results-table", ResultsTable)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
