"""Strip outputs, execution counts and editor metadata from notebooks, and set the python3 kernel.

Usage: python scripts/clean_notebooks.py PATH.ipynb [...]   (or --check to only report dirty notebooks)
Notebooks are committed clean: the book build and the tests execute them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

KEEP_CELL_METADATA = {"tags", "mystnb"}  # mystnb: alt text of figure outputs
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    keep = {k: v for k, v in nb.metadata.items() if k == "aieng"}  # the learner's time estimate, shown on the site
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}, **keep}
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.pop("id", None)
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    dirty = 0
    for path in args.paths:
        original = path.read_text(encoding="utf-8")
        nb = clean(nbformat.reads(original, as_version=4))
        nb.nbformat_minor = 4  # no cell ids needed
        text = nbformat.writes(nb) + "\n"
        if text != original:
            dirty += 1
            if args.check:
                print(f"{path}: not clean", file=sys.stderr)
            else:
                path.write_text(text, encoding="utf-8")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    raise SystemExit(main())
