"""aieng.book.grade: fabricated submissions graded into an exact gradebook; a real student copy runs clean.

The submissions are made at test time from ``tests/fixtures/grade/assignment.ipynb`` (three exercises it
defines itself): its student copy, with the stubs filled in as each learner would.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import nbformat
import pytest

from aieng.book.grade import (
    SubmissionError,
    find_submissions,
    grade,
    main,
    network_fence,
)
from aieng.book.student import strip_solutions

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grade" / "assignment.ipynb"
CHAPTER = ROOT / "chapters" / "01-python" / "01-functions-classes-errors.ipynb"
RIGHT = {
    "grade.double": "def double(x):\n    return 2 * x\n\n\ncheck('grade.double', double)",
    "grade.mean": "def mean(xs):\n    if not xs:\n        raise ValueError\n    return sum(xs) / len(xs)\n\n\n"
                  "check('grade.mean', mean)",
    "grade.think": "answer = 'b'\ncheck('grade.think', answer)",
}
SUBMISSIONS = {
    "ada": RIGHT,  # full marks
    "bob": {**RIGHT,  # partly wrong: double fails its second case, the Think! answer is wrong
            "grade.double": "def double(x):\n    return x + 2\n\n\ncheck('grade.double', double)",
            "grade.think": "answer = 'a'\ncheck('grade.think', answer)"},
    "cy": {**RIGHT,  # raises at the top of a cell, before its check: the next exercise still runs
           "grade.mean": "def mean(xs):\n    return sum(xs) / len(xs)\n\n\nprint(mean([]))\ncheck('grade.mean', mean)"},
    "dee": {**RIGHT,  # loops for ever: stopped at the timeout, graded on what ran
            "grade.mean": "while True:\n    pass\n\n\ncheck('grade.mean', mean)"},
    "eve": {**RIGHT,  # kills its kernel halfway: graded on what ran
            "grade.mean": "import os\n\nos._exit(1)\ncheck('grade.mean', mean)"},
}
TIMEOUT_S = 8
NETWORK_PROBE = """import socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()
    print("online")
except OSError as exc:
    print("offline:", exc)"""


def _submission(answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = strip_solutions(nbformat.read(FIXTURE, as_version=4))
    for cell in nb.cells:
        for name, source in answers.items():
            if cell.cell_type == "code" and f'check("{name}"' in cell.source:
                cell.source = source
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("submissions")
    for learner, answers in SUBMISSIONS.items():
        (root / learner).mkdir()
        nb = _submission(answers)
        if learner == "ada":  # who also tries the network (a cell without a check: no column)
            nb.cells.append(nbformat.v4.new_code_cell(NETWORK_PROBE))
        nbformat.write(nb, root / learner / "assignment.ipynb")
    out = tmp_path_factory.mktemp("gradebook")
    start = time.monotonic()
    assert main([str(root), "--out", str(out), "--timeout", str(TIMEOUT_S), "--jobs", "2"]) == 0
    took = time.monotonic() - start
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows, out, took


def test_the_gradebook_has_one_exact_row_per_learner(graded):
    rows, _, took = graded
    assert rows[0] == ["learner", "grade.double", "grade.mean", "grade.think", "score", "out_of", "errors"]
    table = {r[0]: r[1:6] for r in rows[1:]}
    assert table == {
        "ada": ["pass", "pass", "pass", "3", "3"],
        "bob": ["fail", "pass", "fail", "1", "3"],
        "cy": ["pass", "not reached", "pass", "2", "3"],
        "dee": ["pass", "not reached", "not reached", "1", "3"],
        "eve": ["pass", "not reached", "not reached", "1", "3"],
    }
    errors = {r[0]: r[6] for r in rows[1:]}
    assert errors["ada"] == errors["bob"] == ""
    assert errors["cy"] == ("assignment.ipynb cell 6 (def mean(xs):): ZeroDivisionError: division by zero")
    assert errors["dee"] == f"assignment.ipynb cell 6 (while True:): stopped at the {TIMEOUT_S} s limit (still running)"
    assert errors["eve"].startswith("assignment.ipynb cell 6 (import os): the kernel died")
    print(f"graded {len(SUBMISSIONS)} learners in {took:.0f} s")


def test_the_html_summary_is_self_contained_with_a_row_per_learner(graded):
    _, out, _ = graded
    page = (out / "gradebook.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page.replace("http://127.0.0.1", "")
    assert "https://" not in page and page.count('<th scope="row">') == len(SUBMISSIONS) + 1  # + the totals row
    for learner in SUBMISSIONS:
        assert f'<th scope="row">{learner}</th>' in page
    assert "❌ grade.double: case 2 of 2" in page  # the checker's message, as a cell's title
    assert "ZeroDivisionError" in page and "4/5 pass" in page


def test_the_executed_notebooks_are_kept_with_their_outputs(graded):
    _, out, _ = graded
    nb = nbformat.read(out / "notebooks" / "bob" / "assignment.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "❌ grade.double" in printed and "✅ grade.mean" in printed


def test_the_network_is_cut_off(graded):
    _, out, _ = graded
    nb = nbformat.read(out / "notebooks" / "ada" / "assignment.ipynb", as_version=4)
    printed = nb.cells[-1].outputs[0]["text"]
    if network_fence()[0]:
        assert printed.startswith("offline"), printed
    else:  # no namespace here: the gradebook must say so
        assert printed.startswith("online") and "NOT blocked" in (out / "gradebook.html").read_text("utf-8")


def test_a_bad_layout_is_refused_with_a_clear_message(tmp_path, capsys):
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "notes.txt").write_text("no notebook")
    (tmp_path / "bob__assignment.ipynb").write_text("{}")
    with pytest.raises(SubmissionError) as err:
        find_submissions(tmp_path)
    text = str(err.value)
    assert "ada/ holds no notebook" in text and "bob__assignment.ipynb is a file" in text
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "one folder per learner" in capsys.readouterr().err
    with pytest.raises(SubmissionError, match="not a folder"):
        find_submissions(tmp_path / "missing")


def test_a_student_copy_of_a_real_chapter_runs_clean_and_attempts_nothing(tmp_path):
    """The chapter is read now (another author may be editing it): its student copy must run top to
    bottom, every exercise saying "not attempted yet"."""
    chapter = nbformat.read(CHAPTER, as_version=4)
    (tmp_path / "student").mkdir()
    nbformat.write(strip_solutions(chapter), tmp_path / "student" / CHAPTER.name)
    [row] = grade(tmp_path, tmp_path / "out", timeout=300, jobs=1)
    assert row.errors == []
    assert len(row.exercises) >= 3, row.exercises
    assert row.status == {name: "not attempted" for name in row.exercises}, row.message
