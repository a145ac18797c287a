"""Old flat module names (``aieng.gpt``, ``aieng.check``, ...) kept importable after the move to layers.

Before the package was arranged as a stack of layers, every module sat directly under ``aieng``.
Notebooks and learners' code written then keep working: importing an old name gives the module at its
new home (the same object, so ``aieng.gpt is aieng.llm.gpt``), and ``python -m aieng.student`` or
``python -m aieng.grade`` run the commands at theirs. New code uses the new names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

MOVED: dict[str, str] = {
    "aieng.concurrency": "aieng.foundations.concurrency",
    "aieng.engine": "aieng.llm.engine",
    "aieng.kernels": "aieng.llm.kernels",
    "aieng.gpt": "aieng.llm.gpt",
    "aieng.bpe": "aieng.llm.bpe",
    "aieng.constrain": "aieng.llm.constrain",
    "aieng.embed": "aieng.retrieval.embed",
    "aieng.vectorsearch": "aieng.retrieval.vectorsearch",
    "aieng.rag": "aieng.retrieval.rag",
    "aieng.tools": "aieng.agents.tools",
    "aieng.memory": "aieng.agents.memory",
    "aieng.planning": "aieng.agents.planning",
    "aieng.sandbox": "aieng.agents.sandbox",
    "aieng.check": "aieng.book.checker",
    "aieng.student": "aieng.book.student",
    "aieng.exercises": "aieng.book.exercises",
    "aieng.grade": "aieng.book.grade",
}
"""Old module name -> its home now."""


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> Any:
        return importlib.import_module(self.target)

    def exec_module(self, module: Any) -> None:  # already executed at its new home
        return None

    def get_code(self, fullname: str) -> Any:
        """The new home's code, so that ``python -m aieng.student`` runs ``aieng.book.student``."""
        spec = importlib.util.find_spec(self.target)
        return spec.loader.get_code(self.target)  # type: ignore[union-attr]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Make the old names importable (called once by ``aieng/__init__.py``)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
