"""The contract every chapter's exercises keep, as tests a test module takes with one line.

``CASES`` maps an exercise name to ``(a right answer, a wrong answer)``; a "Think!" question's answers
are values, and its stub is ``...`` (what the learner's cell holds before answering).

>>> test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from aieng.book import CheckFailed, check


def contract(cases: Mapping[str, tuple[Any, Any]]) -> tuple[Callable[..., None], ...]:
    """Three parametrised tests: the right answer passes, the wrong one fails, a stub is "not attempted"."""
    names = sorted(cases)

    @pytest.mark.parametrize("name", names)
    def test_reference_answer_passes(name: str) -> None:
        assert check(name, cases[name][0], strict=True, quiet=True)

    @pytest.mark.parametrize("name", names)
    def test_wrong_answer_fails(name: str) -> None:
        with pytest.raises(CheckFailed):
            check(name, cases[name][1], strict=True, quiet=True)

    @pytest.mark.parametrize("name", names)
    def test_stub_reads_as_not_attempted(name: str) -> None:
        def stub(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

        value_answer = not callable(cases[name][0])  # a "Think!" question: the stub is `answer = ...`
        result = check(name, ... if value_answer else stub, strict=True, quiet=True)
        assert result.status == "not attempted"

    return test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted
