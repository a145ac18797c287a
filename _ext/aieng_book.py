"""Sphinx extension of the book: the ``{syllabus}`` directive and each notebook's time estimate.

- ``{syllabus}`` renders the twelve months from each chapter's ``index.md`` front matter (see
  :mod:`aieng.book`), so the syllabus is never typed twice, and rebuilds the page when a chapter's front
  matter changes.
- A notebook whose metadata holds ``"aieng": {"minutes": N}`` shows "About N minutes" under its title,
  so the time a learner should plan comes from one place.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from aieng.book import syllabus  # noqa: E402


def docutils_table(headers: list[str], rows: list[list[nodes.Node]], widths: list[int],
                   classes: tuple[str, ...] = ("syllabus-table",)) -> nodes.table:
    """A table node: a header row, then one row per list of cells (each a paragraph or inline nodes)."""
    table = nodes.table(classes=list(classes))
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in headers:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += cell if isinstance(cell, nodes.paragraph) else nodes.paragraph("", "", cell)
            row += entry
        body += row
    return table


class SyllabusDirective(SphinxDirective):
    """``{syllabus}``: the table of months, then each written chapter's objectives."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.srcdir)
        self.env.note_dependency(str(root / "chapters" / "syllabus.yml"))
        months = syllabus(root)
        rows = []
        for m in months:
            if m.ready:
                self.env.note_dependency(str(root / "chapters" / m.slug / "index.md"))
                ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget="/" + m.docname,
                                            refexplicit=True, refwarn=True)
                ref += nodes.inline(text=m.title)
                title: nodes.Node = ref
                status = nodes.Text("ready")
            else:
                title = nodes.Text(m.title)
                status = nodes.emphasis(text="coming")
            rows.append([nodes.Text(str(m.month)), title, nodes.Text(f"{m.hours_per_week:g} h ({m.time_hours:g} h)"),
                         nodes.Text(m.builds), status])
        out: list[nodes.Node] = [docutils_table(["Month", "Topic", "Per week (month)", "What you build", "Status"], rows,
                                        [6, 30, 12, 40, 8])]
        total = sum(m.time_hours for m in months)
        out.append(nodes.paragraph(text=f"In all about {total:g} hours over twelve months, "
                                        f"{total / 52:.0f} hours a week on average."))
        for m in months:
            if not m.ready:
                continue
            section = nodes.rubric(text=f"Month {m.month}: {m.title}")
            items = nodes.bullet_list()
            for obj in m.objectives:
                items += nodes.list_item("", nodes.paragraph(text=obj))
            prereq = ", ".join(m.prerequisites) if m.prerequisites else "none"
            out += [section, nodes.paragraph(text=f"Prerequisites: {prereq}. You will be able to:"), items]
        return out


def notebook_minutes(path: Path) -> int | None:
    """``metadata.aieng.minutes`` of a notebook, or None."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return None
    minutes = (meta.get("aieng") or {}).get("minutes")
    return int(minutes) if isinstance(minutes, (int, float)) and minutes > 0 else None


def _show_minutes(app: Sphinx, doctree: nodes.document) -> None:
    source = Path(app.env.doc2path(app.env.docname))
    if source.suffix != ".ipynb":
        return
    minutes = notebook_minutes(source)
    section = next(iter(doctree.findall(nodes.section)), None)
    if minutes is None or section is None:
        return
    title = next(iter(section.findall(nodes.title)), None)
    note = nodes.paragraph(classes=["aieng-minutes"])
    note += nodes.emphasis(text=f"About {minutes} minutes, exercises included.")
    section.insert(section.index(title) + 1 if title is not None else 0, note)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("syllabus", SyllabusDirective)
    app.connect("doctree-read", _show_minutes)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
