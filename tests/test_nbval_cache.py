"""The nbval plugin (scripts/nbval_cache.py): what nbval ran lands in a jupyter-cache the site build matches.

One real run, pytest in a subprocess with two xdist workers (both write to the same cache), over three
small notebooks: one that passes, one whose GPU cell is skipped (still cached), one that fails (not cached,
its failure recorded for the status page).
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
from nbclient import NotebookClient
from nbformat import v4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "_ext"))
from aieng_status import current_mode  # noqa: E402
from nbval_cache import assemble  # noqa: E402

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
GOOD = ["x = 41\nprint('hello', x)",
        "x + 1",
        "from IPython.display import Markdown, display\nimport sys\n"
        "display(Markdown('**bold**'))\nprint('out')\nprint('err', file=sys.stderr)"]
# The tests' conftest.py skips cells tagged requires-gpu on a machine without CUDA; this one always does.
CONFTEST = '''
import pytest

def pytest_collection_modifyitems(config, items):
    for item in items:
        if "requires-gpu" in getattr(item, "cell", {}).get("metadata", {}).get("tags", []):
            item.add_marker(pytest.mark.skip(reason="needs a GPU"))
'''


def _notebook(path: Path, sources: list[str], gpu_last: bool = False) -> Path:
    nb = v4.new_notebook(metadata=KERNEL)
    nb.cells = [v4.new_markdown_cell("# A tiny notebook")] + [v4.new_code_cell(s) for s in sources]
    if gpu_last:
        nb.cells.append(v4.new_code_cell("print('on the GPU')", metadata={"tags": ["requires-gpu"]}))
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nbval")
    (tmp / "conftest.py").write_text(CONFTEST)
    paths = {"good": _notebook(tmp / "good.ipynb", GOOD),
             "gpu": _notebook(tmp / "gpu.ipynb", GOOD, gpu_last=True),
             "bad": _notebook(tmp / "bad.ipynb", ["print(1)", "raise ValueError('boom')", "print(3)"])}
    cache, runs = tmp / "cache", tmp / "status" / "runs.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *map(str, paths.values()), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp), "--nbval-lax", "--nbval-current-env", "-n", "2", "--dist", "loadfile",
         "-p", "scripts.nbval_cache", f"--nbval-cache={cache}", f"--nbval-runs={runs}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "1 failed" in result.stdout and "skipped" in result.stdout, result.stdout + result.stderr
    return paths, get_cache(cache), json.loads(runs.read_text())


def test_a_passing_notebook_is_matched_and_merged_as_the_site_build_does(run):
    paths, cache, _ = run
    nb = nbformat.read(paths["good"], as_version=4)  # the file as myst-nb reads it
    record = cache.match_cache_notebook(nb)
    assert record.uri == str(paths["good"].resolve())
    data = record.data
    assert data["mode"] == current_mode() and data["source"] == "nbval" and data["execution_seconds"] > 0
    assert data["machine"]["cpu"] and data["machine"]["cores"] >= 1
    assert set(data["versions"]) == {"python", "torch", "transformers"} and data["date"][:2] == "20"
    _, merged = cache.merge_match_into_notebook(nb)
    code = [c for c in merged.cells if c.cell_type == "code"]
    assert code[0].outputs[0].text == "hello 41\n"
    assert code[1].outputs[0].data["text/plain"] == "42" and code[1].execution_count == 2


def test_the_cached_notebook_equals_what_the_nbformat_executor_produces(run):
    paths, cache, _ = run
    _, merged = cache.merge_match_into_notebook(nbformat.read(paths["gpu"], as_version=4))
    reference = nbformat.read(paths["gpu"], as_version=4)
    reference.cells = reference.cells[:-1]  # nbclient cannot skip the GPU cell: compare the others
    NotebookClient(reference, kernel_name="python3", resources={"metadata": {"path": str(paths["gpu"].parent)}},
                   timeout=120).execute()
    for ours, theirs in zip(merged.cells, reference.cells, strict=False):
        if ours.cell_type == "code":
            assert ours.outputs == theirs.outputs and ours.execution_count == theirs.execution_count
    gpu_cell = merged.cells[-1]
    assert gpu_cell.outputs == [] and gpu_cell.execution_count is None  # skipped, and still cached
    assert merged.metadata.language_info.name == "python"


def test_a_failing_notebook_is_not_cached_and_its_failure_is_recorded(run):
    paths, cache, runs = run
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nbformat.read(paths["bad"], as_version=4))
    assert len(cache.list_cache_records()) == 2
    mode = current_mode()
    assert runs["bad"][mode]["passed"] is False and runs["bad"][mode]["error"] == "ValueError"
    assert runs["good"][mode]["passed"] is True and runs["gpu"][mode]["passed"] is True
    assert runs["good"][mode]["seconds"] > 0


def test_assemble_reports_a_cell_that_did_not_run():
    nb = v4.new_notebook(metadata=KERNEL, cells=[v4.new_code_cell("1"), v4.new_code_cell("2")])
    out = [nbformat.from_dict({"output_type": "execute_result", "data": {"text/plain": "1"},
                               "metadata": {}, "execution_count": 7})]
    done, problem = assemble(nb, {0: {"state": "passed", "outputs": out}})
    assert problem == "cell 1 did not run"
    assert done.cells[0].execution_count == 1 and done.cells[0].outputs[0].execution_count == 1
    assert nb.cells[0].outputs == []  # the source notebook is not changed
    _, problem = assemble(nb, {0: {"state": "passed", "outputs": out}, 1: {"state": "missing", "outputs": None}})
    assert problem == "cell 1 was skipped"
    _, problem = assemble(nb, {0: {"state": "passed", "outputs": out}, 1: {"state": "skipped", "outputs": None}})
    assert problem is None
