"""The one writer of results files: a benchmark's figures with the command, date, machine, tier and versions.

Serves the benchmarks of Months 7, 8 and 9. The schema, and the reader the chapters use, live in
:mod:`aieng.book.results` (chapters never import ``aieng.bench``); this module builds a record, checks it
against that schema and writes it atomically (:func:`aieng.atomic.atomic_write`), so a crash never leaves a
half-written file in ``chapters/NN-slug/results/``.

The tier is the GPU's when the benchmark ran on one (its figures say ``"device": "cuda"``), else the CPU's:
``NAME.json`` holds the CPU tier, ``NAME.gpu.json`` the GPU tier, side by side.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aieng.atomic import atomic_write
from aieng.book.machine import cpu_model, gpu_name
from aieng.book.machine import versions as _versions
from aieng.book.results import ROOT, SCHEMA, VERSION_KEYS, file_for, validate

__all__ = ["cpu_model", "machine", "versions", "tier_of", "make_record", "scoped_name", "default_path", "write"]


def machine(used_gpu: bool = False) -> dict[str, Any]:
    """CPU model, cores, torch threads (when torch is loaded) and, when the benchmark used it, the GPU."""
    torch = sys.modules.get("torch")
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 1,
            "threads": int(torch.get_num_threads()) if torch is not None else None,
            "gpu": gpu_name(import_torch=False) if used_gpu else None}


def versions() -> dict[str, str | None]:
    """Versions of python, torch, transformers, numpy and aieng (``None`` for one not installed)."""
    return _versions(VERSION_KEYS)


def tier_of(figures: Mapping[str, Any]) -> str:
    """``"gpu"`` when the figures say the benchmark ran on CUDA (``"device": "cuda..."``), else ``"cpu"``."""
    return "gpu" if str(figures.get("device", "cpu")).startswith("cuda") else "cpu"


def make_record(bench: str, figures: Mapping[str, Any], argv: Sequence[str], *,
                date: str | None = None, machine_info: Mapping[str, Any] | None = None,
                version_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record of one run, checked against :data:`aieng.book.results.SCHEMA`."""
    tier = tier_of(figures)
    m = dict(machine_info) if machine_info is not None else machine(used_gpu=tier == "gpu")
    if tier == "gpu" and not m.get("gpu"):
        raise ValueError("the figures say the benchmark ran on CUDA, but no GPU name is known")
    record = {
        "schema": SCHEMA,
        "bench": bench,
        "command": "python -m aieng.bench " + shlex.join(argv),
        "date": date or dt.date.today().isoformat(),
        "machine": m,
        "tier": {"kind": "gpu", "name": m["gpu"]} if tier == "gpu" else {"kind": "cpu", "cores": m["cores"]},
        "versions": dict(version_info) if version_info is not None else versions(),
        "provenance": "measured",
        "figures": dict(figures),
    }
    validate(record)
    return record


def scoped_name(base: str, args: Any, defaults: Mapping[str, Any]) -> str:
    """``base`` plus ``-option_value`` for each option in ``defaults`` that ``args`` changes.

    A quick or custom run (``--n 64``, ``--threads 1``) then gets its own file and never overwrites the
    chapter's reference run: ``scoped_name("embed", args, {"n": 2000})`` is ``embed`` or ``embed-n_64``.
    """
    parts = [base]
    for key, default in defaults.items():
        got = getattr(args, key, default)
        if got != default:
            text = "".join(c if c.isalnum() or c == "." else "_" for c in str(got)).strip("_")
            parts.append(f"{key.replace('_', '')}_{text}")
    return "-".join(parts)


def default_path(module: Any, name: str, figures: Mapping[str, Any], args: Any = None) -> Path:
    """``chapters/<module.CHAPTER>/results/<name>[.gpu].json`` in this checkout.

    ``name`` is the benchmark's, or what its ``results_name(args)`` returns (one file per suite or setting).
    Without a ``chapters`` folder (an installed package), the path is ``results/<name>.json`` here.
    """
    if hasattr(module, "results_name") and args is not None:
        name = module.results_name(args)
    chapter = getattr(module, "CHAPTER", None)
    tier = tier_of(figures)
    if chapter and (ROOT / "chapters" / chapter).is_dir():
        return file_for(name, tier, ROOT / "chapters" / chapter)
    return file_for(name, tier, Path.cwd())


def write(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Check ``record`` and write it to ``path`` atomically (indented JSON, UTF-8, trailing newline)."""
    validate(record)
    path = Path(path)
    atomic_write(path, (json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    return path
