"""A grader for instructors: run every learner's notebook offline and gather each ``check()`` verdict.

A tool that serves every Month's notebooks (their exercises are in :mod:`aieng.book.exercises`).

``python -m aieng.book.grade SUBMISSIONS_DIR [--out DIR] [--timeout S] [--jobs N]`` (or ``make grade
SUBMISSIONS=DIR``) expects **one folder per learner**, named after the learner, holding that learner's
notebooks::

    SUBMISSIONS_DIR/ada/01-functions-classes-errors.ipynb
    SUBMISSIONS_DIR/bob/01-functions-classes-errors.ipynb

Anything else at the top (a loose file, an empty folder, a folder without notebooks) is refused with a
message that names it; hidden entries (``.DS_Store``, ``.ipynb_checkpoints``) are ignored.

Each notebook runs in its own worker process, on a copy of the learner's folder, with the book's Python
kernel, ``AIENG_CHECK_STRICT=0`` and the offline settings. One bad notebook cannot stop the others:

- a cell that raises is recorded (cell number and exception) and the following cells still run, as
  ``nbclient``'s ``allow_errors`` does, so everything that can run is graded;
- ``--timeout`` bounds the whole notebook's execution (the kernel's start-up and loading the exercises,
  done before the first cell, are not counted): the cell
  running when it is spent is stopped, and the cells after it are *not reached*; a dead kernel stops the
  notebook the same way; the worker is killed outright if it overruns, and what ran is still graded;
- no network: with ``unshare -rn`` (or bubblewrap) the worker and its kernel live in a network namespace
  of their own, with no interface up; the kernel talks to the worker over unix sockets. Where neither
  works the run is only *asked* to stay offline (``AIENG_OFFLINE``, ``HF_HUB_OFFLINE``, proxies that go
  nowhere) and the gradebook says that the network was not blocked.

Verdicts are read from what ``check`` printed (lines ``✅ NAME: ...``, ``❌ NAME: ...``, ``⏳ NAME: ...``);
the last verdict of an exercise counts. An exercise whose ``check(...)`` is in the notebook but printed
no verdict (its cell never ran, or raised first) is *not reached*. Printed lines can be forged by the
learner's own code: this is a grader for feedback and coursework, not an exam proctor.

``--out`` (default ``gradebook``) receives ``gradebook.csv`` (one row per learner, one column per
exercise, then ``score``, ``out_of`` and ``errors``), ``gradebook.html`` (the same table, self-contained)
and ``notebooks/<learner>/`` with each executed notebook.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import nbformat

__all__ = ["STATUSES", "LearnerGrade", "SubmissionError", "find_submissions", "grade", "main", "network_fence"]

STATUSES = ("pass", "fail", "not attempted", "not reached")
"""The values of an exercise's cell in the gradebook."""

_MARK = {"✅": "pass", "❌": "fail", "⏳": "not attempted"}
_VERDICT = re.compile(r"^(✅|❌|⏳) (\S+?): (.*(?:\n {3}.*)*)", re.MULTILINE)
_CHECK_CALL = re.compile(r"""\bcheck\(\s*(?:name\s*=\s*)?["']([^"'\s]+)["']""")
_GRACE_S = 180.0  # start-up and shut-down time a worker gets beyond --timeout before it is killed
_PREAMBLE = "from aieng.book.checker import registry as _aieng_registry\n_aieng_registry()\ndel _aieng_registry"
_OFFLINE_ENV = {"AIENG_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1", "AIENG_CHECK_STRICT": "0", "MPLBACKEND": "Agg",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
_DEAD_PROXY = {k: "http://127.0.0.1:9" for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                                   "http_proxy", "https_proxy", "all_proxy")}


class SubmissionError(ValueError):
    """The submissions folder is not laid out as one folder of notebooks per learner."""


@dataclass
class LearnerGrade:
    """One learner's row: a status per exercise, the exercises' messages, and the errors met."""

    learner: str
    status: dict[str, str] = field(default_factory=dict)
    message: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exercises: list[str] = field(default_factory=list)  # the check(...) calls in the notebooks, in order


