"""make book's parallel executor (scripts/execute_book.py): notebooks run into the cache the build reads.

Real runs of the script in a subprocess, on small notebooks: what passed is cached so that the build
matches it, a failure is named with its error and not cached, a second run executes only what is missing,
the longest notebook (by its last recorded run) starts first, and each kernel gets its share of the cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache
from nbformat import v4

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "execute_book.py"
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _notebook(path: Path, *sources: str) -> Path:
    nb = v4.new_notebook(metadata=KERNEL)
    nb.cells = [v4.new_markdown_cell("# A tiny notebook")] + [v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AIENG_THREADS"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book")
    paths = {"good": _notebook(tmp / "good.ipynb", "import os\nprint('threads', os.environ['AIENG_THREADS'])"),
             "plain": _notebook(tmp / "plain.ipynb", "print(6 * 7)"),
             "bad": _notebook(tmp / "bad.ipynb", "print(1)", "raise ValueError('boom')")}
    cache, runs = tmp / "cache", tmp / "runs.json"
    done = _run("--jobs", 2, "--cache", cache, "--runs", runs, *paths.values())
    return tmp, paths, cache, runs, done


def test_what_passed_is_cached_for_the_build_and_a_failure_is_named(first):
    tmp, paths, cache, runs, done = first
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.ipynb failed" in done.stderr and "boom" in done.stderr
    assert "executed 2 of 3 notebooks" in done.stdout
    store = get_cache(str(cache))
    for name in ("good", "plain"):  # the build's own lookup finds the executed notebook
        record = store.match_cache_notebook(nbformat.read(paths[name], as_version=4))
        assert record.data["execution_seconds"] > 0 and record.data["mode"] in ("quick", "full")
    with pytest.raises(KeyError):
        store.match_cache_notebook(nbformat.read(paths["bad"], as_version=4))
    _, executed = store.merge_match_into_notebook(nbformat.read(paths["plain"], as_version=4))
    assert executed.cells[1].outputs[0]["text"] == "42\n"
    history = json.loads(runs.read_text())
    passed = {Path(name).name: next(iter(by_mode.values()))["passed"] for name, by_mode in history.items()}
    assert passed == {"good": True, "plain": True, "bad": False}


def test_each_kernel_gets_its_share_of_the_cores(first):
    tmp, paths, cache, runs, done = first
    _, executed = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(paths["good"], as_version=4))
    assert executed.cells[1].outputs[0]["text"] == f"threads {max(1, (os.cpu_count() or 1) // 2)}\n"


def test_a_second_run_executes_only_what_is_missing(first):
    tmp, paths, cache, runs, done = first
    again = _run("--jobs", 2, "--cache", cache, "--runs", runs, *paths.values())
    assert "2 of 3 notebooks already in" in again.stdout and "executing 1 " in again.stdout
    assert again.returncode == 1 and "bad.ipynb failed" in again.stderr


def test_the_longest_notebook_starts_first(tmp_path):
    a = _notebook(tmp_path / "a.ipynb", "print('a')")
    b = _notebook(tmp_path / "b.ipynb", "print('b')")
    runs = tmp_path / "runs.json"
    name = os.path.relpath(tmp_path / "b", ROOT)
    runs.write_text(json.dumps({name: {"full": {"seconds": 100.0, "date": "2026-12-01", "mode": "full"}}}))
    done = _run("--jobs", 1, "--cache", tmp_path / "cache", "--runs", runs, a, b)
    assert done.returncode == 0, done.stderr
    finished = [line.split()[-1] for line in done.stderr.splitlines() if line.strip().endswith(".ipynb")]
    assert [Path(f).name for f in finished] == ["b.ipynb", "a.ipynb"]


def test_bad_arguments_are_refused(tmp_path):
    done = _run("--jobs", 0, tmp_path / "nowhere.ipynb")
    assert done.returncode == 2 and "--jobs must be at least 1" in done.stderr
    done = _run(tmp_path / "nowhere.ipynb")
    assert done.returncode == 2 and "no such notebook" in done.stderr and "nowhere.ipynb" in done.stderr


def test_a_kernel_that_dies_fails_its_notebook_only(tmp_path):
    """A dead kernel (nbclient's DeadKernelError, which jupyter-cache lets through) is a named failure."""
    died = _notebook(tmp_path / "died.ipynb", "import os\nos._exit(1)")
    after = _notebook(tmp_path / "after.ipynb", "print('still run')")
    done = _run("--jobs", 1, "--cache", tmp_path / "cache", "--runs", tmp_path / "runs.json", died, after)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "died.ipynb failed" in done.stderr and "DeadKernelError" in done.stderr
    assert "executed 1 of 2 notebooks" in done.stdout
