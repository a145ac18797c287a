"""pytest plugin: store the notebooks nbval executed in a jupyter-cache, for the site build to reuse.

``make test-notebooks`` loads it (``-p scripts.nbval_cache --nbval-cache=DIR --nbval-runs=FILE``). As nbval
runs a notebook's cells one pytest item at a time, this plugin keeps each cell's outputs
(``IPyNbCell.test_outputs``). When the last cell of a notebook has run and every cell passed (cells
skipped because they need a GPU, or by nbval-skip, are fine), it assembles the executed notebook and
stores it in the jupyter-cache at ``DIR``, with ``data`` holding the wall time of the notebook's cells
(``execution_seconds``, which myst-nb reports as the runtime), the mode (quick/full from ``aieng.QUICK``),
the date, the machine and the versions.
``make test-site`` then builds with ``execute_notebooks: cache`` on that cache: every notebook matches
(jupyter-cache hashes the code cells' source and metadata and the kernelspec, so the build's notebook hashes
equal to the file nbval ran) and nothing is executed a second time.

A notebook with a failed cell is not cached (a stale entry for the same source is removed) and its failure
is recorded in ``FILE``, the history that the status page reads (``_ext/aieng_status.py``); so is every
pass. Several xdist workers write at once: each write holds a lock file in the cache folder, and retries
while sqlite reports the database locked.

Nothing in ``aieng`` imports this module.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fcntl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_ext"))
from aieng_status import current_mode, machine_info, record_runs, version_info  # noqa: E402

GPU_TAGS = {"requires-gpu", "gpu"}
LANGUAGE_INFO = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py",
                 "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
                 "nbconvert_exporter": "python"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nbval-cache", "store nbval's executed notebooks in a jupyter-cache")
    group.addoption("--nbval-cache", default=None, type=Path,
                    help="jupyter-cache folder to store every notebook whose cells all passed")
    group.addoption("--nbval-runs", default=None, type=Path,
                    help="history file (JSON) of each notebook's last run, read by the status page")


@dataclass
class _Notebook:
    path: Path
    nb: Any  # the notebook as nbval read it
    cells: dict[int, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


class NbvalCache:
    def __init__(self, config: pytest.Config) -> None:
        self.cache_dir: Path | None = config.getoption("nbval_cache")
        self.runs_file: Path | None = config.getoption("nbval_runs")
        self.root = Path(str(config.rootpath)).resolve()
        self.open: dict[str, _Notebook] = {}
        self._context: dict[str, Any] | None = None

    # ------------------------------------------------------------------ collecting cell results

    def _entry(self, item: pytest.Item) -> _Notebook | None:
        parent = item.parent
        if getattr(item, "cell_num", None) is None or not hasattr(parent, "nb"):
            return None  # not an nbval cell
        key = parent.nodeid
        if key not in self.open:
            self.open[key] = _Notebook(Path(str(parent.path)).resolve(), parent.nb)
        return self.open[key]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        entry = self._entry(item)
        if entry is None:
            return
        entry.seconds += report.duration
        cell = entry.cells.setdefault(item.cell_num, {"outputs": None, "state": "passed"})
        if report.when == "call" and item.test_outputs is not None:
            cell["outputs"] = item.test_outputs
        if report.skipped and cell["state"] == "passed":
            # a deliberate skip: the cell needs a GPU (conftest.py), or nbval-skip
            tags = set(item.cell.get("metadata", {}).get("tags", []))
            cell["state"] = "skipped" if GPU_TAGS & tags or item.options.get("skip") else "missing"
        if report.failed:
            cell["state"] = "failed"
            if entry.error is None:
                errors = [o for o in item.test_outputs or [] if o.get("output_type") == "error"]
                entry.error = errors[0]["ename"] if errors else (
                    call.excinfo.typename if call.excinfo else "failed")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        yield
        entry = self._entry(item)
        if entry is not None and (nextitem is None or nextitem.parent is not item.parent):
            self.finish(item.parent.nodeid)

    # ------------------------------------------------------------------ one notebook done

    def context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = {"mode": current_mode(), "machine": machine_info(), "versions": version_info()}
        return self._context

    def finish(self, key: str) -> None:
        entry = self.open.pop(key)
        nb, problem = assemble(entry.nb, entry.cells)
        if problem and entry.error is None:
            entry.error = problem
        date = dt.datetime.now().isoformat(timespec="seconds")
        data = {"execution_seconds": round(entry.seconds, 2), "date": date, "source": "nbval", **self.context()}
        if self.cache_dir is not None:
            if entry.error is None:
                store(self.cache_dir, nb, str(entry.path), data)
            else:
                forget(self.cache_dir, entry.nb)
        if self.runs_file is not None:
            try:  # the Sphinx docname, when pytest runs from the book's root
                name = str(entry.path.relative_to(self.root).with_suffix(""))
            except ValueError:
                name = str(entry.path.with_suffix(""))
            run = {"mode": data["mode"], "date": date, "seconds": data["execution_seconds"],
                   "passed": entry.error is None, "error": entry.error, "machine": data["machine"],
                   "versions": data["versions"], "source": "nbval"}
            record_runs(self.runs_file, {name: run})


def assemble(source_nb: Any, cells: dict[int, dict[str, Any]]) -> tuple[Any, str | None]:
    """The executed notebook: nbval's outputs in each code cell, numbered as a kernel numbers them.

    Returns the notebook and, when it cannot be cached, why (a cell that did not run, or failed).
    """
    nb = copy.deepcopy(source_nb)
    nb.metadata["language_info"] = {**LANGUAGE_INFO, "version": ".".join(map(str, sys.version_info[:3]))}
    count, problem = 0, None
    code = [c for c in nb.cells if c.cell_type == "code"]
    for num, cell in enumerate(code):
        result = cells.get(num)
        cell.outputs, cell.execution_count = [], None
        if result is None:
            problem = problem or f"cell {num} did not run"
            continue
        if result["state"] == "skipped":
            continue
        if result["state"] == "missing":
            problem = problem or f"cell {num} was skipped"
            continue
        if result["state"] == "failed":
            problem = problem or f"cell {num} failed"
        count += 1
        cell.execution_count = count
        for out in result["outputs"] or []:
            out = nbformat.from_dict(copy.deepcopy(dict(out)))
            if out.output_type == "execute_result":
                out.execution_count = count
            cell.outputs.append(out)
    return nb, problem


@contextlib.contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[Any]:
    from jupyter_cache import get_cache

    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "nbval.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield get_cache(cache_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _retry(action, attempts: int = 20):
    from sqlalchemy.exc import OperationalError

    for attempt in range(attempts):
        try:
            return action()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def store(cache_dir: Path, nb: Any, uri: str, data: dict[str, Any]) -> None:
    """Cache ``nb`` (replacing older entries of the same file) with ``data``."""
    from jupyter_cache.base import CacheBundleIn

    with _cache_lock(Path(cache_dir)) as cache:
        for record in _retry(cache.list_cache_records):
            if record.uri == uri:
                _retry(lambda: cache.remove_cache(record.pk))
        _retry(lambda: cache.cache_notebook_bundle(CacheBundleIn(nb, uri, data=data),
                                                   check_validity=False, overwrite=True))


def forget(cache_dir: Path, nb: Any) -> None:
    """Remove a cached run of this exact source, so the site never shows outputs of a notebook that fails."""
    with _cache_lock(Path(cache_dir)) as cache:
        with contextlib.suppress(KeyError):
            record = _retry(lambda: cache.match_cache_notebook(nb))
            _retry(lambda: cache.remove_cache(record.pk))


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("nbval_cache") is None and config.getoption("nbval_runs") is None:
        return
    config.pluginmanager.register(NbvalCache(config), "aieng-nbval-cache")
