"""Results files and the rule that a benchmark figure is never retyped (AUTHORING.md, "Results files").

- every ``chapters/*/results/*.json`` follows the schema of :mod:`aieng.book.results`;
- the reader renders tables per tier and names a missing key;
- **no retyped figures**: every number next to a benchmark unit or label (tokens/s, queries/s, ms, %,
  nDCG@10, recall@100, success rate, ...) in an ``index.md`` or a notebook's Markdown cell must either come
  from the ``{result}`` role or equal, at its printed precision, a figure in that chapter's results files.
  A number that is neither fails with the file, the line and the nearest figure on file. Numbers that are
  not benchmark figures (targets, settings, the quick-mode time rule, figures quoted from papers) are
  listed in :data:`ALLOWED`, each with its reason.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from aieng.book import results

ROOT = Path(__file__).resolve().parent.parent
RESULT_FILES = sorted((ROOT / "chapters").glob("*/results/*.json"))
PAGES = sorted([*(ROOT / "chapters").glob("*/index.md"), *(ROOT / "labs").glob("**/index.md")])
NOTEBOOKS = sorted(p for folder in ("chapters", "labs") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)

# --- what counts as a benchmark figure -------------------------------------------------------------
NUM = r"(?<![\w.@/-])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
UNIT = (r"(?P<unit>%|\s?(?:tokens?/s|queries/s|docs/s|abstracts/s|sentences/s|steps/s|s/step|ms|µs|us"
        r"|tokens per (?:second|task|run)|steps|s)\b)")
LABEL = (r"(?:nDCG@\d+|recall@\d+|validation loss|val loss|success rate|accuracy|tokens/s|queries/s|p50|p95"
         r"|macro-F1|faithfulness|citation precision|refusal rate)")
AFTER_NUMBER = re.compile(NUM + UNIT)
AFTER_LABEL = re.compile(LABEL + r"(?:\s+(?:of|was|is|reaches|reached|=|:))?\s*\**" + NUM + r"(?P<unit>%)?",
                         re.IGNORECASE)
TABLE_HEADER = re.compile(LABEL + r"|\btokens\b|\bsteps\b|\bms\b|\(s\)|latency|wall", re.IGNORECASE)

ALLOWED: list[tuple[str, str, str]] = [
    # (file glob, a regex whose match must contain the number, why it is not a benchmark figure)
    ("*", r"(?:under|within|in) (?:about |roughly )?\d+ s\b",
     "the book's time rules (quick mode under about 60 s), not measurements"),
    ("*", r"(?:≥|≤|>=|<=|at least|above|below|within) \**\d[\d.,]*\**\s?%?"
          r"|\d[\d.,]*\s?(?:ms|%|s)? (?:target|stretch goal|goal)|target of \d[\d.,]*\s?%?",
     "targets and thresholds an exercise or a chapter sets, not measured figures"),
    ("*", r"(?:reports?|published)\b.{0,80}",
     "figures quoted from papers, READMEs and leaderboards, with their source named in the sentence"),
    ("*", r"\d+\s?% of (?:the )?(?:questions|requests|problems|items|time)|100% valid",
     "definitions and ceilings (100% valid by construction), not measurements"),
    ("*", r"\d+% (?:of the text|for validation)|(?:probe of |same \**)\d+ steps|about \d+% of the data",
     "settings: the train/validation split, an exercise's step budget, the share of the data an IVF probe "
     "reads (nprobe / nlist)"),
    ("*/04-projects.ipynb", r"reached \d+% and human experts? \d+%",
     "PubMedQA's published best model and human expert, cited in the sentence before"),
    ("*/01-python/03-concurrency.ipynb", r"\d+(?:\.\d+)? s\b",
     "the exercises' simulated call durations (sleep settings) and the Think! answers derived from them"),
]


@dataclass
class Figure:
    path: Path
    where: str
    text: str
    number: float
    decimals: int
    percent: bool


# --- reading the sources ---------------------------------------------------------------------------
ROLE = re.compile(r"\{result\}`[^`]*`")
CODE = re.compile(r"``[^`]*``|`[^`]*`")
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.DOTALL)


def _strip(text: str) -> list[str]:
    """The lines of a Markdown text with code, math, front matter and the role's own output removed
    (line numbers kept: removed text becomes blank)."""
    out, fence = [], None
    lines = text.splitlines()
    in_front = bool(lines) and lines[0].strip() == "---"
    for i, line in enumerate(lines):
        if in_front:
            out.append("")
            if i > 0 and line.strip() == "---":
                in_front = False
            continue
        stripped = line.strip()
        m = re.match(r"(`{3,}|~{3,}|:{3,})(.*)", stripped)
        if fence is None and m:
            # a code block hides its content, and so does an exercise (its numbers are the task's settings
            # and pass marks, never benchmark figures); any other directive ({list-table}, ...) is Markdown
            info = m.group(2).strip()
            fence = (m.group(1), not info.startswith("{") or info.startswith("{exercise"))
            out.append("")
            continue
        if fence is not None and stripped.startswith(fence[0]) and stripped.strip(fence[0][0]) == "":
            fence = None
            out.append("")
            continue
        if fence is not None and fence[1]:
            out.append("")
            continue
        out.append(CODE.sub(" ", ROLE.sub(" ", line)))
    return MATH.sub(lambda m: "\n" * m.group().count("\n"), "\n".join(out)).split("\n")


def _sources() -> list[tuple[Path, str, list[str]]]:
    """(file, where, lines) for every index.md and every Markdown cell of every notebook; ``where`` is
    ``""`` for a page and ``"cell N, "`` for a notebook cell (N counts from 0, as nbformat does)."""
    found = [(p, "", _strip(p.read_text(encoding="utf-8"))) for p in PAGES]
    for nb in NOTEBOOKS:
        for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "markdown":
                found.append((nb, f"cell {i}, ", _strip("".join(cell["source"]))))
    return found


def _parse(num: str) -> tuple[float, int]:
    plain = num.replace(",", "")
    return float(plain), len(plain.split(".")[1]) if "." in plain else 0


def _allowed(path: Path, line: str, start: int, end: int) -> bool:
    """True when an allowlist pattern for this file matches a span of the line that contains the number."""
    return any(m.start() <= start and end <= m.end()
               for glob, pattern, _ in ALLOWED if path.match(glob)
               for m in re.finditer(pattern, line, re.IGNORECASE))


def figures_in(path: Path, where: str, lines: list[str]) -> list[Figure]:
    """The benchmark figures typed into these lines: numbers next to a unit or a label, and every number in
    a Markdown table whose header names a benchmark quantity."""
    found: list[Figure] = []
    header_is_figures = False
    for offset, line in enumerate(lines):
        if line.lstrip().startswith("|"):
            cells = line.strip().strip("|").split("|")
            if all(set(c.strip()) <= set("-: ") for c in cells):
                continue
            if offset == 0 or not lines[offset - 1].lstrip().startswith("|"):
                header_is_figures = bool(TABLE_HEADER.search(line))
                continue
            if header_is_figures:
                for cell in cells[1:]:  # the first column names the row
                    for m in re.finditer(NUM + r"(?P<pct>%)?", cell):
                        value, decimals = _parse(m.group("num"))
                        found.append(Figure(path, f"{where}line {offset + 1}", line.strip(), value, decimals,
                                            bool(m.group("pct"))))
                continue
        seen: set[tuple[int, int]] = set()
        for rx in (AFTER_NUMBER, AFTER_LABEL):
            for m in rx.finditer(line):
                if _allowed(path, line, *m.span("num")) or m.span("num") in seen:
                    continue
                seen.add(m.span("num"))
                value, decimals = _parse(m.group("num"))
                unit = m.groupdict().get("unit") or ""
                found.append(Figure(path, f"{where}line {offset + 1}", line.strip(), value, decimals,
                                    unit.strip() == "%"))
    return found


def _on_file(folder: Path) -> list[float]:
    values: list[float] = []
    for f in sorted((folder / "results").glob("*.json")):
        values += list(results.numbers(json.loads(f.read_text(encoding="utf-8"))["figures"], strings=False))
    return values


def _matches(fig: Figure, value: float) -> bool:
    half = 0.5 * 10 ** -fig.decimals + 1e-9
    candidates = [value * 100] if fig.percent else [value]  # results files keep shares as fractions
    return any(abs(c - fig.number) <= half for c in candidates if math.isfinite(c))


def stale_figures(sources: list[tuple[Path, str, list[str]]]) -> list[str]:
    problems = []
    cache: dict[Path, list[float]] = {}
    for path, where, lines in sources:
        folder = path.parent
        values = cache.setdefault(folder, _on_file(folder))
        for fig in figures_in(path, where, lines):
            if any(_matches(fig, v) for v in values):
                continue
            target = fig.number / 100 if fig.percent else fig.number
            nearest = min(values, key=lambda v: abs(v - target), default=None)
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            problems.append(f"{shown} {fig.where}: {fig.number:g}"
                            f"{'%' if fig.percent else ''} is not in {folder.name}/results/*.json "
                            f"(nearest figure on file: {nearest}); render it with {{result}}`NAME:KEY` or "
                            f"from the results file. Context: {fig.text[:140]}")
    return problems


# --- the tests -------------------------------------------------------------------------------------
def test_there_are_results_files():
    assert RESULT_FILES, "no chapters/*/results/*.json"


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: str(p.relative_to(ROOT / "chapters")))
def test_every_results_file_follows_the_schema(path):
    record = json.loads(path.read_text(encoding="utf-8"))
    results.validate(record)
    tier = record["tier"]["kind"]
    assert path.name.endswith(".gpu.json") == (tier == "gpu"), f"{path.name}: the file name and tier disagree"


def test_no_benchmark_figure_is_retyped():
    problems = stale_figures(_sources())
    assert not problems, "figures typed by hand that no results file holds:\n" + "\n".join(problems)


def _chapter(tmp_path: Path, record: dict, name: str = "bench", tier: str = "cpu") -> Path:
    (tmp_path / "results").mkdir(exist_ok=True)
    (tmp_path / "results" / (f"{name}.json" if tier == "cpu" else f"{name}.gpu.json")).write_text(json.dumps(record))
    return tmp_path


def _record(**figures) -> dict:
    return {"schema": results.SCHEMA, "bench": "bench", "command": "python -m aieng.bench bench", "date": "2026-12-01",
            "machine": {"cpu": "Test CPU", "cores": 2, "threads": 2, "gpu": None}, "tier": {"kind": "cpu", "cores": 2},
            "versions": dict.fromkeys(results.VERSION_KEYS, "1"), "provenance": "measured", "figures": figures}


def test_the_scan_catches_a_stale_figure_in_prose_and_in_a_table(tmp_path):
    folder = _chapter(tmp_path, _record(methods={"hybrid": {"ndcg@10": 0.7367, "p50_ms": 37.25}}, tps=1234.0))
    page = folder / "index.md"
    text = ("Hybrid reaches nDCG@10 0.7367 at 37.2 ms, {result}`bench:tps` tokens/s, or 1,234 tokens/s.\n"
            "A stale one: nDCG@10 of 0.7412, and 41 queries/s.\n\n"
            "| method | nDCG@10 |\n|---|---|\n| hybrid | 0.7367 |\n| dense | 0.6451 |\n"
            "Targets are fine: a 15 ms target. So is `--minutes 3` in code.\n")
    page.write_text(text)
    problems = stale_figures([(page, "", _strip(text))])
    assert len(problems) == 3, problems
    stale = next(p for p in problems if "0.7412 is not" in p)
    assert "nearest figure on file: 0.7367" in stale and "line 2" in stale
    assert any("41 is not" in p for p in problems)
    assert any("0.6451 is not" in p and "line 7" in p for p in problems)


def test_precision_and_percent():
    fig = Figure(Path("x"), "", "", 25.6, 1, True)
    assert _matches(fig, 0.256) and not _matches(fig, 0.26)
    assert _matches(Figure(Path("x"), "", "", 37939, 0, False), 37939.0)
    assert _matches(Figure(Path("x"), "", "", 37.2, 1, False), 37.25)  # printed to one decimal
    assert not _matches(Figure(Path("x"), "", "", 37.3, 1, False), 37.25 - 0.06)


def test_reader_renders_one_column_per_tier_and_names_a_missing_key(tmp_path):
    folder = _chapter(tmp_path, _record(methods={"bm25": {"ndcg@10": 0.686}, "dense": {"ndcg@10": 0.6451}}))
    gpu = _record(methods={"dense": {"ndcg@10": 0.6452}})
    gpu["machine"]["gpu"] = "Test GPU"
    gpu["tier"] = {"kind": "gpu", "name": "Test GPU"}
    _chapter(folder, gpu, tier="gpu")
    frame = results.table("bench", "methods", {"nDCG@10": "ndcg@10"}, chapter=folder)
    assert list(frame.columns) == ["nDCG@10 (CPU, 2 cores)", "nDCG@10 (GPU: Test GPU)"]
    assert frame.loc["dense"].tolist() == ["0.6451", "0.6452"] and frame.loc["bm25"].tolist() == ["0.686", ""]
    text = results.markdown("bench", "methods", {"nDCG@10": "ndcg@10"}, chapter=folder)
    assert "2026-12-01" in text and "Test CPU" in text and "GPU: Test GPU" in text
    assert results.value("bench", "methods.bm25.ndcg@10", chapter=folder) == 0.686
    with pytest.raises(results.ResultsError, match="no key 'ndcg@100'"):
        results.value("bench", "methods.bm25.ndcg@100", chapter=folder)
    with pytest.raises(results.ResultsError, match="no results file"):
        results.load("nope", chapter=folder)


@pytest.mark.parametrize("change, why", [
    (lambda r: r.pop("date"), "date"),
    (lambda r: r.update(date="1 Dec 2026"), "YYYY-MM-DD"),
    (lambda r: r["machine"].pop("cpu"), "machine.cpu"),
    (lambda r: r["versions"].pop("torch"), "versions.torch"),
    (lambda r: r.update(tier={"kind": "tpu"}), "tier.kind"),
    (lambda r: r.update(tier={"kind": "cpu", "cores": 16}), "core count"),
    (lambda r: r.update(provenance="transcribed"), "from where"),
    (lambda r: r.update(figures={}), "figures"),
])
def test_schema_rejects(change, why):
    record = _record(x=1)
    change(record)
    with pytest.raises(results.ResultsError, match=why):
        results.validate(record)


def test_role_reference_syntax():
    import sys

    sys.path.insert(0, str(ROOT / "_ext"))
    from aieng_results import parse_reference

    assert parse_reference("retrieval:methods.hybrid.ndcg@10") == ("retrieval", "cpu", "methods.hybrid.ndcg@10", "")
    assert parse_reference("chargpt-3min.gpu:tokens_per_s|,.0f") == ("chargpt-3min", "gpu", "tokens_per_s", ",.0f")
    with pytest.raises(results.ResultsError):
        parse_reference("retrieval")


def _site(tmp_path: Path, page: str) -> tuple[int, str]:
    import subprocess
    import sys

    src = tmp_path / "src"
    (src / "ch").mkdir(parents=True)
    (src / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / '_ext')!r})\n"
                                 "extensions = ['myst_parser', 'aieng_results']\n")
    (src / "index.md").write_text("# Book\n\n```{toctree}\nch/index\n```\n")
    (src / "ch" / "index.md").write_text(page)
    _chapter(src / "ch", _record(methods={"hybrid": {"ndcg@10": 0.7367}, "dense": {"ndcg@10": 0.6451}}),
             name="retrieval")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    html = (tmp_path / "out" / "ch" / "index.html")
    return proc.returncode, proc.stderr + (html.read_text() if html.exists() else "")


def test_the_role_and_the_directive_render_and_a_bad_key_fails_the_strict_build(tmp_path):
    rc, out = _site(tmp_path, "# Ch\n\nHybrid: {result}`retrieval:methods.hybrid.ndcg@10|.3f`.\n\n"
                              "```{results-table} retrieval\n:rows: methods\n:columns: nDCG@10=ndcg@10\n```\n")
    assert rc == 0, out
    assert 'title="python -m aieng.bench bench, 2026-12-01, Test CPU' in out and ">0.737</abbr>" in out
    assert "<table" in out and "0.6451" in out and "Measured by" in out
    rc, out = _site(tmp_path / "bad", "# Ch\n\n{result}`retrieval:methods.hybrid.ndcg@100`\n")
    assert rc != 0 and "no key 'ndcg@100'" in out
    rc, out = _site(tmp_path / "missing", "# Ch\n\n```{results-table} nope\n:columns: a=b\n```\n")
    assert rc != 0 and "no results file" in out
