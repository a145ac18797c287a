"""The rules of `aieng`'s layout, enforced (AUTHORING.md, "Code that lives in aieng/").

- no module imports another module's ``_private`` names;
- chapters and labs import only public names of ``aieng``, and never ``aieng.bench``;
- every ``AIENG_*`` setting is read in :mod:`aieng.settings` and nowhere else;
- a module whose docstring says "Taught in Month N" is imported by that chapter's notebooks;
- no import cycles between ``aieng`` modules (lazy imports inside functions included);
- no module over about 400 lines unless it is one concept, named below with the reason.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aieng"
MODULES = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}
NOTEBOOKS = sorted(p for folder in ("chapters", "labs") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)

ONE_CONCEPT = {
    "aieng.llm.gpt": "a whole GPT in one readable file, as nanoGPT",
    "aieng.agents.sandbox": "one boundary: the supervisor, the bubblewrap command, the limits and the reasons belong together, and the lesson of the audit-hook fence shares its argument checks",
    "aieng.data": "the data sets: registry, verified download and readers, one loader per set",
}
"""Modules allowed past about 400 lines, and why (a chapter's exercises, ``aieng.book.exercises.chNN``, are one
concept each: that chapter's cases and hints)."""

TOOLING = ("aieng._legacy", "aieng.bench", "aieng.book.exercises", "aieng.book.pages", "aieng.book.student",
           "aieng.book.machine")
"""Modules that serve the book itself rather than a chapter: their docstrings need not name a Month."""


def _is_module(name: str) -> bool:
    return name in MODULES


def _imports(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` for every import of ``aieng`` in a parsed file, nested ones included."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "aieng"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "aieng":
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def _targets(module: str, names: list[str]) -> set[str]:
    """The aieng modules an import statement makes the importer depend on."""
    out = set()
    for n in names:
        if _is_module(f"{module}.{n}"):
            out.add(f"{module}.{n}")
        else:
            out.add(module)
    return out or {module}


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    out = []
    for c in cells:
        if c["cell_type"] != "code":
            continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        out.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return out


def _notebook_imports(path: Path) -> list[tuple[str, list[str], int]]:
    found = []
    for i, src in enumerate(_code_cells(path)):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        found += [(m, names, i) for m, names, _ in _imports(tree)]
    return found


def test_no_module_imports_another_modules_private_names():
    bad = []
    for name, path in MODULES.items():
        for module, names, line in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in module.split(".") if p.startswith("_")]
            own_package = name == module or (path.name == "__init__.py" and module == name)
            if private and not own_package:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}: {private}")
    assert not bad, "private names used across modules (make them public or move them):\n" + "\n".join(bad)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapters_import_public_names_and_never_the_bench(notebook):
    for module, names, cell in _notebook_imports(notebook):
        assert not module.startswith("aieng.bench"), f"cell {cell} imports {module}: chapters never import aieng.bench"
        private = [n for n in [*module.split("."), *names] if n.startswith("_")]
        assert not private, f"cell {cell} imports private names {private} from {module}"
        assert module in MODULES or module == "aieng", f"cell {cell} imports {module}, which is not an aieng module"
        mod = importlib.import_module(module)
        for n in names:
            assert hasattr(mod, n) or _is_module(f"{module}.{n}"), f"cell {cell}: {module} has no {n!r}"


def test_settings_are_read_in_one_module():
    pattern = re.compile(r"""environ(?:\.get)?\s*[\[(]\s*["']AIENG_|getenv\(\s*["']AIENG_""")
    readers = [str(p.relative_to(ROOT)) for n, p in MODULES.items()
               if n != "aieng.settings" and pattern.search(p.read_text(encoding="utf-8"))]
    assert not readers, f"AIENG_* settings read outside aieng/settings.py: {readers}"


def _chapter_modules(month: int) -> set[str]:
    folders = list((ROOT / "chapters").glob(f"{month:02d}-*"))
    used: set[str] = set()
    for folder in folders:
        for nb in folder.glob("*.ipynb"):
            for module, names, _ in _notebook_imports(nb):
                used.add(module)
                mod = importlib.import_module(module)
                for n in names:
                    if _is_module(f"{module}.{n}"):
                        used.add(f"{module}.{n}")
                    elif hasattr(mod, n):
                        used.add(getattr(getattr(mod, n), "__module__", module) or module)
    return used


def test_every_module_names_the_month_it_serves_and_taught_claims_are_true():
    false_claims, silent = [], []
    cache: dict[int, set[str]] = {}
    for name in MODULES:
        if name.endswith("__main__"):
            continue
        doc = importlib.import_module(name).__doc__ or ""
        if "Month" not in doc and not name.startswith(TOOLING):
            silent.append(name)
        for month in {int(m) for m in re.findall(r"Taught in Month (\d+)", doc)}:
            used = cache.setdefault(month, _chapter_modules(month))
            if name not in used:
                false_claims.append(f"{name} says 'Taught in Month {month}', but no notebook of that chapter imports it")
    assert not false_claims, "\n".join(false_claims)
    assert not silent, f"module docstrings that name no Month: {silent}"


def test_no_import_cycles():
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        graph.add_node(name)
        for module, names, _ in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(module, names):
                if target != name and target in MODULES:
                    graph.add_edge(name, target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles}"


def test_modules_stay_small_unless_one_concept():
    long = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in MODULES.items()}
    too_long = {n: lines for n, lines in long.items()
                if lines > 420 and n not in ONE_CONCEPT and not n.startswith("aieng.book.exercises.")}
    assert not too_long, f"modules over 420 lines (split them, or name the one concept in ONE_CONCEPT): {too_long}"


def test_old_module_names_still_import_to_the_new_homes():
    from aieng._legacy import MOVED

    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "aieng.student", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr
