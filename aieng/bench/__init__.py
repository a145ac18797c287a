"""Benchmarks: commands that print figures, never timed tests.

``python -m aieng.bench NAME [options] [--json]``. Each benchmark is a module here that defines

- ``HELP``: one line for ``--help``;
- ``add_arguments(parser)``: its own options;
- ``run(args) -> dict``: measure and return the figures (JSON-serialisable);
- ``format_table(result) -> str`` (optional): the human-readable report.

and may define ``CHAPTER`` (the chapter folder its figures belong to, e.g. ``"08-embeddings-and-rag"``) and
``results_name(args) -> str`` (one results file per suite or setting; default: the benchmark's name).

Every run writes its figures, with the command, date, machine, tier and versions, to a results file
(:mod:`aieng.bench.record`; schema in :mod:`aieng.book.results`): ``chapters/CHAPTER/results/NAME.json`` for
the CPU tier, ``NAME.gpu.json`` when it ran on a GPU. ``--out PATH`` writes elsewhere; ``--no-save`` writes
nothing (a quick check). With ``--json`` the command prints exactly one JSON object on stdout, the record
(progress goes to stderr). ``python -m aieng.bench all`` runs every benchmark as its chapter's reference run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from types import ModuleType
from typing import Any

from aieng.bench import record as record_mod

__all__ = ["benchmarks", "main", "format_generic"]


def benchmarks() -> dict[str, ModuleType]:
    """Every benchmark module in this package, by name."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "run") and hasattr(module, "add_arguments"):
            found[info.name] = module
    return dict(sorted(found.items()))


def format_generic(result: dict[str, Any], indent: int = 0) -> str:
    """A readable key: value listing of a (nested) result."""
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            lines.append(format_generic(value, indent + 2))
        elif isinstance(value, float):
            lines.append(" " * indent + f"{key}: {value:.4g}")
        else:
            lines.append(" " * indent + f"{key}: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    found = benchmarks()
    parser = argparse.ArgumentParser(prog="python -m aieng.bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True, metavar="NAME")
    for name, module in found.items():
        p = sub.add_parser(name, help=getattr(module, "HELP", ""))
        module.add_arguments(p)
        _add_output_arguments(p, single=True)
    p_all = sub.add_parser("all", help="run every benchmark as its chapter's reference run (defaults plus "
                                            "the module's REFERENCE_ARGS)")
    _add_output_arguments(p_all, single=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    names = list(found) if args.bench == "all" else [args.bench]
    records = {}
    for name in names:
        module = found[name]
        bench_args = args if args.bench != "all" else module_defaults(module, name)
        try:
            result = module.run(bench_args)
            record = record_mod.make_record(name, result, _measuring_argv(argv) if args.bench != "all"
                                            else [name, *getattr(module, "REFERENCE_ARGS", [])])
        except (ValueError, FileNotFoundError, LookupError, RuntimeError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        records[name] = record
        if not args.json:
            fmt = getattr(module, "format_table", format_generic)
            print(f"== {name}\n{fmt(result)}\n", flush=True)
        if not args.no_save:
            out = getattr(args, "out", None) or record_mod.default_path(module, name, result, bench_args)
            record_mod.write(out, record)
            print(f"{name}: wrote {out}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(records if args.bench == "all" else records[names[0]], default=str))
    return 0


def _measuring_argv(argv: list[str]) -> list[str]:
    """The command line without the output options, which change where figures go, not what is measured."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif arg not in ("--json", "--no-save") and not arg.startswith("--out="):
            kept.append(arg)
    return kept


def _add_output_arguments(p: argparse.ArgumentParser, single: bool) -> None:
    p.add_argument("--json", action="store_true", help="print the record as one JSON object on stdout")
    if single:
        p.add_argument("--out", default=None, help="write the results file here instead of the chapter's "
                       "results/ folder")
    p.add_argument("--no-save", action="store_true", help="write no results file (a quick check)")


def module_defaults(module: ModuleType, name: str) -> argparse.Namespace:
    """The options of one benchmark's reference run: its defaults plus the module's ``REFERENCE_ARGS``.

    ``REFERENCE_ARGS`` (a list of flags, default none) are those of the run its chapter's results file
    comes from, so that ``all`` rewrites every figure the chapter cites (``retrieval`` adds ``--rerank
    --finetune``).
    """
    p = argparse.ArgumentParser(prog=name)
    module.add_arguments(p)
    ns = p.parse_args(list(getattr(module, "REFERENCE_ARGS", [])))
    ns.json = False
    return ns
