"""Execute the book's notebooks in parallel into the jupyter-cache that ``jupyter-book build`` reads.

``make book`` runs this before the build. Jupyter Book 1.x executes notebooks one after the other; on two
cores much of a notebook's time is single-threaded (imports, Python loops, a server starting), so two at
once finish sooner. Each notebook runs exactly as the build would run it (its folder as working directory,
the same timeout, errors not allowed, ``jupyter_cache.executors.utils.single_nb_execution``), and is stored
in the cache with its run time; the build then finds every notebook there and executes nothing.

- Notebooks already in the cache with the same source are skipped, so a second ``make book`` is quick.
- The longest notebooks start first (their time in the cache's or the status page's last run), so one long
  notebook does not run alone at the end. Without a record, the table of contents' order is used.
- Each kernel gets ``AIENG_THREADS = cores // jobs`` threads unless ``AIENG_THREADS`` is set, so two
  notebooks never fight over the same cores.
- A failing notebook is reported with its error and the others still run; the exit status is then 1.

Usage: ``python scripts/execute_book.py --jobs 2`` (``--cache`` defaults to the build's own
``_build/.jupyter_cache``). Nothing in ``aieng`` imports this module.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "scripts/execute_book.py"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "_ext"))


def notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks ``_toc.yml`` lists, in reading order."""
    from aieng.book.pages import toc_files

    return [root / f"{f}.ipynb" for f in toc_files(root) if (root / f"{f}.ipynb").is_file()]


def last_seconds(cache: Any, runs_file: Path, mode: str) -> dict[str, float]:
    """Each notebook's last known run time (absolute path -> seconds): the runs file, then the cache's records.

    A run in ``mode`` counts before one in another mode.
    """
    from aieng_status import read_runs

    seconds: dict[str, float] = {}
    for name, by_mode in read_runs(runs_file).items():
        run = by_mode.get(mode) or next(iter(by_mode.values()), {})
        if isinstance(run.get("seconds"), (int, float)):
            seconds[str((ROOT / f"{name}.ipynb").resolve())] = float(run["seconds"])
    for record in cache.list_cache_records():
        value = (record.data or {}).get("execution_seconds")
        if (record.data or {}).get("mode", mode) == mode and isinstance(value, (int, float)):
            seconds[str(Path(record.uri).resolve())] = float(value)
    return seconds


def execute(path: str, timeout: int, threads: int) -> tuple[str, Any, float, str | None]:
    """Run one notebook as myst-nb would (in a worker process): ``(path, executed notebook, seconds, error)``."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ.setdefault("AIENG_THREADS", str(threads))
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    try:
        result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                     meta_override=True)
    except Exception:  # noqa: BLE001 - a kernel that died (DeadKernelError) is not caught by jupyter-cache
        import traceback

        return path, None, time.perf_counter() - started, traceback.format_exc()
    if result.err is not None:
        return path, None, result.time, result.exc_string or repr(result.err)
    return path, nb, result.time, None


def main(argv: list[str] | None = None) -> int:
    import nbformat
    import yaml
    from jupyter_cache import get_cache
    from tqdm import tqdm

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8")).get("execute", {})
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache",
                        help="the jupyter-cache the build reads (default: the build's own, _build/.jupyter_cache)")
    parser.add_argument("--timeout", type=int, default=int(config.get("timeout", 900)),
                        help="seconds a cell may take (default: _config.yml's execute.timeout)")
    parser.add_argument("--runs", type=Path, default=ROOT / "_build" / "status" / "runs.json",
                        help="the status page's history, for the order (longest first)")
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: every one in _toc.yml)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    missing = [str(p) for p in args.paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")

    from aieng_status import current_mode, machine_info, record_runs, version_info

    paths = [p.resolve() for p in args.paths] or notebooks()
    cache = get_cache(str(args.cache))
    todo = []
    for path in paths:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    mode = current_mode()
    known = last_seconds(cache, args.runs, mode)
    todo.sort(key=lambda p: -known.get(str(p), 0.0))  # stable: unknown ones keep the table of contents' order
    print(f"{len(paths) - len(todo)} of {len(paths)} notebooks already in {args.cache}; executing {len(todo)} "
          f"with {args.jobs} at once", flush=True)
    if not todo:
        return 0
    threads = int(os.environ.get("AIENG_THREADS") or max(1, (os.cpu_count() or 1) // args.jobs))
    context = {"mode": mode, "machine": machine_info(), "versions": version_info()}
    failed: list[tuple[str, str]] = []
    started = time.perf_counter()
    with cf.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool, \
            tqdm(total=len(todo), unit="notebook", desc="executing") as bar:
        futures = [pool.submit(execute, str(p), args.timeout, threads) for p in todo]
        for future in cf.as_completed(futures):
            path, nb, seconds, error = future.result()
            name = os.path.relpath(path, ROOT)
            date = dt.datetime.now().isoformat(timespec="seconds")
            if error is None:
                from jupyter_cache.base import CacheBundleIn

                data = {"execution_seconds": round(seconds, 2), "date": date, "source": SOURCE, **context}
                cache.cache_notebook_bundle(CacheBundleIn(nb, path, data=data), check_validity=False, overwrite=True)
                bar.write(f"{seconds:7.1f} s  {name}", file=sys.stderr)
            else:
                failed.append((name, error))
                bar.write(f"FAILED after {seconds:.1f} s: {name}", file=sys.stderr)
            run = {"mode": mode, "date": date, "seconds": round(seconds, 2), "passed": error is None,
                   "error": None if error is None else error.strip().splitlines()[-1][:300],
                   "machine": context["machine"], "versions": context["versions"], "source": SOURCE}
            record_runs(args.runs, {str(Path(name).with_suffix("")): run})
            bar.update()
    print(f"executed {len(todo) - len(failed)} of {len(todo)} notebooks in {time.perf_counter() - started:.0f} s "
          f"({args.jobs} at once, {threads} thread(s) each)", flush=True)
    for name, error in failed:
        tail = "\n".join(error.strip().splitlines()[-15:])
        print(f"\n{name} failed:\n{tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
