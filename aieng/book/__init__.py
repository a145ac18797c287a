"""The book's own machinery: exercises and the checker, the pages' front matter and syllabus, student copies.

Introduced in Month 1, where the first exercise is checked; used by every chapter.

>>> from aieng.book import check
>>> check("01.fizzbuzz", fizzbuzz)

Modules: :mod:`~aieng.book.cases` (how an exercise is defined), :mod:`~aieng.book.checker` (``check``),
:mod:`~aieng.book.exercises` (one module a chapter), :mod:`~aieng.book.explorer` (interactive figures for the kernel and
the static site), :mod:`~aieng.book.pages` (front matter, syllabus)
and :mod:`~aieng.book.student` (student copies without solutions).
"""

from aieng.book.cases import Case, Exercise, equal, exercise
from aieng.book.checker import CheckFailed, CheckResult, check, registry
from aieng.book.explorer import Explorer, explorer
from aieng.book.pages import FRONT_MATTER_KEYS, Month, book_root, front_matter, syllabus

__all__ = [
    "check",
    "CheckResult",
    "CheckFailed",
    "registry",
    "Case",
    "Exercise",
    "exercise",
    "equal",
    "explorer",
    "Explorer",
    "FRONT_MATTER_KEYS",
    "Month",
    "book_root",
    "front_matter",
    "syllabus",
]
