"""Student copies of the book's notebooks, with the worked solutions removed (a tool for instructors).

``python -m aieng.book.student chapters labs --out _build/student`` (or ``make student``) writes every
notebook under the given folders to ``--out``, keeping the folder layout, without

- code cells tagged ``solution``, and
- the Markdown cells that open or close a solution (``{solution-start}`` / ``{solution-end}``, or a
  whole ``{solution}`` directive).

Exercise prompts, stubs and ``check(...)`` cells stay, so learners can still grade themselves.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat

__all__ = ["strip_solutions", "main"]

_SOLUTION_MD = re.compile(r"^\s*(`{3,}|:{3,})\s*\{solution(-start|-end)?\}")


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    if "solution" in cell.get("metadata", {}).get("tags", []):
        return True
    return cell.cell_type == "markdown" and bool(_SOLUTION_MD.match(cell.source))


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solution cells and without outputs."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in out.cells if not _is_solution(c)]
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aieng.book.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders to search for notebooks")
    parser.add_argument("--out", type=Path, required=True, help="where the student copies go")
    args = parser.parse_args(argv)
    count = removed = 0
    for folder in args.folders:
        for path in sorted(folder.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            nb = nbformat.read(path, as_version=4)
            student = strip_solutions(nb)
            removed += len(nb.cells) - len(student.cells)
            target = args.out / path.resolve().relative_to(folder.resolve().parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(student, target)
            count += 1
    print(f"wrote {count} student notebooks to {args.out} ({removed} solution cells removed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
