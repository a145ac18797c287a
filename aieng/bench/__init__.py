"""Benchmarks: commands that print figures, never timed tests.

``python -m aieng.bench NAME [options] [--json]``. Each benchmark is a module here that defines

- ``HELP``: one line for ``--help``;
- ``add_arguments(parser)``: its own options;
- ``run(args) -> dict``: measure and return the figures (JSON-serialisable);
- ``format_table(result) -> str`` (optional): the human-readable report.

With ``--json`` the command prints exactly one JSON object on stdout (progress goes to stderr).
``python -m aieng.bench all`` runs every benchmark with its default settings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from types import ModuleType
from typing import Any

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
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    p_all = sub.add_parser("all", help="run every benchmark with its default settings")
    p_all.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    names = list(found) if args.bench == "all" else [args.bench]
    results = {}
    for name in names:
        module = found[name]
        bench_args = args if args.bench != "all" else module_defaults(module, name)
        try:
            result = module.run(bench_args)
        except (ValueError, FileNotFoundError, LookupError, RuntimeError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        results[name] = result
        if not args.json:
            fmt = getattr(module, "format_table", format_generic)
            print(f"== {name}\n{fmt(result)}\n", flush=True)
    if args.json:
        print(json.dumps(results if args.bench == "all" else results[names[0]]))
    return 0


def module_defaults(module: ModuleType, name: str) -> argparse.Namespace:
    """The default options of one benchmark, as if run with no flags."""
    p = argparse.ArgumentParser(prog=name)
    module.add_arguments(p)
    ns = p.parse_args([])
    ns.json = False
    return ns
