"""Structure of the book: table of contents, notebooks, chapter front matter, pins and commands."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from aieng.book.pages import toc_files

from aieng.book import FRONT_MATTER_KEYS, front_matter, syllabus
from aieng.book import registry

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("chapters", "labs") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
CHAPTERS = sorted(p.parent for p in (ROOT / "chapters").glob("*/index.md"))


def _toc_files() -> list[str]:
    return toc_files(ROOT)


def _resolve(entry: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        if (ROOT / (entry + suffix)).is_file():
            return ROOT / (entry + suffix)
    return None


def _nb_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ----------------------------------------------------------------------------- table of contents


def test_every_toc_entry_exists():
    missing = [e for e in _toc_files() if _resolve(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_and_chapter_page_is_in_the_toc():
    listed = {_resolve(e) for e in _toc_files()}
    pages = NOTEBOOKS + [c / "index.md" for c in CHAPTERS] + sorted((ROOT / "labs").rglob("index.md"))
    orphans = [str(p.relative_to(ROOT)) for p in pages if p not in listed]
    assert not orphans, f"not in _toc.yml: {orphans}"


def test_toc_has_no_duplicates():
    files = _toc_files()
    assert len(files) == len(set(files))


# ----------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_notebook_is_clean_with_python3_kernel(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernel must be python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {i} has outputs: run scripts/clean_notebooks.py"
            assert cell.execution_count is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_notebook_follows_the_book_shape(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.lstrip().startswith("# "), "starts with a title"
    code = [c for c in cells if c.cell_type == "code"]
    assert "remove-cell" in code[0].metadata.get("tags", []) and "find_spec(\"aieng\")" in code[0].source, \
        "the first code cell is the Colab/Binder install cell, tagged remove-cell"
    assert any("seed_everything(" in c.source for c in code[:3]), "the set-up cell seeds everything"
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert re.search(r"^## Summary", text, re.M), "ends with a '## Summary' section"
    assert len(re.findall(r"\{exercise\}", text)) >= 3, "at least three exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_notebook_states_its_minutes(path):
    minutes = (nbformat.read(path, as_version=4).metadata.get("aieng") or {}).get("minutes")
    assert isinstance(minutes, int) and 10 <= minutes <= 240, \
        'the notebook metadata needs "aieng": {"minutes": N}, the learner\'s time for it (10 to 240)'


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_hours_cover_its_notebooks(chapter):
    hours = front_matter(chapter / "index.md")["time_hours"]
    minutes = sum((nbformat.read(nb, as_version=4).metadata.get("aieng") or {}).get("minutes", 0)
                  for nb in sorted(chapter.glob("*.ipynb")))
    assert hours * 60 >= minutes, f"time_hours {hours} is less than the notebooks' {minutes} minutes"
    assert hours * 60 <= max(minutes, 60) * 4, f"time_hours {hours} is far more than the notebooks' {minutes} minutes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_diagrams_exist_and_have_alt_text(path):
    cells = nbformat.read(path, as_version=4).cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        for alt, target in re.findall(r"!\[([^\]]*)\]\(([^)\s]+)", cell.source):
            assert len(alt.split()) >= 4, f"cell {i}: the image {target} needs alt text that says what it shows"
            if not target.startswith(("http://", "https://", "attachment:")):
                assert (path.parent / target).is_file(), f"cell {i}: {target} does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_every_solution_gate_holds_a_solution_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and re.match(r"\s*`{3,}\{solution-start\}", cell.source):
            assert ":class: dropdown" in cell.source, f"cell {i}: solutions are collapsed on the site"
            body = []
            for nxt in cells[i + 1:]:
                if nxt.cell_type == "markdown" and "{solution-end}" in nxt.source:
                    break
                body.append(nxt)
            else:
                pytest.fail(f"cell {i}: solution-start without solution-end")
            tagged = [c for c in body if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
            assert tagged, f"cell {i}: the solution's code cells must be tagged 'solution'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_checked_exercises_exist_and_widget_outputs_stay_off_the_site(path):
    cells = nbformat.read(path, as_version=4).cells
    known = registry()
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        for name in re.findall(r"check\(\s*[\"']([0-9]{2}\.[\w-]+)[\"']", cell.source):
            assert name in known, f"cell {i} checks {name!r}, which aieng/book/exercises does not define"
        if re.search(r"\binteract(ive)?\(|widgets\.\w+\(", cell.source):
            assert "remove-output" in cell.metadata.get("tags", []), \
                f"cell {i} shows a widget: tag it remove-output and put a static figure beside it"


def test_exercise_labels_are_unique_across_the_book():
    labels: dict[str, str] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for label in re.findall(r":label:\s*(\S+)", cell.source if cell.cell_type == "markdown" else ""):
                assert label not in labels, f"label {label} in {path.name} and {labels[label]}"
                labels[label] = path.name


# ----------------------------------------------------------------------------- chapters and syllabus


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_front_matter_has_what_the_syllabus_needs(chapter):
    fm = front_matter(chapter / "index.md")
    for key, kind in FRONT_MATTER_KEYS.items():
        assert key in fm, f"{chapter.name}/index.md front matter lacks {key!r}"
        assert isinstance(fm[key], kind), f"{key} must be {kind}"
    assert fm["month"] == int(chapter.name[:2]), "month matches the folder's number"
    assert fm["objectives"] and all(isinstance(o, str) and o for o in fm["objectives"])
    assert 1 <= len(list(chapter.glob("*.ipynb"))) <= 4, "one to three notebooks (four at most)"
    plan = {m["slug"] for m in yaml.safe_load((ROOT / "chapters" / "syllabus.yml").read_text())["months"]}
    assert chapter.name in plan, "the chapter folder is a month of chapters/syllabus.yml"
    for prereq in fm["prerequisites"]:
        assert prereq in plan, f"prerequisite {prereq!r} is not a month's slug"


def test_syllabus_has_twelve_months_and_nothing_typed_twice():
    plan = yaml.safe_load((ROOT / "chapters" / "syllabus.yml").read_text())["months"]
    assert [m["month"] for m in plan] == list(range(1, 13))
    for entry in plan:
        written = (ROOT / "chapters" / entry["slug"] / "index.md").is_file()
        if written:
            assert set(entry) == {"month", "slug"}, f"month {entry['month']} is written: its front matter says the rest"
        else:
            assert {"title", "time_hours", "builds"} <= set(entry), f"coming month {entry['month']} needs a plan"
    months = syllabus(ROOT)
    assert sum(m.ready for m in months) == len(CHAPTERS) >= 1


# ----------------------------------------------------------------------------- configuration and commands


def test_config_has_execution_launch_buttons_and_extensions():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache" and config["execute"]["timeout"] > 0
    assert config["repository"]["url"].startswith("https://github.com/")
    buttons = config["launch_buttons"]
    assert all(buttons.get(k, "").startswith("https://") for k in ("colab_url", "binderhub_url"))
    # No placeholder hub: a button to a hub that does not exist is a dead link (README: how to set yours).
    assert "example" not in buttons.get("jupyterhub_url", "")
    assert {"sphinx_exercise", "sphinx_design"} <= set(config["sphinx"]["extra_extensions"])
    assert config["html"]["use_download_button"] and config["html"]["use_repository_button"]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt pins exactly: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_one_source_of_exact_pins():
    pins = _pins()
    assert pins["torch"] == "2.13.0" and pins["jupyter-book"].startswith("1.")
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0]).lower()
        assert name in pins, f"{name} is a dependency of aieng but not pinned in requirements.txt"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "aieng" and "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # The CPU index first, so Binder and conda get torch's CPU wheel and not a multi-GB CUDA build.
    assert pip_section == ["--extra-index-url https://download.pytorch.org/whl/cpu", "-r requirements.txt"], (
        "conda takes its pins from requirements.txt, not a copy")
    assert "requirements-models.txt" in (ROOT / "postBuild").read_text()


def test_readme_quick_start_and_ci_use_the_make_commands():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    quick = readme[start:readme.index("\n## ", start + 5)]
    assert quick.index("make book") < quick.index("make test") < quick.index("make lab")
    assert "make bench" in quick and "Colab" in readme and "Binder" in readme and "conda" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


# ----------------------------------------------------------------------------- alt text on every figure
# A code cell "draws a figure" when a top-level statement calls matplotlib on plt/ax/axes/fig (plt.show,
# ax.plot, fig.savefig ...), IPython's Image/SVG, or a function of the notebook that does (transitively);
# a function that closes its figure (it writes a file) draws nothing on the page. Such a cell carries
# its figure's alt text in metadata, which myst-nb puts on the image: {"mystnb": {"image": {"alt": ...}}}.

_DRAW = {"subplots", "figure", "show", "imshow", "matshow", "plot", "bar", "barh", "hist", "scatter",
         "semilogy", "semilogx", "loglog", "pcolormesh", "contour", "contourf", "errorbar", "fill_between",
         "boxplot", "violinplot", "broken_barh", "heatmap", "pie", "stem", "step"}
_MPL_NAME = re.compile(r"^(plt|pyplot|sns|ax\w*|axs|axes|fig\w*)$")
_DISPLAYS = {"Image", "SVG"}


def _cell_tree(source: str):
    import ast

    lines = ["pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _draw_calls(node) -> set[str]:
    """Names called under ``node``: matplotlib drawing calls as ``"@mpl"``, other calls by name."""
    import ast

    found = set()
    for n in ast.walk(node):
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        if isinstance(f, ast.Attribute):
            root = f.value
            while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                root = root.func if isinstance(root, ast.Call) else root.value
            if f.attr in _DRAW and isinstance(root, ast.Name) and _MPL_NAME.match(root.id):
                found.add("@mpl")
            elif f.attr == "close" and isinstance(root, ast.Name) and root.id in ("plt", "pyplot"):
                found.add("@close")
            found.add(f.attr)
        elif isinstance(f, ast.Name):
            found.add("@mpl" if f.id in _DISPLAYS else f.id)
    return found


def figure_cells(cells) -> list[int]:
    """Indices of the code cells that put a figure on the page (see the comment above)."""
    import ast

    trees = [_cell_tree(c.source) if c.cell_type == "code" else None for c in cells]
    funcs: dict[str, set[str]] = {}
    for tree in trees:
        for n in ast.walk(tree) if tree is not None else ():
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.setdefault(n.name, set()).update(_draw_calls(n))
    drawing = {"@mpl"}
    changed = True
    while changed:
        changed = False
        for name, calls in funcs.items():
            if name not in drawing and calls & drawing and "@close" not in calls:
                drawing.add(name)
                changed = True
    out = []
    for i, tree in enumerate(trees):
        if tree is None:
            continue
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
                continue
            if _draw_calls(stmt) & drawing:
                out.append(i)
                break
    return out


def _on_page(cell) -> bool:
    return not {"remove-output", "remove-cell"} & set(cell.metadata.get("tags", []))


def _alt_text(cell) -> str:
    return str(((cell.metadata.get("mystnb") or {}).get("image") or {}).get("alt") or "").strip()


def test_figure_detection_finds_drawing_cells_and_skips_the_rest():
    def cells(*sources):
        return [nbformat.v4.new_code_cell(s) for s in sources]

    nb = cells("import matplotlib.pyplot as plt\nimport torch",
               "fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()",                        # 1 draws
               "def draw(ax):\n    ax.bar([1], [2])\n\n\ndef explore():\n    fig, ax = plt.subplots()\n"
               "    draw(ax)\n    plt.show()",                                                      # defines only
               "explore()",                                                                      # 3 draws
               "def to_file(path):\n    fig, ax = plt.subplots()\n    fig.savefig(path)\n    plt.close(fig)",
               "to_file('x.svg')",                                                               # closes: no
               "t = torch.zeros(3).scatter(0, torch.tensor([1]), 1.0)\nprint(t.sum())",             # torch: no
               "display(Image(data=png_bytes))",                                                 # 7 draws
               "%matplotlib inline\naxes[0].imshow([[1]])")                                      # 8 draws
    assert figure_cells(nb) == [1, 3, 7, 8]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_every_figure_a_notebook_draws_has_alt_text(path):
    cells = nbformat.read(path, as_version=4).cells
    missing = [i for i in figure_cells(cells) if _on_page(cells[i]) and len(_alt_text(cells[i]).split()) < 6]
    assert not missing, (f"code cells {missing} draw a figure without alt text: add cell metadata "
                         '{"mystnb": {"image": {"alt": "what the figure shows and its point"}}}')


def test_every_markdown_figure_on_a_page_has_alt_text():
    pages = [p for p in (_resolve(e) for e in _toc_files()) if p is not None and p.suffix == ".md"]
    texts = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in pages]
    for path in NOTEBOOKS:
        texts += [(f"{_nb_id(path)} cell {i}", c.source)
                  for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.cell_type == "markdown"]
    assert len(texts) > len(NOTEBOOKS)
    for where, text in texts:
        for alt, target in re.findall(r"!\[([^\]]*)\]\(([^)\s]+)", text):
            assert len(alt.split()) >= 4, f"{where}: the image {target} needs alt text that says what it shows"
        for block in re.findall(r"[`:]{3,}\{(?:figure|image)\}[^\n]*\n((?::[^\n]*\n)*)", text):
            assert re.search(r"^:alt:\s*\S+(\s+\S+){3,}", block, re.M), f"{where}: a figure directive needs :alt:"
        for tag in re.findall(r"<img\b[^>]*>", text):
            assert re.search(r'\balt="[^"]{10,}"', tag), f"{where}: {tag} needs alt text"