def find_submissions(root: Path) -> dict[str, list[Path]]:
    """``{learner: [notebooks]}`` for ``root/<learner>/*.ipynb``; :class:`SubmissionError` otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder: give the folder that holds one folder per learner")
    out, problems = {}, []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            problems.append(f"{entry.name} is a file; put it in a folder named after its learner "
                            f"({root}/<learner>/{entry.name})")
            continue
        notebooks = sorted(p for p in entry.rglob("*.ipynb")
                           if not any(part.startswith(".") for part in p.relative_to(entry).parts))
        if not notebooks:
            problems.append(f"{entry.name}/ holds no notebook (.ipynb)")
        out[entry.name] = notebooks
    if problems:
        raise SubmissionError(f"{root} should hold one folder per learner, each with that learner's notebooks:\n  "
                              + "\n  ".join(problems))
    if not out:
        raise SubmissionError(f"{root} holds no learner folder: expected {root}/<learner>/<notebook>.ipynb")
    return out


@lru_cache(maxsize=1)
def network_fence() -> tuple[tuple[str, ...], str]:
    """The command prefix that cuts the network off, and a sentence saying how (or that it could not)."""
    # A PID namespace too: when the worker dies, every process in it (the kernel included) dies with it.
    unshare = ("unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child")
    candidates = [(unshare, "blocked (a network namespace of its own, made by unshare -rn)")]
    bwrap = ("bwrap", "--dev-bind", "/", "/", "--unshare-net", "--unshare-pid", "--die-with-parent")
    candidates.append((bwrap, "blocked (a network namespace of its own, made by bubblewrap)"))
    for prefix, note in candidates:
        if shutil.which(prefix[0]) is None:
            continue
        try:
            ok = subprocess.run([*prefix, sys.executable, "-c", ""], check=False, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return prefix, note
    return (), ("NOT blocked at the OS level (neither unshare -rn nor bubblewrap works here): the notebooks "
                "were only asked to stay offline (AIENG_OFFLINE=1, HF_HUB_OFFLINE=1, dead proxies)")


def _cell_name(nb: nbformat.NotebookNode, index: int) -> str:
    first = next((line.strip() for line in nb.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index + 1}" + (f" ({first[:40]})" if first else "")


def _run_worker(path: Path, timeout: float) -> tuple[dict[int, dict], list[dict]]:
    """Run one notebook in a fenced worker process; ``({cell: outputs record}, [stop records])``."""
    with tempfile.TemporaryDirectory(prefix="aieng-grade-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".*"))
        progress = Path(tmp) / "progress.jsonl"
        progress.touch()
        fence, _ = network_fence()
        env = {**os.environ, **_OFFLINE_ENV, **({} if fence else _DEAD_PROXY)}
        cmd = [*fence, sys.executable, "-m", "aieng.book.grade", "--worker", str(work / path.name),
               str(progress), str(timeout), str(Path(tmp) / "k")]
        with open(Path(tmp) / "stderr.txt", "wb") as err:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(timeout + _GRACE_S)
                killed = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
            finally:
                try:  # in the fence's PID namespace, ending the worker ends the kernel and its children
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        cells, stops = {}, []
        for line in progress.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # the last line, cut by a kill
                continue
            if "stopped" in rec or "done" in rec:
                stops.append(rec)
            else:
                cells[rec["cell"]] = rec
        if killed:
            stops.append({"stopped": f"the worker overran the {timeout:g} s limit and was killed"})
        elif not any("done" in s for s in stops) and not any("stopped" in s for s in stops):
            tail = (Path(tmp) / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip()[-300:]
            stops.append({"stopped": f"the worker failed (exit {proc.returncode}): {tail}"})
        return cells, stops


def _grade_notebook(path: Path, timeout: float, executed: Path | None) -> LearnerGrade:
    """Run one notebook and read its verdicts (``learner`` is filled by the caller)."""
    result = LearnerGrade("")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - a corrupt submission is a recorded error, not a crash
        result.errors.append(f"{path.name}: not a readable notebook ({type(exc).__name__}: {exc})")
        return result
    for cell in nb.cells:
        if cell.cell_type == "code":
            result.exercises += [n for n in _CHECK_CALL.findall(cell.source) if n not in result.exercises]
    cells, stops = _run_worker(path, timeout)
    for index in sorted(cells):
        rec = cells[index]
        if index < len(nb.cells):
            nb.cells[index].outputs = [nbformat.from_dict(o) for o in rec["outputs"]]
        for out in rec["outputs"]:
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for mark, name, detail in _VERDICT.findall(text):
                result.status[name] = _MARK[mark]
                result.message[name] = f"{mark} {name}: {detail.split(chr(10) + '   hint:')[0]}"
                if name not in result.exercises:
                    result.exercises.append(name)
            if out.get("output_type") == "error":
                result.errors.append(f"{path.name} {_cell_name(nb, index)}: {out.get('ename')}: "
                                     f"{str(out.get('evalue', ''))[:200]}")
    for stop in stops:
        if "stopped" in stop:
            where = f" {_cell_name(nb, stop['cell'])}" if stop.get("cell") is not None else ""
            result.errors.append(f"{path.name}{where}: {stop['stopped']}")
    if executed is not None:
        executed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed)
    return result


def grade(submissions: Path, out: Path | None = None, timeout: float = 600, jobs: int = 2) -> list[LearnerGrade]:
    """Grade every learner under ``submissions``; write the gradebook to ``out`` when given."""
    learners = find_submissions(submissions)
    tasks = [(who, nb) for who, notebooks in learners.items() for nb in notebooks]

    def one(task: tuple[str, Path]) -> LearnerGrade:
        who, nb = task
        target = out / "notebooks" / who / nb.relative_to(Path(submissions) / who) if out else None
        return _grade_notebook(nb, timeout, target)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded = list(pool.map(one, tasks))
    rows = {who: LearnerGrade(who) for who in learners}
    for (who, _), part in zip(tasks, graded):
        row = rows[who]
        row.status.update(part.status)
        row.message.update(part.message)
        row.errors += part.errors
        row.exercises += [e for e in part.exercises if e not in row.exercises]
    columns = _columns(rows.values())
    for row in rows.values():
        for name in columns:
            if name not in row.status:
                row.status[name] = "not reached" if name in row.exercises else "not attempted"
    if out is not None:
        write_gradebook(list(rows.values()), Path(out), timeout)
    return list(rows.values())


def _columns(rows) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [e for e in row.exercises if e not in columns]
    return columns


def write_gradebook(rows: list[LearnerGrade], out: Path, timeout: float) -> tuple[Path, Path]:
    """Write ``gradebook.csv`` and ``gradebook.html`` into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    columns = _columns(rows)
    csv_path = out / "gradebook.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["learner", *columns, "score", "out_of", "errors"])
        for row in rows:
            score = sum(row.status[c] == "pass" for c in columns)
            w.writerow([row.learner, *(row.status[c] for c in columns), score, len(columns), " | ".join(row.errors)])
    html_path = out / "gradebook.html"
    html_path.write_text(_html(rows, columns, timeout), encoding="utf-8")
    return csv_path, html_path


