"""Corpora built from the book itself for the Month 8 projects: Markdown sections, book pages, code symbols.

Taught in Month 8 (chapters/08-embeddings-and-rag, notebook 4): retrieval over documentation and over a codebase.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["markdown_sections", "book_pages", "CodeSymbol", "code_symbols", "import_graph"]



def markdown_sections(text: str) -> list[tuple[str, str]]:
    """Split Markdown into ``(heading, body)`` pairs at every ``#`` heading; sections with no body are dropped.

    Text before the first heading gets the heading ``""``. Lines inside ``` fences are never headings.
    """
    out: list[tuple[str, str]] = []
    title, lines, fenced = "", [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if line.startswith("#") and not fenced:
            if "\n".join(lines).strip():
                out.append((title, "\n".join(lines).strip()))
            title, lines = line.lstrip("#").strip(), []
        else:
            lines.append(line)
    if "\n".join(lines).strip():
        out.append((title, "\n".join(lines).strip()))
    return out


def book_pages(root: str | Path, notebooks: bool = True) -> list[tuple[str, str]]:
    """``(page, markdown)`` for the book's pages under ``root``: ``intro.md``, ``syllabus.md``, and the
    ``.md`` files and (optionally) notebooks' Markdown cells under ``chapters/`` and ``labs/``."""
    root = Path(root)
    files = [root / "intro.md", root / "syllabus.md"]
    for folder in ("chapters", "labs"):
        files += sorted((root / folder).rglob("*.md"))
        if notebooks:
            files += sorted((root / folder).rglob("*.ipynb"))
    pages = []
    for f in files:
        if not f.is_file() or ".ipynb_checkpoints" in f.parts:
            continue
        if f.suffix == ".ipynb":
            cells = json.loads(f.read_text(encoding="utf-8")).get("cells", [])
            text = "\n\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                                for c in cells if c.get("cell_type") == "markdown")
        else:
            text = f.read_text(encoding="utf-8")
            if text.startswith("---"):  # drop YAML front matter
                text = text.split("---", 2)[-1]
        if text.strip():
            pages.append((str(f.relative_to(root).with_suffix("")), text))
    return pages


@dataclass
class CodeSymbol:
    """A function, class or module of a Python package, as a searchable passage."""

    id: str          # "aieng.retrieval.BM25Retriever.scores"
    kind: str        # "module", "class", "function" or "method"
    module: str
    lineno: int
    text: str        # signature, docstring and the first lines of the body


def code_symbols(package_dir: str | Path, body_lines: int = 12) -> list[CodeSymbol]:
    """Every module, class, function and method of a package, parsed with :mod:`ast` (nothing is imported)."""
    package_dir = Path(package_dir)
    symbols = []
    for f in sorted(package_dir.rglob("*.py")):
        rel = f.relative_to(package_dir.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        source = f.read_text(encoding="utf-8")
        tree = ast.parse(source)
        lines = source.splitlines()
        symbols.append(CodeSymbol(module, "module", module, 1, f"module {module}\n{ast.get_docstring(tree) or ''}"))

        def visit(node: Any, prefix: str, in_class: bool) -> None:
            for child in node.body:
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    if child.name.startswith("_") and child.name != "__init__":
                        continue
                    kind = "class" if isinstance(child, ast.ClassDef) else ("method" if in_class else "function")
                    qual = f"{prefix}.{child.name}"
                    head = lines[child.lineno - 1: min(child.lineno - 1 + body_lines, child.end_lineno or child.lineno)]
                    symbols.append(CodeSymbol(qual, kind, module, child.lineno, f"{kind} {qual}\n" + "\n".join(head)))
                    if isinstance(child, ast.ClassDef):
                        visit(child, qual, True)

        visit(tree, module, False)
    return symbols


def import_graph(package_dir: str | Path) -> dict[str, set[str]]:
    """``{module: {package modules it imports}}`` for a package, from its source (nothing is imported)."""
    package_dir = Path(package_dir)
    pkg = package_dir.name
    modules = {}
    for f in sorted(package_dir.rglob("*.py")):
        rel = f.relative_to(package_dir.parent).with_suffix("")
        modules[".".join(p for p in rel.parts if p != "__init__")] = f
    graph: dict[str, set[str]] = {}
    for name, f in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps.update(t for t in targets if t in modules and t.startswith(pkg) and t != name)
        graph[name] = deps
    return graph
