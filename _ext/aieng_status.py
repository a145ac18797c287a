"""Sphinx extension of the book: the ``{aieng-status}`` directive, the notebooks' execution status page.

For every notebook in the table of contents the page shows the last execution date, the time it took in
quick mode and in full mode, pass or fail (with the error's name), the machine (CPU model, cores, GPU if
any) and the versions of python, torch and transformers.

Where the figures come from:

- the build's own execution reports: myst-nb's per-document execution data
  (``NbMetadataCollector.get_exec_data``: ``mtime``, ``runtime``, ``succeeded``, ``error``);
- the jupyter-cache record that the build matched (its ``data``): ``make test`` fills a cache from nbval's
  run (``scripts/nbval_cache.py``) with the mode, date, machine and versions of that run, and the strict
  site build reads the outputs from it instead of executing the notebooks a second time;
- a small history file, ``_build/status/runs.json`` (config ``aieng_status_runs``), merged across builds
  and nbval runs: the last run of each notebook in each mode. A machine that ran both ``make test`` (quick)
  and ``make book`` (full) shows both columns; a mode never run there says so.

The page is computed after every notebook was read or executed (``env-updated``) and re-rendered on every
build (``env-get-outdated`` marks it outdated; a post-transform fills the table). Notebooks whose cached
outputs are newer than the build's last reading of them are re-read, so the site shows the latest run.

The helpers at the top (``machine_info``, ``version_info``, ``record_runs``) are shared with the nbval
plugin and import nothing from Sphinx.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from aieng.book.machine import cpu_model, gpu_name, versions  # noqa: E402

MODES = ("quick", "full")
NOT_RUN = "not run on this build machine"
VERSION_KEYS = ("python", "torch", "transformers")


# ----------------------------------------------------------------------------- shared helpers


def machine_info() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 1, "gpu": gpu_name()}


def version_info() -> dict[str, str | None]:
    return versions(VERSION_KEYS)


def current_mode() -> str:
    """``"quick"`` when this process runs in quick mode (``aieng.QUICK``), else ``"full"``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import aieng

    return "quick" if aieng.QUICK else "full"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_runs(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The history: ``{notebook: {mode: run}}``; empty when the file is missing or unreadable."""
    try:
        runs = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return runs if isinstance(runs, dict) else {}


def record_runs(path: Path, new: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Merge ``{notebook: run}`` into the history file (a run needs ``mode`` and ``date``); return it.

    The last run of each notebook in each mode is kept. Safe when several processes write at once
    (a lock file beside it; the file is replaced atomically).
    """
    path = Path(path)
    with _locked(path):
        runs = read_runs(path)
        for notebook, run in new.items():
            old = runs.setdefault(notebook, {}).get(run["mode"])
            if old is None or str(old.get("date", "")) <= str(run["date"]):
                runs[notebook][run["mode"]] = dict(run)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return runs


def _seconds(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _day(date: str) -> str:
    return str(date)[:16].replace("T", " ")


def describe(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The cells of one notebook's row, from its runs by mode (latest run decides pass/fail and machine)."""
    done = [r for r in (runs.get(m) for m in MODES) if r]
    cells = {"last": "never", "quick": NOT_RUN, "full": NOT_RUN, "result": "not run",
             "machine": "", "versions": ""}
    for mode in MODES:
        run = runs.get(mode)
        if run:
            cells[mode] = f"{_seconds(run.get('seconds'))} on {_day(run.get('date', ''))[:10]}"
    if not done:
        return cells
    last = max(done, key=lambda r: str(r.get("date", "")))
    cells["last"] = f"{_day(last.get('date', ''))} ({last.get('mode')})"
    cells["result"] = "pass" if last.get("passed") else f"fail: {last.get('error') or 'error'}"
    m = last.get("machine") or {}
    gpu = m.get("gpu")
    cells["machine"] = f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores" + (f", GPU {gpu}" if gpu else ", no GPU")
    v = last.get("versions") or {}
    cells["versions"] = ", ".join(f"{k} {v.get(k) or 'missing'}" for k in VERSION_KEYS)
    return cells


# ----------------------------------------------------------------------------- Sphinx

from aieng_book import docutils_table  # noqa: E402
from docutils import nodes  # noqa: E402
from sphinx.application import Sphinx  # noqa: E402
from sphinx.transforms.post_transforms import SphinxPostTransform  # noqa: E402
from sphinx.util import logging  # noqa: E402
from sphinx.util.docutils import SphinxDirective  # noqa: E402

logger = logging.getLogger(__name__)
HEADERS = ["Notebook", "Last execution", "Quick mode", "Full mode", "Result", "Machine",
           "python, torch, transformers"]


class status_placeholder(nodes.General, nodes.Element):
    """Where the status table goes, once every notebook of the build was read."""


class StatusDirective(SphinxDirective):
    """``{aieng-status}``: the table of every notebook's last execution."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        docs = getattr(self.env, "aieng_status_docs", set())
        docs.add(self.env.docname)
        self.env.aieng_status_docs = docs
        return [status_placeholder()]


def _notebooks(env) -> list[str]:
    return sorted(d for d in env.found_docs if Path(env.doc2path(d)).suffix == ".ipynb")


def _runs_path(app: Sphinx) -> Path:
    return Path(app.srcdir) / app.config.aieng_status_runs


def _cache(app: Sphinx):
    if app.config.nb_execution_mode not in ("cache",):
        return None
    from jupyter_cache import get_cache

    path = Path(app.env.mystnb_config.execution_cache_path)
    return get_cache(path) if (path / "global.db").is_file() else None


def _outdated(app: Sphinx, env, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """The status page, and every notebook whose cached outputs are newer than its last reading."""
    out = set(getattr(env, "aieng_status_docs", set()))
    cache = _cache(app)
    if cache is not None:
        newest: dict[str, float] = {}
        for record in cache.list_cache_records():
            newest[record.uri] = max(newest.get(record.uri, 0.0), record.created.timestamp())
        for docname in _notebooks(env):
            read_at = env.all_docs.get(docname)
            created = newest.get(str(Path(env.doc2path(docname)).resolve()))
            if read_at is not None and created is not None and created * 1e6 > read_at:
                out.add(docname)
    return sorted(out - added - changed - removed)


def _cache_data(cache, source: Path) -> dict[str, Any]:
    if cache is None:
        return {}
    import nbformat

    try:
        return dict(cache.match_cache_notebook(nbformat.read(source, as_version=4)).data or {})
    except (KeyError, OSError, ValueError):
        return {}


def _env_updated(app: Sphinx, env) -> list[str]:
    """Record this build's executions in the history; return the status pages to re-write."""
    cache = _cache(app)
    here = {"mode": current_mode(), "machine": machine_info(), "versions": version_info()}
    new = {}
    for docname in _notebooks(env):
        from myst_nb.sphinx_ import NbMetadataCollector

        exec_data = NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data")
        if not exec_data:
            continue
        data = _cache_data(cache, Path(env.doc2path(docname))) if exec_data.get("succeeded") else {}
        run = {**here, "date": dt.datetime.fromtimestamp(exec_data["mtime"]).isoformat(timespec="seconds"),
               "seconds": exec_data.get("runtime"), "passed": bool(exec_data.get("succeeded")),
               "error": exec_data.get("error"), "source": "site build"}
        if data.get("mode") in MODES:  # executed by nbval (make test), read from its cache
            run.update({k: data[k] for k in ("mode", "date", "machine", "versions") if k in data})
            run["source"] = data.get("source", "cache")
        new[docname] = run
    runs = record_runs(_runs_path(app), new) if new else read_runs(_runs_path(app))
    env.aieng_status_runs = runs
    env.aieng_status_build = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "outdir": _relative(app.outdir, app.srcdir),
        "execution": app.config.nb_execution_mode,
        "cache": _relative(app.env.mystnb_config.execution_cache_path, app.srcdir),
        "executed": len(new), **here}
    return sorted(getattr(env, "aieng_status_docs", set()))


def _relative(path: str | Path, root: str | Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _table(rows: list[list[nodes.Node]]) -> nodes.table:
    return docutils_table(HEADERS, rows, [26, 14, 12, 12, 10, 16, 14], classes=("aieng-status",))


class StatusPostTransform(SphinxPostTransform):
    """Replace the placeholder with the table (every document was read by now)."""

    default_priority = 8  # before the references are resolved

    def run(self, **kwargs: Any) -> None:
        env = self.env
        runs = getattr(env, "aieng_status_runs", {})
        build = getattr(env, "aieng_status_build", {})
        for node in list(self.document.findall(status_placeholder)):
            rows = []
            for docname in _notebooks(env):
                title = env.titles[docname].astext() if docname in env.titles else docname
                link = nodes.reference("", "", nodes.Text(title), internal=True,
                                       refuri=self.app.builder.get_relative_uri(env.docname, docname))
                cells = describe(runs.get(docname, {}))
                rows.append([link] + [nodes.Text(cells[k]) for k in
                                      ("last", "quick", "full", "result", "machine", "versions")])
            m = build.get("machine", {})
            intro = nodes.paragraph(text=(
                f"This page was produced by the site build into {build.get('outdir', '?')} on "
                f"{_day(build.get('date', '?'))} ({build.get('mode', '?')} mode, notebook execution "
                f"'{build.get('execution', '?')}', {build.get('executed', 0)} execution reports; "
                f"on {m.get('cpu', '?')}, {m.get('cores', '?')} cores"
                + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU") + ")."))
            node.replace_self([intro, _table(rows)])


def _purge(app: Sphinx, env, docname: str) -> None:
    getattr(env, "aieng_status_docs", set()).discard(docname)


def _merge(app: Sphinx, env, docnames: set[str], other) -> None:
    env.aieng_status_docs = getattr(env, "aieng_status_docs", set()) | (
        getattr(other, "aieng_status_docs", set()) & docnames)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("aieng_status_runs", "_build/status/runs.json", "env")
    app.add_node(status_placeholder)
    app.add_directive("aieng-status", StatusDirective)
    app.add_post_transform(StatusPostTransform)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-updated", _env_updated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
