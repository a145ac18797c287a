"""Results files: the figures a benchmark measured, read back and rendered for the book.

Used by every chapter that quotes a benchmark (Months 7, 8 and 9) and by the site's ``{result}`` role and
``{results-table}`` directive (``_ext/aieng_results.py``). ``python -m aieng.bench NAME`` writes the files
(:mod:`aieng.bench.record`); this module only reads them, so a chapter never imports ``aieng.bench``.

A results file is ``chapters/NN-slug/results/NAME.json`` for the CPU tier and ``NAME.gpu.json`` for the
GPU tier, one JSON object (schema :data:`SCHEMA`)::

    {"schema": "aieng.results/1",
     "bench": "retrieval",                       # the benchmark module
     "command": "python -m aieng.bench retrieval --dataset scifact --rerank",
     "date": "2026-11-30",                       # when it was measured (ISO date)
     "machine": {"cpu": "Intel(R) Xeon(R) Processor @ 2.00GHz", "cores": 2, "threads": 2, "gpu": null},
     "tier": {"kind": "cpu", "cores": 2},        # or {"kind": "gpu", "name": "NVIDIA H100 80GB HBM3"}
     "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "5.23.0", "numpy": "2.4.6",
                  "aieng": "0.1.0"},             # null where a record did not keep one
     "provenance": "measured",                   # or "transcribed": copied from a record, see "note"
     "note": "...",                              # optional: conditions, where a transcribed figure came from
     "figures": {...}}                           # what the benchmark returned, unchanged

In a notebook (the working folder is the chapter's)::

    from aieng.book import results
    display(Markdown(results.markdown("retrieval", rows="methods",
                                      columns={"nDCG@10": "ndcg@10", "recall@100": "recall@100"})))

``results.value("retrieval", "methods.hybrid.ndcg@10")`` reads one figure. Keys are dotted paths into
``figures``; a list is indexed by position (``runs.0.tokens_per_s``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA",
    "TIERS",
    "ResultsError",
    "Results",
    "validate",
    "results_dir",
    "file_for",
    "load",
    "available",
    "value",
    "lookup",
    "fmt",
    "provenance",
    "table",
    "markdown",
    "numbers",
]

SCHEMA = "aieng.results/1"
TIERS = ("cpu", "gpu")  # file suffixes: NAME.json (cpu), NAME.gpu.json (gpu)
VERSION_KEYS = ("python", "torch", "transformers", "numpy", "aieng")
PROVENANCE = ("measured", "transcribed")
ROOT = Path(__file__).resolve().parents[2]


class ResultsError(LookupError):
    """A results file that is missing or malformed, or a key that is not in it."""


def validate(record: Mapping[str, Any]) -> None:
    """Raise :class:`ResultsError` unless ``record`` follows :data:`SCHEMA`."""

    def need(ok: bool, why: str) -> None:
        if not ok:
            raise ResultsError(f"results record: {why}")

    need(isinstance(record, Mapping), "not a JSON object")
    need(record.get("schema") == SCHEMA, f"schema must be {SCHEMA!r}, got {record.get('schema')!r}")
    for key in ("bench", "command", "date"):
        need(isinstance(record.get(key), str) and record[key], f"{key!r} must be a non-empty string")
    need(re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"]) is not None, "date must be YYYY-MM-DD")
    machine = record.get("machine")
    need(isinstance(machine, Mapping), "'machine' must be an object")
    need(isinstance(machine.get("cpu"), str) and machine["cpu"], "machine.cpu must name the CPU")
    need(isinstance(machine.get("cores"), int) and machine["cores"] > 0, "machine.cores must be a positive int")
    need(machine.get("threads") is None or isinstance(machine["threads"], int), "machine.threads: int or null")
    need(machine.get("gpu") is None or isinstance(machine["gpu"], str), "machine.gpu: a name or null")
    tier = record.get("tier")
    need(isinstance(tier, Mapping) and tier.get("kind") in TIERS, f"tier.kind must be one of {TIERS}")
    if tier["kind"] == "cpu":
        need(tier.get("cores") == machine["cores"], "a cpu tier names the machine's core count")
        need(machine.get("gpu") is None, "a cpu-tier record used no GPU (machine.gpu must be null)")
    else:
        need(isinstance(tier.get("name"), str) and tier["name"] == machine.get("gpu"),
             "a gpu tier names the GPU, as machine.gpu does")
    versions = record.get("versions")
    need(isinstance(versions, Mapping), "'versions' must be an object")
    for key in VERSION_KEYS:
        need(key in versions and (versions[key] is None or isinstance(versions[key], str)),
             f"versions.{key} must be a string or null")
    need(record.get("provenance") in PROVENANCE, f"provenance must be one of {PROVENANCE}")
    if record["provenance"] == "transcribed":
        need(isinstance(record.get("note"), str) and record["note"], "a transcribed record says from where (note)")
    need(isinstance(record.get("figures"), Mapping) and record["figures"], "'figures' must be a non-empty object")


class Results(Mapping[str, Any]):
    """One results file: the record's fields as a mapping, plus :meth:`get_path` into the figures."""

    def __init__(self, record: Mapping[str, Any], path: Path | None = None) -> None:
        validate(record)
        self.record = dict(record)
        self.path = path

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.record)

    def __len__(self) -> int:
        return len(self.record)

    @property
    def figures(self) -> dict[str, Any]:
        return self.record["figures"]

    @property
    def tier(self) -> str:
        return self.record["tier"]["kind"]

    def tier_label(self) -> str:
        """``"CPU, 2 cores"`` or ``"GPU: NVIDIA H100"``."""
        t = self.record["tier"]
        return f"CPU, {t['cores']} cores" if t["kind"] == "cpu" else f"GPU: {t['name']}"

    def get_path(self, key: str) -> Any:
        """The figure at a dotted path (``methods.hybrid.ndcg@10``, ``runs.0.steps``)."""
        return lookup(self.figures, key, where=str(self.path or self.record["bench"]))

    def provenance(self) -> str:
        """One sentence: when, where, on which tier, by which command, and how it was recorded."""
        m, v = self.record["machine"], self.record["versions"]
        gpu = f", {m['gpu']}" if m.get("gpu") else ""
        threads = f", torch threads {m['threads']}" if m.get("threads") else ""
        vers = ", ".join(f"{k} {v[k]}" for k in VERSION_KEYS if v.get(k)) or "versions not recorded"
        how = "measured" if self.record["provenance"] == "measured" else "transcribed from an earlier record"
        return (f"`{self.record['command']}`, {self.record['date']}, {m['cpu']} ({m['cores']} cores{threads}"
                f"{gpu}); tier {self.tier_label()}; {vers}; {how}.")


