"""Structure of the book: table of contents, notebooks, chapter front matter, pins and commands."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from aieng.book import FRONT_MATTER_KEYS, front_matter, syllabus
from aieng.book import registry

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("chapters", "labs") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
CHAPTERS = sorted(p.parent for p in (ROOT / "chapters").glob("*/index.md"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


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
    assert all(buttons.get(k, "").startswith("https://") for k in ("colab_url", "binderhub_url", "jupyterhub_url"))
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
    assert pip_section == ["-r requirements.txt"], "conda takes its pins from requirements.txt, not a copy"
    assert "requirements-models.txt" in (ROOT / "postBuild").read_text()


def test_readme_quick_start_and_ci_use_the_make_commands():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    quick = readme[start:readme.index("\n## ", start + 5)]
    assert quick.index("make book") < quick.index("make test") < quick.index("make lab")
    assert "make bench" in quick and "Colab" in readme and "Binder" in readme and "conda" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
