"""The status page (_ext/aieng_status.py): one row per notebook, from the run history and the build."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from aieng_status import NOT_RUN, describe, read_runs, record_runs  # noqa: E402

MACHINE = {"cpu": "Test CPU 9000", "cores": 2, "gpu": None}
VERSIONS = {"python": "3.11.7", "torch": "2.13.0", "transformers": "5.23.0"}


def _run(mode: str, date: str, seconds: float, passed: bool = True, error: str | None = None, **extra) -> dict:
    return {"mode": mode, "date": date, "seconds": seconds, "passed": passed, "error": error,
            "machine": MACHINE, "versions": VERSIONS, "source": "nbval", **extra}


def test_describe_fills_both_modes_and_says_when_one_never_ran():
    cells = describe({"quick": _run("quick", "2026-12-01T10:00:00", 12.34),
                      "full": _run("full", "2026-11-30T09:00:00", 250.0)})
    assert cells["quick"] == "12 s on 2026-12-01" and cells["full"] == "250 s on 2026-11-30"
    assert cells["last"] == "2026-12-01 10:00 (quick)" and cells["result"] == "pass"
    assert cells["machine"] == "Test CPU 9000, 2 cores, no GPU"
    assert cells["versions"] == "python 3.11.7, torch 2.13.0, transformers 5.23.0"
    only_quick = describe({"quick": _run("quick", "2026-12-01T10:00:00", 3.0, passed=False, error="ValueError")})
    assert only_quick["full"] == NOT_RUN and only_quick["result"] == "fail: ValueError"
    assert describe({})["quick"] == NOT_RUN and describe({})["last"] == "never"


def test_the_history_keeps_the_last_run_of_each_mode(tmp_path):
    path = tmp_path / "status" / "runs.json"
    record_runs(path, {"nb": _run("quick", "2026-12-01T10:00:00", 10)})
    record_runs(path, {"nb": _run("full", "2026-11-01T10:00:00", 100)})
    record_runs(path, {"nb": _run("quick", "2026-11-30T10:00:00", 99)})  # older: ignored
    record_runs(path, {"nb": _run("quick", "2026-12-02T10:00:00", 11, passed=False, error="KeyError")})
    runs = read_runs(path)
    assert runs["nb"]["full"]["seconds"] == 100
    assert runs["nb"]["quick"]["seconds"] == 11 and runs["nb"]["quick"]["error"] == "KeyError"
    path.write_text("not json")
    assert read_runs(path) == {}


CONF = '''
import sys
sys.path.insert(0, {ext!r})
extensions = ["myst_nb", "aieng_status"]
nb_execution_mode = "off"
aieng_status_runs = {runs!r}
exclude_patterns = ["_build"]
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    src = tmp_path_factory.mktemp("book")
    for name, title in [("alpha", "Alpha notebook"), ("beta", "Beta notebook"), ("gamma", "Gamma notebook")]:
        nb = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}})
        nb.cells = [v4.new_markdown_cell(f"# {title}"), v4.new_code_cell("print(1)")]
        nbformat.write(nb, src / f"{name}.ipynb")
    (src / "index.md").write_text("# Book\n\n```{toctree}\nalpha\nbeta\ngamma\nstatus\n```\n")
    (src / "status.md").write_text("# Status\n\n```{aieng-status}\n```\n")
    runs = src / "runs.json"
    runs.write_text(json.dumps({
        "alpha": {"quick": _run("quick", "2026-12-01T10:00:00", 12.0),
                  "full": _run("full", "2026-11-30T09:00:00", 250.0)},
        "beta": {"quick": _run("quick", "2026-12-01T11:00:00", 5.0, passed=False, error="ZeroDivisionError")},
    }))
    (src / "conf.py").write_text(CONF.format(ext=str(ROOT / "_ext"), runs=str(runs)))
    out = src / "_build"
    result = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-n", "-q", str(src), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr
    page = (out / "status.html").read_text(encoding="utf-8")
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]
            for row in re.findall(r"<tr.*?</tr>", page.split("<tbody>", 1)[1], re.S)], page


def test_the_status_directive_renders_a_row_per_notebook(site):
    rows, page = site
    assert [r[0] for r in rows] == ["Alpha notebook", "Beta notebook", "Gamma notebook"]
    alpha, beta, gamma = rows
    assert alpha[1:5] == ["2026-12-01 10:00 (quick)", "12 s on 2026-12-01", "250 s on 2026-11-30", "pass"]
    assert alpha[5] == "Test CPU 9000, 2 cores, no GPU" and "torch 2.13.0" in alpha[6]
    assert beta[3] == NOT_RUN and beta[4] == "fail: ZeroDivisionError"
    assert gamma[2] == gamma[3] == NOT_RUN and gamma[4] == "not run"
    assert 'href="alpha.html"' in page
    assert "This page was produced by the site build into" in page and "execution 'off'" in page