def lookup(figures: Any, key: str, where: str = "results") -> Any:
    """Follow a dotted ``key`` through nested dicts and lists; :class:`ResultsError` when a step is missing.

    A dict key that itself contains a dot (none do today) cannot be reached; keys such as ``ndcg@10`` can.
    """
    node = figures
    done: list[str] = []
    for part in key.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            have = sorted(node) if isinstance(node, Mapping) else f"a list of {len(node)}" if isinstance(
                node, list) else repr(node)
            raise ResultsError(f"{where}: no key {part!r} under {'.'.join(done) or 'figures'} (has {have})")
        done.append(part)
    return node


def results_dir(chapter: str | Path | None = None) -> Path:
    """The ``results`` folder of a chapter (``"08-embeddings-and-rag"``, or a chapter folder's path).

    Without a chapter: ``results`` in the working folder, which is the chapter's when a notebook runs.
    """
    if chapter is None:
        return Path("results")
    path = Path(chapter)
    if not path.is_dir():
        path = ROOT / "chapters" / str(chapter)
    return path / "results"


def file_for(name: str, tier: str = "cpu", chapter: str | Path | None = None) -> Path:
    """The path of ``name``'s results file for ``tier`` (``cpu``: ``NAME.json``, ``gpu``: ``NAME.gpu.json``)."""
    if tier not in TIERS:
        raise ResultsError(f"tier must be one of {TIERS}, got {tier!r}")
    return results_dir(chapter) / (f"{name}.json" if tier == "cpu" else f"{name}.{tier}.json")