_ICON = {"pass": "✅", "fail": "❌", "not attempted": "⏳", "not reached": "⛔"}
_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1b1b}
h1{font-size:1.4rem}.wrap{overflow-x:auto}table{border-collapse:collapse}
th,td{border:1px solid #c8c8c8;padding:.35rem .6rem;text-align:left;vertical-align:top}
thead th{background:#eef1f5;position:sticky;top:0}td.pass{background:#e3f5e1}td.fail{background:#fde2e1}
td.not-attempted{background:#f1f1f1;color:#555}td.not-reached{background:#fff1d6}
td.errors{max-width:32rem;font-size:.85rem;white-space:pre-wrap}td.score{font-weight:600;text-align:right}
tfoot td,tfoot th{background:#f7f7f7;font-size:.9rem}ul.legend{list-style:none;padding:0}
h2{font-size:1.1rem}pre{background:#f7f7f7;padding:.5rem;white-space:pre-wrap}summary{cursor:pointer}"""


def _html(rows: list[LearnerGrade], columns: list[str], timeout: float) -> str:
    e = html.escape
    head = "".join(f'<th scope="col">{e(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{row.status[c].replace(" ", "-")}" title="{e(row.message.get(c, row.status[c]))}">'
            f"{_ICON[row.status[c]]} {e(row.status[c])}</td>" for c in columns)
        score = sum(row.status[c] == "pass" for c in columns)
        errors = "\n".join(row.errors) or "none"
        body.append(f'<tr><th scope="row">{e(row.learner)}</th>{cells}'
                    f'<td class="score">{score}/{len(columns)}</td><td class="errors">{e(errors)}</td></tr>')
    totals = "".join(f"<td>{sum(r.status[c] == 'pass' for r in rows)}/{len(rows)} pass</td>" for c in columns)
    legend = "".join(f"<li>{_ICON[s]} {s}</li>" for s in STATUSES)
    details = "".join(
        f"<details><summary>{e(row.learner)}</summary><pre>"
        + e("\n".join([row.message[c] for c in columns if row.status[c] == "fail" and c in row.message]
                       + row.errors)) + "</pre></details>"
        for row in rows if row.errors or any(row.status[c] == "fail" for c in columns))
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Gradebook</title><style>{_CSS}</style></head><body>
<h1>Gradebook</h1>
<p>{len(rows)} learners, {len(columns)} exercises, graded {e(when)}, each notebook limited to {timeout:g} s.
Network: {e(network_fence()[1])}. Hover over a cell for the checker's message;
every failure and error is listed below the table.</p>
<div class="wrap"><table><thead><tr><th scope="col">Learner</th>{head}<th scope="col">Score</th>
<th scope="col">Errors</th></tr></thead><tbody>
{chr(10).join(body)}
</tbody><tfoot><tr><th scope="row">Passed</th>{totals}<td></td><td></td></tr></tfoot></table></div>
<ul class="legend">{legend}</ul>
<h2>Failures and errors</h2>
{details or "<p>None.</p>"}
<p>⛔ not reached: the exercise's check is in the notebook but printed no verdict (its cell did not run, or
raised first). Errors name the cell (1-based) and the exception.</p>
</body></html>
"""


def _worker(notebook: str, progress: str, timeout: str, ipc: str) -> int:
    """Inside the fence: run ``notebook`` cell by cell, appending one JSON line a cell to ``progress``."""
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=ipc)  # async: timeouts work
    client = NotebookClient(nb, km=km, allow_errors=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(Path(notebook).parent)}})
    limit = float(timeout)

    def emit(rec: dict) -> None:
        with open(progress, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    try:
        with client.setup_kernel():
            if nb.cells:  # load the exercises before the clock starts (their imports take seconds)
                first, client.timeout = nb.cells[0], int(_GRACE_S / 3)
                client.execute_cell(nbformat.v4.new_code_cell(_PREAMBLE), 0, store_history=False)
                nb.cells[0] = first  # execute_cell stores the cell it ran at the index it was given
            deadline = time.monotonic() + limit
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    emit({"stopped": f"the {limit:g} s limit was spent before this cell", "cell": index})
                    break
                client.timeout = max(1, int(left + 0.999))
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    emit({"cell": index, "outputs": cell.outputs})
                    emit({"stopped": f"stopped at the {limit:g} s limit (still running)", "cell": index})
                    break
                except DeadKernelError as exc:
                    emit({"cell": index, "outputs": cell.outputs})
                    emit({"stopped": "the kernel died (os._exit, a crash in C code, or out of memory): "
                                     f"{type(exc).__name__}", "cell": index})
                    break
                emit({"cell": index, "outputs": cell.outputs})
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
        emit({"stopped": f"the kernel failed: {type(exc).__name__}: {exc}"})
        return 1
    emit({"done": True})
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(*argv[1:5])
    parser = argparse.ArgumentParser(prog="python -m aieng.book.grade",
                                     description="Run each learner's notebooks offline and write a gradebook.",
                                     epilog="Layout: SUBMISSIONS_DIR/<learner>/<notebook>.ipynb")
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR", help="one folder per learner")
    parser.add_argument("--out", type=Path, default=Path("gradebook"), help="where the gradebook goes")
    parser.add_argument("--timeout", type=float, default=600, help="seconds of execution a notebook may use")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    args = parser.parse_args(argv)
    try:
        rows = grade(args.submissions, args.out, args.timeout, args.jobs)
    except SubmissionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"graded {len(rows)} learners; network {network_fence()[1]}")
    print(f"wrote {args.out / 'gradebook.csv'} and {args.out / 'gradebook.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
