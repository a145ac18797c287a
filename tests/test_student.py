"""aieng.book.student: student copies keep exercises and checks, lose the worked solutions."""

from __future__ import annotations

from pathlib import Path

import nbformat

from aieng.book.student import main, strip_solutions

ROOT = Path(__file__).resolve().parent.parent


def _nb() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise} Square\n:label: ex-00-square\nWrite it.\n```"),
        nbformat.v4.new_code_cell("def square(x):\n    raise NotImplementedError\ncheck('00.square', square)"),
        nbformat.v4.new_markdown_cell("````{solution-start} ex-00-square\n:class: dropdown\n````"),
        nbformat.v4.new_code_cell("def square(x):\n    return x * x", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```\n"),
        nbformat.v4.new_markdown_cell("## Summary"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="not attempted")]
    return nb


def test_strip_solutions_keeps_prompt_stub_and_summary():
    student = strip_solutions(_nb())
    sources = [c.source for c in student.cells]
    assert len(sources) == 3 and "{exercise}" in sources[0] and "NotImplementedError" in sources[1]
    assert sources[2] == "## Summary" and student.cells[1].outputs == []
    assert not any("return x * x" in s for s in sources)


def test_command_writes_student_copies_of_the_book(tmp_path, capsys):
    before = {p: p.read_bytes() for p in (ROOT / "chapters").rglob("*.ipynb")}
    assert main([str(ROOT / "chapters"), "--out", str(tmp_path)]) == 0
    assert all(p.read_bytes() == b for p, b in before.items()), "the originals must never change"
    written = list(tmp_path.rglob("*.ipynb"))
    assert written and "solution cells removed" in capsys.readouterr().out
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells), path