def load(name: str, tier: str = "cpu", chapter: str | Path | None = None) -> Results:
    """Read and check one results file; :class:`ResultsError` names the path when it is missing or bad."""
    path = file_for(name, tier, chapter)
    if not path.is_file():
        have = sorted(p.name for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        raise ResultsError(f"no results file {path} (the folder has {have or 'none'}); "
                           f"`python -m aieng.bench` writes it")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
    try:
        return Results(record, path)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def available(name: str, chapter: str | Path | None = None) -> dict[str, Results]:
    """Every tier measured for ``name``, CPU first: ``{"cpu": Results, "gpu": Results}`` (either may be absent)."""
    found = {t: load(name, t, chapter) for t in TIERS if file_for(name, t, chapter).is_file()}
    if not found:
        raise ResultsError(f"no results file for {name!r} in {results_dir(chapter)}")
    return found


def value(name: str, key: str, tier: str = "cpu", chapter: str | Path | None = None) -> Any:
    """One figure: ``value("retrieval", "methods.hybrid.ndcg@10")``."""
    return load(name, tier, chapter).get_path(key)


def fmt(x: Any, spec: str = "") -> str:
    """A figure as the book prints it: ``spec`` is a format spec (``.3f``, ``,.0f``, ``.1%``) or ``code``
    (shown as inline code, for commands); by default
    floats keep the digits stored, integers get thousands separators, ``None`` is ``n/a``."""
    if x is None:
        return "n/a"
    if spec == "code":
        return f"`{x}`"
    if spec:
        return format(x, spec)
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    return repr(round(x, 4)) if abs(x) < 1000 else f"{x:,.1f}"


def provenance(name: str, chapter: str | Path | None = None) -> str:
    """The provenance sentence of every tier of ``name``, one per line."""
    return "\n".join(f"- {r.provenance()}" for r in available(name, chapter).values())


def _rows(res: Results, rows: str) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for path in [p.strip() for p in rows.split(";")] if rows else [""]:
        node = res.get_path(path) if path else res.figures
        if isinstance(node, Mapping):
            found.update({str(k): v for k, v in node.items() if isinstance(v, Mapping)})
        elif isinstance(node, list):
            found.update({str(i + len(found)): v for i, v in enumerate(node) if isinstance(v, Mapping)})
        else:
            raise ResultsError(f"{res.path}: {path!r} is neither an object nor a list of rows")
    return found


def table(name: str, rows: str, columns: Mapping[str, str], *, label: str | None = None,
          formats: Mapping[str, str] | None = None, index: str | None = None,
          chapter: str | Path | None = None) -> Any:
    """A pandas DataFrame of ``name``'s figures, one row per entry of ``rows`` (a dotted path to an object of
    objects or a list of objects; several paths separated by ``;`` are joined), one column per ``columns``
    item (header -> key within a row). A key missing from some rows leaves their cell blank; a key missing
    from every row is an error (a typo).

    ``label``: a key within each row whose value names the row (default: the object's key or the position).
    ``formats``: header -> format spec (see :func:`fmt`); cells are formatted strings. ``index``: the
    header of the first column (default: ``label``, or the last part of the first ``rows`` path).
    When a GPU file exists too, every column appears once per tier, headed ``"header (CPU, 2 cores)"`` and
    ``"header (GPU: name)"``; a row or key missing from one tier shows as blank.
    """
    import pandas as pd

    tiers = available(name, chapter)
    formats = dict(formats or {})
    index_name = index
    index: list[str] = []
    data: dict[str, dict[str, str]] = {}
    for res in tiers.values():
        found = dict.fromkeys(columns, False)
        for row_key, row in _rows(res, rows).items():
            row_name = str(lookup(row, label, str(res.path)) if label else row_key)
            if row_name not in index:
                index.append(row_name)
            for header, key in columns.items():
                col = header if len(tiers) == 1 else f"{header} ({res.tier_label()})"
                try:
                    cell = fmt(lookup(row, key, str(res.path)), formats.get(header, ""))
                    found[header] = True
                except ResultsError:
                    cell = ""
                data.setdefault(col, {})[row_name] = cell
        missing = [columns[h] for h, ok in found.items() if not ok]
        if missing:
            raise ResultsError(f"{res.path}: no row under {rows or 'figures'!r} has the key(s) {missing}")
    frame = pd.DataFrame(data, index=index).fillna("")
    frame.index.name = index_name or label or (rows.split(";")[0].strip().rsplit(".", 1)[-1] if rows else name)
    return frame


def markdown(name: str, rows: str, columns: Mapping[str, str], *, label: str | None = None,
             formats: Mapping[str, str] | None = None, index: str | None = None,
             chapter: str | Path | None = None) -> str:
    """:func:`table` as a Markdown table, followed by where each tier's figures came from."""
    frame = table(name, rows, columns, label=label, formats=formats, index=index, chapter=chapter)
    head = [str(frame.index.name), *map(str, frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([str(i), *map(str, r)]) + " |" for i, r in zip(frame.index, frame.values)]
    notes = [f"- {r.tier_label()}: {r['note']}" for r in available(name, chapter).values() if r.get("note")]
    return ("\n".join(lines) + "\n\nMeasured by:\n\n" + provenance(name, chapter)
            + ("\n\nNotes:\n\n" + "\n".join(notes) if notes else ""))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?")


def numbers(node: Any, strings: bool = True) -> Iterator[float]:
    """Every number in a record's figures (nested); with ``strings``, also numbers written inside strings."""
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        if math.isfinite(node):
            yield float(node)
    elif isinstance(node, str) and strings:
        for m in _NUMBER.finditer(node.replace(",", "")):
            yield float(m.group())
    elif isinstance(node, Mapping):
        for v in node.values():
            yield from numbers(v, strings)
    elif isinstance(node, list):
        for v in node:
            yield from numbers(v, strings)
